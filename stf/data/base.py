"""What every reader provides, and the registry of source formats.

A *format* module (``ntu``, ``ucla``, ``sbu``, ``kinetics``, ``npy``, ``pyskl``, ``mediapipe``) exposes

* ``read_file(path, **opts) -> Sample`` (or a list for files holding many samples): one file, used by
  uploads in the app and by tests;
* ``read_dataset(path, **opts) -> DatasetSource``: a whole data set (a directory or an annotation
  file), used by ``python -m stf data convert``.

Both raise only :class:`stf.errors.DataError` (chained to the low-level cause) for bad input.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..errors import DataError
from ..utils import env_number
from ..sample import Sample

# Files above this are refused before reading (a skeleton file is kilobytes to a few MB).
MAX_FILE_BYTES = 64 * 1024 * 1024  # STF_MAX_FILE_BYTES overrides it


def max_file_bytes() -> int:
    """The size limit of a data file: ``$STF_MAX_FILE_BYTES``, else :data:`MAX_FILE_BYTES`."""
    return env_number("STF_MAX_FILE_BYTES", MAX_FILE_BYTES, int, 1)
#: More classes than any skeleton data set has (NTU-120: 120, Kinetics-700: 700); a label above it is a
#: corrupt or mistyped index (it would make every per-class table that large), not a class.
MAX_CLASSES = 10_000


def check_label(label: int, where, what: str = "label") -> int:
    """``label`` if it is below :data:`MAX_CLASSES`; a DataError naming ``where`` otherwise."""
    if label >= MAX_CLASSES:
        raise DataError(where, f"{what} {label} is beyond {MAX_CLASSES} classes: labels are class indices "
                               "(0, 1, ...), not ids")
    return label


@dataclass
class DatasetSource:
    """A data set as a reader yields it, before it is written to the project's store.

    ``samples`` is a zero-argument callable returning an iterator of ``Sample | DataError``:
    bad samples are yielded as errors so a conversion can report and skip them.
    ``splits`` maps a protocol name to parts: ``{"xview": {"train": [ids], "test": [ids]}}``.
    """

    name: str
    source_format: str
    layout: str
    channels: str
    class_names: list[str]
    samples: Callable[[], Iterator[Sample | DataError]]
    splits: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    num_samples: int | None = None  # when known up front (for a progress bar)
    extra: dict = field(default_factory=dict)  # "max_persons"; "notes": what was left out on purpose


FORMATS = {
    "ntu": "stf.data.ntu",
    "ucla": "stf.data.ucla",
    "sbu": "stf.data.sbu",
    "kinetics": "stf.data.kinetics",
    "npy": "stf.data.npy",
    "pyskl": "stf.data.pyskl",
    "mediapipe": "stf.data.mediapipe",
}


def format_module(name: str):
    """The reader module of a format name; unknown names raise DataError listing the known ones."""
    key = name.strip().lower()
    if key not in FORMATS:
        raise DataError(None, f"unknown data format {name!r}; known formats: {', '.join(sorted(FORMATS))}")
    return importlib.import_module(FORMATS[key])


def check_file(path: str | Path, max_bytes: int | None = None) -> Path:
    """Resolve ``path``; raise DataError when it is missing, not a file, or above the size limit."""
    p = Path(path)
    limit = max_file_bytes() if max_bytes is None else max_bytes
    try:
        st = p.stat()
    except OSError as e:
        raise DataError(p, f"cannot open: {e.strerror or e}") from e
    if not p.is_file():
        raise DataError(p, "not a regular file")
    if st.st_size > limit:
        raise DataError(p, f"file is {st.st_size} bytes, above the {limit}-byte limit (STF_MAX_FILE_BYTES)")
    return p


def read_text(path: str | Path, max_bytes: int | None = None) -> str:
    """Read a UTF-8 text file with the size check; non-UTF-8 bytes raise DataError."""
    p = check_file(path, max_bytes)
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(p, f"not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r})") from e
