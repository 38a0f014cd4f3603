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
* ``label_index`` is the class; -1 or missing means unknown. ``label_base`` says where it counts
  from: 0 (Kinetics-400: 129 = line 130 of ``label_name.txt``), 1, or ``auto`` (default): 1 when the
  file is an NTU clip named by its action number (``S004C002P003R001A055_rgb`` with label_index 55,
  as in the NTU clips converted to this format), else 0. ``Sample.label`` = label_index - base.

:func:`read_dataset` reads, from the path it is given (``data convert --format kinetics SRC``):

* ST-GCN's release root: ``kinetics_train/`` and ``kinetics_val/`` (the JSON files directly in
  them) with ``kinetics_train_label.json`` and ``kinetics_val_label.json`` beside them; splits
  ``kinetics/train`` and ``kinetics/test``. Either folder alone is fine.
* a folder of JSON files, with its label index (option ``labels``, or ``<folder>_label.json`` beside
  the folder) or without one;
* one JSON file: a one-sample data set, labelled as it is in its folder (its problem, if any, is
  raised at once);
* a folder holding one of these up to :data:`SEARCH_DEPTH` folders below (e.g. ``data/`` holding
  ``Kinetics/kinetics-skeleton/``); none or several found there is a DataError naming them.

A label index is ST-GCN's ``{name: {"label", "label_index", "has_skeleton"}}``. As in ST-GCN's
feeder, files come from the folder, labels from the index, and entries with ``has_skeleton`` false
are left out; a file the index does not list is skipped, and so is a file whose own ``label_index``
or ``label`` contradicts its entry, with both values named (a side that says nothing, or -1, takes
the other's). Without an index each file's own label is used, so a clip gets the same label either
way. The data set's notes say which source gave the labels and where they count from.

Class names come from ``class_names=PATH`` (one per line), else a ``kinetics400_label_name.txt`` /
``label_name.txt`` in the folder or its parent when it agrees with the labels, else the labels' own
names (``class_K`` for a class no label names). ``label_base=auto`` (default) reads the indices as
0-based unless only counting from 1 makes them agree with the names file, or, with no names file,
they are exactly 1..K or every labelled file is an NTU clip named by its action number.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError
from ..sample import Sample
from .base import DatasetSource, check_file, check_label, read_text
from .npy import read_class_names

NUM_JOINTS = 18
MAX_PERSONS = 2
MAX_FRAMES = 100_000  # a frame index above this is corruption, not a video (300 frames is the norm)
NAME_FILES = ("kinetics400_label_name.txt", "label_name.txt")
SPLIT_DIRS = (("train", "kinetics_train"), ("test", "kinetics_val"))  # ST-GCN's release: split, folder
SEARCH_DEPTH = 3  # how many folders below the given one a data set is looked for
_NTU_CLIP = re.compile(r"S\d{3}C\d{3}P\d{3}R\d{3}A(\d{3})(?!\d)")  # an NTU clip name; group 1: the action


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


def read_file(path: str | Path, label_base: int | str = "auto") -> Sample:
    """One Kinetics-skeleton JSON file -> Sample (2, T, 18, 3), T = largest frame index; see the module doc."""
    p = Path(path)
    label_base = _base(label_base, p, auto=True)
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
    if label_base == "auto":
        label_base = 1 if _ntu_numbered([(p.stem, obj.get("label_index"))]) else 0
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


def _ntu_numbered(entries) -> bool:
    """Whether every ``(name, label_index)`` with a label (index >= 0) names an NTU clip by that action
    number (``S004C002P003R001A055_rgb`` with 55), and at least one does."""
    labelled = [(name, i) for name, i in entries if _is_int(i) and i >= 0]
    return bool(labelled) and all((m := _NTU_CLIP.match(name)) and int(m[1]) == i for name, i in labelled)


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


_OWN_LABEL_INDEX = re.compile(rb'"label_index"\s*:\s*(-?\d+)\s*[,}]')
_OWN_LABEL = re.compile(rb'"label"\s*:\s*("(?:[^"\\]|\\.)*")')


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{}[]")


def _balance(raw: bytes) -> int:
    """Opening minus closing brackets in ``raw`` (brackets inside strings would miscount: callers check)."""
    br = raw.translate(None, _NOT_BRACKETS)
    return br.count(b"{") + br.count(b"[") - br.count(b"}") - br.count(b"]")


def _top_level_once(raw: bytes, key: bytes) -> int | None:
    """Where ``key`` is in a balanced JSON text ``raw`` when it is there once, at depth 1: -1 when it is
    not there, None when it is there more than once or deeper. (Counted from the nearer end.)"""
    at = raw.find(key)
    if at < 0 or at != raw.rfind(key):
        return -1 if at < 0 else None
    depth = _balance(raw[:at]) if at <= len(raw) // 2 else -_balance(raw[at:])
    return at if depth == 1 else None


def _scanned_labels(raw: bytes) -> dict | None:
    """``{"label_index", "label"}`` from the bytes of a file where that is unambiguous: one top-level
    ``label_index`` int (and at most one ``label`` string), brackets balanced, the text one object."""
    text = raw.strip()
    if text[:1] != b"{" or text[-1:] != b"}" or _balance(raw) != 0:
        return None
    at = _top_level_once(raw, b'"label_index"')
    m = None if at is None or at < 0 else _OWN_LABEL_INDEX.match(raw, at)
    if m is None:
        return None
    label = ""
    at = _top_level_once(raw, b'"label"')
    if at is None:
        return None
    if at >= 0:
        m2 = _OWN_LABEL.match(raw, at)
        if m2 is None:
            return None
        try:
            label = json.loads(m2[1])
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
    return {"label_index": int(m[1]), "label": label}


def _own_labels(f: Path) -> dict | None:
    """A file's own ``{"label_index", "label"}`` (None: not readable as JSON, or no int label_index).

    Found by a byte scan where it is unambiguous (:func:`_scanned_labels`), which skips parsing the
    ``data`` list, most of the file; anything else is parsed in full. The sample pass parses every
    file anyway and refuses one whose labels it reads otherwise (:func:`_read_labelled`), so a wrong
    scan is never silent.
    """
    try:
        raw = check_file(f).read_bytes()
        raw.decode("utf-8")  # (as the full parse would refuse it)
    except (DataError, OSError, UnicodeDecodeError):
        return None
    if (found := _scanned_labels(raw)) is not None:
        return found
    try:  # the bytes already read, parsed in full
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, dict) and _is_int(obj.get("label_index")):
        label = obj.get("label")
        return {"label_index": obj["label_index"], "label": label if isinstance(label, str) else ""}
    return None


def _scan_index(files: list[Path]) -> dict[str, dict]:
    """The files' own labels ``{stem: {"label_index", "label"}}`` (no label index): for the class names and
    the label base only; a file that cannot be read is left out here and reports its problem when read."""
    return {f.stem: e for f in files if (e := _own_labels(f)) is not None}


def _names_and_base(index: dict[str, dict], label_base: str | int, dirs: list[Path], class_names
                    ) -> tuple[list[str], int, str]:
    """Class names, the label base (0 or 1) of an index, and why that base.

    A names file (``class_names``, else one found in ``dirs``) is used with the first base under which
    it agrees with the index's label names; a given file that agrees under none is an error, a found
    one is ignored. Otherwise the names come from the index, and ``auto`` picks base 1 when the
    indices are exactly 1..K or every labelled entry is an NTU clip named by its action number.
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

    found = [d / n for d in dict.fromkeys(dirs) for n in NAME_FILES if (d / n).is_file()]
    candidates = [Path(class_names)] if class_names else found
    for cand in candidates:
        names = read_class_names(cand)
        for base in bases:
            if problem(names, base) is None:
                return names, base, f"which {cand.name} agrees with"
        if class_names:
            raise DataError(cand, problem(names, bases[0]))
    if label_base != "auto":
        base, why = label_base, "as label_base says"
    elif indices and indices == set(range(1, max(indices) + 1)):
        base, why = 1, f"the indices are exactly 1..{max(indices)}"
    elif _ntu_numbered((sid, e["label_index"]) for sid, e in index.items()):
        base, why = 1, "NTU clips labelled by action number"
    else:
        base, why = 0, "the default"
    named = {i - base: label for i, label in entries if i >= base}
    return [named.get(k) or f"class_{k}" for k in range(max(named, default=-1) + 1)], base, why


# --- where the files are --------------------------------------------------------------------------
def _subdirs(d: Path) -> list[Path]:
    """The folders in ``d`` to search, sorted; hidden ones, macOS zip leftovers and converted stores
    (``index.json`` + ``data.npy``) are skipped."""
    try:
        return sorted(c for c in d.iterdir() if c.is_dir() and not c.name.startswith((".", "__MACOSX"))
                      and not ((c / "index.json").is_file() and (c / "data.npy").is_file()))
    except OSError:
        return []


def _is_source(d: Path) -> bool:
    """A release root (``kinetics_train/`` or ``kinetics_val/`` in it) or a folder with .json files."""
    return any((d / sub).is_dir() for _, sub in SPLIT_DIRS) or next(d.glob("*.json"), None) is not None


def _locate(path: Path) -> Path:
    """The JSON file, release root or folder of JSON files ``path`` names: itself, else the one data set
    found at most :data:`SEARCH_DEPTH` folders below it (none or several: DataError)."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise DataError(path, "no such file or directory" if not path.exists() else "not a file or a directory")
    if _is_source(path):
        return path
    found, level = [], _subdirs(path)
    for _ in range(SEARCH_DEPTH):
        below = []
        for d in level:
            if _is_source(d):
                found.append(d)  # not searched further: what is below a data set is its own business
            else:
                below += _subdirs(d)
        level = below
    if len(found) == 1:
        return found[0]
    if found:
        found.sort()
        shown = ", ".join(f"{d.relative_to(path)}/" for d in found[:10]) + (", ..." if len(found) > 10 else "")
        raise DataError(path, f"holds {len(found)} Kinetics-skeleton data sets ({shown}); give one of them")
    raise DataError(path, f"no .json files found in it or up to {SEARCH_DEPTH} folders below; expected ST-GCN's "
                          "layout (kinetics_train/ and kinetics_val/ with kinetics_train_label.json and "
                          "kinetics_val_label.json beside them), a folder of .json files, or one .json file")


@dataclass
class _Part:
    """One folder (or file) to read: its split part (release root only), files and labels."""

    split: str | None
    folder: Path
    files: list[Path]
    index: dict[str, dict]  # the label index, or the files' own labels (index_path None)
    index_path: Path | None

    @property
    def label_source(self) -> str:
        if self.index_path:
            return self.index_path.name
        return (f"the files' own label_index (no label index given, and no {self.folder.name}_label.json "
                f"beside {self.folder.name}/)")


def _part(split: str | None, folder: Path, files: list[Path], index_path: Path | None) -> _Part:
    if not files:
        raise DataError(folder, "no .json files found")
    if index_path is None:
        return _Part(split, folder, files, _scan_index(files), None)
    index = read_label_index(index_path)
    return _Part(split, folder, [f for f in files if index.get(f.stem, {}).get("has_skeleton", True)],
                 index, index_path)


def _parts(src: Path, labels) -> list[_Part]:
    """The parts of a located source (a file, a release root or a folder of JSON files)."""
    def beside(d: Path) -> Path | None:
        p = d.parent / f"{d.name}_label.json"
        return p if p.is_file() else None

    if src.is_file():
        return [_part(None, src.parent, [src], Path(labels) if labels else beside(src.parent))]
    release = [(split, src / sub) for split, sub in SPLIT_DIRS if (src / sub).is_dir()]
    if release:
        if labels:
            raise DataError(src, "a release root has one label index per directory; 'labels' applies to a "
                                 "single directory of JSON files")
        return [_part(split, d, sorted(d.glob("*.json")), beside(d)) for split, d in release]
    return [_part(None, src, sorted(src.glob("*.json")), Path(labels) if labels else beside(src))]


def _read_labelled(f: Path, part: _Part, base: int, num_classes: int) -> Sample:
    """File ``f`` of ``part`` read, labelled from the part's label index, which must agree with the file."""
    if part.index_path is not None and f.stem not in part.index:
        raise DataError(f, f"not listed in the label index {part.index_path.name}")
    s = read_file(f, label_base=base)
    if part.index_path is None:  # labels from the files: the scan must have read what the parse reads
        scanned = part.index.get(f.stem)
        own = (-1 if s.label is None else s.label + base, s.meta.get("label_name", ""))
        if scanned is not None and own != (scanned["label_index"], scanned["label"]):
            raise DataError(f, f"its label reads as label_index {own[0]} ({own[1]!r}) in full but "
                               f"{scanned['label_index']} ({scanned['label']!r}) by the label scan; write "
                               "'label' and 'label_index' once each, at the top level")
    else:
        entry = part.index[f.stem]
        label, name = _label(entry["label_index"], base, f), entry.get("label") or None
        own_name = s.meta.get("label_name") or None
        if (None not in (s.label, label) and s.label != label) or \
                (None not in (own_name, name) and own_name.strip() != name.strip()):
            own = "none" if s.label is None else s.label + base
            raise DataError(f, f"label conflict: the file says label_index {own} ({own_name!r}) but "
                               f"{part.index_path.name} says {entry['label_index']} ({name!r})")
        s.label = s.label if label is None else label
        if name:
            s.meta["label_name"] = name
    if s.label is not None and s.label >= num_classes:
        raise DataError(f, f"label {s.label} but only {num_classes} classes")
    return s


def read_dataset(path: str | Path, labels: str | Path | None = None, class_names: str | Path | None = None,
                 label_base: str | int = "auto") -> DatasetSource:
    """Kinetics-skeleton JSON: a release root, a folder of files, one file, or a folder holding one of
    these a few levels down; see the module doc. Samples are (2, T, 18, 3), ``xy+score``."""
    root = Path(path)
    label_base = _base(label_base, root, auto=True)
    src = _locate(root)
    parts = _parts(src, labels)
    merged = {name: e for part in parts for name, e in part.index.items()}
    names, base, why = _names_and_base(merged, label_base, [parts[0].folder, parts[0].folder.parent, root],
                                       class_names)
    if src.is_file():  # one file: its problem is the data set's, said at once
        if not parts[0].files:
            raise DataError(src, f"has_skeleton is false in {parts[0].index_path.name}, so it is left out")
        _read_labelled(src, parts[0], base, len(names))
    splits = {"kinetics": {p.split: [f.stem for f in p.files] for p in parts}} if parts[0].split else {}
    note = (f"labels from {'; '.join(dict.fromkeys(p.label_source for p in parts))}, label_index counted from "
            f"{base} ({why})")

    def samples() -> Iterator[Sample | DataError]:
        for part in parts:
            for f in part.files:
                try:
                    yield _read_labelled(f, part, base, len(names))
                except DataError as e:
                    yield e

    return DatasetSource(name=src.stem if src.is_file() else src.name, source_format="kinetics",
                         layout="openpose18", channels="xy+score", class_names=names, samples=samples,
                         splits=splits, num_samples=sum(len(p.files) for p in parts),
                         extra={"max_persons": MAX_PERSONS, "notes": [note]})
