"""npy reader on the real PaddleVideo arrays: shapes, trimming, layouts, labels, header checks."""
from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from numpy.lib import format as npformat

from stf.data import kinetics, npy
from stf.data.resolve import convert
from stf.errors import DataError
from tests.conftest import need_data

STEM = "example_NTU-RGB-D_sketeton"


@pytest.fixture
def ntu():
    return need_data("paddlevideo-skeleton-samples", f"{STEM}.npy")


@pytest.fixture
def fsd10():
    return need_data("paddlevideo-skeleton-samples", "fsd10_example_skeleton.npy")


def _link(tmp_path, src, name=None):
    """A symlink to a real file inside tmp_path (the data is never copied)."""
    dst = tmp_path / (name or src.name)
    dst.symlink_to(src)
    return dst


def test_real_ntu_sample(ntu):
    raw = np.load(ntu)
    assert raw.shape == (3, 300, 25, 2)
    (s,) = npy.read_file(ntu, layout="ntu25")
    assert s.sample_id == STEM and s.layout == "ntu25" and s.channels == "xyz" and s.label is None
    assert s.data.shape == (2, 72, 25, 3)  # 72 non-zero frames; the 228 padding frames are trimmed
    assert s.frame_mask.all() and s.person_mask.tolist() == [True, False]
    np.testing.assert_array_equal(s.data, raw[:, :72].transpose(3, 1, 2, 0))
    assert not raw[:, 72:].any()


def test_layout_is_required_and_checked(ntu, fsd10):
    with pytest.raises(DataError, match=r"layout=ntu25"):
        npy.read_file(ntu)
    with pytest.raises(DataError) as ei:
        npy.read_file(fsd10, layout="body25")
    msg = str(ei.value)
    assert "BODY_25" in msg and "not supported" in msg and "ntu25" in msg and str(fsd10) in msg
    assert ei.value.__cause__ is not None
    with pytest.raises(DataError, match=r"25 joints .* layout kinect20 has 20; layouts with 25 joints: ntu25"):
        npy.read_file(ntu, layout="kinect20")
    with pytest.raises(DataError, match="unknown skeleton layout 'nosuch'"):
        npy.read_file(ntu, layout="nosuch")


def test_fsd10_trims_padding_to_its_117_frames(fsd10):
    # BODY_25 is unsupported; read as 25 generic 2-D joints only to check the trimming on a float64 file
    (s,) = npy.read_file(fsd10, layout="ntu25", channels="xy+score")
    assert s.data.shape == (1, 117, 25, 3) and s.data.dtype == np.float32 and s.channels == "xy+score"


def test_a_score_channel_is_not_read_as_depth_unless_asked(fsd10, ntu, tmp_path):
    """FSD-10 is 2-D BODY_25 (x, y, score in [0.05, 0.99]): with a 3-D layout and no channels= its score
    would become depth; the real NTU sample's depth (2.7-3.4 m) reads as xyz."""
    with pytest.raises(DataError, match=r"third channel looks like a detector score, not depth \(in \[0.05, 0.99\]"
                                        r".*--opt channels=xy\+score") as ei:
        npy.read_file(fsd10, layout="ntu25")
    assert str(fsd10) in str(ei.value)
    (s,) = npy.read_file(fsd10, layout="ntu25", channels="xyz")
    assert s.channels == "xyz"
    assert npy.read_file(ntu, layout="ntu25")[0].channels == "xyz"
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "a.npy", np.load(fsd10))
    with pytest.raises(DataError, match="looks like a detector score"):
        npy.read_dataset(tmp_path / "d", layout="ntu25")
    assert npy.read_dataset(tmp_path / "d", layout="ntu25", channels="xy+score").channels == "xy+score"


def test_interior_zero_frames_stay_masked(ntu, tmp_path):
    a = np.load(ntu)
    a[:, 10] = 0
    np.save(tmp_path / "gap.npy", a)
    (s,) = npy.read_file(tmp_path / "gap.npy", layout="ntu25")
    assert s.num_frames == 72 and s.num_valid_frames == 71 and not s.frame_mask[10]


def test_channels_default_to_score_for_2d_layouts(tmp_path):
    """A real Kinetics sample written as (C, T, V, M) reads back as openpose18 x, y, score."""
    k = kinetics.read_file(need_data("kinetics-skeleton-format", "kinetics400_sample", "--33Lscn6sk.json"))
    np.save(tmp_path / "kin.npy", k.to_ctvm())
    (s,) = npy.read_file(tmp_path / "kin.npy", layout="openpose18")
    assert s.channels == "xy+score"
    last = int(np.flatnonzero(k.frame_mask)[-1]) + 1
    np.testing.assert_array_equal(s.data, k.data[:, :last])
    np.save(tmp_path / "kin_xy.npy", k.to_ctvm()[:2])
    assert npy.read_file(tmp_path / "kin_xy.npy", layout="openpose18")[0].channels == "xy"
    with pytest.raises(DataError, match="3 channels, but 'xy' means 2"):
        npy.read_file(tmp_path / "kin.npy", layout="openpose18", channels="xy")


def test_stacked_array_ids_and_positional_labels(ntu, tmp_path):
    a = np.load(ntu)
    shifted = np.zeros_like(a)
    shifted[:, 5:77] = a[:, :72]
    np.save(tmp_path / "stack.npy", np.stack([a, shifted]))
    out = npy.read_file(tmp_path / "stack.npy", layout="ntu25")
    assert [s.sample_id for s in out] == ["stack_0", "stack_1"]
    assert [s.num_frames for s in out] == [72, 77] and out[1].frame_mask[:5].sum() == 0
    with open(tmp_path / "labels.pkl", "wb") as f:  # ST-GCN's label pickle: (sample_name, labels)
        pickle.dump((["S001C001P001R001A005.skeleton", "S001C001P001R001A006.skeleton"], [4, np.int64(5)]), f,
                    protocol=2)
    out = npy.read_file(tmp_path / "stack.npy", layout="ntu25", labels=tmp_path / "labels.pkl")
    assert [(s.sample_id, s.label) for s in out] == [("S001C001P001R001A005", 4), ("S001C001P001R001A006", 5)]
    (tmp_path / "one.csv").write_text("x,1\n")
    with pytest.raises(DataError, match="2 stacked samples but the label file .* lists 1"):
        npy.read_file(tmp_path / "stack.npy", layout="ntu25", labels=tmp_path / "one.csv")


@pytest.mark.parametrize("text", [f"id,label\n{STEM},4\n", f"other,1\n\n{STEM}.npy , 4\n"])
def test_csv_labels(ntu, tmp_path, text):
    (tmp_path / "labels.csv").write_text(text)
    (s,) = npy.read_file(ntu, layout="ntu25", labels=str(tmp_path / "labels.csv"))
    assert s.label == 4


@pytest.mark.parametrize("text, problem", [
    ("id,label\nother,1\n", "not listed in the label file"),
    (f"{STEM},four\n", "no 'id,label' rows"),  # a first row whose label is not a number is a header
    (f"a,1\n{STEM},x\n", "line 2: label 'x' is not an integer"),
    (f"{STEM},-1\n", "not a non-negative int"),
    (f"{STEM},1,2\n", "expected 'id,label'"),
    (f"{STEM},1\n{STEM},2\n", "listed twice"),
    ("", "no 'id,label' rows"),
])
def test_bad_csv_labels(ntu, tmp_path, text, problem):
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(DataError, match=problem):
        npy.read_file(ntu, layout="ntu25", labels=tmp_path / "labels.csv")


def test_bad_label_pickles(ntu, tmp_path):
    for obj, problem in [({"a": 1}, "expected a .sample_names, labels. pair"),
                         ((["a", "b"], [1]), "2 sample names but 1 labels"),
                         (([STEM], [1.5]), "not a non-negative int"),
                         (([3], [1]), "not a non-empty string")]:
        (tmp_path / "l.pkl").write_bytes(pickle.dumps(obj))
        with pytest.raises(DataError, match=problem):
            npy.read_file(ntu, layout="ntu25", labels=tmp_path / "l.pkl")


def test_object_arrays_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}] * 4, dtype=object).reshape(1, 1, 2, 2), allow_pickle=True)
    with pytest.raises(DataError, match="Python objects; refused"):
        npy.read_file(tmp_path / "obj.npy", layout="ntu25")


def test_declared_shape_is_checked_against_file_size_before_mapping(ntu, tmp_path):
    raw = ntu.read_bytes()
    for shape in [(3, 10 ** 12, 25, 2), (3, 301, 25, 2), (3, 299, 25, 2), (3, 300, 25, 2, 10 ** 15)]:
        buf = io.BytesIO()
        npformat.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
        assert len(buf.getvalue()) == 128
        bad = tmp_path / "bad.npy"
        bad.write_bytes(buf.getvalue() + raw[128:])
        with pytest.raises(DataError, match=r"header declares .* but the file holds 180000 data bytes"):
            npy.read_file(bad, layout="ntu25")
    (tmp_path / "tail.npy").write_bytes(raw + b"\0" * 8)
    with pytest.raises(DataError, match="holds 180008 data bytes"):
        npy.read_file(tmp_path / "tail.npy", layout="ntu25")


@pytest.mark.parametrize("array, problem", [
    (np.zeros((3, 300, 25, 2), np.float32), "every value is zero"),
    (np.zeros((3, 0, 25, 2), np.float32), "empty array"),
    (np.zeros((300, 25, 2), np.float32), r"expected \(C, T, V, M\)"),
    (np.ones((3, 4, 25, 2), np.complex64), "not a plain numeric type"),
    (np.full((3, 4, 25, 2), np.nan, np.float32), "non-finite"),
])
def test_bad_arrays(tmp_path, array, problem):
    np.save(tmp_path / "a.npy", array)
    with pytest.raises(DataError, match=problem):
        npy.read_file(tmp_path / "a.npy", layout="ntu25")


def test_read_dataset_directory_and_stack(ntu, tmp_path):
    d = tmp_path / "arrays"
    d.mkdir()
    _link(d, ntu)
    (d / "broken.npy").write_bytes(ntu.read_bytes()[:1000])
    (tmp_path / "labels.csv").write_text(f"{STEM},4\nbroken,1\n")
    ds = npy.read_dataset(d, layout="ntu25", labels=tmp_path / "labels.csv")
    assert (ds.layout, ds.channels, ds.extra, ds.class_names) == ("ntu25", "xyz", {"max_persons": 2},
                                                                   [f"class_{k}" for k in range(5)])
    items = list(ds.samples())
    assert [type(x).__name__ for x in items] == ["DataError", "Sample"]  # sorted: broken.npy first
    store = convert("npy", d, tmp_path / "store", layout="ntu25", labels=str(tmp_path / "labels.csv"))
    assert store.ids == [STEM] and store.lengths.tolist() == [72] and store.labels.tolist() == [4]
    assert store.index["skipped"][0]["where"].endswith("broken.npy")

    np.save(tmp_path / "stack.npy", np.stack([np.load(ntu)] * 3))
    (tmp_path / "names.txt").write_text("a\nb\n")
    (tmp_path / "labels3.csv").write_text("a,0\nb,1\nc,4\n")
    with pytest.raises(DataError, match="label 4 but .* names only 2 classes"):
        npy.read_dataset(tmp_path / "stack.npy", layout="ntu25", labels=tmp_path / "labels3.csv",
                         class_names=tmp_path / "names.txt")
    ds = npy.read_dataset(tmp_path / "stack.npy", layout="ntu25", labels=tmp_path / "labels3.csv")
    assert [(s.sample_id, s.label) for s in ds.samples()] == [("a", 0), ("b", 1), ("c", 4)]
    ds = npy.read_dataset(tmp_path / "stack.npy", layout="ntu25")
    assert ds.num_samples == 3 and [s.sample_id for s in ds.samples()] == ["stack_0", "stack_1", "stack_2"]
    assert ds.class_names == []


def test_file_size_limit(ntu, monkeypatch):
    monkeypatch.setattr("stf.data.base.MAX_FILE_BYTES", 1000)
    with pytest.raises(DataError, match="above the 1000-byte limit"):
        npy.read_file(ntu, layout="ntu25")


def test_a_huge_label_is_refused(ntu, tmp_path):
    """A label of 999999999999 made the class-name list that long (a MemoryError under a memory limit)."""
    (tmp_path / "labels.csv").write_text(f"{STEM},999999999999\n")
    d = tmp_path / "clips"
    d.mkdir()
    _link(d, ntu)
    with pytest.raises(DataError, match="label 999999999999 is beyond 10000 classes"):
        npy.read_dataset(d, layout="ntu25", labels=tmp_path / "labels.csv")


def test_csv_labels_with_a_byte_order_mark(ntu, tmp_path):
    """Excel's "CSV UTF-8" starts with a BOM: a stack's first id came out as '\\ufeffA' and a single sample
    was "not listed in the label file"."""
    np.save(tmp_path / "stack.npy", np.stack([np.load(ntu)] * 2))
    (tmp_path / "labels.csv").write_bytes(b"\xef\xbb\xbfA,4\r\nB,5\r\n")
    out = npy.read_file(tmp_path / "stack.npy", layout="ntu25", labels=tmp_path / "labels.csv")
    assert [(s.sample_id, s.label) for s in out] == [("A", 4), ("B", 5)]
    (tmp_path / "one.csv").write_bytes(f"\ufeff{STEM},4\r\n".encode())
    assert npy.read_file(ntu, layout="ntu25", labels=tmp_path / "one.csv")[0].label == 4


@pytest.mark.parametrize("text, problem", [
    (f"{STEM},1\nB,--1\n", "line 2: label '--1' is not an integer"),  # int() raised ValueError
    (f"{STEM},1\nB,\u00b2\n", "line 2: label '\u00b2' is not an integer"),  # str.isdigit() is True for "²"
    (f"{STEM},1\nB,1_0\n", "line 2: label '1_0' is not an integer"),
])
def test_csv_labels_that_are_not_plain_integers(ntu, tmp_path, text, problem):
    (tmp_path / "labels.csv").write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=problem):
        npy.read_file(ntu, layout="ntu25", labels=tmp_path / "labels.csv")


def test_csv_header_after_blank_lines(ntu, tmp_path):
    """The header was recognised on line 1 only: "\\nid,label\\n..." failed with "line 2: label 'label'"."""
    (tmp_path / "labels.csv").write_text(f"\n\nid,label\n{STEM},4\n")
    assert npy.read_file(ntu, layout="ntu25", labels=tmp_path / "labels.csv")[0].label == 4


def test_an_array_in_m_t_v_c_order_is_not_read_as_three_2d_persons(ntu, tmp_path):
    """The real NTU sample saved as (M, T, V, C) = (2, 72, 25, 3), stf's and pyskl's order, read silently as
    (C, T, V, M): x, y of 3 "persons" that are the x, y and z channels."""
    ctvm = np.load(ntu)[:, :72]
    np.save(tmp_path / "mtvc.npy", np.ascontiguousarray(ctvm.transpose(3, 1, 2, 0)))
    with pytest.raises(DataError, match=r"looks like \(M, T, V, C\): 2 persons with x, y, z; transpose it") as ei:
        npy.read_file(tmp_path / "mtvc.npy", layout="ntu25")
    assert str(tmp_path / "mtvc.npy") in str(ei.value)
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "mtvc.npy", np.ascontiguousarray(ctvm.transpose(3, 1, 2, 0)))
    with pytest.raises(DataError, match=r"looks like \(M, T, V, C\)"):
        npy.read_dataset(tmp_path / "d", layout="ntu25")
    (s,) = npy.read_file(tmp_path / "mtvc.npy", layout="ntu25", channels="xy")  # when it is what it says
    assert s.data.shape == (3, 72, 25, 2) and s.channels == "xy"
    np.save(tmp_path / "ctvm.npy", ctvm)
    (s,) = npy.read_file(tmp_path / "ctvm.npy", layout="ntu25")
    np.testing.assert_array_equal(s.data, ctvm.transpose(3, 1, 2, 0))
