"""Uploaded skeleton files: size limit, format detection, a temporary file, the :mod:`stf.data` readers.

The pages hand over the file's name and bytes; :func:`read_upload` returns the Samples it holds (one for
most formats, several for an ``.npy`` stack or a pyskl pickle) or raises :class:`UploadError` /
:class:`stf.errors.DataError` with a one-line message. Conversion to the model's layout and person selection
are the explainer's job (``Explainer.prepare`` returns its notes).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from ..data import read_file
from ..errors import DataError, STFError
from ..sample import Sample
from ..utils import env_number

# Uploads above this are refused before anything is written (STF_MAX_UPLOAD_BYTES, default 32 MB).
MAX_UPLOAD_BYTES = 32 * 1024 * 1024

# extension -> format; ".json" is told apart by content (NW-UCLA "skeletons" vs Kinetics "data")
EXTENSIONS = {".skeleton": "ntu", ".txt": "sbu", ".csv": "sbu", ".npy": "npy", ".pkl": "pyskl", ".pickle": "pyskl",
              ".json": "json", ".npz": "mediapipe"}
UPLOAD_TYPES = sorted(e.lstrip(".") for e in EXTENSIONS)
FORMAT_HELP = {
    "ntu": "NTU RGB+D .skeleton text file (25 joints, 3-D)",
    "ucla": "NW-UCLA JSON (CTR-GCN dump, 20 joints, 3-D)",
    "kinetics": "Kinetics-skeleton JSON (OpenPose 18 joints, 2-D + score)",
    "sbu": "SBU Kinect Interaction skeleton_pos.txt (2 persons x 15 joints)",
    "npy": "NumPy (C, T, V, M) array or (N, C, T, V, M) stack; needs the layout",
    "pyskl": "pyskl / mmaction2 annotation pickle",
    "mediapipe": "a video's pose from `python -m stf pose` (.pose.npz, MediaPipe 33 landmarks, 3-D)",
}


class UploadError(STFError, ValueError):
    """An upload that is refused before reading (too large, unknown type, empty)."""


def max_upload_bytes() -> int:
    return env_number("STF_MAX_UPLOAD_BYTES", MAX_UPLOAD_BYTES, int, 1)


def safe_name(name: str) -> str:
    """The file's base name with anything but letters, digits, ``._-+`` replaced (readers parse names)."""
    base = Path(str(name).replace("\\", "/")).name or "upload"
    base = re.sub(r"[^A-Za-z0-9._+-]", "_", base).lstrip(".")
    return base[:200] or "upload"


def detect_format(name: str, head: bytes) -> str:
    """The reader for a file from its extension (and, for JSON, its first bytes)."""
    ext = Path(name).suffix.lower()
    fmt = EXTENSIONS.get(ext)
    if fmt is None:
        raise UploadError(f"{name}: unknown file type {ext or '(no extension)'}; supported: "
                          + ", ".join(f".{t}" for t in UPLOAD_TYPES))
    if fmt == "json":
        text = head[:4096].decode("utf-8", errors="replace")
        if '"skeletons"' in text:
            return "ucla"
        if '"data"' in text or '"frame_index"' in text:
            return "kinetics"
        try:
            obj = json.loads(head.decode("utf-8"))
            if isinstance(obj, dict) and "skeletons" in obj:
                return "ucla"
        except (UnicodeDecodeError, ValueError):
            pass
        return "kinetics"
    return fmt


def _size(n: int) -> str:
    """A byte count for a message: MB from 0.1 MB on, else bytes (a tiny limit read "0.0 MB")."""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


def read_upload(name: str, data: bytes, fmt: str | None = None, layout: str | None = None,
                workdir: str | Path | None = None) -> tuple[list[Sample], str]:
    """Read an uploaded file -> (samples, format). ``fmt`` None = detect; ``layout`` is for .npy."""
    limit = max_upload_bytes()
    if len(data) > limit:
        raise UploadError(f"{name}: the file is {_size(len(data))}, above the upload limit of "
                          f"{_size(limit)} (STF_MAX_UPLOAD_BYTES)")
    if not data:
        raise UploadError(f"{name}: the file is empty")
    fmt = fmt or detect_format(name, data)
    opts = {"layout": layout} if fmt == "npy" else {}
    with tempfile.TemporaryDirectory(prefix="stf-upload-", dir=workdir) as tmp:
        p = Path(tmp) / safe_name(name)
        p.write_bytes(data)
        try:
            out = read_file(fmt, p, **opts)
        except DataError as e:  # name the user's file, not the temporary copy the reader saw
            def shown(text):
                return None if text is None else text.replace(str(p), name).replace(tmp + os.sep, "")
            raise DataError(shown(e.where), shown(e.problem)) from e
    samples = out if isinstance(out, list) else [out]
    if not samples:
        raise UploadError(f"{name}: no sample in the file")
    for s in samples:
        s.source = f"upload:{safe_name(name)}" + (f"#{s.sample_id}" if len(samples) > 1 else "")
        if not s.sample_id:
            s.sample_id = Path(safe_name(name)).stem
    return samples, fmt
