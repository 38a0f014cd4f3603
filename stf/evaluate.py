"""Evaluation and the evaluation bundle.

``python -m stf eval --checkpoint CKPT --data DATA --split SPLIT --out DIR`` runs the checkpoint's own
deterministic test preprocessing (no test-time augmentation) and writes a *bundle*::

    DIR/
      metrics.json      schema "stf-eval-bundle" v1: top1, top5, per-class accuracy, confusion matrix
                        (rows = true class, columns = predicted), class names, and provenance:
                        checkpoint (path, sha256, epoch, seed, stream, config name, code version,
                        what it trained on: train_split, train_fraction, train_max_samples),
                        data (spec, split, layout, store, and the store's source_format and
                        source: what it was converted from; for a cross-data-set evaluation also the layout
                        mapping, the class map and how many samples it left out), evaluator code
                        version, device, created
      logits.npz        ids (N,) str, logits (N, K) float32, labels (N,) int64  -- keyed by sample id
      predictions.csv   id, label, label_name, pred, pred_name, confidence, correct
      confusion.csv     the confusion matrix with class names

A fused bundle (``python -m stf fuse``) has the same files; its provenance is ``fused_from`` (each part's
path, stream, top-1, config name, seed), ``weights``, ``stream`` ("joint+bone") and a ``checkpoint`` entry
with ``fused: true`` and what the parts share (``focus_losses``, ``seed``, joined ``config_name``).
Fusion (:mod:`stf.fuse`) and the app read bundles through :func:`load_bundle`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import code_version
from .checkpoint import check_compatible, load_checkpoint, model_from_checkpoint
from .data.dataset import SkeletonDataset
from .data.resolve import open_dataset
from .errors import CheckpointError, DataError
from .layouts import LAYOUTS, get_mapping
from .transforms import MapLayout, Pipeline
from .utils import atomic_write_bytes, atomic_write_json, resolve_device

BUNDLE_SCHEMA = "stf-eval-bundle"
BUNDLE_VERSION = 1
BUNDLE_FILES = ("metrics.json", "logits.npz", "predictions.csv", "confusion.csv")


@dataclass
class Bundle:
    path: Path
    ids: np.ndarray  # (N,) str
    logits: np.ndarray  # (N, K) float32
    labels: np.ndarray  # (N,) int64, -1 = unknown
    metrics: dict[str, Any]

    @property
    def class_names(self) -> list[str]:
        return self.metrics["class_names"]

    @property
    def preds(self) -> np.ndarray:
        return self.logits.argmax(1)

    def probabilities(self) -> np.ndarray:
        z = self.logits - self.logits.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)


def metrics_from_logits(logits: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """top-1 / top-5 / per-class accuracy and the confusion matrix (rows true, columns predicted)."""
    k = len(class_names)
    known = labels >= 0
    lg, lb = logits[known], labels[known]
    pred = lg.argmax(1)
    top5 = np.argsort(-lg, axis=1)[:, : min(5, k)]
    conf = np.zeros((k, k), dtype=np.int64)
    np.add.at(conf, (lb, pred), 1)
    support = conf.sum(1)
    per_class = [{"class": c, "name": class_names[c], "support": int(support[c]),
                  "top1": float(conf[c, c] / support[c]) if support[c] else None} for c in range(k)]
    n = int(known.sum())
    return {"num_samples": int(len(labels)), "num_labelled": n,
            "top1": float((pred == lb).mean()) if n else None,
            "top5": float((top5 == lb[:, None]).any(1).mean()) if n else None,
            "per_class": per_class, "confusion": conf.tolist()}


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_bundle_out(out: str | Path, overwrite: bool = False, inputs: tuple[str | Path, ...] = ()) -> Path:
    """Refuse, before any work, an output directory whose writing would destroy saved results.

    ``out`` may not be a file, nor one of ``inputs`` (the bundles being fused), nor hold a bundle's file
    (an earlier evaluation) unless ``overwrite`` (``--force``).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(out, "is a file; --out must be a directory for the evaluation bundle")
    above = next((a for a in out.absolute().parents if a.exists()), None)  # where the directory would be made
    if not out.exists() and above is not None:
        if not above.is_dir():
            raise DataError(above, f"is a file, so --out {out} cannot be created")
        if not os.access(above, os.W_OK | os.X_OK):
            raise DataError(above, f"is not writable, so --out {out} cannot be created")
    elif out.exists() and not os.access(out, os.W_OK | os.X_OK):
        raise DataError(out, "is not writable; choose another --out")
    here = out.resolve()
    for b in inputs:
        if Path(b).resolve() == here:
            raise DataError(out, "is one of the bundles being read; write the result to another directory")
    taken = [n for n in BUNDLE_FILES if (out / n).exists()]
    if taken and not overwrite:
        what = "an evaluation bundle" if "metrics.json" in taken else taken[0]
        raise DataError(out, f"already holds {what}; pass --force to replace it, or choose another --out")
    return out


def write_bundle(out: str | Path, ids: list[str], logits: np.ndarray, labels: np.ndarray,
                 class_names: list[str], provenance: dict[str, Any], overwrite: bool = False) -> Path:
    """Write a bundle directory (each file atomically). Returns its path.

    An existing bundle in ``out`` is replaced only with ``overwrite`` (see :func:`check_bundle_out`).
    """
    out = check_bundle_out(out, overwrite)
    logits = np.asarray(logits, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if len(set(ids)) != len(ids):
        raise DataError(out, "duplicate sample ids in an evaluation")
    if logits.shape != (len(ids), len(class_names)) or labels.shape != (len(ids),):
        raise DataError(out, f"logits {logits.shape} / labels {labels.shape} do not fit {len(ids)} ids and "
                             f"{len(class_names)} classes")
    if not np.isfinite(logits).all():
        bad = [ids[i] for i in np.flatnonzero(~np.isfinite(logits).all(1))]
        raise DataError(out, f"non-finite logits (NaN or inf) for {len(bad)} sample(s), e.g. {bad[0]}; "
                             "nothing was written")
    out.mkdir(parents=True, exist_ok=True)
    # a bundle being replaced stops being one first: stopped half-way, the old metrics.json would describe the
    # new logits.npz (its presence marks a complete bundle, so it goes first and comes back last)
    (out / "metrics.json").unlink(missing_ok=True)
    m = {"schema": BUNDLE_SCHEMA, "schema_version": BUNDLE_VERSION, **metrics_from_logits(logits, labels, class_names),
         "class_names": list(class_names), **provenance, "evaluator_code_version": code_version(),
         "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    buf = io.BytesIO()
    np.savez(buf, ids=np.asarray(ids, dtype=str), logits=logits, labels=labels)
    atomic_write_bytes(out / "logits.npz", buf.getvalue())
    pred = logits.argmax(1)
    prob = torch.softmax(torch.from_numpy(logits), 1).numpy()
    s = io.StringIO()
    w = csv.writer(s)
    w.writerow(["id", "label", "label_name", "pred", "pred_name", "confidence", "correct"])
    for i, sid in enumerate(ids):
        lab = int(labels[i])
        w.writerow([sid, lab, class_names[lab] if lab >= 0 else "", int(pred[i]), class_names[pred[i]],
                    f"{prob[i, pred[i]]:.6f}", int(lab == pred[i]) if lab >= 0 else ""])
    atomic_write_bytes(out / "predictions.csv", s.getvalue().encode())
    s = io.StringIO()
    w = csv.writer(s)
    w.writerow(["true \\ predicted"] + list(class_names))
    for name, row in zip(class_names, m["confusion"]):
        w.writerow([name] + row)
    atomic_write_bytes(out / "confusion.csv", s.getvalue().encode())
    atomic_write_json(out / "metrics.json", m)  # last: its presence marks a complete bundle
    return out


def check_metrics(metrics: Any, where: str | Path) -> None:
    """Refuse a ``metrics.json`` whose fields are not what a bundle writes (a :class:`DataError` naming the field).

    Checked: schema, ``class_names`` (strings), ``num_samples`` (integer >= 0), ``top1`` / ``top5`` (null or a
    number in [0, 1]), ``confusion`` (K x K non-negative integers, K classes) and ``checkpoint`` / ``data``
    (mappings, when present), so that no reader of a bundle trips over a hand-edited or foreign file.
    """
    if not isinstance(metrics, dict) or metrics.get("schema") != BUNDLE_SCHEMA:
        raise DataError(where, f"not an stf evaluation bundle's metrics (no schema {BUNDLE_SCHEMA!r})")
    names = metrics.get("class_names")
    if not isinstance(names, list) or not names or not all(isinstance(c, str) for c in names):
        raise DataError(where, "has no class_names list (a non-empty list of strings)")
    n = metrics.get("num_samples")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise DataError(where, f"num_samples must be an integer >= 0, got {n!r}")
    for key in ("top1", "top5"):
        if key not in metrics:
            raise DataError(where, f"has no {key} (null when no sample is labelled)")
        v = metrics[key]
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1):
            raise DataError(where, f"{key} must be null or a number in [0, 1], got {v!r}")
    conf, k = metrics.get("confusion"), len(names)
    ok = isinstance(conf, list) and len(conf) == k and all(
        isinstance(row, list) and len(row) == k
        and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in row) for row in conf)
    if not ok:
        raise DataError(where, f"confusion must be a {k} x {k} matrix of counts (one row and column per class)")
    for key in ("checkpoint", "data"):  # provenance: optional (a bundle written by other code), but a mapping
        if metrics.get(key) is not None and not isinstance(metrics[key], dict):
            raise DataError(where, f"{key} must be a mapping, got {type(metrics[key]).__name__}")
    for key in ("spec", "split", "source_format", "source"):
        v = (metrics.get("data") or {}).get(key)
        if v is not None and not isinstance(v, str):
            raise DataError(where, f"data.{key} must be a string, got {v!r}")


def load_bundle(path: str | Path) -> Bundle:
    """Read a bundle directory; anything missing, truncated or inconsistent is a :class:`DataError`."""
    p = Path(path)
    try:
        with open(p / "metrics.json") as f:
            metrics = json.load(f)
    except FileNotFoundError as e:
        raise DataError(p, f"not an evaluation bundle (missing {Path(e.filename).name})") from e
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DataError(p / "metrics.json", f"unreadable: {e}") from e
    check_metrics(metrics, p / "metrics.json")
    if (p / "logits.npz").is_file() and not zipfile.is_zipfile(p / "logits.npz"):
        raise DataError(p / "logits.npz", "truncated or corrupt (not a .npz archive)")
    try:
        with np.load(p / "logits.npz", allow_pickle=False) as z:
            ids, logits, labels = z["ids"], z["logits"], z["labels"]
    except FileNotFoundError as e:
        raise DataError(p, "not an evaluation bundle (missing logits.npz)") from e
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(p / "logits.npz", f"truncated or corrupt ({type(e).__name__}: {e})") from e
    if ids.ndim != 1 or logits.shape != (len(ids), len(metrics["class_names"])) or labels.shape != (len(ids),):
        raise DataError(p, f"logits {logits.shape} / labels {labels.shape} do not match {len(ids)} ids")
    check_scores(ids, logits, labels, len(metrics["class_names"]), p / "logits.npz")
    check_same_evaluation(metrics, logits, labels, p)
    return Bundle(path=p, ids=ids, logits=logits, labels=labels, metrics=metrics)


def check_same_evaluation(metrics: dict[str, Any], logits: np.ndarray, labels: np.ndarray, where: Path) -> None:
    """Refuse a metrics.json that is not of its logits.npz (e.g. files of two evaluations put together by
    hand): its sample count and confusion matrix must be what the logits give."""
    got = metrics_from_logits(logits, labels, list(metrics["class_names"]))
    if metrics["num_samples"] != got["num_samples"] or metrics["confusion"] != got["confusion"]:
        said = metrics.get("top1")
        raise DataError(where / "metrics.json", f"says {metrics['num_samples']} samples"
                        + (f", top-1 {said:.4f}" if isinstance(said, float) else "")
                        + f", but logits.npz gives {got['num_samples']}"
                        + (f", top-1 {got['top1']:.4f}" if got["top1"] is not None else "")
                        + " (or another confusion matrix): the two files are of different evaluations "
                          "(evaluate again)")


def check_scores(ids: np.ndarray, logits: np.ndarray, labels: np.ndarray, k: int, where: str | Path) -> None:
    """Refuse what :func:`write_bundle` never writes: a sample id twice, NaN / inf logits, labels outside -1..k-1."""
    if labels.dtype.kind not in "iu" or (len(labels) and (labels.min() < -1 or labels.max() >= k)):
        raise DataError(where, f"labels must be integers in -1..{k - 1} (-1 = unknown)")
    if logits.dtype.kind != "f" or not np.isfinite(logits).all():
        bad = [str(ids[i]) for i in np.flatnonzero(~np.isfinite(logits).all(1))] if logits.dtype.kind == "f" else []
        raise DataError(where, f"non-finite logits (NaN or inf) for {len(bad)} sample(s), e.g. {bad[0]}" if bad
                        else f"logits must be floats, got {logits.dtype}")
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        i = int(np.argmax(counts > 1))
        raise DataError(where, f"sample id {str(uniq[i])!r} appears {counts[i]} times "
                               f"({int((counts > 1).sum())} id(s) repeated); a bundle holds each sample once")


def portable_path(path: str | Path) -> str:
    """A path for provenance: relative to the repository when inside it (shipped bundles), else absolute."""
    p = Path(path).resolve()
    repo = Path(__file__).resolve().parent.parent
    return str(p.relative_to(repo)) if p.is_relative_to(repo) else str(p)


def eval_pipeline(ckpt: dict[str, Any], where: str | Path = "checkpoint") -> Pipeline:
    """The checkpoint's deterministic test preprocessing (one holding a random step is refused: its scores,
    and its focus, would be of augmented samples)."""
    cfg = ckpt["config"]
    pipe = Pipeline.from_config(cfg["transforms"]["test"], ckpt["stream"], ckpt["persons"])
    if aug := pipe.random_steps():
        raise CheckpointError(f"{where}: its test preprocessing (config.transforms.test) holds random step "
                              f"{', '.join(aug)}; evaluation runs deterministic preprocessing only (crop_resize: "
                              "one p_interval value, the centred window)")
    return pipe


def check_evaluable(ckpt: dict[str, Any], store, where: str, map_layout: bool = False, class_map: bool = False,
                    map_hint: str = "pass --map-layout to convert it"):
    """Raise CheckpointError unless ``ckpt`` can be evaluated on ``store`` -> the layout mapping to apply (or None).

    The layout must be the checkpoint's, or one with a mapping to it and ``map_layout``; the channels the
    same; the class names those of the checkpoint unless a class map (``class_map``) says how they relate.
    The one check behind ``stf eval`` and the app's queueing of a run (which refuses what would fail later).
    """
    mapping = None
    if store.layout != ckpt["layout"] and (mapping := get_mapping(store.layout, ckpt["layout"])) is not None:
        if not map_layout:
            raise CheckpointError(f"checkpoint is for layout {ckpt['layout']!r}, but {where} is {store.layout!r}; "
                                  f"{map_hint} ({mapping.note})")
    elif store.layout != ckpt["layout"] and map_layout:
        into = sorted(s for s in LAYOUTS if s != ckpt["layout"] and get_mapping(s, ckpt["layout"]) is not None)
        raise CheckpointError(f"checkpoint is for layout {ckpt['layout']!r}, but {where} is {store.layout!r}, and "
                              f"no mapping turns {store.layout!r} into {ckpt['layout']!r} (layouts that map into it: "
                              f"{', '.join(into) or 'none'})")
    check_compatible(ckpt, ckpt["layout"] if mapping else store.layout, store.channels, None, where=where)
    if not class_map:
        check_classes(ckpt["class_names"], store.class_names, where)
    return mapping


def check_classes(ckpt_names: list[str], data_names: list[str], where: str) -> None:
    """Refuse labels that would be scored against other classes than the checkpoint's.

    No names (unlabelled data) and generic names (``class_0``, ``class_1``, ... from a reader that was given
    no names file: the labels are indices into the checkpoint's classes) pass; otherwise the names must
    agree one by one, so a data set with the same classes in another order is not silently mis-scored.
    """
    if not data_names or list(data_names) == list(ckpt_names):
        return
    if len(data_names) != len(ckpt_names):
        raise CheckpointError(f"checkpoint has {len(ckpt_names)} classes, {where} has {len(data_names)}")
    if list(data_names) == [f"class_{k}" for k in range(len(data_names))]:
        return
    k = next(k for k, (a, b) in enumerate(zip(ckpt_names, data_names)) if a != b)
    raise CheckpointError(f"class names differ: class {k} is {ckpt_names[k]!r} in the checkpoint but "
                          f"{data_names[k]!r} in {where}")


def read_class_map(path: str | Path, data_names: list[str], model_names: list[str]) -> dict[int, int]:
    """A cross-data-set class map: CSV with header ``data_class,model_class``, one row per data class,
    or ``"names"``: every data class whose name is one of the model's classes maps to it.

    Returns ``{data label: model label}``. Several data classes may map to one model class; a data class
    given twice, or a name that is not a class of the data set / of the model, is a DataError naming the row.
    """
    if str(path) == "names":
        out = {d: model_names.index(n) for d, n in enumerate(data_names) if n in model_names}
        if not out:
            raise DataError(None, "class map 'names': no class of the data set has the name of a model class")
        return out
    p = Path(path)
    try:
        rows = list(csv.reader(io.StringIO(p.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(p, f"unreadable class map: {e}") from e
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows or [c.strip() for c in rows[0]] != ["data_class", "model_class"]:
        raise DataError(p, "a class map is a CSV whose header is 'data_class,model_class'")
    out: dict[int, int] = {}
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise DataError(p, f"row {n}: expected 2 columns (data_class, model_class), got {len(row)}")
        d, m = row[0].strip(), row[1].strip()
        if d not in data_names:
            raise DataError(p, f"row {n}: {d!r} is not a class of the data set")
        if m not in model_names:
            raise DataError(p, f"row {n}: {m!r} is not a class of the model")
        if data_names.index(d) in out:
            raise DataError(p, f"row {n}: data class {d!r} is mapped twice")
        out[data_names.index(d)] = model_names.index(m)
    if not out:
        raise DataError(p, "the class map maps no class")
    return out


def evaluate(checkpoint: str | Path, data: str, split: str, out: str | Path, device: str = "auto",
             batch_size: int = 64, progress: Callable[[int, int], None] | None = None,
             overwrite: bool = False, class_map: str | Path | None = None, map_layout: bool = False,
             recorded_as: str | Path | None = None) -> Path:
    """Evaluate ``checkpoint`` on ``data`` / ``split`` and write the bundle to ``out``.

    ``recorded_as``: the checkpoint path the bundle's provenance records (default ``checkpoint``; a
    release evaluates its copy before moving it into place).

    ``progress(done, total)`` is called after each batch (the runs worker writes it to its row). A bundle
    already in ``out`` is refused before any work unless ``overwrite``.

    Cross-data-set evaluation (e.g. an NW-UCLA model on NTU samples of the same actions): ``map_layout``
    converts samples of another layout with :func:`stf.layouts.get_mapping` before the checkpoint's test
    preprocessing, and ``class_map`` (see :func:`read_class_map`) gives the data set's labels as the
    model's classes; labelled samples of unmapped classes are left out (counted in the provenance).
    """
    check_bundle_out(out, overwrite)
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint)
    store = open_dataset(data)
    where = f"data set {data}"
    mapping = check_evaluable(ckpt, store, where, map_layout=map_layout, class_map=class_map is not None)
    pipe = eval_pipeline(ckpt, checkpoint)
    idx = store.split_indices(split)
    remap = None
    if class_map is not None:
        remap = read_class_map(class_map, list(store.class_names), list(ckpt["class_names"]))
        keep = np.isin(store.labels[idx], list(remap)) | (store.labels[idx] < 0)
        left_out, idx = int((~keep).sum()), idx[keep]
        if not len(idx):
            raise DataError(store.path, f"split {split!r} holds no sample of a class the class map maps")
    model = model_from_checkpoint(ckpt, dev, fold_bn=True)
    if mapping is not None:
        pipe = Pipeline([MapLayout(ckpt["layout"])] + pipe.steps)
    ds = SkeletonDataset(store, idx, pipe, seed=0)
    logits, labels, pos = [], [], []
    total = len(ds)
    with torch.no_grad():
        for start in range(0, total, batch_size):
            items = [ds[i] for i in range(start, min(total, start + batch_size))]
            x = torch.stack([it["x"] for it in items]).to(dev)
            logits.append(model(x).logits.float().cpu().numpy())
            labels += [it["label"] if remap is None or it["label"] < 0 else remap[it["label"]] for it in items]
            pos += [it["index"] for it in items]
            if progress:
                progress(min(total, start + batch_size), total)
    ids = [store.ids[p] for p in pos]
    cfg = ckpt["config"]
    prov = {"checkpoint": {"path": portable_path(recorded_as or checkpoint), "sha256": sha256_of(checkpoint),
                           "epoch": ckpt.get("epoch"), "seed": ckpt.get("seed"), "stream": ckpt["stream"],
                           "config_name": cfg.get("name"), "code_version": ckpt.get("code_version"),
                           "focus_losses": any(ckpt.get("loss_config", {}).get(f"lambda_{k}", 0) > 0
                                               for k in "ecdg"),
                           # what the model trained on (a scarce-data run trains on a share of its split)
                           "train_split": cfg.get("data", {}).get("train_split"),
                           "train_fraction": cfg.get("train", {}).get("fraction"),
                           "train_max_samples": cfg.get("train", {}).get("max_samples")},
            "data": {"spec": str(data), "split": split, "layout": store.layout, "store": str(store.path),
                     **data_source(store),
                     **({"layout_mapping": f"{store.layout} -> {ckpt['layout']}: {mapping.note}"} if mapping else {}),
                     **({"class_map": {store.class_names[d]: ckpt["class_names"][m] for d, m in remap.items()},
                         "left_out_unmapped": left_out} if remap is not None else {})},
            "stream": ckpt["stream"], "device": str(dev)}
    return write_bundle(out, ids, np.concatenate(logits) if logits else np.zeros((0, len(ckpt["class_names"]))),
                        np.asarray(labels), ckpt["class_names"], prov, overwrite=overwrite)


def data_source(store) -> dict[str, str]:
    """What a store was converted from (``source_format``, ``source``), for a bundle's ``data`` record.

    The same data set named as ``FORMAT:PATH``, as ``FORMAT:/absolute/PATH`` or as a converted directory
    has the same source, so ``python -m stf report`` compares data sets by it rather than by the name
    given to ``--data`` (bundles written before it was recorded are compared by their ``spec``).
    """
    return {"source_format": str(store.index["source_format"]), "source": str(store.index["source"])}


def percent(value: float | None) -> str:
    """A bundle accuracy (a fraction, or None when no sample is labelled) as ``"90.52%"`` or ``"n/a"``."""
    return "n/a" if value is None else f"{100 * value:.2f}%"


def eval_from_cli(a) -> int:
    out = evaluate(a.checkpoint, a.data, a.split, a.out, a.device, a.batch_size, overwrite=a.force,
                   class_map=a.class_map, map_layout=a.map_layout)
    m = load_bundle(out).metrics
    print(f"{m['num_samples']} samples ({a.split}): top-1 {percent(m['top1'])}, top-5 {percent(m['top5'])} -> {out}")
    return 0
