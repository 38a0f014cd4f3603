"""The project's own data-set format: one memory-mappable array + one JSON index.

A converted data set is a directory::

    DEST/
      index.json   # everything but the coordinates (see below)
      data.npy     # float32, shape (total_frames, M, V, C): all samples' frames, one after another

Sample ``i`` is ``data[offsets[i] : offsets[i] + lengths[i]]`` transposed to ``(M, T, V, C)``.
Persons beyond a sample's own count are zero. ``data.npy`` is opened with ``mmap_mode="r"``, so
an NTU-120-sized set (about 10 GB) need not fit in memory.

``index.json`` keys: ``format`` ("stf-skeleton-store"), ``version`` (schema, 1),
``converter_version``, ``name``, ``source_format``, ``source``, ``layout``, ``channels``,
``max_persons``, ``class_names``, ``ids``, ``labels`` (0-based, -1 = unknown), ``lengths``,
``offsets``, ``persons`` (persons present per sample), ``meta`` (per-sample dicts), ``splits``
(``{protocol: {part: [ids]}}``), ``skipped`` (``[{"where", "problem"}]``), ``created``.

Any converter that yields :class:`stf.sample.Sample` objects can write this format with
:func:`write_store`; that is all a user's own data needs (see ``docs/data_format.md``).
"""
from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import DataError, LayoutError
from ..layouts import get_layout
from ..sample import CHANNELS, Sample
from .splits import example_condition, is_expression, select

STORE_FORMAT = "stf-skeleton-store"
STORE_VERSION = 1
CONVERTER_VERSION = 1  # bump when any reader's output changes: cached conversions are keyed on it

_MAGIC = b"\x93NUMPY\x01\x00"
_HEADER_LEN = 128 - len(_MAGIC) - 2  # fixed header size so it can be rewritten in place


def _npy_header(shape: tuple[int, ...]) -> bytes:
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': %r, }" % (tuple(shape),)
    body = d.encode("latin1")
    if len(body) + 1 > _HEADER_LEN:
        raise ValueError("shape too long for the fixed npy header")
    body = body + b" " * (_HEADER_LEN - len(body) - 1) + b"\n"
    return _MAGIC + len(body).to_bytes(2, "little") + body


class _FrameWriter:
    """Append (T, M, V, C) float32 blocks to an .npy file without knowing the total up front."""

    def __init__(self, path: Path, m: int, v: int, c: int):
        self.path, self.m, self.v, self.c = path, m, v, c
        self.rows = 0
        self.f = open(path, "wb")
        self.f.write(_npy_header((0, m, v, c)))

    def append(self, block: np.ndarray) -> int:
        start = self.rows
        self.f.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
        self.rows += block.shape[0]
        return start

    def close(self) -> None:
        self.f.seek(0)
        self.f.write(_npy_header((self.rows, self.m, self.v, self.c)))
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


STORE_FILES = {"index.json", "data.npy"}


def _is_replaceable_store(path: Path) -> bool:
    """An empty directory, or one holding a store's files and nothing else (a broken store counts)."""
    if not path.is_dir() or path.is_symlink():
        return False
    names = {p.name for p in path.iterdir()}
    return not names or ("index.json" in names and names <= STORE_FILES)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return True  # cannot tell: keep its files
    return True


def sweep_interrupted(dest: str | Path) -> list[str]:
    """Tidy what a conversion to ``dest`` that was killed (SIGKILL, power loss) left beside it.

    Conversions write ``.NAME.tmp-PID-*`` and, when replacing, move the old store to ``.NAME.old-PID``
    first. For each such entry whose process is gone: a temporary directory is removed; an old store
    is removed when ``dest`` exists (the replacement had landed), and moved back to ``dest`` when it
    does not (the process died between the two renames: the old store is whole). Entries of running
    processes are left alone. Returns what was done, one line each.
    """
    dest = Path(dest)
    if not dest.parent.is_dir():
        return []
    pattern = re.compile(r"\.%s\.(tmp|old)-(\d+)(?:-.*)?$" % re.escape(dest.name))
    done = []
    for p in sorted(dest.parent.iterdir()):
        m = pattern.fullmatch(p.name)
        if not m or p.is_symlink() or not p.is_dir() or _pid_alive(int(m.group(2))):
            continue
        if m.group(1) == "old" and not dest.exists() and (p / "index.json").is_file():
            try:
                os.rename(p, dest)
                done.append(f"restored {dest} from {p.name} (a replacement was interrupted)")
                continue
            except OSError:
                pass
        shutil.rmtree(p, ignore_errors=True)
        done.append(f"removed {p.name} (left by an interrupted conversion)")
    return done


def write_store(dest: str | Path, samples: Iterable[Sample | DataError], *, name: str, source_format: str,
                source: str, layout: str, channels: str, class_names: list[str], max_persons: int,
                splits: dict[str, dict[str, list[str]]] | None = None, overwrite: bool = False,
                progress: Callable[[int], None] | None = None, notes: list[str] | None = None) -> "SkeletonStore":
    """Write a data set to ``dest`` atomically (temporary directory, then rename).

    ``samples`` may contain :class:`DataError` items: they are recorded under ``skipped`` and left
    out. Samples with more than ``max_persons`` persons keep the first ``max_persons``. Split lists
    are filtered to the ids actually written. ``notes``: what the reader left out on purpose (not errors;
    stored under ``notes`` and printed by ``data convert``). What a killed conversion to ``dest`` left
    beside it is tidied first (:func:`sweep_interrupted`). Returns the opened store.
    """
    dest = Path(dest)
    layout = get_layout(layout).name  # LayoutError for an unknown layout; aliases become the canonical name
    if channels not in CHANNELS:
        raise DataError(None, f"unknown channels {channels!r}; expected one of {sorted(CHANNELS)}")
    if max_persons < 1:
        raise DataError(None, f"max_persons must be >= 1, got {max_persons}")
    sweep_interrupted(dest)
    if dest.exists() and not overwrite:
        raise DataError(dest, "already exists (pass --force to replace it)")
    if dest.exists() and not _is_replaceable_store(dest):
        raise DataError(dest, "is not a converted data set (a directory of index.json + data.npy); "
                              "--force replaces only a store or an empty directory, so nothing was touched")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-{os.getpid()}-", dir=dest.parent))
    except OSError as e:
        raise DataError(dest, f"cannot create: {e.strerror or e}") from e
    writer = None
    try:
        v, c = get_layout(layout).num_joints, CHANNELS[channels]
        writer = _FrameWriter(tmp / "data.npy", max_persons, v, c)
        ids, labels, lengths, offsets, persons, metas, skipped = [], [], [], [], [], [], []
        seen: set[str] = set()
        n = 0
        for item in samples:
            n += 1
            if progress:
                progress(n)
            if isinstance(item, DataError):
                skipped.append({"where": item.where, "problem": item.problem})
                continue
            s = item
            try:
                s.validate()
            except DataError as e:
                skipped.append({"where": e.where, "problem": e.problem})
                continue
            if not s.sample_id:
                skipped.append({"where": s.where(), "problem": "no sample id"})
                continue
            if s.sample_id in seen:
                skipped.append({"where": s.where(), "problem": f"duplicate sample id {s.sample_id!r}"})
                continue
            if get_layout(s.layout).name != layout or s.channels != channels:
                skipped.append({"where": s.where(), "problem":
                                f"layout/channels {s.layout}/{s.channels}, store is {layout}/{channels}"})
                continue
            d = s.data
            if d.shape[0] > max_persons:  # keep the first max_persons persons who are present
                mask = np.asarray(s.person_mask, bool)
                d = d[np.concatenate([np.flatnonzero(mask), np.flatnonzero(~mask)])[:max_persons]]
            if d.shape[0] < max_persons:
                d = np.concatenate([d, np.zeros((max_persons - d.shape[0],) + d.shape[1:], np.float32)])
            offsets.append(writer.append(d.transpose(1, 0, 2, 3)))
            seen.add(s.sample_id)
            ids.append(s.sample_id)
            labels.append(-1 if s.label is None else int(s.label))
            lengths.append(int(d.shape[1]))
            persons.append(int(min(s.person_mask.sum(), max_persons)))
            metas.append({str(k): _plain(x) for k, x in s.meta.items()})
        writer.close()
        if not ids:
            shown = "".join(f"\n  {k['where']}: {k['problem']}" for k in skipped[:5])
            more = f"\n  ... and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            raise DataError(source, f"no valid sample to write ({len(skipped)} skipped){shown}{more}")
        kept = set(ids)
        index = {
            "format": STORE_FORMAT, "version": STORE_VERSION, "converter_version": CONVERTER_VERSION,
            "name": name, "source_format": source_format, "source": str(source), "layout": layout,
            "channels": channels, "max_persons": max_persons, "class_names": list(class_names),
            "ids": ids, "labels": labels, "lengths": lengths, "offsets": offsets, "persons": persons,
            "meta": metas,
            "splits": {p: {part: [i for i in lst if i in kept] for part, lst in parts.items()}
                       for p, parts in (splits or {}).items()},
            "skipped": skipped, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if notes:
            index["notes"] = list(notes)
        with open(tmp / "index.json", "w") as f:
            json.dump(index, f)
            f.flush()
            os.fsync(f.fileno())
        raced = DataError(dest, "already exists: another process wrote it while this one was converting "
                                "(pass --force to replace it)")
        if dest.exists() and not overwrite:  # another conversion to the same place finished first: keep it
            raise raced
        if dest.exists():  # overwrite: move the old one aside first, so a crash never leaves neither
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.rename(dest, old)
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(tmp, dest)
            except OSError:  # ENOTEMPTY / EEXIST: one appeared between the check and the rename
                if dest.exists():
                    raise raced from None
                raise
    except BaseException as e:
        if writer is not None:
            writer.f.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise DataError(dest, f"writing the store failed: {e.strerror or e}") from e
        raise
    return SkeletonStore(dest)


def _plain(x):
    """A meta value as a JSON-plain int / float / str / bool (numpy scalars unwrapped, others as str)."""
    if isinstance(x, np.generic):
        x = x.item()
    return x if isinstance(x, (int, str, float, bool)) else str(x)


def _check_index(index, where: Path) -> None:
    """Raise DataError(where, ...) unless ``index`` is a consistent store index (see the module doc)."""
    def bad(problem: str):
        return DataError(where, f"corrupt index: {problem}")

    if not isinstance(index, dict) or index.get("format") != STORE_FORMAT:
        raise DataError(where, f"not an {STORE_FORMAT} index")
    if index.get("version") != STORE_VERSION:
        raise DataError(where, f"store schema version {index.get('version')}, this code reads {STORE_VERSION}")
    keys = ("ids", "labels", "lengths", "offsets", "persons", "meta", "class_names", "layout", "channels",
            "max_persons", "splits", "converter_version", "name", "source_format", "source")
    missing = [k for k in keys if k not in index]
    if missing:
        raise bad(f"missing keys {missing}")
    ids = index["ids"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise bad("'ids' must be a non-empty list of strings")
    if len(set(ids)) != len(ids):
        raise bad("'ids' has duplicates")
    n = len(ids)
    for key in ("labels", "lengths", "offsets", "persons", "meta"):
        if not isinstance(index[key], list) or len(index[key]) != n:
            raise bad(f"{key!r} must be a list with one entry per id ({n})")
    for key in ("labels", "lengths", "offsets", "persons"):
        if not all(type(x) is int for x in index[key]):
            raise bad(f"{key!r} must hold integers")
    if not all(isinstance(m, dict) for m in index["meta"]):
        raise bad("'meta' must hold one dict per id")
    classes = index["class_names"]
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise bad("'class_names' must be a list of strings")
    if not all(-1 <= x < len(classes) for x in index["labels"]):
        raise bad(f"a label is outside -1..{len(classes) - 1}")
    if not all(x >= 1 for x in index["lengths"]) or not all(x >= 0 for x in index["offsets"]):
        raise bad("lengths must be >= 1 and offsets >= 0")
    try:
        get_layout(str(index["layout"]))
    except LayoutError as e:  # a layout of one's own, registered when the store was written but not now
        raise DataError(where, f"written with layout {index['layout']!r}, which this process does not know: {e}") from e
    if not isinstance(index["channels"], str) or index["channels"] not in CHANNELS:
        raise bad(f"unknown channels {index['channels']!r}")
    if type(index["max_persons"]) is not int or index["max_persons"] < 1:
        raise bad("'max_persons' must be a positive int")
    if not all(0 <= x <= index["max_persons"] for x in index["persons"]):
        raise bad(f"'persons' must be within 0..max_persons ({index['max_persons']})")
    splits, known = index["splits"], set(ids)
    if not isinstance(splits, dict) or not all(
            isinstance(parts, dict) and all(isinstance(lst, list) and all(isinstance(i, str) and i in known
                                                                          for i in lst)
                                            for lst in parts.values())
            for parts in splits.values()):
        raise bad("'splits' must be {protocol: {part: [ids of this store]}}")


def _check_array(data: np.ndarray, index: dict, where: Path) -> None:
    """Raise DataError(where, ...) unless ``data`` (total_frames, M, V, C) float32 fits ``index``."""
    want = (index["max_persons"], get_layout(index["layout"]).num_joints, CHANNELS[index["channels"]])
    if data.dtype != np.float32 or data.ndim != 4 or tuple(data.shape[1:]) != want:
        raise DataError(where, f"array is {data.dtype} {data.shape}; the index needs float32 (frames, *{want})")
    end = max(o + t for o, t in zip(index["offsets"], index["lengths"]))
    if end > data.shape[0]:
        raise DataError(where, f"holds {data.shape[0]} frames, index needs {end}")


class SkeletonStore:
    """A converted data set opened read-only (memory-mapped)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        idx_path = self.path / "index.json"
        if self.path.is_file():
            raise DataError(self.path, "is a file, not a converted data set (a directory of index.json + data.npy); "
                                       "to read a source file give FORMAT:PATH (e.g. pyskl:PATH), or convert it "
                                       "with `python -m stf data convert`")
        try:
            with open(idx_path, encoding="utf-8") as f:
                self.index = json.load(f)
        except FileNotFoundError as e:
            raise DataError(self.path, "not a converted data set (no index.json); "
                                       "convert it with `python -m stf data convert`") from e
        except (OSError, ValueError, RecursionError) as e:  # ValueError covers JSON and UTF-8 decoding
            raise DataError(idx_path, f"unreadable index: {e}") from e
        _check_index(self.index, idx_path)
        arr = self.path / "data.npy"
        try:
            with open(arr, "rb") as f:
                magic = f.read(6)
            if magic != b"\x93NUMPY":  # numpy would read anything else as a pickle and suggest allow_pickle
                raise DataError(arr, "empty file" if not magic else "not a .npy array (no NumPy header)")
            self.data = np.load(arr, mmap_mode="r")
        except DataError:
            raise
        except (OSError, ValueError, EOFError) as e:
            cut = "mmap length is greater than file size" in str(e)  # the header promises more rows than follow
            raise DataError(arr, "truncated: the file is shorter than its header says"
                            if cut else f"unreadable array: {e}") from e
        _check_array(self.data, self.index, arr)
        self._pos = {sid: i for i, sid in enumerate(self.ids)}
        self.labels = np.asarray(self.index["labels"], dtype=np.int64)
        self.lengths = np.asarray(self.index["lengths"], dtype=np.int64)

    # -- descriptive ---------------------------------------------------------------------------
    ids = property(lambda self: self.index["ids"])
    class_names = property(lambda self: self.index["class_names"])
    layout = property(lambda self: self.index["layout"])
    channels = property(lambda self: self.index["channels"])
    max_persons = property(lambda self: int(self.index["max_persons"]))
    splits = property(lambda self: self.index["splits"])
    name = property(lambda self: self.index["name"])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, sample_id: str) -> int:
        """The store position of ``sample_id``; an unknown id is a DataError naming ids close to it."""
        try:
            return self._pos[sample_id]
        except KeyError:
            close = difflib.get_close_matches(str(sample_id), self.ids, n=3, cutoff=0.6)
            hint = (f"close ids: {', '.join(close)}" if close else
                    f"its {len(self)} ids are like {', '.join(self.ids[:3])}")
            raise DataError(self.path, f"no sample with id {sample_id!r}; {hint}") from None

    def get(self, i: int) -> Sample:
        """Sample ``i`` (0 <= i < len) as a :class:`Sample` with data copied out of the memory map.

        The sample is validated on the way out: a store edited after conversion (NaN / inf values, a sample
        whose persons are all zero) gives a DataError naming the store and the sample id, never silent
        NaN logits in an evaluation.
        """
        o, t = self.index["offsets"][i], self.index["lengths"][i]
        d = np.array(self.data[o:o + t], dtype=np.float32).transpose(1, 0, 2, 3)
        lab = int(self.labels[i])
        return Sample(data=np.ascontiguousarray(d), layout=self.layout, channels=self.channels,
                      label=None if lab < 0 else lab, sample_id=self.ids[i], meta=dict(self.index["meta"][i]),
                      source=f"{self.path}#{self.ids[i]}").validate()

    __getitem__ = get

    def split_names(self) -> list[str]:
        """All ``protocol/part`` names, e.g. ``["xview/train", "xview/test", ...]``."""
        return [f"{p}/{part}" for p, parts in self.splits.items() for part in parts]

    def split_indices(self, split: str | None, allow_empty: bool = False) -> np.ndarray:
        """Positions of the samples of ``protocol/part`` (None or "all" -> every sample), in the split's order.

        ``split`` may also be an expression over the samples' meta, e.g. ``"setup<=17 & action<=60"``
        (see :mod:`stf.data.splits`; positions then come sorted).
        A split that exists but holds no sample (e.g. every sample of it was skipped at conversion) is
        a DataError unless ``allow_empty``: training, evaluating or studying nothing is never meant.
        """
        if split is None:
            return np.arange(len(self))
        if not isinstance(split, str):
            raise DataError(self.path, f"a split is a string such as 'xview/test' or 'view=1|2', got {split!r}")
        split = split.strip()
        if split in ("", "all"):
            return np.arange(len(self))
        if is_expression(split):
            return select(self, split, allow_empty=allow_empty)
        proto, _, part = split.partition("/")
        if proto not in self.splits or part not in self.splits[proto]:
            raise DataError(self.path, f"no split {split!r}; available: {', '.join(self.split_names()) or 'none'}"
                                       f"; or a condition on the samples' meta such as {example_condition(self)!r} "
                                       "(see stf.data.splits)")
        if not self.splits[proto][part] and not allow_empty:
            raise DataError(self.path, f"split {split!r} holds no samples (see 'skipped' in data info)")
        return np.asarray([self._pos[i] for i in self.splits[proto][part]], dtype=np.int64)

    def info(self, split: str | None = None) -> dict:
        """A summary for ``python -m stf data info``; with ``split``, samples, frames and classes count only
        that split's samples (``"split"`` names it), so a split expression can be checked before training."""
        pos = self.split_indices(split)
        labels, lengths = self.labels[pos], self.lengths[pos]
        counts = np.bincount(labels[labels >= 0], minlength=self.num_classes)
        return {
            "path": str(self.path), "name": self.name, "source_format": self.index["source_format"],
            "source": self.index["source"], "layout": self.layout, "channels": self.channels,
            "max_persons": self.max_persons, **({"split": split} if split else {}),
            "samples": len(pos), "classes": self.num_classes,
            "frames": {"total": int(lengths.sum()), "min": int(lengths.min()),
                       "median": float(np.median(lengths)), "max": int(lengths.max())},
            "per_class": {name: int(c) for name, c in zip(self.class_names, counts)},
            "splits": {f"{p}/{part}": len(ids) for p, parts in self.splits.items() for part, ids in parts.items()},
            "skipped": len(self.index.get("skipped", [])),
            **({"notes": self.index["notes"]} if self.index.get("notes") else {}),
            "converter_version": self.index["converter_version"], "created": self.index.get("created"),
        }

