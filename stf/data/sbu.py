"""SBU Kinect Interaction (two-person interactions, Kinect v1, 15 joints per person).

Tree: ``sAAsBB/CC/RRR/skeleton_pos.txt`` = subject pair / class ``01..08`` / repetition.
Each ``skeleton_pos.txt`` is CSV, one line per frame, 91 columns: ``frame_id`` then person 1
(15 joints x x, y, z) then person 2 (same). Frame ids are integers, strictly increasing.

Coordinates are kept **as stored**: normalised x, y (about [0, 1]) and a scaled depth z. The
decoding to Kinect units is given only by the SBU README, which the data folder does not include
(see its SOURCE.md), so no decoding is applied.

Output: layout ``sbu15``, channels ``"xyz"``, M = 2 (person 1, person 2), label = class - 1,
sample id ``s01s02_01_001``, meta ``{pair, subject_a, subject_b, action, repetition, fold}``
(``action`` is the 1-based class number of the folder; ``fold`` is 1..5, absent for a pair that
belongs to no fold). Splits ``fold1`` .. ``fold5``: the data set authors' five subject-pair folds,
each ``{"train": the other folds' ids, "test": this fold's ids}``.

A UTF-8 byte order mark before the first line is ignored. Truncation: every line, the last
included, must end with a line break, so a file cut anywhere inside a line is refused (the cut
line has fewer than 91 columns, or no line break). A file cut exactly at a line boundary cannot
be told apart from a shorter sequence and is read as one.
"""
from __future__ import annotations

import re
import reprlib
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError
from ..sample import Sample
from .base import DatasetSource, read_text

CLASS_NAMES = [
    "approaching", "departing", "kicking", "punching", "pushing", "hugging", "shaking hands", "exchanging",
]
NUM_JOINTS = 15
NUM_PERSONS = 2
NUM_COLUMNS = 1 + NUM_PERSONS * NUM_JOINTS * 3  # 91
_QUOTE = reprlib.Repr()  # a field quoted in an error (a damaged line may hold thousands of digits)
_QUOTE.maxstring = 40
FILE_NAME = "skeleton_pos.txt"

# The data set authors' five-fold cross-validation over subject pairs (reference/splits.md).
FOLDS = {
    1: ("s01s02", "s03s04", "s05s02", "s06s04"),
    2: ("s02s03", "s02s07", "s03s05", "s05s03"),
    3: ("s01s03", "s01s07", "s07s01", "s07s03"),
    4: ("s02s01", "s02s06", "s03s02", "s03s06"),
    5: ("s04s02", "s04s03", "s04s06", "s06s02", "s06s03"),
}
FOLD_OF_PAIR = {pair: k for k, pairs in FOLDS.items() for pair in pairs}

PAIR_RE = re.compile(r"^s(\d{2})s(\d{2})$")
CLASS_RE = re.compile(r"^(\d{2})$")
REP_RE = re.compile(r"^(\d{3})$")


def parse_parts(pair: str, cls: str, rep: str) -> dict:
    """``("s01s02", "03", "001")`` -> meta dict; {} when the parts are not an SBU pair / class / repetition."""
    m_pair, m_cls, m_rep = PAIR_RE.match(pair), CLASS_RE.match(cls), REP_RE.match(rep)
    if not (m_pair and m_cls and m_rep):
        return {}
    action = int(m_cls.group(1))
    if not 1 <= action <= len(CLASS_NAMES):
        return {}
    meta = {"pair": pair, "subject_a": int(m_pair.group(1)), "subject_b": int(m_pair.group(2)),
            "action": action, "repetition": int(m_rep.group(1))}
    if pair in FOLD_OF_PAIR:
        meta["fold"] = FOLD_OF_PAIR[pair]
    return meta


def parse_path(path: str | Path) -> dict:
    """Meta of ``.../sAAsBB/CC/RRR/skeleton_pos.txt`` from its last three folders; {} if they do not match."""
    parts = Path(path).parts
    if len(parts) < 4:
        return {}
    return parse_parts(*parts[-4:-1])


def sample_id_of(meta: dict) -> str:
    return f"{meta['pair']}_{meta['action']:02d}_{meta['repetition']:03d}"


def parse_text(text: str, where: str | Path) -> np.ndarray:
    """SBU CSV text -> float32 array (2, T, 15, 3); DataError(where, ...) for any malformed line."""
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark, as Windows editors and Excel save CSV
    if not text:
        raise DataError(where, "empty file (no frames)")
    lines = text.split("\n")
    terminated = lines[-1] == ""
    if terminated:
        lines.pop()
        while lines and not lines[-1].strip():  # blank lines after the last frame (an editor's extra newline)
            lines.pop()
        if not lines:
            raise DataError(where, "no frames (only blank lines)")
    rows = np.empty((len(lines), NUM_COLUMNS - 1), dtype=np.float64)
    prev_frame = None
    for n, line in enumerate(lines):
        cols = line.removesuffix("\r").split(",")
        if len(cols) != NUM_COLUMNS:
            raise DataError(where, f"line {n + 1} has {len(cols)} columns, expected {NUM_COLUMNS} "
                                   "(frame id + 2 persons x 15 joints x 3)")
        if "_" in line:  # Python's int() / float() read "0_2" as 2; no writer of this format does
            raise DataError(where, f"line {n + 1}: not a number: {_QUOTE.repr(next(c for c in cols if '_' in c))}")
        try:
            frame = int(cols[0]) if len(cols[0].strip()) <= 18 else None  # (no video has 10**18 frames)
        except ValueError:
            frame = None
        if frame is None:
            raise DataError(where, f"line {n + 1}: frame id {_QUOTE.repr(cols[0])} is not an integer of at most "
                                   "18 digits")
        if prev_frame is not None and frame <= prev_frame:
            raise DataError(where, f"line {n + 1}: frame id {frame} does not follow {prev_frame}")
        prev_frame = frame
        try:
            rows[n] = [float(c) for c in cols[1:]]
        except ValueError as e:
            raise DataError(where, f"line {n + 1}: not a number ({str(e)[:120]})") from e
    if not terminated:  # a cut inside the last number leaves 91 columns: only the missing break shows it
        raise DataError(where, f"line {len(lines)} has no line break: the file looks truncated")
    if not np.isfinite(rows).all():
        r, c = np.argwhere(~np.isfinite(rows))[0]
        raise DataError(where, f"line {r + 1}, column {c + 2}: non-finite value (NaN or inf)")
    if np.abs(rows).max() > np.finfo(np.float32).max:
        raise DataError(where, "a value is too large for float32")
    # (T, 90) -> (T, M, V, C) -> (M, T, V, C)
    return rows.reshape(len(lines), NUM_PERSONS, NUM_JOINTS, 3).transpose(1, 0, 2, 3).astype(np.float32)


def read_file(path: str | Path) -> Sample:
    """One ``skeleton_pos.txt`` -> Sample of data (2, T, 15, 3), layout sbu15, channels xyz.

    When the path ends in ``sAAsBB/CC/RRR/skeleton_pos.txt`` the id, label and meta come from it;
    otherwise the sample has no label, empty meta and the file's stem as id.
    """
    p = Path(path)
    data = parse_text(read_text(p), p)
    meta = parse_path(p)
    if meta:
        sample_id, label = sample_id_of(meta), meta["action"] - 1
    else:
        sample_id, label = p.stem, None
    s = Sample(data=data, layout="sbu15", channels="xyz", label=label, sample_id=sample_id, meta=meta,
               source=str(p))
    return s.validate()


def read_dataset(path: str | Path) -> DatasetSource:
    """The SBU tree rooted at ``path`` (the folder holding the ``sAAsBB`` pair folders)."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(root, "not a directory of SBU subject-pair folders (sAAsBB/CC/RRR/skeleton_pos.txt)")
    files = sorted(root.glob(f"s*s*/*/*/{FILE_NAME}"))
    if not files:
        raise DataError(root, f"no sAAsBB/CC/RRR/{FILE_NAME} files found")
    metas = {f: parse_path(f) for f in files}
    ids = [sample_id_of(m) for m in metas.values() if m]
    fold_of_id = {sample_id_of(m): m.get("fold") for m in metas.values() if m}
    splits = {
        f"fold{k}": {"train": [i for i in ids if fold_of_id[i] not in (None, k)],
                     "test": [i for i in ids if fold_of_id[i] == k]}
        for k in FOLDS
    }

    def samples() -> Iterator[Sample | DataError]:
        for f in files:
            if not metas[f]:
                yield DataError(f, "path is not sAAsBB/CC/RRR/skeleton_pos.txt with class 01..08")
                continue
            try:
                yield read_file(f)
            except DataError as e:
                yield e

    return DatasetSource(name="sbu-kinect-interaction", source_format="sbu", layout="sbu15", channels="xyz",
                         class_names=list(CLASS_NAMES), samples=samples, splits=splits,
                         num_samples=len(files), extra={"max_persons": NUM_PERSONS})
