"""stf: STF (spatio-temporal focus) skeleton action recognition, our re-implementation, with an explain API.

Layers, each importable alone: :mod:`stf.layouts`, :mod:`stf.sample`, :mod:`stf.data`,
:mod:`stf.transforms`, :mod:`stf.model`, :mod:`stf.train`, :mod:`stf.evaluate`, :mod:`stf.explain`.
"""
__version__ = "0.1.0"


def code_version() -> str:
    """``<package version>+g<git commit>[.dirty]`` when run from a git checkout, else the package version."""
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
        if not rev:
            return __version__
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{__version__}+g{rev}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__
