"""The ``mediapipe`` format: ``<video>.pose.npz`` files written by the pose extractor (:mod:`stf.pose`).

``read_file(path, channels="xyz")`` -> ``Sample (1, T, 33, 3)`` in layout ``mediapipe33``: ``xyz`` gives
the world landmarks (metres, Kinect camera convention), ``xy+score`` the image landmarks (pixels and
visibility, for 2-D models). Frames where nobody was found are zeros and ``frame_mask`` False. The
sample id is the video's stem; a video named as NTU RGB+D names its clips (``S001C001P001R001A001_rgb``)
gets NTU's meta and label (action − 1), as the ``ntu`` reader gives them. ``meta`` also holds ``fps``,
``width``, ``height``, ``mirrored`` and ``extractor``.

:func:`read_image_landmarks` gives the image landmarks ``(T, 33, 3)`` of the same file, for drawing on the
video; :func:`read_pose` both from one read. ``read_dataset(dir)`` reads every ``*.pose.npz`` of a folder; its labels are NTU's, so it needs
NTU-named videos (others are skipped with a message).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError
from ..layouts import MEDIAPIPE33
from ..sample import Sample
from .base import DatasetSource, check_file, max_file_bytes

SUFFIX = ".pose.npz"
_ARRAYS = {"world": np.floating, "image": np.floating, "present": np.bool_, "info": np.str_}
CHANNELS = ("xyz", "xy+score")


def video_stem(path: str | Path) -> str:
    """``clip.pose.npz`` -> ``clip`` (the video's own stem)."""
    name = Path(path).name
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else Path(name).stem


def _load(path: str | Path) -> tuple[Path, dict[str, np.ndarray], dict]:
    p = check_file(path)
    if not zipfile.is_zipfile(p):
        raise DataError(p, "not a readable .npz file: no zip archive (cut short, or not a pose file from "
                           "`python -m stf pose`)")
    limit = max_file_bytes()
    try:
        with zipfile.ZipFile(p) as zf:  # a small archive can inflate to gigabytes: check before reading
            inflated = sum(i.file_size for i in zf.infolist())
    except (OSError, zipfile.BadZipFile, NotImplementedError) as e:  # NotImplementedError: 'zip file version'
        raise DataError(p, f"not a readable .npz file ({type(e).__name__}: {str(e)[:120]})") from e
    if inflated > limit:
        raise DataError(p, f"its arrays inflate to {inflated} bytes, above the {limit}-byte limit "
                           "(STF_MAX_FILE_BYTES)")
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in _ARRAYS if k not in z.files]
            if missing:
                raise DataError(p, f"not a pose file: lacks {', '.join(missing)} (expected the arrays "
                                   f"{', '.join(_ARRAYS)} written by `python -m stf pose`)")
            arrays = {k: z[k] for k in _ARRAYS}
    except DataError:
        raise
    except Exception as e:  # a damaged archive: zlib.error, BadZipFile, NotImplementedError (zip version),
        # RuntimeError ("encrypted"), tokenize / SyntaxError (.npy header), MemoryError (declared shape), ...
        if "allow_pickle" in str(e):
            raise DataError(p, "holds object (pickled) arrays, which are never loaded: not a pose file") from e
        raise DataError(p, f"not a readable .npz file ({type(e).__name__}: {str(e)[:120]})") from e
    for k, kind in _ARRAYS.items():
        if not np.issubdtype(arrays[k].dtype, kind):
            raise DataError(p, f"array {k!r} has dtype {arrays[k].dtype}, expected {kind.__name__}")
    try:
        info = json.loads(str(arrays["info"]))
    except json.JSONDecodeError as e:
        raise DataError(p, f"'info' is not JSON ({e.msg})") from e
    if not isinstance(info, dict) or info.get("format") != "stf-pose":
        raise DataError(p, "'info' does not say format 'stf-pose'")
    if info.get("version") != 1:
        raise DataError(p, f"pose file version {info.get('version')!r}; this code reads version 1")
    w, im, pr = arrays["world"], arrays["image"], arrays["present"]
    v = MEDIAPIPE33.num_joints
    if w.ndim != 3 or w.shape[1:] != (v, 3) or im.shape != w.shape or pr.shape != (w.shape[0],):
        raise DataError(p, f"shapes world {w.shape}, image {im.shape}, present {pr.shape}; expected "
                           f"(T, {v}, 3), (T, {v}, 3), (T,)")
    if w.shape[0] == 0:
        raise DataError(p, "no frames")
    if not pr.any():
        raise DataError(p, f"nobody was found in any of the {len(pr)} frames of {info.get('video', 'the video')}")
    for k in ("world", "image"):
        bad = ~np.isfinite(arrays[k])
        if bad.any():
            t = int(np.argwhere(bad)[0][0])
            raise DataError(p, f"array {k!r} holds NaN or inf (first in frame {t})")
    return p, arrays, info


def _meta(stem: str, info: dict) -> tuple[dict, int | None]:
    from .ntu import CLASS_NAMES_120, parse_name

    meta = parse_name(stem[:-4] if stem.endswith("_rgb") else stem)
    label = meta["action"] - 1 if 1 <= meta.get("action", 0) <= len(CLASS_NAMES_120) else None
    meta.update({k: info[k] for k in ("fps", "width", "height", "mirrored", "extractor") if k in info})
    meta["source_format"] = "mediapipe"
    return meta, label


def read_pose(path: str | Path, channels: str = "xyz") -> tuple[Sample, np.ndarray]:
    """One ``.pose.npz`` read once -> its ``Sample (1, T, 33, 3)`` and its image landmarks ``(T, 33, 3)``
    (pixel x, pixel y, visibility; for drawing on the video)."""
    if channels not in CHANNELS:
        raise DataError(path, f"channels {channels!r}: expected one of {', '.join(CHANNELS)}")
    p, arrays, info = _load(path)
    stem = video_stem(p)
    meta, label = _meta(stem, info)
    image = arrays["image"].astype(np.float32)
    data = (arrays["world"].astype(np.float32) if channels == "xyz" else image)[None].copy()
    data[:, ~arrays["present"]] = 0
    sample = Sample(data=data, layout=MEDIAPIPE33.name, channels=channels, label=label, sample_id=stem, meta=meta,
                    frame_mask=arrays["present"].copy(), source=str(p)).validate()
    return sample, image


def read_file(path: str | Path, channels: str = "xyz") -> Sample:
    """One ``.pose.npz`` -> ``Sample (1, T, 33, 3)`` (see the module doc)."""
    return read_pose(path, channels)[0]


def read_image_landmarks(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """``image (T, 33, 3)`` (pixel x, pixel y, visibility), ``present (T,)`` and ``info`` of a pose file."""
    _, arrays, info = _load(path)
    return arrays["image"].astype(np.float32), arrays["present"].copy(), info


def read_dataset(path: str | Path, channels: str = "xyz") -> DatasetSource:
    """Every ``*.pose.npz`` in a folder, labelled as NTU 120 (NTU-named videos only)."""
    from .ntu import CLASS_NAMES_120

    root = Path(path)
    if not root.is_dir():
        raise DataError(root, "not a folder of .pose.npz files")
    files = sorted(root.glob("*" + SUFFIX))
    if not files:
        raise DataError(root, f"no {SUFFIX} files found (write them with `python -m stf pose VIDEO... --out {root}`)")

    def samples() -> Iterator[Sample | DataError]:
        for f in files:
            try:
                s = read_file(f, channels=channels)
            except DataError as e:
                yield e
                continue
            if s.label is None:
                yield DataError(f, "the video is not named as an NTU RGB+D clip (SsssCcccPpppRrrrAaaa), so it has "
                                   "no label; explain it on its own (`python -m stf explain-video`) instead")
            else:
                yield s

    return DatasetSource(name=root.name, source_format="mediapipe", layout=MEDIAPIPE33.name, channels=channels,
                         class_names=list(CLASS_NAMES_120), samples=samples, num_samples=len(files),
                         extra={"max_persons": 1})
