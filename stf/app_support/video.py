"""Videos in the app: an upload or a video under the data root -> its skeleton (MediaPipe) -> the explanation.

:func:`prepare_video` stores an uploaded video under ``<cache>/videos/<sha1>/`` (so a second upload of the
same bytes, in any session, finds it), and :func:`extract_pose` runs the pose extractor
(:mod:`stf.pose.runner`, a subprocess in the pose environment) once per video and per ``mirrored``
setting: the ``.pose.npz`` next to the video is reused afterwards. :func:`analyse` is
:func:`stf.explain.video.analyse_video` on that file; the page draws single frames with
:func:`stf.viz.export.overlay_frame` and encodes a whole video only when asked (VP8: VP9 takes minutes here).

Errors are one-line :class:`UploadError` (size, type, empty) or :class:`stf.errors.DataError` naming the
user's file (unreadable video, nobody in it), :class:`stf.pose.runner.PoseUnavailable` without a pose
environment.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..utils import env_number
from .upload import UploadError, safe_name

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
VIDEO_TYPES = sorted(e.lstrip(".") for e in VIDEO_EXTENSIONS)
#: Streamlit's own cap (.streamlit/config.toml ``maxUploadSize``) is 64 MB too.
MAX_VIDEO_BYTES = 64 * 1024 * 1024


def max_video_bytes() -> int:
    return env_number("STF_MAX_VIDEO_BYTES", MAX_VIDEO_BYTES, int, 1)


def video_cache() -> Path:
    """Where uploaded videos and their poses are kept: ``<STF_CACHE_DIR>/videos``."""
    from ..data.resolve import cache_dir

    return cache_dir() / "videos"


@dataclass(frozen=True)
class StoredVideo:
    """A video on disk: ``path`` (under the video cache, or the data root), ``name`` as the user knows it."""

    path: Path
    name: str
    digest: str  # sha1 of the bytes (uploads) or of path, size and mtime (videos already on disk)

    @property
    def folder(self) -> Path:
        """Where this video's pose files go."""
        return video_cache() / self.digest[:20]


def prepare_video(name: str, data: bytes) -> StoredVideo:
    """Check an uploaded video (size, extension, not empty) and store it under the video cache."""
    limit = max_video_bytes()
    if len(data) > limit:
        raise UploadError(f"{name}: the video is {len(data) / 1e6:.1f} MB, above the limit of {limit / 1e6:.1f} MB "
                          "(STF_MAX_VIDEO_BYTES)")
    if not data:
        raise UploadError(f"{name}: the file is empty")
    ext = Path(name).suffix.lower()
    if ext not in VIDEO_EXTENSIONS:
        raise UploadError(f"{name}: {ext or 'no extension'} is not a video type here; supported: "
                          + ", ".join(VIDEO_EXTENSIONS))
    digest = hashlib.sha1(data).hexdigest()
    v = StoredVideo(path=video_cache() / digest[:20] / safe_name(name), name=name, digest=digest)
    if not v.path.is_file() or v.path.stat().st_size != len(data):
        v.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = v.path.with_name(f".{v.path.name}.part-{os.getpid()}-{threading.get_ident()}")  # sessions are threads
        tmp.write_bytes(data)
        os.replace(tmp, v.path)
    return v


def stored_video(path: str | Path) -> StoredVideo:
    """A video already on disk (e.g. under the data root; the caller checks it is allowed)."""
    p = Path(path).resolve()
    if not p.is_file():
        raise DataError(p, "no such video file")
    if p.suffix.lower() not in VIDEO_EXTENSIONS:
        raise DataError(p, f"{p.suffix or 'no extension'} is not a video type here")
    st = p.stat()  # a changed file gets a new folder (and its pose extracted again)
    return StoredVideo(path=p, name=p.name, digest=hashlib.sha1(f"{p}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest())


def stored_mirrored(name: str) -> bool:
    """Whether a video is probably stored mirrored: NTU RGB+D's RGB clips (``S001C001P001R001A001_rgb``) are."""
    from ..data.ntu import NAME_RE

    stem = Path(name).stem
    return bool(NAME_RE.match(stem[:-4] if stem.endswith("_rgb") else stem))


def find_videos(root: str | Path | None = None, limit: int = 500) -> list[Path]:
    """Video files under ``root`` (default: the data root), sorted; at most ``limit``."""
    from ..data.resolve import data_root

    base = Path(root) if root is not None else data_root()
    if base is None or not Path(base).is_dir():
        return []
    out = []
    for dirpath, dirnames, files in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(files)
                if Path(f).suffix.lower() in VIDEO_EXTENSIONS and not f.startswith(".")]  # ._x.mp4: macOS
        if len(out) >= limit:
            break
    return sorted(out)[:limit]


@dataclass(frozen=True)
class Pose:
    path: Path  # the .pose.npz
    frames: int
    with_person: int
    seconds: float | None  # extraction time (None: found from an earlier extraction)


def extract_pose(video: StoredVideo, mirrored: bool = False) -> Pose:
    """The video's ``.pose.npz`` (extracted now, or found from an earlier run with the same ``mirrored``)."""
    from ..data.mediapipe import read_image_landmarks
    from ..pose.runner import extract_poses

    out = video.folder / ("pose-mirrored" if mirrored else "pose")
    stem = Path(video.path).stem
    found = out / f"{stem}.pose.npz"
    if found.is_file():
        try:
            _, present, _ = read_image_landmarks(found)
            return Pose(found, int(len(present)), int(present.sum()), None)
        except DataError as e:
            present = _nobody_in(found, e)
            if present is not None:  # a sound file of a video without a person: extracting again finds nobody
                return Pose(found, int(len(present)), 0, None)
            found.unlink(missing_ok=True)  # a damaged file from an earlier run: extract again
    try:
        r = extract_poses([video.path], out, mirrored=mirrored)[0]
    except DataError as e:  # name the user's file, not the cached copy
        raise DataError(video.name, str(e.problem).replace(str(video.path), video.name)) from e
    return Pose(r.pose, r.frames, r.with_person, r.seconds)


def _nobody_in(found: Path, err: DataError):
    """``present`` of a pose file refused only because nobody is in it (else None: the file is damaged)."""
    import numpy as np

    if not str(err.problem).startswith("nobody was found"):
        return None
    try:
        with np.load(found, allow_pickle=False) as z:
            present = z["present"]
    except Exception:  # noqa: BLE001 - damaged after all
        return None
    return present if present.dtype == bool and present.ndim == 1 and len(present) and not present.any() else None


def analyse(explainer, video: StoredVideo, pose: Pose, target: int | None = None):
    """:func:`stf.explain.video.analyse_video` for a stored video; errors name the user's file."""
    from ..explain.video import analyse_video

    try:
        return analyse_video(explainer, video.path, pose.path, target=target, extract_s=pose.seconds)
    except DataError as e:  # the cached copy and its pose file are the user's video
        where = e.where
        if where is None or str(video.path) in where or str(video.folder) in where:  # the folder holds the pose
            where = video.name
        raise DataError(where, str(e.problem).replace(str(video.path), video.name)) from e
