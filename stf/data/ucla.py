"""NW-UCLA (Northwestern-UCLA Multiview Action 3D) in the CTR-GCN JSON dump.

Each file ``aAA_sSS_eEE_vVV.json`` is ``{"file_name", "skeletons": [T][20][3], "label": 1..10}``:
one person, Kinect v1 20 joints, x / y / z in metres. Labels become 0-based.
Split ``xview``: train views 1-2, test view 3 (the standard protocol). Split ``xview-val``: train
view 1, test view 2 (for choosing hyper-parameters without touching view 3).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError
from ..sample import Sample
from .base import DatasetSource, read_text

CLASS_NAMES = [
    "pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down",
    "stand up", "donning", "doffing", "throw", "carry",
]
ACTION_IDS = [1, 2, 3, 4, 5, 6, 8, 9, 11, 12]  # aAA in file names -> labels 0..9
NAME_RE = re.compile(r"^a(\d+)_s(\d+)_e(\d+)_v(\d+)$")


def parse_name(name: str) -> dict:
    """``a01_s02_e03_v01`` -> {action, subject, repetition, view}; {} when the name does not match."""
    m = NAME_RE.match(name)
    if not m:
        return {}
    a, s, e, v = (int(g) for g in m.groups())
    return {"action": a, "subject": s, "repetition": e, "view": v}


def read_file(path: str | Path) -> Sample:
    """One NW-UCLA JSON file -> Sample (1 person, T frames, 20 joints, xyz)."""
    p = Path(path)
    text = read_text(p)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(p, f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except (ValueError, RecursionError) as e:  # e.g. an integer of > 4300 digits, or absurd nesting
        raise DataError(p, f"invalid JSON: {type(e).__name__}: {str(e)[:200]}") from e
    if not isinstance(obj, dict) or "skeletons" not in obj:
        raise DataError(p, "not an NW-UCLA file: expected a JSON object with a 'skeletons' list")
    try:
        arr = np.asarray(obj["skeletons"])
    except (ValueError, TypeError) as e:
        raise DataError(p, f"'skeletons' is not a rectangular [frames][20][3] array of numbers: {e}") from e
    if arr.dtype.kind not in "fi":  # strings, booleans, nulls, huge integers (object)
        raise DataError(p, f"'skeletons' holds non-numbers (array dtype {arr.dtype})")
    if arr.size and np.abs(arr).max() > np.finfo(np.float32).max:
        raise DataError(p, "'skeletons' holds a value too large for float32")
    arr = arr.astype(np.float32)
    if arr.ndim != 3 or arr.shape[1:] != (20, 3):
        raise DataError(p, f"'skeletons' has shape {arr.shape}; NW-UCLA needs (frames, 20, 3)")
    if arr.shape[0] == 0:
        raise DataError(p, "no frames (empty sequence)")
    name = obj.get("file_name")
    if name is not None and not isinstance(name, str):  # str() made the sample id "123" or "['a']"
        raise DataError(p, f"'file_name' is {type(name).__name__}, not a string (the sample id)")
    name = name or p.stem
    if name.lower().endswith(".json") and len(name) > 5:  # "a01_s01_e00_v01.json" names the same sample
        name = name[:-5]
    meta = parse_name(name)
    if name != p.stem and meta and parse_name(p.stem):  # a renamed copy: which view is it?
        raise DataError(p, f"'file_name' {name!r} inside disagrees with the file's own name {p.stem!r}")
    label = obj.get("label")
    if label is not None:
        if type(label) is not int or not 1 <= label <= len(CLASS_NAMES):
            raise DataError(p, f"label {label!r} is not an int in 1..{len(CLASS_NAMES)}")
        label = label - 1
        if meta.get("action") in ACTION_IDS and ACTION_IDS.index(meta["action"]) != label:
            raise DataError(p, f"label {label + 1} disagrees with action a{meta['action']:02d} of {name!r}")
    elif meta.get("action") in ACTION_IDS:
        label = ACTION_IDS.index(meta["action"])
    s = Sample(data=arr[None], layout="kinect20", channels="xyz", label=label, sample_id=name,
               meta=meta, source=str(p))
    return s.validate()


def read_dataset(path: str | Path) -> DatasetSource:
    """A directory of NW-UCLA JSON files (``all_sqe`` or its parent)."""
    root = Path(path)
    if (root / "all_sqe").is_dir():
        root = root / "all_sqe"
    if not root.is_dir():
        raise DataError(root, "not a directory of NW-UCLA JSON files")
    files = sorted(root.glob("*.json"))
    if not files:
        raise DataError(root, "no .json files found")
    ids = [f.stem for f in files]
    views = {i: parse_name(i).get("view") for i in ids}
    splits = {
        "xview": {"train": [i for i in ids if views[i] in (1, 2)], "test": [i for i in ids if views[i] == 3]},
        "xview-val": {"train": [i for i in ids if views[i] == 1], "test": [i for i in ids if views[i] == 2]},
    }

    def samples() -> Iterator[Sample | DataError]:
        for f in files:
            try:
                s = read_file(f)
            except DataError as e:
                yield e
                continue
            # the splits above are keyed by file name: a sample under another id would fall out of all of them
            yield s if s.sample_id == f.stem else DataError(
                f, f"'file_name' {s.sample_id!r} inside differs from the file's name {f.stem!r}")

    return DatasetSource(name="nw-ucla", source_format="ucla", layout="kinect20", channels="xyz",
                         class_names=list(CLASS_NAMES), samples=samples, splits=splits,
                         num_samples=len(files))
