"""Which files the app may open: only those under the allowed roots, resolved with symlinks followed.

Allowed roots: the repository's ``assets/``, ``$STF_RUNS_DIR`` (default ``./runs``), ``$STF_DATA_ROOT``
and ``$STF_CACHE_DIR``. :func:`safe_path` resolves a path (``..`` and every symlink) *before* checking it,
so ``runs/link -> /etc`` or ``assets/../../etc/passwd`` are refused. Nothing here imports Streamlit.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import STFError

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"


class UnsafePathError(STFError, ValueError):
    """A path outside the allowed roots (after resolving symlinks and ``..``)."""


def assets_dir() -> Path:
    """The shipped models: ``$STF_ASSETS_DIR`` when set (tests), else the repository's ``assets/``."""
    v = os.environ.get("STF_ASSETS_DIR", "").strip()
    return Path(v).expanduser() if v else ASSETS


def runs_dir() -> Path:
    from .runs import runs_dir as rd

    return rd()


def allowed_roots() -> dict[str, Path]:
    """Name -> resolved root directory, for the roots that are configured."""
    from .data.resolve import cache_dir, data_root

    roots = {"assets": assets_dir(), "runs": runs_dir(), "data": data_root(), "cache": cache_dir()}
    return {k: v.resolve() for k, v in roots.items() if v is not None}


def is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def safe_path(path: str | Path, must_exist: bool = True, roots: dict[str, Path] | None = None) -> Path:
    """``path`` resolved (symlinks followed); UnsafePathError unless it lies under an allowed root."""
    roots = allowed_roots() if roots is None else {k: Path(v).resolve() for k, v in roots.items()}
    p = Path(path).expanduser()
    try:
        resolved = p.resolve(strict=must_exist)
    except FileNotFoundError as e:
        raise UnsafePathError(f"{path}: no such file or directory") from e
    except (OSError, RuntimeError) as e:  # RuntimeError: symlink loop (Python < 3.13)
        raise UnsafePathError(f"{path}: cannot resolve ({e})") from e
    if not any(is_within(resolved, r) for r in roots.values()):
        names = ", ".join(f"{k} ({v})" for k, v in roots.items())
        raise UnsafePathError(f"{path}: outside the allowed folders ({names})")
    return resolved


def display(path: str | Path) -> str:
    """A path shown relative to its root (``assets/x.pt``, ``runs/tiny/last.pt``), else as is."""
    p = Path(path)
    try:
        rp = p.resolve()
    except OSError:
        return str(p)
    for name, root in allowed_roots().items():
        if is_within(rp, root):
            rel = rp.relative_to(root)
            label = {"assets": "assets", "runs": "runs", "data": "$STF_DATA_ROOT", "cache": "cache"}[name]
            return f"{label}/{rel}" if str(rel) != "." else label
    return str(p)
