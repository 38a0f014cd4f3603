"""Late fusion of stream bundles, matched by sample id (never by position).

``python -m stf fuse B1 B2 ... [--weights w1 w2 ...] --out DIR``: the fused score of a sample is
``sum_s w_s * softmax(logits_s)``; the result is written as an ordinary bundle (its ``logits`` are the
log of the fused scores, so argmax and softmax behave as expected). Bundles must hold the same id
set and class names, and agree on every label.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .evaluate import (Bundle, check_bundle_out, check_scores, load_bundle, percent, portable_path,
                       write_bundle)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def fuse(bundles: list[Bundle], weights: list[float] | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Fuse by id -> (ids sorted, fused log-scores (N, K), labels (N,))."""
    if not bundles:
        raise DataError(None, "nothing to fuse")
    weights = list(weights) if weights else [1.0] * len(bundles)
    if len(weights) != len(bundles):
        raise DataError(None, f"{len(weights)} weights for {len(bundles)} bundles")
    if not all(np.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise DataError(None, f"fusion weights must be finite, >= 0 and not all 0, got {weights}")
    paths = [Path(b.path).resolve() for b in bundles]
    twice = next((p for i, p in enumerate(paths) if p in paths[:i]), None)
    if twice is not None:
        raise DataError(twice, "given twice; to weight a stream more, use --weights")
    seen: dict[tuple, Path] = {}
    for b in bundles:  # a copied bundle: the same checkpoint's scores on the same data, counted twice
        ck, data = b.metrics.get("checkpoint") or {}, b.metrics.get("data") or {}
        key = (ck.get("sha256"), data.get("spec"), data.get("split"))
        if key[0] and key in seen:
            raise DataError(b.path, f"holds the same checkpoint's scores (sha256 {key[0][:12]}) on the same data "
                                    f"and split as {seen[key]}: a copy; to weight a stream more, use --weights")
        seen[key] = Path(b.path)
    top = max(weights)
    weights = [w / top for w in weights]  # scale first: 1e308 + 1e308 overflows to inf
    ref = bundles[0]
    for b in bundles:  # what a loaded bundle never holds (load_bundle refuses it), for bundles made in code
        check_scores(b.ids, b.logits, b.labels, len(b.class_names), b.path)
    ref_ids = set(ref.ids.tolist())
    for b in bundles[1:]:
        if b.class_names != ref.class_names:
            raise DataError(b.path, f"class names differ from {ref.path}")
        ids = set(b.ids.tolist())
        if ids != ref_ids:
            only_a, only_b = sorted(ref_ids - ids)[:3], sorted(ids - ref_ids)[:3]
            raise DataError(b.path, f"sample ids differ from {ref.path}: {len(ref_ids - ids)} only there "
                                    f"(e.g. {only_a}), {len(ids - ref_ids)} only here (e.g. {only_b})")
    order = sorted(ref_ids)
    parts = []  # log(w_s softmax(logits_s)), in log space: clipping the sum before its log tied unlikely classes
    labels = None
    for b, w in zip(bundles, weights):
        pos = {sid: i for i, sid in enumerate(b.ids.tolist())}
        sel = np.asarray([pos[s] for s in order])
        with np.errstate(divide="ignore"):  # a weight of 0: log 0 = -inf, the stream drops out
            parts.append(np.log(w) + _log_softmax(b.logits[sel].astype(np.float64)))
        lab = b.labels[sel]
        if labels is None:
            labels = lab
        elif not np.array_equal(labels, lab):
            raise DataError(b.path, "labels disagree with the other bundles for the same ids")
    stacked = np.stack(parts)
    top_part = stacked.max(0)  # finite: some weight is > 0
    fused = top_part + np.log(np.exp(stacked - top_part).sum(0)) - np.log(sum(weights))
    return order, fused.astype(np.float32), labels


TRAIN_KEYS = ("train_split", "train_fraction", "train_max_samples")


def fused_provenance(bundles: list[Bundle], weights: list[float] | None) -> dict:
    """Provenance of a fused bundle: its parts, weights and joined stream, and what the parts share.

    ``checkpoint`` holds what ``python -m stf report`` groups by: ``focus_losses`` True / False when every
    part agrees (None for an STF + backbone mix), the seed when all parts have one seed (None for a seed
    ensemble), the distinct config names joined by "+", and the training split / share where every part
    has the same one; ``data`` is the parts' when they agree.
    """
    cks = [b.metrics.get("checkpoint") or {} for b in bundles]
    focus = {c.get("focus_losses") for c in cks}
    seeds = {c.get("seed") for c in cks}
    datas = [b.metrics.get("data") or {} for b in bundles]
    same_data = all((d.get("spec"), d.get("split")) == (datas[0].get("spec"), datas[0].get("split")) for d in datas)
    return {"fused_from": [{"path": portable_path(b.path), "stream": b.metrics.get("stream"),
                            "top1": b.metrics.get("top1"), "config_name": c.get("config_name"), "seed": c.get("seed")}
                           for b, c in zip(bundles, cks)],
            "weights": list(weights) if weights else [1.0] * len(bundles),
            "stream": "+".join(str(b.metrics.get("stream")) for b in bundles),
            "checkpoint": {"fused": True, "focus_losses": focus.pop() if len(focus) == 1 else None,
                           "seed": seeds.pop() if len(seeds) == 1 else None,
                           "config_name": "+".join(dict.fromkeys(str(c.get("config_name")) for c in cks)),
                           # what the parts trained on, where they all agree (one scarce-data share)
                           **{k: vals.pop() for k in TRAIN_KEYS
                              if len(vals := {c.get(k) for c in cks}) == 1}},
            "data": _shared_data(datas) if same_data else {}}


def _shared_data(datas: list[dict]) -> dict:
    """The parts' data record: spec, split, layout, and the store's source where every part names the same."""
    out = {k: datas[0].get(k) for k in ("spec", "split", "layout")}
    out.update({k: datas[0][k] for k in ("source_format", "source")
                if k in datas[0] and all(d.get(k) == datas[0][k] for d in datas)})
    return out


def fuse_from_cli(a) -> int:
    if len(a.bundles) < 2:
        raise DataError(a.bundles[0], "fusing needs two or more bundles (one bundle fused is itself)")
    check_bundle_out(a.out, a.force, inputs=tuple(a.bundles))
    bundles = [load_bundle(p) for p in a.bundles]
    ids, logits, labels = fuse(bundles, a.weights)
    out = write_bundle(a.out, ids, logits, labels, bundles[0].class_names, fused_provenance(bundles, a.weights),
                       overwrite=a.force)
    m = load_bundle(out).metrics
    for b in bundles:
        print(f"  {b.path}: {b.metrics.get('stream')} top-1 {percent(b.metrics.get('top1'))}")
    print(f"fused {len(ids)} samples: top-1 {percent(m['top1'])} -> {out}")
    return 0
