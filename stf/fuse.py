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
from .paths import REPO
from .report import data_identity, unify_relative


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
    _refuse_a_stream_twice(bundles)
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


def _streams(metrics: dict, path: str | Path) -> list[dict]:
    """The single-stream bundles a bundle's scores come from: itself, or a fused bundle's parts (its
    ``fused_from``, recursively), each as ``{"path", "sha256", "data"}`` (sha256 / data None where a fused
    bundle written before they were recorded does not say)."""
    parts = metrics.get("fused_from")
    if not parts:
        return [{"path": path, "sha256": (metrics.get("checkpoint") or {}).get("sha256"),
                 "data": metrics.get("data") or {}}]
    out = []
    for part in parts:
        if part.get("fused_from"):
            out += _streams(part, part.get("path"))
        else:  # an older record has no per-part data: the fused bundle's (its parts' when they agree)
            out.append({"path": part.get("path"), "sha256": part.get("sha256"),
                        "data": part.get("data") or metrics.get("data") or {}})
    return out


def _resolved(path) -> Path | None:
    """A recorded path as a comparable one (a portable path is relative to the repository)."""
    if not path:
        return None
    p = Path(path).expanduser()
    return (p if p.is_absolute() else REPO / p).resolve()


def _refuse_a_stream_twice(bundles: list[Bundle]) -> None:
    """One model's scores on one data set and split counted twice: a copied bundle (keyed on the data set's
    identity, so ``ucla:nw-ucla`` and the store converted from it are one), or a fused bundle with one of
    its own parts (by path or by that key)."""
    streams = [(b, s) for b in bundles for s in _streams(b.metrics, b.path)]
    rows = [{"dataset": data_identity(s["data"])} for _, s in streams]
    unify_relative(rows)
    seen: list[tuple[Bundle, dict, tuple, Path | None]] = []
    for (b, s), row in zip(streams, rows):
        key = (s["sha256"], row["dataset"], (s["data"] or {}).get("split"))
        where = _resolved(s["path"])
        for ob, os_, okey, owhere in seen:
            if ob is b:
                continue
            # a path re-evaluated since (another checkpoint there now) is another stream
            same_path = where is not None and where == owhere and (not (key[0] and okey[0]) or key[0] == okey[0])
            if not (same_path or (key[0] and key == okey)):
                continue
            fused_b, fused_o = bool(b.metrics.get("fused_from")), bool(ob.metrics.get("fused_from"))
            if fused_b or fused_o:
                why = (f"and {ob.path} are both fused from the stream of {s['path']}" if fused_b and fused_o else
                       f"is fused from {s['path']}, the same stream as {ob.path}" if fused_b else
                       f"is the same stream as {os_['path']}, which {ob.path} is fused from")
                raise DataError(b.path, f"{why}: it would count twice; to weight a stream more, use --weights")
            raise DataError(b.path, f"holds the same checkpoint's scores (sha256 {key[0][:12]}) on the same data "
                                    f"and split as {ob.path}: a copy; to weight a stream more, use --weights")
        seen.append((b, s, key, where))


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
                            "top1": b.metrics.get("top1"), "config_name": c.get("config_name"), "seed": c.get("seed"),
                            # what a later fusion needs to tell that a bundle is one of these parts
                            "sha256": c.get("sha256"), "data": b.metrics.get("data") or {},
                            **({"fused_from": b.metrics["fused_from"]} if b.metrics.get("fused_from") else {})}
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
