"""Find models, their evaluation bundles and data sets for the app (no Streamlit here).

Naming convention for shipped models (documented in the README)::

    assets/<name>.pt                 the checkpoint
    assets/<name>.eval/              its evaluation bundle (metrics.json, logits.npz, ...)
    assets/<name>.eval/<any>/        or several bundles, one per data set / split

A bundle belongs to a checkpoint when its ``metrics.json`` records the checkpoint's sha256 (so a bundle
made elsewhere still matches after a copy). Besides ``<name>.eval``, the folders next to a checkpoint
(``runs/tiny/eval-xview-test`` beside ``runs/tiny/last.pt``) and the bundles of finished runs in the run
registry are searched.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.resolve import cache_dir, data_root, parse_spec, source_path
from ..errors import ArgumentError, DataError
from ..evaluate import check_metrics
from ..paths import assets_dir, display, is_within, runs_dir

# FORMAT:PATH data sets offered when PATH exists under STF_DATA_ROOT (label, spec)
KNOWN_SOURCES = [
    ("NW-UCLA", "ucla:nw-ucla"),
    ("NTU RGB+D samples (.skeleton)", "ntu:ntu-raw-skeleton-samples/nturgb+d_skeletons"),
    ("SBU Kinect Interaction", "sbu:sbu-kinect-interaction"),
    ("NTU clips in Kinetics-skeleton JSON", "kinetics:kinetics-skeleton-format/ntu_rgb_openpose_kinetics_format"),
]

_MAX_DEPTH = 4  # how deep to look for *.pt under a root


@dataclass(frozen=True)
class ModelRef:
    path: Path
    label: str
    root: str  # "assets" | "runs"


@dataclass(frozen=True)
class BundleRef:
    path: Path
    label: str
    data: str
    split: str
    top1: float | None
    num_samples: int
    checkpoint_sha256: str | None
    checkpoint_path: str | None
    origin: str  # "next to the checkpoint" | "run 7" | ...


@dataclass(frozen=True)
class DataChoice:
    spec: str
    label: str


def _walk_files(root: Path, suffix: str, max_depth: int = _MAX_DEPTH) -> list[Path]:
    out = []
    if not root.is_dir():
        return out
    base = len(root.parts)
    for d, dirs, files in os.walk(root, followlinks=False):
        depth = len(Path(d).parts) - base
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and x != "evals" and not x.endswith(".eval"))
        if depth >= max_depth:
            dirs[:] = []
        # regular files only: a dangling or looping symlink, a FIFO (reading it would wait for ever) is left out
        out += [Path(d) / f for f in sorted(files)
                if f.endswith(suffix) and not f.startswith(".") and (Path(d) / f).is_file()]
    return out


def _mtime_or_0(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:  # removed since it was listed
        return 0.0


def find_checkpoints() -> list[ModelRef]:
    """Checkpoints under ``assets/`` (first) and ``$STF_RUNS_DIR`` (newest first). Cheap: no loading."""
    found: list[ModelRef] = []
    seen: set[Path] = set()
    for root_name, root in (("assets", assets_dir()), ("runs", runs_dir())):
        files = _walk_files(root, ".pt")
        if root_name == "runs":
            files.sort(key=_mtime_or_0, reverse=True)
        for f in files:
            try:
                r = f.resolve()
            except (OSError, RuntimeError):  # a symlink loop made since the walk
                continue
            if r in seen or not is_within(r, root.resolve()):
                continue
            seen.add(r)
            found.append(ModelRef(path=r, label=display(r), root=root_name))
    return found


_sha_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]


def spec_label(spec: str) -> str:
    """A data spec for display: FORMAT:PATH as is, a converted directory relative to its root."""
    fmt, _ = parse_spec(str(spec))
    return str(spec) if fmt is not None else display(spec)


def read_bundle_ref(path: Path, origin: str) -> BundleRef | None:
    """A bundle's summary from its metrics.json; None when it is not a complete bundle."""
    try:
        with open(path / "metrics.json") as f:
            m = json.load(f)
    except (OSError, ValueError):
        return None
    try:
        check_metrics(m, path / "metrics.json")
    except DataError:
        return None
    if not (path / "logits.npz").is_file():
        return None
    data = m.get("data") or {}
    ck = m.get("checkpoint") or {}
    top1 = m.get("top1")
    spec, split = str(data.get("spec", "?")), str(data.get("split", "?"))
    acc = "" if top1 is None else f", top-1 {100 * top1:.1f}%"
    return BundleRef(path=path.resolve(), label=f"{spec_label(spec)} [{split}]{acc} — {display(path)}", data=spec,
                     split=split,
                     top1=top1, num_samples=int(m.get("num_samples", 0)), checkpoint_sha256=ck.get("sha256"),
                     checkpoint_path=ck.get("path"), origin=origin)


def _candidate_dirs(checkpoint: Path) -> list[Path]:
    d = checkpoint.parent
    out = []
    ev = d / f"{checkpoint.stem}.eval"
    if ev.is_dir():
        out.append(ev)
        out += sorted(x for x in ev.iterdir() if x.is_dir())
    if d.is_dir():
        out += sorted(x for x in d.iterdir() if x.is_dir() and not x.name.endswith(".eval")
                      and (x / "metrics.json").is_file())
    return out


def registry_bundles(db: Path | None = None) -> list[BundleRef]:
    """Bundles of finished runs in the registry (none when there is no registry yet, or it cannot be read:
    :func:`registry_problem` says why, so that pages listing bundles still show the others)."""
    from ..runs import Registry, RunsError, default_db

    dbp = Path(db) if db else default_db()
    if not dbp.exists():
        return []
    out = []
    try:
        with Registry(dbp) as reg:
            runs = reg.list(status="done")
    except (RunsError, sqlite3.Error):
        return []
    for r in runs:
        if r.bundle:
            ref = read_bundle_ref(Path(r.bundle), f"run {r.id}")
            if ref:
                out.append(ref)
    return out


def registry_problem(db: Path | None = None) -> str | None:
    """Why the run registry cannot be read (None when it can, or does not exist yet)."""
    from ..runs import Registry, RunsError, default_db

    dbp = Path(db) if db else default_db()
    if not dbp.exists():
        return None
    try:
        with Registry(dbp) as reg:
            reg.list(status="done", limit=1)
    except RunsError as e:
        return str(e)
    except sqlite3.Error as e:
        return f"{dbp}: cannot read the run registry ({e})"
    return None


def bundles_for(checkpoint: str | Path, db: Path | None = None) -> list[BundleRef]:
    """Evaluation bundles made from this checkpoint (matched by sha256)."""
    ck = Path(checkpoint).resolve()
    sha = file_sha256(ck)
    refs: list[BundleRef] = []
    seen: set[Path] = set()
    for d in _candidate_dirs(ck):
        ref = read_bundle_ref(d, "next to the checkpoint")
        if ref and ref.path not in seen and ref.checkpoint_sha256 == sha:
            refs.append(ref)
            seen.add(ref.path)
    for ref in registry_bundles(db):
        if ref.path not in seen and ref.checkpoint_sha256 == sha:
            refs.append(ref)
            seen.add(ref.path)
    return refs


def all_bundles(db: Path | None = None) -> list[BundleRef]:
    """Every bundle the app can open: those of the discovered checkpoints, then those of finished runs."""
    refs, seen = [], set()
    for m in find_checkpoints():
        for d in _candidate_dirs(m.path):
            ref = read_bundle_ref(d, f"next to {m.label}")
            if ref and ref.path not in seen:
                refs.append(ref)
                seen.add(ref.path)
    for ref in registry_bundles(db):
        if ref.path not in seen:
            refs.append(ref)
            seen.add(ref.path)
    return refs


def checkpoint_for_bundle(ref: BundleRef, models: list[ModelRef] | None = None) -> Path | None:
    """The discovered checkpoint whose sha256 the bundle records (its own path only if discovered)."""
    models = find_checkpoints() if models is None else models

    def sha(p: Path) -> str | None:
        try:
            return file_sha256(p)
        except OSError:  # removed (or made unreadable) since it was listed: not this bundle's checkpoint
            return None

    if not ref.checkpoint_sha256:
        return None
    if ref.checkpoint_path:
        for m in models:
            if str(m.path) == str(Path(ref.checkpoint_path).resolve()) and sha(m.path) == ref.checkpoint_sha256:
                return m.path
    for m in models:
        if sha(m.path) == ref.checkpoint_sha256:
            return m.path
    return None


def data_key(spec: str) -> tuple[str, str]:
    """A data spec normalised for comparison: (format, resolved source) or ("dir", resolved path)."""
    fmt, path = parse_spec(str(spec))
    try:
        if fmt is None:
            return "dir", str(Path(path).expanduser().resolve())
        return fmt, str(source_path(path).resolve())
    except Exception:  # noqa: BLE001 - an unresolvable spec compares by its text
        return "spec", str(spec)


def bundle_for_data(refs: list[BundleRef], spec: str, split: str, store_path: Path | None = None) -> BundleRef | None:
    """The newest of ``refs`` evaluated on ``spec`` / ``split`` (or on the same converted store)."""
    key = data_key(spec)
    # newest written first (registry runs come newest first, bundles next to the checkpoint in name order)
    for ref in sorted(refs[::-1], key=lambda r: _mtime_or_0(Path(r.path) / "metrics.json"), reverse=True):
        if ref.split != split:
            continue
        if ref.data == spec or data_key(ref.data) == key:
            return ref
        if store_path is not None:
            try:
                m = json.loads((ref.path / "metrics.json").read_text())
                if Path(m["data"]["store"]).resolve() == Path(store_path).resolve():
                    return ref
            except (OSError, ValueError, KeyError, TypeError):
                pass
    return None


def find_datasets() -> list[DataChoice]:
    """Data sets to choose from: known FORMAT:PATH folders under STF_DATA_ROOT, then converted stores."""
    out: list[DataChoice] = []
    keys: set[tuple[str, str]] = set()
    root = data_root()
    if root is not None and root.is_dir():
        for label, spec in KNOWN_SOURCES:
            _, rel = parse_spec(spec)
            if (root / rel).exists():
                out.append(DataChoice(spec, f"{label} ({spec})"))
                keys.add(data_key(spec))
    cdir = cache_dir()
    if cdir.is_dir():
        for d in sorted(cdir.iterdir()):
            if d.name.startswith(".") or not (d / "index.json").is_file():
                continue
            try:
                with open(d / "index.json", encoding="utf-8") as f:
                    head = json.load(f)
            except (OSError, ValueError):
                continue
            if not isinstance(head, dict):  # valid JSON, but not a store's index: not a data set
                continue
            fmt, src = head.get("source_format"), head.get("source")
            if not isinstance(fmt, str) or not isinstance(src, str):
                fmt = src = None
            if root is not None and fmt and src and is_within(Path(src), root.resolve()):
                spec = f"{fmt}:{Path(src).relative_to(root.resolve())}"
                if data_key(spec) in keys:
                    continue  # the same source, already offered as FORMAT:PATH
            if data_key(str(d)) in keys:
                continue
            keys.add(data_key(str(d)))
            out.append(DataChoice(str(d), f"converted: {head.get('name', d.name)} ({display(d)})"))
    return out


def data_root_status(upload: bool = True) -> str | None:
    """None when STF_DATA_ROOT is usable, else a message saying how to set it (``upload``: and that the
    page offers an upload instead)."""
    root = data_root()
    how = ("Set STF_DATA_ROOT to the folder holding the data sets (e.g. `export STF_DATA_ROOT=/path/to/data`, "
           "with `nw-ucla/` inside) and restart the app" + (", or upload a skeleton file below." if upload else "."))
    if root is None:
        return "STF_DATA_ROOT is not set. " + how
    if not root.is_dir():
        return f"STF_DATA_ROOT={root} is not a folder. " + how
    if not any(root.iterdir()):
        return f"STF_DATA_ROOT={root} is empty. " + how
    return None


def true_class(label: int | None, data_names: list[str] | None,
               model_names: list[str]) -> tuple[str | None, int | None]:
    """``(name, model index)`` of a sample's true class: its name in the data's own class list and its index
    among the model's classes (None when the model has no class of that name, so right / wrong is undefined).

    ``data_names`` None or generic (``class_0``, ...: a reader given no names) means the label already
    indexes the model's classes, as :func:`stf.evaluate.check_classes` accepts.
    """
    if label is None or label < 0:
        return None, None
    if not data_names or list(data_names) == [f"class_{k}" for k in range(len(data_names))]:
        return (model_names[label], label) if label < len(model_names) else (f"class {label}", None)
    name = data_names[label] if label < len(data_names) else f"class {label}"
    return name, (model_names.index(name) if name in model_names else None)


def upload_class_names(fmt: str, sample) -> list[str] | None:
    """The class list an uploaded sample's label indexes: its reader's (NTU 120, NW-UCLA, SBU); for
    Kinetics the label name it carries at its index; None when the format has no class list (npy, pyskl).
    A video's pose (``mediapipe``) is labelled as NTU 120 when its name is an NTU clip's (else no label)."""
    from ..data import ntu, sbu, ucla

    if fmt == "kinetics":
        name = (sample.meta or {}).get("label_name")
        if name is None or sample.label is None or sample.label < 0:
            return None
        return [""] * sample.label + [name]
    # mediapipe: a video's pose; its label is NTU 120's when the video is named as NTU names its clips
    return {"ntu": ntu.CLASS_NAMES_120, "mediapipe": ntu.CLASS_NAMES_120, "ucla": ucla.CLASS_NAMES,
            "sbu": sbu.CLASS_NAMES}.get(fmt)


def sample_table(store, split: str, bundle=None):
    """A DataFrame of the split's samples: id, pos (store position), true, pred, confidence, correct.

    ``pred`` / ``confidence`` / ``correct`` come from ``bundle`` (an :class:`stf.evaluate.Bundle`) and are
    missing (None / NaN) without one or for samples the bundle lacks.
    """
    import pandas as pd

    idx = store.split_indices(split, allow_empty=True)  # an empty table: the page says no sample matches
    names = list(store.class_names)
    ids = [store.ids[i] for i in idx]
    labels = store.labels[idx]
    df = pd.DataFrame({"id": ids, "pos": idx.astype(np.int64),
                       "true": [names[x] if x >= 0 else "" for x in labels], "label": labels})
    df["pred"], df["pred_idx"], df["confidence"], df["correct"] = None, -1, np.nan, None
    if bundle is not None and len(bundle.ids):
        prob = bundle.probabilities()
        pred = prob.argmax(1)
        where = {str(s): i for i, s in enumerate(bundle.ids)}
        rows = [where.get(s, -1) for s in ids]
        have = np.array([r >= 0 for r in rows], dtype=bool)
        r = np.array([max(x, 0) for x in rows], dtype=np.int64)
        bnames = bundle.class_names
        df["pred_idx"] = np.where(have, pred[r], -1)
        df["pred"] = [bnames[pred[j]] if h else None for j, h in zip(r, have)]
        df["confidence"] = np.where(have, prob[r, pred[r]], np.nan)
        blab = bundle.labels  # the bundle's labels are in the model's classes (a class-mapped evaluation too)
        df["correct"] = [bool(pred[j] == blab[j]) if h and blab[j] >= 0 else None for j, h in zip(r, have)]
    return df


def filter_samples(df, true=(), pred=(), correctness: str = "all", confidence=(0.0, 1.0)):
    """Rows of :func:`sample_table` matching the filters (empty tuples mean no filter)."""
    if correctness not in ("all", "correct", "incorrect"):
        raise ArgumentError(f"correctness must be all, correct or incorrect, got {correctness!r}")
    m = np.ones(len(df), dtype=bool)
    if true:
        m &= df["true"].isin(list(true)).to_numpy()
    if pred:
        m &= df["pred"].isin(list(pred)).to_numpy()
    if correctness == "correct":
        m &= (df["correct"] == True).to_numpy()  # noqa: E712 - None must not match
    elif correctness == "incorrect":
        m &= (df["correct"] == False).to_numpy()  # noqa: E712
    lo, hi = confidence
    if (lo, hi) != (0.0, 1.0):
        c = df["confidence"].to_numpy(dtype=float)
        m &= (c >= lo) & (c <= hi)
    return df[m]


def bundle_zip(path: str | Path) -> bytes:
    """The bundle folder's regular files as a zip (for download)."""
    p = Path(path)
    if not p.is_dir():
        raise DataError(p, "no such bundle folder (removed since it was listed?)")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(p.iterdir()):
            if f.is_file() and not f.is_symlink() and not f.name.startswith("."):
                z.write(f, arcname=f"{p.name}/{f.name}")
    return buf.getvalue()
