"""Small shared helpers: atomic writes, progress output, seeding, device choice, argparse types."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory + fsync + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def progress_counter(label: str, every: int = 100) -> Callable[[int], None]:
    """A callback printing ``label: n`` every ``every`` calls to stderr (used by conversions)."""
    def cb(n: int) -> None:
        if n % every == 0:
            print(f"\r{label}: {n}", end="", file=sys.stderr, flush=True)
    return cb


def resolve_device(name: str | None = "auto"):
    """``auto`` -> cuda when available else cpu; ``cpu``; ``cuda`` / ``cuda:N`` (error if unavailable)."""
    import torch

    from .errors import ConfigError

    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind, _, index = name.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise ConfigError(f"unknown device {name!r}: expected auto, cpu, cuda or cuda:N")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available on this machine")
    if index and int(index) >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                          f"device(s) (cuda:0-{torch.cuda.device_count() - 1})")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def env_number(name: str, default: float, kind: type = int, minimum: float = 0):
    """The number in environment variable ``name`` (``default`` when unset or blank).

    Anything else than a ``kind`` (int or float) ``>= minimum`` is a ConfigError that names the variable,
    so a mistyped setting (``STF_MAX_UPLOAD_BYTES=10MB``) is reported as such, not as a bare ``int()`` error.
    """
    from .errors import ConfigError

    text = os.environ.get(name, "").strip()
    if not text:
        return default
    what = "an integer" if kind is int else "a number"
    try:
        v = kind(text)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be {what} >= {minimum:g}, got {text!r}") from None
    if not v >= minimum:  # also refuses nan
        raise ConfigError(f"environment variable {name} must be {what} >= {minimum:g}, got {text!r}")
    return v


def count_arg(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for an integer option that must be ``>= minimum`` (batch sizes, steps, threads)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {v}")
        return v

    parse.__name__ = f"integer >= {minimum}"
    return parse


def out_dir_arg(text: str) -> str:
    """An argparse ``type`` for an output directory: refused at once if it names an existing file."""
    if Path(text).exists() and not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; --out must be a directory (new or existing)")
    return text
