"""pyskl / mmaction2 (PoseC3D) skeleton annotation pickles, loaded through :mod:`.safe_pickle`.

The file is pyskl's ``{"split": {name: [frame_dir, ...]}, "annotations": [ann, ...]}``, a plain list
of annotations (older mmaction2 files) or one annotation dict (PaddleVideo's
``example_UCF101_skeleton.pkl``). An annotation holds ``keypoint`` (M, T, V, C), ``keypoint_score``
(M, T, V) for 2-D pose, ``frame_dir`` (the sample id), ``total_frames`` (= T), ``img_shape``
(h, w) and ``label`` (0-based).

* Layout by joint count: V = 17 -> ``coco17`` with channels ``"xy+score"`` (C = 2 plus
  ``keypoint_score``, or C = 3 with the score already third); V = 25 with C = 3 -> ``ntu25``
  ``"xyz"`` (pyskl's NTU 3-D annotations). Anything else is refused, naming the joint count.
  Coordinates are kept as stored (pixels for 2-D); ``img_shape`` goes to ``meta`` (img_h, img_w).
* Persons: the first two, as pyskl's and mmaction2's ``FormatGCNInput`` keep them (their pose
  extraction orders persons, so the first is the main actor), so a model trained there sees the
  same persons.
* Splits: ``<protocol>_<part>`` names (xsub_train, xsub_val, xview_train, ...) become
  ``{protocol: {part: ids}}`` with ``val`` read as ``test`` unless the protocol also has a test
  part; ``train1`` / ``test1`` (UCF101, HMDB51) become ``split1``; other names ``{name: {"all": ids}}``.
* Class names: ``class_names=PATH`` (one per line) or ``class_<k>``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError
from ..sample import Sample
from .base import DatasetSource
from .npy import default_class_names
from .safe_pickle import safe_load

MAX_PERSONS = 2
_PART_RE = re.compile(r"^(?P<proto>.+)_(?P<part>train|val|test)$")
_NUMBERED_RE = re.compile(r"^(?P<part>train|val|test)(?P<k>\d+)$")


def _annotations(obj, where) -> tuple[list, dict]:
    """The loaded pickle -> (annotations, pyskl split dict or {})."""
    if isinstance(obj, dict) and "annotations" in obj:
        anns, split = obj["annotations"], obj.get("split", {})
        if not isinstance(anns, list) or not isinstance(split, dict):
            raise DataError(where, "'annotations' must be a list and 'split' a dict")
        return anns, split
    if isinstance(obj, dict) and "keypoint" in obj:
        return [obj], {}
    if isinstance(obj, list):
        return obj, {}
    raise DataError(where, "not a pyskl annotation file: expected {'split', 'annotations'}, a list of "
                           f"annotations or one annotation with 'keypoint'; got {type(obj).__name__}")


def layout_of(ann, where) -> tuple[str, str]:
    """(layout, channels) of an annotation from its keypoint shape (M, T, V, C)."""
    if not isinstance(ann, dict):
        raise DataError(where, f"annotation is {type(ann).__name__}, not a dict")
    kp = ann.get("keypoint")
    if not isinstance(kp, np.ndarray) or kp.ndim != 4:
        raise DataError(where, "'keypoint' must be an array (persons, frames, joints, channels)")
    v, c = kp.shape[2:]
    if v == 17 and c in (2, 3):
        return "coco17", "xy+score"
    if v == 25 and c == 3:
        return "ntu25", "xyz"
    raise DataError(where, f"keypoints with {v} joints and {c} channels: supported are 17 joints (COCO, 2-D) "
                           "and 25 joints with x, y, z (NTU)")


def _file_layout(anns: list, where) -> tuple[str, str]:
    """(layout, channels) of the file: its first annotation that has one (a broken first annotation is
    then skipped like any other); the first one's error when none has."""
    first = None
    for a in anns:
        try:
            return layout_of(a, where)
        except DataError as e:
            first = first or e
    raise first


def _sample(ann, layout: str, channels: str, where) -> Sample:
    """One annotation -> validated Sample (min(M, 2), T, V, 3)."""
    lay, ch = layout_of(ann, where)
    if (lay, ch) != (layout, channels):
        raise DataError(where, f"layout {lay}/{ch}, but the file's first annotation is {layout}/{channels}")
    sid = ann.get("frame_dir")
    if not isinstance(sid, str) or not sid:
        raise DataError(where, "'frame_dir' (the sample id) must be a non-empty string")
    where = f"{where}#{sid}"
    kp = ann["keypoint"]
    if kp.dtype.kind != "f":
        raise DataError(where, f"'keypoint' has dtype {kp.dtype}; expected floats")
    m, t, v, c = kp.shape
    total = ann.get("total_frames", t)
    if not isinstance(total, (int, np.integer)) or isinstance(total, bool) or total != t:
        raise DataError(where, f"total_frames {total!r} but keypoint holds {t} frames")
    parts = [kp[:MAX_PERSONS]]
    if layout == "coco17" and c == 2:
        score = ann.get("keypoint_score")
        if not isinstance(score, np.ndarray) or score.shape != (m, t, v) or score.dtype.kind != "f":
            raise DataError(where, f"2-D keypoints need 'keypoint_score' of shape {(m, t, v)} (floats)")
        parts.append(score[:MAX_PERSONS, ..., None])
    label = ann.get("label")
    if label is not None and (not isinstance(label, (int, np.integer)) or isinstance(label, bool) or label < 0):
        raise DataError(where, f"label {label!r} is not a non-negative int")
    meta = {}
    shape = ann.get("img_shape")
    if isinstance(shape, np.ndarray) and shape.shape == (2,) and shape.dtype.kind in "iu":  # some dumps store an array
        shape = shape.tolist()
    if isinstance(shape, (tuple, list)) and len(shape) == 2 and all(isinstance(x, (int, np.integer)) for x in shape):
        meta = {"img_h": int(shape[0]), "img_w": int(shape[1])}
    with np.errstate(over="ignore", invalid="ignore"):  # overflow / NaN: validate() names them
        data = np.concatenate([np.asarray(x, dtype=np.float32) for x in parts], axis=-1)
        return Sample(data=data, layout=layout, channels=channels, label=None if label is None else int(label),
                      sample_id=sid, meta=meta, source=where).validate()


def _splits(split: dict, where) -> dict[str, dict[str, list[str]]]:
    """pyskl split names -> ``{protocol: {part: [ids]}}`` (see the module doc)."""
    out: dict[str, dict[str, list[str]]] = {}
    for name, ids in split.items():
        if not isinstance(name, str) or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise DataError(where, f"split {name!r} must map a name to a list of frame_dir strings")
        m, n = _PART_RE.match(name), _NUMBERED_RE.match(name)
        proto, part = (m["proto"], m["part"]) if m else (f"split{n['k']}", n["part"]) if n else (name, "all")
        out.setdefault(proto, {})[part] = ids
    for parts in out.values():
        if "val" in parts and "test" not in parts:
            parts["test"] = parts.pop("val")
    return out


def _labels(anns: list) -> list[int]:
    return [int(a["label"]) for a in anns if isinstance(a, dict) and isinstance(a.get("label"), (int, np.integer))
            and not isinstance(a.get("label"), bool) and a["label"] >= 0]


def read_file(path: str | Path) -> list[Sample]:
    """A pyskl / mmaction2 pickle -> list of Samples (M <= 2, T, V, 3); see the module doc."""
    p = Path(path)
    anns, _ = _annotations(safe_load(p), p)
    if not anns:
        raise DataError(p, "no annotations")
    layout, channels = layout_of(anns[0], p)
    return [_sample(a, layout, channels, p) for a in anns]


def read_dataset(path: str | Path, class_names: str | Path | None = None) -> DatasetSource:
    """A pyskl annotation pickle as a data set (splits from its ``split`` dict); see the module doc."""
    p = Path(path)
    anns, split = _annotations(safe_load(p), p)
    if not anns:
        raise DataError(p, "no annotations")
    layout, channels = _file_layout(anns, p)
    persons = [a["keypoint"].shape[0] for a in anns
               if isinstance(a, dict) and isinstance(a.get("keypoint"), np.ndarray) and a["keypoint"].ndim == 4]

    def samples() -> Iterator[Sample | DataError]:
        for a in anns:
            try:
                yield _sample(a, layout, channels, p)
            except DataError as e:
                yield e

    return DatasetSource(name=p.stem, source_format="pyskl", layout=layout, channels=channels,
                         class_names=default_class_names(_labels(anns), class_names, p), samples=samples,
                         splits=_splits(split, p), num_samples=len(anns),
                         extra={"max_persons": max(1, min(MAX_PERSONS, max(persons)))})
