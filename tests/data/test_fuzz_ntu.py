"""The fuzz contract (tests/data/fuzz_util.py) for the NTU ``.skeleton`` reader.

Whole-file mutations of the real files, plus mutations confined to the structural lines (frame
count, body counts, body lines, joint counts), which whole-file mutations of a mostly-numeric file
seldom hit. Every real file truncated at 20 cut points must raise DataError, and sizes declared in
the header must be checked against the file before anything is sized by them.
"""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stf.data import ntu
from stf.errors import DataError
from tests.conftest import need_data
from tests.data.fuzz_util import FUZZ_SETTINGS, check_contract, cut_points, mutated

SKEL = ("ntu-raw-skeleton-samples", "nturgb+d_skeletons")
# small files keep 500 examples quick: one body (71 frames) and two bodies (42 frames)
SMALL = ("S003C001P015R001A034", "S017C003P020R002A054")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-ntu")


@pytest.fixture(scope="module")
def small() -> list[bytes]:
    return [need_data(*SKEL, f"{name}.skeleton").read_bytes() for name in SMALL]


def _structural_lines(raw: bytes) -> list[tuple[int, int]]:
    """(start, end) byte ranges of the frame-count, body-count, body and joint-count lines of a real file."""
    lines = raw.split(b"\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    picked, at = [0], 1
    for _ in range(int(lines[0])):
        picked.append(at)
        count = int(lines[at])
        at += 1
        for _ in range(count):
            if at >= len(lines):
                raise IndexError("past the end")
            picked += [at, at + 1]
            at += 27
    return [(offsets[i], offsets[i] + len(lines[i])) for i in picked]


def _check(raw: bytes, path: Path) -> None:
    path.write_bytes(raw)
    check_contract(ntu.read_file, path)


@FUZZ_SETTINGS
@given(data=st.data())
def test_mutations_of_real_files(small, scratch, data):
    original = small[data.draw(st.integers(0, len(small) - 1))]
    _check(data.draw(mutated(original)), scratch / "S001C001P001R001A001.skeleton")


STRUCTURAL_TEXT = st.one_of(
    st.integers(-3, 30).map(lambda n: str(n).encode()),
    st.sampled_from([b"", b"1000000000", b"99999999999999999999", b"2.5", b"1e3", b"-0", b"25 25", b"0x19",
                     b"72057594037932185", b"7.2e16 0 1", b"nan"]),
    st.binary(max_size=12),
)


@FUZZ_SETTINGS
@given(data=st.data())
def test_mutations_of_structural_lines(small, scratch, data):
    raw = small[data.draw(st.integers(0, len(small) - 1))]
    spans = _structural_lines(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        start, end = spans[data.draw(st.integers(0, len(spans) - 1))]
        if data.draw(st.booleans()):  # replace the whole line
            raw = raw[:start] + data.draw(STRUCTURAL_TEXT) + raw[end:]
        else:  # replace its first field (the body id on body lines)
            first = raw.find(b" ", start, end)
            raw = raw[:start] + data.draw(STRUCTURAL_TEXT) + raw[first if first >= 0 else end:]
        try:
            spans = _structural_lines(raw)
        except (ValueError, IndexError):
            pass  # the structure is broken: keep mutating at the old offsets
    _check(raw, scratch / "S001C001P001R001A001.skeleton")


def test_every_real_file_truncated_anywhere_raises(scratch):
    files = sorted(need_data(*SKEL).glob("*.skeleton"))
    assert len(files) == 12
    path = scratch / "cut.skeleton"
    for f in files:
        raw = f.read_bytes()
        for cut in cut_points(len(raw)):
            path.write_bytes(raw[:cut])
            with pytest.raises(DataError):
                ntu.read_file(path)


@pytest.mark.parametrize("what,edit", [
    ("frames", lambda raw: b"1000000000" + raw[raw.index(b"\n"):]),
    ("frames", lambda raw: b"999999999999999999999999" + raw[raw.index(b"\n"):]),
    ("bodies", lambda raw: raw.replace(b"\n2\n", b"\n1000000000\n", 1)),
    ("joints", lambda raw: raw.replace(b"\n25\n", b"\n1000000000\n", 1)),
])
def test_declared_sizes_are_checked_before_allocating(scratch, what, edit):
    raw = need_data(*SKEL, f"{SMALL[1]}.skeleton").read_bytes()
    path = scratch / "big.skeleton"
    path.write_bytes(edit(raw))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="1000000000|999999999999999999999999"):
            ntu.read_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(raw), f"{what}: {peak} bytes allocated for a {len(raw)}-byte file"
