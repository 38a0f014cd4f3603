"""The fuzz contract every reader must meet, shared by tests/data/test_fuzz_*.py.

Contract: given any bytes (mutations of a real file), a reader either returns samples that pass
``validate()`` or raises :class:`stf.errors.DataError`; nothing else escapes. Errors raised while
handling a lower-level exception are chained to it (``raise DataError(...) from e``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from stf.errors import DataError
from stf.sample import Sample

FUZZ_SETTINGS = settings(max_examples=500, derandomize=True, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """A mutation of ``original``: byte flips, deletions, insertions, duplications, truncation."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "dup", "truncate", "digit"]))
        n = len(data)
        if n == 0:
            data += draw(st.binary(min_size=1, max_size=16))
            continue
        i = draw(st.integers(0, n - 1))
        if kind == "flip":
            data[i] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[i:i + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "dup":
            j = min(n, i + draw(st.integers(1, 256)))
            data[i:i] = data[i:j]
        elif kind == "truncate":
            del data[i:]
        else:  # replace a character by a digit/sign/dot: keeps text formats "almost" valid
            data[i] = draw(st.sampled_from(b"0123456789-.eE \n,"))
    return bytes(data)


def check_contract(read: Callable[[Path], object], path: Path) -> None:
    """Call ``read(path)``; assert only DataError escapes and every returned sample validates."""
    try:
        out = read(path)
    except DataError as e:
        ctx = e.__cause__ or e.__context__
        if ctx is not None:
            assert e.__cause__ is not None, f"DataError raised while handling {ctx!r} without 'from': {e}"
        return
    samples = out if isinstance(out, list) else [out]
    for s in samples:
        assert isinstance(s, Sample), type(s)
        s.validate()


def cut_points(size: int, n: int = 20) -> list[int]:
    """``n`` distinct cut positions strictly inside a file of ``size`` bytes (never 0 or size)."""
    return sorted({max(1, min(size - 1, round(size * (k + 1) / (n + 1)))) for k in range(n)})
