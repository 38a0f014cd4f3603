"""Load pickles from outside the project without running code from them.

A pickle can name any importable callable and have it called while loading (``__reduce__``), so
``pickle.load`` on a downloaded annotation file is arbitrary code execution. :func:`safe_load`
unpickles through a :class:`pickle.Unpickler` whose ``find_class`` admits only

* the plain builtins ``dict``, ``list``, ``tuple``, ``set``, ``str``, ``int``, ``float``, ``bool``,
  ``bytes``;
* what numpy writes for arrays, dtypes and scalars: ``numpy.ndarray``, ``numpy.dtype``,
  ``numpy[._]core.multiarray._reconstruct`` and ``.scalar``, and, for pickle protocol 5,
  ``numpy[._]core.numeric._frombuffer``;
* ``_codecs.encode`` with the ``latin1`` codec only: protocol-2 pickles written by Python 3 store
  ``bytes`` (an array's buffer) as a latin-1 string passed through it.

Everything else is refused with :class:`DataError` naming the global, before it is imported or
called. Python 2 names (``__builtin__.set``, protocol <= 2) are first mapped to their Python 3
names as ``pickle`` does, so a refusal names the Python 3 global.

Three further guards keep a hostile file from allocating memory it does not contain:

* ``numpy.ndarray`` is handed out as an inert token that only ``_reconstruct`` accepts, so a
  pickle cannot call ``ndarray(shape)`` directly;
* ``_reconstruct`` accepts only the placeholder shape ``(0,)`` numpy always writes; the real shape
  and data arrive in ``__setstate__``, which numpy checks against the bytes actually present;
* before unpickling, the opcodes are walked (:mod:`pickletools`): a byte string longer than the
  rest of the file, or a memo slot beyond the number of opcodes, is refused, because the C
  unpickler allocates either up front (a 5-byte edit of a real file made it allocate over a
  gigabyte for its memo).
"""
from __future__ import annotations

import _compat_pickle
import builtins
import io
import pickle
import pickletools
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import check_file, max_file_bytes

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]


class _NdarrayToken:
    """Stands in for ``numpy.ndarray`` inside a pickle: not callable, accepted only by ``_reconstruct``."""

    def __repr__(self) -> str:
        return "<numpy.ndarray (restricted)>"


_NDARRAY = _NdarrayToken()


def _reconstruct(subtype, shape, dtype):
    """numpy's array placeholder ``_reconstruct(ndarray, (0,), b'b')``; any other use is refused."""
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError(f"_reconstruct of {subtype!r}: only numpy.ndarray is allowed")
    if tuple(shape) != (0,):
        raise pickle.UnpicklingError(f"_reconstruct with placeholder shape {shape!r}; numpy writes (0,)")
    return _multiarray._reconstruct(np.ndarray, (0,), dtype)


def _latin1_encode(text, encoding="utf-8"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: latin-1 only."""
    if not isinstance(text, str) or str(encoding).lower().replace("-", "").replace("_", "") != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r}: only latin1 strings are allowed")
    return text.encode("latin1")


_BUILTINS = {name: getattr(builtins, name)
             for name in ("dict", "list", "tuple", "set", "str", "int", "float", "bool", "bytes")}

_ALLOWED: dict[tuple[str, str], object] = {
    **{("builtins", name): obj for name, obj in _BUILTINS.items()},
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): np.dtype,
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _multiarray.scalar for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _numeric._frombuffer for core in ("core", "_core")},
    ("_codecs", "encode"): _latin1_encode,
}


class _RefusedGlobal(Exception):
    """Raised by ``find_class`` for a global outside the allow-list (turned into DataError)."""

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.qualname = f"{module}.{name}"


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _RefusedGlobal(module, name) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not supported")


_MEMO_PUTS = ("PUT", "BINPUT", "LONG_BINPUT")


def _prescan(raw: bytes) -> None:
    """Walk the opcodes; raise ValueError for a truncated argument or a memo slot past the opcode count."""
    for count, (op, arg, _) in enumerate(pickletools.genops(raw), start=1):
        if op.name in _MEMO_PUTS and not 0 <= int(arg) < count:
            raise ValueError(f"memo slot {arg} after only {count} opcodes")


#: (leading bytes, what the file is and the format that reads it) for files mistaken for pickles
_SIGNATURES = ((b"\x93NUMPY", "a NumPy .npy array (--format npy reads (C, T, V, M) arrays)"),
               (b"PK\x03\x04", "a zip / .npz archive (--format mediapipe reads .pose.npz files)"))


def _other_format(raw: bytes) -> str | None:
    """What ``raw`` is when it is plainly another format than a pickle (None otherwise)."""
    for magic, what in _SIGNATURES:
        if raw.startswith(magic):
            return what
    head = raw[:64].lstrip()
    if head[:1] in (b"{", b"["):  # no pickle opcode is "{", "[" or white space
        return "JSON text (--format kinetics reads Kinetics-skeleton JSON, --format ucla NW-UCLA's)"
    return None


def safe_load(path_or_bytes: str | Path | bytes, where: str | Path | None = None,
              max_bytes: int | None = None) -> object:
    """Unpickle a file (or bytes) admitting only containers, builtins and numpy arrays/dtypes/scalars.

    ``where`` names the source in errors (default: the path, or ``<pickle bytes>``). Inputs above
    ``max_bytes`` (default :func:`stf.data.base.max_file_bytes`) are refused before reading.
    Raises :class:`DataError` naming a refused global, or chained to the cause for a corrupt or
    truncated pickle. Strings of Python 2 pickles are decoded as latin-1.
    """
    limit = max_file_bytes() if max_bytes is None else max_bytes
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        raw = bytes(path_or_bytes)
        where = "<pickle bytes>" if where is None else where
        if len(raw) > limit:
            raise DataError(where, f"pickle is {len(raw)} bytes, above the {limit}-byte limit (STF_MAX_FILE_BYTES)")
    else:
        p = check_file(path_or_bytes, limit)
        where = p if where is None else where
        try:
            raw = p.read_bytes()
        except OSError as e:
            raise DataError(where, f"cannot read: {e.strerror or e}") from e
    other = _other_format(raw)
    if other:
        raise DataError(where, f"not a pickle: {other}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # odd escapes in protocol-0 strings
            _prescan(raw)
            return _RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except _RefusedGlobal as e:
        raise DataError(where, f"refused to load pickle: it references {e.qualname}, which is not an "
                               "allowed type (only plain containers and numpy arrays are)") from e
    except RecursionError as e:
        raise DataError(where, "corrupt pickle: nested too deeply") from e
    except Exception as e:  # unpickling corrupt bytes can raise nearly any exception type
        raise DataError(where, f"corrupt or truncated pickle: {type(e).__name__}: {e}") from e
