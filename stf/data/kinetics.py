"""Kinetics-Skeleton JSON, as released with ST-GCN: one file per video, OpenPose 18 joints in 2-D.

A file is ``{"data": [{"frame_index": i, "skeleton": [{"pose": [x0, y0, ..., x17, y17],
"score": [s0, ..., s17]}, ...]}, ...], "label": "flipping pancake", "label_index": 129}``.

* Output: layout ``openpose18``, channels ``"xy+score"``, data (M = 2, T, 18, 3). Coordinates are
  kept as written (normalised to the image, undetected joints at (0, 0) with score 0). ST-GCN's
  feeder later centres on 0.5 and zeroes joints whose score is 0; that is a transform, and doing it
  here would erase files that carry no scores at all (the NTU clips converted to this format).
* ``frame_index`` counts from 1 in the release (the real files run 1..T); a file that uses 0 is
  read as counting from 0. T = the largest frame index. Frames with no entry or no skeleton are
  zeros (``frame_mask`` False). A frame index given twice is an error.
* Persons: OpenPose does not track people, so a skeleton's place in a frame's list carries no
  identity across frames. ST-GCN's feeder keeps the first 5 skeletons of a frame, sorts them by
  summed joint score *per frame* and keeps 2. We do the same ranking over all of a frame's skeletons
  (ties broken by more detected joints, then file order, so files whose scores are all 0 still
  select deterministically): person 0 is each frame's most confident skeleton, person 1 the next.
* ``label_index`` is the 0-based class (Kinetics-400: 129 = line 130 of ``label_name.txt``);
  -1 or missing means unknown. ``label_base=1`` reads files whose indices count from 1.

:func:`read_dataset` reads a directory of files with ST-GCN's label index
``{name: {"label", "label_index", "has_skeleton"}}`` (option ``labels``, or ``<dir>_label.json`` next
to the directory), or the release root holding ``kinetics_train/`` and ``kinetics_val/`` (splits
``kinetics/train`` and ``kinetics/test``). As in ST-GCN's feeder, files come from the directory,
labels from the index, and entries with ``has_skeleton`` false are left out. Class names come from
``class_names=PATH`` (one per line), else a ``kinetics400_label_name.txt`` / ``label_name.txt`` in the
directory or its parent when it agrees with the index's label names, else the index's label names.
``label_base=auto`` (default) reads the indices as 0-based unless only counting from 1 makes them
agree with the names file, or, with no names file, they are exactly 1..K: the NTU clips converted to
this format use NTU action numbers (A055 "hugging other person" has label_index 55).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError
from ..sample import Sample
from .base import DatasetSource, check_label, read_text
from .npy import read_class_names

NUM_JOINTS = 18
MAX_PERSONS = 2
MAX_FRAMES = 100_000  # a frame index above this is corruption, not a video (300 frames is the norm)
NAME_FILES = ("kinetics400_label_name.txt", "label_name.txt")


def _load_json(p: Path):
    try:
        return json.loads(read_text(p))
    except json.JSONDecodeError as e:
        raise DataError(p, f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except RecursionError as e:
        raise DataError(p, "invalid JSON: nested too deeply") from e


def _is_int(x) -> bool:
    return type(x) is int


def _numbers(values, n: int, what: str, where: Path) -> np.ndarray:
    """A JSON list of exactly ``n`` numbers -> float64 (n,)."""
    if not isinstance(values, list) or len(values) != n or not all(type(x) in (int, float) for x in values):
        raise DataError(where, f"{what} must be a list of {n} numbers")
    return np.asarray(values, dtype=np.float64)


def _frame_skeletons(frame, k: int, p: Path) -> np.ndarray:
    """The skeletons of data[k] -> (n, 18, 3) float64: x, y, score."""
    skels = frame.get("skeleton")
    if not isinstance(skels, list):
        raise DataError(p, f"data[{k}]: 'skeleton' must be a list")
    out = np.zeros((len(skels), NUM_JOINTS, 3))
    for m, sk in enumerate(skels):
        if not isinstance(sk, dict):
            raise DataError(p, f"data[{k}].skeleton[{m}] is not an object")
        out[m, :, :2] = _numbers(sk.get("pose"), 2 * NUM_JOINTS, f"data[{k}].skeleton[{m}].pose", p).reshape(-1, 2)
        out[m, :, 2] = _numbers(sk.get("score"), NUM_JOINTS, f"data[{k}].skeleton[{m}].score", p)
    return out


def _rank(skels: np.ndarray) -> np.ndarray:
    """Order of (n, 18, 3) skeletons: summed score desc, then detected joints desc, then file order."""
    score = skels[:, :, 2].sum(axis=1)
    detected = (skels[:, :, :2] != 0).any(axis=2).sum(axis=1)
    return np.lexsort((np.arange(len(skels)), -detected, -score))


def read_file(path: str | Path, label_base: int | str = 0) -> Sample:
    """One Kinetics-skeleton JSON file -> Sample (2, T, 18, 3), T = largest frame index; see the module doc."""
    p = Path(path)
    obj = _load_json(p)
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise DataError(p, 'not a Kinetics-skeleton file: expected a JSON object with a "data" list')
    if not obj["data"]:
        raise DataError(p, "no frames (empty 'data' list)")
    frames: dict[int, np.ndarray] = {}
    for k, fr in enumerate(obj["data"]):
        if not isinstance(fr, dict):
            raise DataError(p, f"data[{k}] is not an object")
        fi = fr.get("frame_index")
        if not _is_int(fi) or not 0 <= fi <= MAX_FRAMES:
            raise DataError(p, f"data[{k}]: frame_index {fi!r} is not an int in 0..{MAX_FRAMES}")
        if fi in frames:
            raise DataError(p, f"frame_index {fi} appears twice")
        frames[fi] = _frame_skeletons(fr, k, p)
    first = 0 if 0 in frames else 1
    data = np.zeros((MAX_PERSONS, max(frames) - first + 1, NUM_JOINTS, 3), dtype=np.float32)
    meta = {"label_name": obj["label"]} if isinstance(obj.get("label"), str) else {}
    label = _label(obj.get("label_index"), label_base, p)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow / NaN: validate() names them
        for fi, skels in frames.items():
            keep = _rank(skels)[:MAX_PERSONS]
            data[: len(keep), fi - first] = skels[keep]
        return Sample(data=data, layout="openpose18", channels="xy+score", label=label, sample_id=p.stem,
                      meta=meta, source=str(p)).validate()


def _base(value: int | str, where, auto: bool = False) -> int | str:
    """The ``label_base`` option (0, 1, or with ``auto`` also "auto"; strings from the command line)."""
    allowed = {"0": 0, "1": 1, **({"auto": "auto"} if auto else {})}
    if str(value) not in allowed:
        raise DataError(where, f"label_base {value!r}: expected one of {', '.join(allowed)}")
    return allowed[str(value)]


def _label(index, base: int | str, where) -> int | None:
    """A file's or index's ``label_index`` -> 0-based label; None / -1 / missing -> None."""
    if index is None or index == -1:
        return None
    b = _base(base, where)
    if not _is_int(index) or index < b:
        raise DataError(where, f"label_index {index!r} is not an int >= {b}")
    return check_label(index - b, where, "label_index")


# --- data sets ----------------------------------------------------------------------------------
def read_label_index(path: str | Path) -> dict[str, dict]:
    """ST-GCN's label index ``{name: {"label", "label_index", "has_skeleton"}}``, checked."""
    p = Path(path)
    obj = _load_json(p)
    if not isinstance(obj, dict):
        raise DataError(p, "not a label index: expected a JSON object {name: {label, label_index, has_skeleton}}")
    for name, e in obj.items():
        if not isinstance(e, dict) or not _is_int(e.get("label_index")):
            raise DataError(p, f"entry {name!r}: expected {{'label_index': int, ...}}")
        if not isinstance(e.get("has_skeleton", True), bool) or not isinstance(e.get("label", ""), str):
            raise DataError(p, f"entry {name!r}: 'has_skeleton' must be a bool and 'label' a string")
    return obj


def _scan_index(files: list[Path]) -> dict[str, dict]:
    """A label index built from the files themselves (when none is given); unreadable files are left out."""
    index = {}
    for f in files:
        try:
            obj = _load_json(f)
        except DataError:
            continue
        if isinstance(obj, dict) and _is_int(obj.get("label_index")):
            index[f.stem] = {"label_index": obj["label_index"], "label": obj.get("label", "")}
    return index


def _names_and_base(index: dict[str, dict], label_base: str | int, dirs: list[Path], class_names
                    ) -> tuple[list[str], int]:
    """Class names and the label base (0 or 1) of an index.

    A names file (``class_names``, else one found in ``dirs``) is used with the first base under which
    it agrees with the index's label names; a given file that agrees under none is an error, a found
    one is ignored. Otherwise the names come from the index, and ``auto`` picks base 1 when the
    indices are exactly 1..K.
    """
    entries = [(e["label_index"], e.get("label", "")) for e in index.values() if e["label_index"] >= 0]
    if entries:
        sid, top = max(index.items(), key=lambda kv: kv[1]["label_index"])
        check_label(top["label_index"], f"label index entry {sid!r}", "label_index")
    indices = {i for i, _ in entries}
    bases = (0, 1) if label_base == "auto" else (label_base,)

    def problem(names: list[str], base: int) -> str | None:
        for i, label in entries:
            if i < base:
                return f"label_index {i} with labels counted from {base}"
            if i - base >= len(names):
                return f"label_index {i} but only {len(names)} class names"
            if label and names[i - base] != label:
                return f"class {i - base} is {names[i - base]!r} there but {label!r} in the labels"
        return None

    found = [d / n for d in dirs for n in NAME_FILES if (d / n).is_file()]
    candidates = [Path(class_names)] if class_names else found
    for cand in candidates:
        names = read_class_names(cand)
        for base in bases:
            if problem(names, base) is None:
                return names, base
        if class_names:
            raise DataError(cand, problem(names, bases[0]))
    if label_base == "auto":
        base = 1 if indices and indices == set(range(1, max(indices) + 1)) else 0
    else:
        base = label_base
    named = {i - base: label for i, label in entries if i >= base}
    return [named.get(k) or f"class_{k}" for k in range(max(named, default=-1) + 1)], base


def _parts(root: Path, labels) -> list[tuple[str | None, Path, Path | None]]:
    """(split part, directory, label index path) of each directory to read."""
    release = [(part, root / f"kinetics_{sub}") for part, sub in (("train", "train"), ("test", "val"))
               if (root / f"kinetics_{sub}").is_dir()]
    if release:
        if labels:
            raise DataError(root, "a release root has one label index per directory; 'labels' applies to a "
                                  "single directory of JSON files")
        return [(part, d, root / f"{d.name}_label.json") for part, d in release]
    if not root.is_dir():
        raise DataError(root, "not a directory of Kinetics-skeleton JSON files")
    auto = root.parent / f"{root.name}_label.json"
    return [(None, root, Path(labels) if labels else (auto if auto.is_file() else None))]


def read_dataset(path: str | Path, labels: str | Path | None = None, class_names: str | Path | None = None,
                 label_base: str | int = "auto") -> DatasetSource:
    """A directory of Kinetics-skeleton JSON files (or the release root); see the module doc."""
    root = Path(path)
    label_base = _base(label_base, root, auto=True)
    parts = []
    for part, d, idx_path in _parts(root, labels):
        files = sorted(d.glob("*.json"))
        if not files:
            raise DataError(d, "no .json files found")
        index = read_label_index(idx_path) if idx_path else _scan_index(files)
        files = [f for f in files if index.get(f.stem, {}).get("has_skeleton", True)]
        parts.append((part, files, index))
    merged = {name: e for _, _, index in parts for name, e in index.items()}
    names, base = _names_and_base(merged, label_base, [root, root.parent], class_names)
    splits = {"kinetics": {part: [f.stem for f in files] for part, files, _ in parts}} if parts[0][0] else {}

    def samples() -> Iterator[Sample | DataError]:
        for _, files, index in parts:
            for f in files:
                try:
                    if f.stem not in index:
                        raise DataError(f, "not listed in the label index")
                    s = read_file(f, label_base=base)
                    s.label = _label(index[f.stem]["label_index"], base, f)
                    if s.label is not None and s.label >= len(names):
                        raise DataError(f, f"label {s.label} but only {len(names)} classes")
                    yield s
                except DataError as e:
                    yield e

    return DatasetSource(name=root.name, source_format="kinetics", layout="openpose18", channels="xy+score",
                         class_names=names, samples=samples, splits=splits,
                         num_samples=sum(len(files) for _, files, _ in parts), extra={"max_persons": MAX_PERSONS})
