"""Name a data set once, everywhere: a converted directory or ``FORMAT:PATH``.

``open_dataset("runs/ucla-store")`` opens a converted directory. ``open_dataset("ucla:nw-ucla")``
reads ``$STF_DATA_ROOT/nw-ucla`` with the ``ucla`` reader, converts it once into
``$STF_CACHE_DIR`` (default ``~/.cache/stf``) under a key made of the format, the resolved
source path, its size / mtime signature and the converter version, and opens the cached copy.
Nothing is ever written under the data root.
"""
from __future__ import annotations

import hashlib
import inspect
import os
from pathlib import Path

from ..errors import DataError
from .base import FORMATS, format_module
from .store import CONVERTER_VERSION, SkeletonStore, write_store


def data_root() -> Path | None:
    """``$STF_DATA_ROOT`` as a Path, or None when unset / empty."""
    v = os.environ.get("STF_DATA_ROOT", "").strip()
    return Path(v).expanduser() if v else None


def cache_dir() -> Path:
    v = os.environ.get("STF_CACHE_DIR", "").strip()
    base = Path(v).expanduser() if v else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stf"
    return base


def parse_spec(spec: str) -> tuple[str | None, str]:
    """``"ucla:nw-ucla"`` -> ("ucla", "nw-ucla"); a plain path -> (None, path)."""
    head, sep, tail = spec.partition(":")
    if sep and head.lower() in FORMATS:
        return head.lower(), tail
    return None, spec


def source_path(path: str) -> Path:
    """A FORMAT:PATH path: absolute as given, otherwise relative to ``STF_DATA_ROOT``."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    root = data_root()
    if root is None:
        raise DataError(path, "relative data path but STF_DATA_ROOT is not set; "
                              "export STF_DATA_ROOT=/path/to/data (e.g. ../shared/data)")
    return root / p


def signature(path: Path) -> str:
    """Size / mtime signature of a file or a directory tree (names, sizes, mtimes)."""
    h = hashlib.sha1()
    if path.is_file():
        st = path.stat()
        h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    else:
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                fp = Path(root) / f
                try:
                    st = fp.stat()
                except OSError:  # a dangling symlink or an unreadable entry: the reader decides what it means
                    h.update(f"{fp.relative_to(path)}:unreadable\n".encode())
                    continue
                h.update(f"{fp.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def convert(fmt: str, src: str | Path, dest: str | Path, overwrite: bool = False, progress=None,
            **opts) -> SkeletonStore:
    """Read ``src`` with the ``fmt`` reader and write the project's store at ``dest``."""
    mod = format_module(fmt)
    try:
        inspect.signature(mod.read_dataset).bind(src, **opts)
    except TypeError as e:
        raise DataError(None, f"format {fmt!r} does not take the options {sorted(opts)}: {e}") from e
    ds = mod.read_dataset(Path(src), **opts)
    return write_store(dest, ds.samples(), name=ds.name, source_format=ds.source_format, source=str(src),
                       layout=ds.layout, channels=ds.channels, class_names=ds.class_names,
                       max_persons=ds.extra.get("max_persons", 1), splits=ds.splits,
                       overwrite=overwrite, progress=progress, notes=ds.extra.get("notes"))


def open_dataset(spec: str | Path, **opts) -> SkeletonStore:
    """Open a data set named by a converted directory or ``FORMAT:PATH`` (converted once, then cached)."""
    spec = str(spec)
    fmt, path = parse_spec(spec)
    if fmt is None:
        p = Path(path).expanduser()
        if not p.exists():
            raise DataError(p, "no such data set; give a converted directory or FORMAT:PATH "
                               f"(formats: {', '.join(sorted(FORMATS))})")
        return SkeletonStore(p)
    src = source_path(path)
    if not src.exists():
        raise DataError(src, "no such file or directory")
    src = src.resolve()
    key = hashlib.sha1(f"{fmt}|{src}|{signature(src)}|{CONVERTER_VERSION}|{sorted(opts.items())}".encode())
    dest = cache_dir() / f"{fmt}-{src.name}-{key.hexdigest()[:12]}"
    if (dest / "index.json").exists():
        try:
            return SkeletonStore(dest)
        except DataError as e:  # derived data: say how to get a fresh copy
            raise DataError(e.where, f"{e.problem} (a damaged cached conversion of {spec}: delete {dest} "
                                     "and the next run converts it again)") from e
    try:
        return convert(fmt, src, dest, **opts)
    except DataError as e:
        if (dest / "index.json").exists() and "already exists" in e.problem:  # another process won the race
            return SkeletonStore(dest)
        raise
