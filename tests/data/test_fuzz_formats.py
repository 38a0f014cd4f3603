"""The fuzz contract (tests/data/fuzz_util.py) for the npy, kinetics and pyskl readers.

Mutations of real files: whole-file mutations, plus mutations confined to the structural bytes
(the .npy header, the pickle outside the arrays' raw buffers), which whole-file mutations of a
mostly-numeric file seldom hit. Every real file truncated at 20 cut points must raise DataError,
and an .npy header declaring any other shape than the bytes present must be refused before mapping.
"""
from __future__ import annotations

import io
import math
import pickletools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib import format as npformat

from stf.data import kinetics, npy, pyskl
from stf.errors import DataError
from tests.conftest import need_data
from tests.data.fuzz_util import FUZZ_SETTINGS, check_contract, cut_points, mutated

PADDLE = "paddlevideo-skeleton-samples"
KIN = "kinetics-skeleton-format"
NTU_NPY = (PADDLE, "example_NTU-RGB-D_sketeton.npy")
UCF_PKL = (PADDLE, "example_UCF101_skeleton.pkl")
# the 58 KB NTU clip (2-4 people a frame) keeps 500 JSON examples fast; the 362 KB Kinetics file is
# covered by the truncation test
HUG_JSON = (KIN, "ntu_rgb_openpose_kinetics_format", "kinetics_train", "S004C002P003R001A055_rgb.json")


def _read_npy(p: Path):
    return npy.read_file(p, layout="ntu25")


def _read_npy_2d(p: Path):
    return npy.read_file(p, layout="ntu25", channels="xy+score")  # FSD-10: BODY_25 x, y, score


READERS = {"npy": _read_npy, "npy_2d": _read_npy_2d, "kinetics": kinetics.read_file, "pyskl": pyskl.read_file}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _check_bytes(read, raw: bytes, path: Path) -> None:
    path.write_bytes(raw)
    check_contract(read, path)


def _splice(raw: bytes, regions: list[tuple[int, int]]):
    """Mutations of ``raw`` confined to one of ``regions`` ([start, end) byte ranges)."""
    return st.sampled_from(regions).flatmap(
        lambda r: mutated(raw[r[0]:r[1]]).map(lambda m: raw[:r[0]] + m + raw[r[1]:]))


def _pickle_structure(raw: bytes) -> list[tuple[int, int]]:
    """The byte ranges of a pickle outside its long raw byte payloads (array buffers)."""
    ops = list(pickletools.genops(raw))
    regions, start = [], 0
    for (op, arg, pos), (_, _, nxt) in zip(ops, ops[1:]):
        if isinstance(arg, bytes) and len(arg) > 256:
            regions.append((start, nxt - len(arg)))
            start = nxt
    regions.append((start, len(raw)))
    return [r for r in regions if r[1] > r[0]]


def _npy_structure(raw: bytes) -> list[tuple[int, int]]:
    f = io.BytesIO(raw)
    npformat.read_magic(f)
    npformat.read_array_header_1_0(f)
    return [(0, f.tell())]


@pytest.mark.parametrize("fmt, parts", [("npy", NTU_NPY), ("kinetics", HUG_JSON), ("pyskl", UCF_PKL)])
def test_whole_file_mutations(fmt, parts, scratch):
    raw = need_data(*parts).read_bytes()
    read, path = READERS[fmt], scratch / f"whole{Path(parts[-1]).suffix}"

    @FUZZ_SETTINGS
    @given(mutated(raw))
    def run(data):
        _check_bytes(read, data, path)

    run()


@pytest.mark.parametrize("fmt, parts, regions", [("npy", NTU_NPY, _npy_structure),
                                                 ("pyskl", UCF_PKL, _pickle_structure)])
def test_structure_mutations(fmt, parts, regions, scratch):
    raw = need_data(*parts).read_bytes()
    spans = regions(raw)
    assert sum(b - a for a, b in spans) < len(raw) // 4  # the bulk (array data) is left alone
    read, path = READERS[fmt], scratch / f"structure{Path(parts[-1]).suffix}"

    @FUZZ_SETTINGS
    @given(_splice(raw, spans))
    def run(data):
        _check_bytes(read, data, path)

    run()


@pytest.mark.parametrize("fmt, parts", [
    ("npy", NTU_NPY), ("npy_2d", (PADDLE, "fsd10_example_skeleton.npy")),
    ("kinetics", (KIN, "kinetics400_sample", "--33Lscn6sk.json")), ("kinetics", HUG_JSON),
    ("kinetics", (KIN, "ntu_rgb_openpose_kinetics_format", "kinetics_train", "S004C003P003R001A007_rgb.json")),
    ("pyskl", UCF_PKL),
])
def test_truncated_real_files_raise(fmt, parts, scratch):
    raw = need_data(*parts).read_bytes()
    read, path = READERS[fmt], scratch / f"cut{Path(parts[-1]).suffix}"
    read(need_data(*parts))  # the whole file reads (FSD-10 as 25 generic 2-D joints)
    cuts = cut_points(len(raw))
    assert len(cuts) == 20
    for cut in cuts:
        path.write_bytes(raw[:cut])
        with pytest.raises(DataError) as ei:
            read(path)
        ctx = ei.value.__cause__ or ei.value.__context__
        assert ctx is None or ei.value.__cause__ is not None


@st.composite
def _declared_shape(draw):
    dims = draw(st.lists(st.integers(0, 10 ** 12), min_size=4, max_size=5))
    return tuple(dims), draw(st.sampled_from(["<f4", "<f8", "<f2", "<i8", ">f4"]))


def test_npy_declared_shape_checked_before_mapping(scratch):
    raw = need_data(*NTU_NPY).read_bytes()
    body = raw[_npy_structure(raw)[0][1]:]
    path = scratch / "declared.npy"

    @FUZZ_SETTINGS
    @given(_declared_shape())
    def run(decl):
        shape, descr = decl
        head = io.BytesIO()
        npformat.write_array_header_1_0(head, {"descr": descr, "fortran_order": False, "shape": shape})
        path.write_bytes(head.getvalue() + body)
        fits = math.prod(shape) * int(descr[-1]) == len(body) and len(head.getvalue()) == len(raw) - len(body)
        if fits:
            check_contract(_read_npy, path)
        else:
            with pytest.raises(DataError):
                _read_npy(path)

    run()
