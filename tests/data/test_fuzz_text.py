"""The shared fuzz contract (tests/data/fuzz_util.py) for the text readers: NW-UCLA JSON and SBU CSV.

Mutations of real files either read into samples that validate or raise DataError (chained to the
low-level cause); a file truncated at any of 20 cut points inside it raises.
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stf.data import sbu, ucla
from stf.errors import DataError
from tests.conftest import need_data
from tests.data.fuzz_util import FUZZ_SETTINGS, check_contract, cut_points, mutated

UCLA_FILES = ["a02_s09_e04_v02.json", "a03_s09_e01_v01.json", "a01_s01_e00_v01.json"]  # 1 frame, short, typical
SBU_FILES = [("s04s02", "02", "001"), ("s01s02", "01", "001")]  # the smallest file, a typical one


@pytest.fixture(scope="module")
def ucla_originals():
    root = need_data("nw-ucla", "all_sqe")
    return [(root / name).read_bytes() for name in UCLA_FILES]


@pytest.fixture(scope="module")
def sbu_originals():
    root = need_data("sbu-kinect-interaction")
    return [root.joinpath(*parts, "skeleton_pos.txt").read_bytes() for parts in SBU_FILES]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def test_originals_read(ucla_originals, sbu_originals, workdir):
    # the fuzz below starts from files that are valid as they are
    for k, raw in enumerate(ucla_originals):
        (workdir / UCLA_FILES[k]).write_bytes(raw)
        ucla.read_file(workdir / UCLA_FILES[k]).validate()
    for raw in sbu_originals:
        (workdir / "skeleton_pos.txt").write_bytes(raw)
        assert sbu.read_file(workdir / "skeleton_pos.txt").num_frames == raw.count(b"\n")


@FUZZ_SETTINGS
@given(data=st.data())
def test_ucla_fuzz_contract(ucla_originals, workdir, data):
    k = data.draw(st.integers(0, len(UCLA_FILES) - 1))
    path = workdir / UCLA_FILES[k]
    path.write_bytes(data.draw(mutated(ucla_originals[k])))
    check_contract(ucla.read_file, path)


@FUZZ_SETTINGS
@given(data=st.data())
def test_sbu_fuzz_contract(sbu_originals, workdir, data):
    raw = sbu_originals[data.draw(st.integers(0, len(sbu_originals) - 1))]
    path = workdir / "fuzz_skeleton_pos.txt"
    path.write_bytes(data.draw(mutated(raw)))
    check_contract(sbu.read_file, path)


def test_ucla_truncation_raises(ucla_originals, workdir):
    raw = ucla_originals[2]
    cuts = cut_points(len(raw))
    assert len(cuts) == 20
    for cut in cuts:
        path = workdir / "cut.json"
        path.write_bytes(raw[:cut])
        with pytest.raises(DataError, match="invalid JSON"):
            ucla.read_file(path)


def off_line_boundary(raw: bytes, cut: int) -> int:
    """Move a cut that falls right after a line break one byte into the next line."""
    return cut + 1 if raw[cut - 1:cut] == b"\n" else cut


def test_sbu_truncation_inside_a_line_raises(sbu_originals, workdir):
    raw = sbu_originals[1]
    cuts = sorted({off_line_boundary(raw, c) for c in cut_points(len(raw))})
    assert len(cuts) == 20 and all(raw[c - 1:c] != b"\n" and c < len(raw) for c in cuts)
    # a cut just after a line's last digit (its line break lost) must raise too
    last_digit = raw.index(b"\r\n", len(raw) // 2)
    for cut in cuts + [last_digit, last_digit + 1]:
        path = workdir / "cut_skeleton_pos.txt"
        path.write_bytes(raw[:cut])
        with pytest.raises(DataError) as ei:
            sbu.read_file(path)
        assert "columns, expected 91" in ei.value.problem or "has no line break" in ei.value.problem, cut


def test_sbu_cut_at_a_line_boundary_reads_as_a_shorter_sequence(sbu_originals, workdir):
    # documented limitation: the format has no frame count, so this cut cannot be detected
    raw = sbu_originals[1]
    ten_lines = b"".join(raw.splitlines(keepends=True)[:10])
    path = workdir / "ten_skeleton_pos.txt"
    path.write_bytes(ten_lines)
    short = sbu.read_file(path)
    (workdir / "full_skeleton_pos.txt").write_bytes(raw)
    full = sbu.read_file(workdir / "full_skeleton_pos.txt")
    assert short.num_frames == 10 and (short.data == full.data[:, :10]).all()
