"""Preprocessed skeleton arrays (.npy) in the ST-GCN / CTR-GCN ``(C, T, V, M)`` convention.

A file holds one sample ``(C, T, V, M)`` (PaddleVideo's NTU example is (3, 300, 25, 2)) or a stack
``(N, C, T, V, M)`` (ST-GCN's ``train_data_joint.npy``). The array does not say which skeleton it
holds, so ``layout`` is required (``--opt layout=ntu25`` on the command line).

* The header's declared shape and dtype are checked against the file size before anything is
  mapped; object arrays are refused (nothing is unpickled), and so are non-numeric dtypes.
* Feeders pad every sample with zero frames to a fixed length (300 for NTU). A Sample keeps the
  frames up to its last non-zero frame; zero frames before that stay, with ``frame_mask`` False.
  Persons stay as stored (an all-zero person has ``person_mask`` False).
* Channels: ``"xy"`` for C = 2; for C = 3, ``"xy+score"`` on the 2-D layouts openpose18 / coco17
  and ``"xyz"`` otherwise; ``channels=`` overrides. Without ``channels=``, C = 2 with M = 3 is refused:
  it is how 2 persons' x, y, z in the ``(M, T, V, C)`` order (stf's, pyskl's) read.
* Labels (``labels=PATH``), 0-based ints, from a CSV of ``id,label`` rows (header optional; a UTF-8
  byte order mark is ignored) or an ST-GCN / CTR-GCN label pickle ``(sample_names, labels)`` read
  through :mod:`.safe_pickle`. A single sample is looked up by its id (the file stem; names may carry
  ``.skeleton`` / ``.npy``); a stack takes the label file's rows in array order, and its names become
  the sample ids. Without a label file, a stack's ids are ``<stem>_<index>``.
"""
from __future__ import annotations

import csv
import io
import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from numpy.lib import format as npformat

from ..errors import DataError, LayoutError
from ..layouts import LAYOUTS, Layout, get_layout, layout_for_joint_count
from ..sample import CHANNELS, Sample
from .base import DatasetSource, check_file, check_label, read_text
from .safe_pickle import safe_load

SCORE_LAYOUTS = ("openpose18", "coco17")  # 2-D layouts whose third channel is a detector score
_NAME_SUFFIXES = (".skeleton", ".npy", ".json")  # dropped from label-file names to get sample ids
_INT_RE = re.compile(r"-?[0-9]+")  # a CSV label; int() alone also takes "3_0", "٣" and fails on "²"


# --- label files -------------------------------------------------------------------------------
@dataclass
class LabelTable:
    """Labels from a file: sample ``ids[i]`` has 0-based label ``labels[i]``, in file order."""

    ids: list[str]
    labels: list[int]
    source: str
    _by_id: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {}
        for sid, lab in zip(self.ids, self.labels):
            if self._by_id.setdefault(sid, lab) != lab:
                raise DataError(self.source, f"sample {sid!r} is listed twice with different labels")

    def __len__(self) -> int:
        return len(self.ids)

    def lookup(self, sample_id: str) -> int:
        if sample_id not in self._by_id:
            raise DataError(sample_id, f"not listed in the label file {self.source}")
        return self._by_id[sample_id]


def _strip_suffix(name: str) -> str:
    for suf in _NAME_SUFFIXES:
        if name.endswith(suf):
            return name[: -len(suf)]
    return name


def _as_label(value, where: str, what: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and value >= 0:
        return int(value)
    raise DataError(where, f"{what}: label {value!r} is not a non-negative int (labels are 0-based)")


def read_labels(path: str | Path) -> LabelTable:
    """A label file -> :class:`LabelTable`: ``.pkl`` / ``.pickle`` as a (names, labels) pickle, else CSV."""
    p = Path(path)
    if p.suffix.lower() in (".pkl", ".pickle"):
        obj = safe_load(p)
        if not (isinstance(obj, (tuple, list)) and len(obj) == 2):
            raise DataError(p, f"expected a (sample_names, labels) pair, got {type(obj).__name__}")
        names, labels = obj
        if isinstance(labels, np.ndarray):
            labels = labels.tolist() if labels.ndim == 1 else None
        if not isinstance(names, (list, tuple)) or not isinstance(labels, (list, tuple)):
            raise DataError(p, "expected sample names and labels as two lists")
        if len(names) != len(labels):
            raise DataError(p, f"{len(names)} sample names but {len(labels)} labels")
        ids = []
        for i, n in enumerate(names):
            if not isinstance(n, str) or not n:
                raise DataError(p, f"sample name #{i} is {n!r}, not a non-empty string")
            ids.append(_strip_suffix(n))
        return LabelTable(ids, [_as_label(v, str(p), f"entry #{i}") for i, v in enumerate(labels)], str(p))
    ids, labels = [], []
    text = read_text(p).removeprefix("\ufeff")  # Excel's "CSV UTF-8" starts with a byte order mark
    first = True
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise DataError(p, f"line {lineno}: expected 'id,label', got {len(row)} fields")
        sid, lab = row[0].strip(), row[1].strip()
        header, first = first, False
        if not _INT_RE.fullmatch(lab):
            if header:
                continue  # header row: the first non-blank one
            raise DataError(p, f"line {lineno}: label {lab!r} is not an integer")
        if not sid:
            raise DataError(p, f"line {lineno}: empty sample id")
        ids.append(_strip_suffix(sid))
        labels.append(_as_label(int(lab), str(p), f"line {lineno}"))
    if not ids:
        raise DataError(p, "no 'id,label' rows")
    return LabelTable(ids, labels, str(p))


def read_class_names(path: str | Path) -> list[str]:
    """Class names, one per line (ST-GCN's ``label_name.txt``): line k+1 names class k."""
    p = Path(path)
    lines = read_text(p).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(p, "no class names")
    for i, line in enumerate(lines):
        if not line.strip():
            raise DataError(p, f"line {i + 1} is empty; one class name per line is expected")
    return [line.strip() for line in lines]


def default_class_names(labels: list[int], class_names: str | Path | None, where) -> list[str]:
    """Names from ``class_names`` (a file, checked to cover every label) or ``class_<k>`` up to the largest label."""
    if labels:
        check_label(max(labels), where)
    if class_names:
        names = read_class_names(class_names)
        if labels and max(labels) >= len(names):
            raise DataError(where, f"label {max(labels)} but {class_names} names only {len(names)} classes")
        return names
    return [f"class_{k}" for k in range(max(labels) + 1)] if labels else []


# --- arrays -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArrayHeader:
    """What an .npy header declares: ``shape``, ``dtype``, ``fortran_order`` and the data ``offset``."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int


def read_header(path: str | Path, max_bytes: int | None = None) -> ArrayHeader:
    """Parse and check an .npy header: numeric dtype, 4-D (C, T, V, M) or 5-D (N, C, T, V, M), non-empty,
    and exactly ``offset + prod(shape) * itemsize`` bytes in the file. Nothing is allocated."""
    p = check_file(path, max_bytes)
    size = p.stat().st_size
    try:
        with open(p, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's note on Python 2 headers: harmless here
            version = npformat.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = npformat.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
            offset = f.tell()
    except Exception as e:  # numpy's header parser raises ValueError, SyntaxError, tokenize errors, ...
        raise DataError(p, f"not a valid .npy file: {type(e).__name__}: {e}") from e
    if dtype.hasobject:
        raise DataError(p, "array of Python objects; refused (it would need unpickling)")
    if dtype.kind not in "fiu" or dtype.fields is not None or dtype.subdtype is not None:
        raise DataError(p, f"dtype {dtype} is not a plain numeric type")
    if len(shape) not in (4, 5):
        raise DataError(p, f"shape {shape}: expected (C, T, V, M) for one sample or (N, C, T, V, M) for many")
    n = math.prod(shape)
    if n == 0:
        raise DataError(p, f"empty array, shape {shape}")
    expected = offset + n * dtype.itemsize
    if size != expected:
        raise DataError(p, f"header declares {shape} {dtype} ({n * dtype.itemsize} data bytes), but the file "
                           f"holds {size - offset} data bytes (truncated or corrupt)")
    return ArrayHeader(tuple(shape), dtype, bool(fortran), offset)


def _map(path: Path, h: ArrayHeader) -> np.ndarray:
    """The array memory-mapped read-only, shape ``h.shape``."""
    try:
        return np.memmap(path, dtype=h.dtype, mode="r", offset=h.offset, shape=h.shape,
                         order="F" if h.fortran_order else "C")
    except (OSError, ValueError) as e:
        raise DataError(path, f"cannot map the array: {e}") from e


def resolve_layout(layout: str | None, where) -> Layout:
    """The layout named by the ``layout`` option; missing or unknown -> DataError saying so."""
    if layout is None or not str(layout).strip():
        raise DataError(where, "a .npy array does not say which skeleton it holds; convert it with its layout "
                               "(python -m stf data convert --format npy --opt layout=ntu25 SRC DEST, then use "
                               f"DEST as the data set; layouts: {', '.join(sorted(LAYOUTS))})")
    try:
        return get_layout(layout)
    except LayoutError as e:
        raise DataError(where, str(e)) from e


def resolve_channels(h: ArrayHeader, lay: Layout, channels: str | None, where) -> str:
    """Check (C, T, V, M) against the layout and return the channel meaning."""
    c, _, v, m = h.shape[-4:]
    if v != lay.num_joints:
        same = [other.name for other in layout_for_joint_count(v)]
        hint = f"layouts with {v} joints: {', '.join(same)}" if same else f"no supported layout has {v} joints"
        raise DataError(where, f"{v} joints (shape {h.shape} read as (C, T, V, M)), but layout {lay.name} "
                               f"has {lay.num_joints}; {hint}")
    if channels is None:
        if c == 2 and m == 3:  # 2 persons x, y, z in stf's / pyskl's (M, T, V, C) order reads as 2-D, 3 persons
            raise DataError(where, f"shape {h.shape} read as (C, T, V, M) is x, y of 3 persons, but it looks like "
                                   "(M, T, V, C): 2 persons with x, y, z; transpose it to (C, T, V, M) "
                                   "(ST-GCN's order), or pass --opt channels=xy if it is 2-D with 3 persons")
        if c == 2:
            return "xy"
        if c == 3:
            return "xy+score" if lay.name in SCORE_LAYOUTS else "xyz"
        raise DataError(where, f"{c} channels (shape {h.shape} read as (C, T, V, M)); expected 2 or 3")
    if channels not in CHANNELS:
        raise DataError(where, f"unknown channels {channels!r}; expected one of {sorted(CHANNELS)}")
    if CHANNELS[channels] != c:
        raise DataError(where, f"{c} channels, but {channels!r} means {CHANNELS[channels]}")
    return channels


def check_depth_channel(ctvm: np.ndarray, where) -> None:
    """Refuse to read a third channel as depth when it looks like a 2-D detector's score: on every
    present joint it lies in [0, 1] while x or y leave that range (``channels=`` decides it either way).

    ``ctvm``: one sample ``(C, T, V, M)`` with C = 3.
    """
    a = np.asarray(ctvm[:, :2000], dtype=np.float64)  # a few thousand frames decide it
    present = np.abs(a).sum(0) > 0
    if not present.any() or not np.isfinite(a).all():
        return  # nobody, or NaN / inf: to_sample reports it
    x, y, z = (a[c][present] for c in range(3))
    xy_lo, xy_hi = min(x.min(), y.min()), max(x.max(), y.max())
    if z.min() >= 0 and z.max() <= 1 and (xy_lo < 0 or xy_hi > 1):
        raise DataError(where, f"its third channel looks like a detector score, not depth (in [{z.min():.2f}, "
                               f"{z.max():.2f}] on every present joint, x/y in [{xy_lo:.2f}, {xy_hi:.2f}]); "
                               "for a 2-D pose pass --opt channels=xy+score (with its own 2-D layout: a layout "
                               "fixes the joint order), or --opt channels=xyz if it is depth")


def to_sample(ctvm: np.ndarray, lay: Layout, channels: str, sample_id: str, label: int | None,
              where: str) -> Sample:
    """One (C, T, V, M) array -> validated Sample with data (M, T', V, C), T' = last non-zero frame + 1."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow / NaN: validate() names them
        d = np.asarray(ctvm).astype(np.float32).transpose(3, 1, 2, 0)
        filled = (d != 0).any(axis=(0, 2, 3))
        if not filled.any():
            raise DataError(where, "every value is zero (no skeleton)")
        d = np.ascontiguousarray(d[:, : int(np.flatnonzero(filled)[-1]) + 1])
        return Sample(data=d, layout=lay.name, channels=channels, label=label, sample_id=sample_id,
                      source=where).validate()


def _entries(p: Path, h: ArrayHeader, table: LabelTable | None) -> list[tuple[str, int | None]]:
    """(sample id, label) of each sample in the file, in array order."""
    if len(h.shape) == 4:
        return [(p.stem, table.lookup(p.stem) if table else None)]
    n = h.shape[0]
    if table is None:
        width = len(str(n - 1))
        return [(f"{p.stem}_{i:0{width}d}", None) for i in range(n)]
    if len(table) != n:
        raise DataError(p, f"{n} stacked samples but the label file {table.source} lists {len(table)}; "
                           "a stack takes the label file's rows in array order")
    return list(zip(table.ids, table.labels))


def _iter_file(p: Path, h: ArrayHeader, lay: Layout, channels: str, table: LabelTable | None
               ) -> Iterator[Sample | DataError]:
    """The file's samples in array order; a bad sample is yielded as its DataError."""
    arr = _map(p, h)
    stacked = arr if arr.ndim == 5 else arr[None]
    for i, (sid, label) in enumerate(_entries(p, h, table)):
        where = f"{p}#{i}" if arr.ndim == 5 else str(p)
        try:
            yield to_sample(stacked[i], lay, channels, sid, label, where)
        except DataError as e:
            yield e


def read_file(path: str | Path, layout: str | None = None, channels: str | None = None,
              labels: str | Path | LabelTable | None = None) -> list[Sample]:
    """An .npy of one (C, T, V, M) sample or a (N, C, T, V, M) stack -> list of Samples (M, T', V, C).

    ``layout`` is required; ``labels`` is a label file path (or an already read :class:`LabelTable`).
    """
    p = Path(path)
    lay = resolve_layout(layout, p)
    table = read_labels(labels) if isinstance(labels, (str, Path)) else labels
    h = read_header(p)
    ch = resolve_channels(h, lay, channels, p)
    if channels is None and ch == "xyz":
        arr = _map(p, h)
        check_depth_channel(arr if arr.ndim == 4 else arr[0], p)
    out = []
    for s in _iter_file(p, h, lay, ch, table):
        if isinstance(s, DataError):
            raise s
        out.append(s)
    return out


def read_dataset(path: str | Path, layout: str | None = None, labels: str | Path | None = None,
                 class_names: str | Path | None = None, channels: str | None = None) -> DatasetSource:
    """A directory of .npy files (each one sample, read whole) or one stacked (N, C, T, V, M) file
    (memory-mapped, no size limit). Class names from ``class_names`` (one per line) or ``class_<k>``."""
    root = Path(path)
    lay = resolve_layout(layout, root)
    table = read_labels(labels) if labels else None
    if root.is_dir():
        files = sorted(root.glob("*.npy"))
        if not files:
            raise DataError(root, "no .npy files found")
        headers: dict[Path, ArrayHeader | DataError] = {}
        for f in files:
            try:
                headers[f] = read_header(f)
            except DataError as e:
                headers[f] = e
        good = [h for h in headers.values() if isinstance(h, ArrayHeader)]
        if not good:
            raise DataError(root, f"none of the {len(files)} .npy files is readable; first: {headers[files[0]]}")
    else:
        files = [root]
        headers = {root: read_header(root, max_bytes=sys.maxsize)}
        good = list(headers.values())
    ch = resolve_channels(good[0], lay, channels, root)
    if channels is None and ch == "xyz":
        first, h0 = next((f, h) for f, h in headers.items() if isinstance(h, ArrayHeader))
        try:
            arr = _map(first, h0)
        except DataError:
            arr = None  # the file's own error is reported with the others
        if arr is not None:
            check_depth_channel(arr if arr.ndim == 4 else arr[0], first)
    num = sum(h.shape[0] if len(h.shape) == 5 else 1 for h in good)

    def samples() -> Iterator[Sample | DataError]:
        for f in files:
            h = headers[f]
            if isinstance(h, DataError):
                yield h
                continue
            try:
                resolve_channels(h, lay, ch, f)
                yield from _iter_file(f, h, lay, ch, table)
            except DataError as e:
                yield e

    return DatasetSource(name=root.stem, source_format="npy", layout=lay.name, channels=ch,
                         class_names=default_class_names(table.labels if table else [], class_names, root),
                         samples=samples, num_samples=num,
                         extra={"max_persons": max(h.shape[-1] for h in good)})
