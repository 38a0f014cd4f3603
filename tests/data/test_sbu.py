"""SBU Kinect Interaction reader against the real data (282 sequences) and against bad input."""
from __future__ import annotations

import collections
import re

import numpy as np
import pytest

from stf.data import base, sbu
from stf.data.resolve import convert
from stf.errors import DataError
from tests.conftest import need_data

FIRST = ("s01s02", "01", "001")  # its first line starts "55,0.21496,0.32665,1.7849,..."


@pytest.fixture(scope="module")
def sbu_root():
    return need_data("sbu-kinect-interaction")


@pytest.fixture(scope="module")
def dataset(sbu_root):
    ds = sbu.read_dataset(sbu_root)
    return ds, list(ds.samples())


@pytest.fixture(scope="module")
def first_bytes(sbu_root):
    return sbu_root.joinpath(*FIRST, "skeleton_pos.txt").read_bytes()


def _write(tmp_path, content: bytes | str, name: str = "skeleton_pos.txt"):
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


# -- the real data ------------------------------------------------------------------------------
def test_all_282_sequences_read(dataset, sbu_root):
    ds, items = dataset
    errors = [x for x in items if isinstance(x, DataError)]
    assert not errors, errors[:3]
    assert len(items) == ds.num_samples == 282
    files = sorted(sbu_root.glob("*/*/*/skeleton_pos.txt"))
    assert [s.sample_id for s in items] == ["_".join(f.parts[-4:-1]) for f in files]
    assert ds.layout == "sbu15" and ds.channels == "xyz" and ds.extra == {"max_persons": 2}
    assert ds.class_names == ["approaching", "departing", "kicking", "punching", "pushing", "hugging",
                              "shaking hands", "exchanging"]


def test_per_class_counts_frames_and_persons(dataset):
    _, items = dataset
    counts = collections.Counter(s.label for s in items)
    assert [counts[k] for k in range(8)] == [42, 43, 40, 41, 18, 21, 39, 38]
    frames = [s.num_frames for s in items]
    assert min(frames) == 10 and max(frames) == 46
    for s in items:
        assert s.data.dtype == np.float32 and s.data.shape[0] == 2 and s.data.shape[2:] == (15, 3)
        assert s.person_mask.tolist() == [True, True], s.sample_id
        assert s.frame_mask.all(), s.sample_id
        assert s.label == s.meta["action"] - 1


def test_coordinates_kept_normalised(dataset, first_bytes):
    _, items = dataset
    s = next(x for x in items if x.sample_id == "_".join(FIRST))
    first_line = first_bytes.split(b"\r\n")[0].decode().split(",")
    assert first_line[:4] == ["55", "0.21496", "0.32665", "1.7849"]
    assert s.data[0, 0, 0].tolist() == pytest.approx([0.21496, 0.32665, 1.7849])  # person 1, head
    assert s.data[1, 0, 0].tolist() == pytest.approx([float(v) for v in first_line[46:49]])  # person 2, head
    assert s.data[1, 0, 14].tolist() == pytest.approx([float(v) for v in first_line[88:91]])  # person 2, foot_right
    allxyz = np.concatenate([x.data.reshape(-1, 3) for x in items])
    # not decoded to Kinect units (pixels / millimetres): x, y about [0, 1], z a scaled depth of a few units
    assert allxyz[:, :2].min() > -0.5 and allxyz[:, :2].max() < 1.5
    assert 0.5 < allxyz[:, 2].min() and allxyz[:, 2].max() < 3.0


def test_meta_and_ids(dataset):
    _, items = dataset
    for s in items:
        m = s.meta
        assert set(m) == {"pair", "subject_a", "subject_b", "action", "repetition", "fold"}
        assert s.sample_id == f"{m['pair']}_{m['action']:02d}_{m['repetition']:03d}"
        assert m["pair"] == f"s{m['subject_a']:02d}s{m['subject_b']:02d}"
        assert m["fold"] == sbu.FOLD_OF_PAIR[m["pair"]]


def test_folds_match_reference_and_cover_pairs(dataset, sbu_root):
    ds, items = dataset
    ref = sbu_root.parent.parent / "reference" / "splits.md"
    if ref.exists():
        text = ref.read_text().split("## SBU", 1)[1]
        ref_folds = {int(k): tuple(v.replace(" ", "").split(","))
                     for k, v in re.findall(r"- fold (\d): ([s0-9, ]+)", text)}
        assert ref_folds == sbu.FOLDS
    pairs = sorted(p.name for p in sbu_root.iterdir() if p.is_dir())
    assert len(pairs) == 21
    in_folds = [p for pairs_k in sbu.FOLDS.values() for p in pairs_k]
    assert sorted(in_folds) == pairs  # every pair folder in exactly one fold
    all_ids = {s.sample_id for s in items}
    assert sorted(ds.splits) == [f"fold{k}" for k in range(1, 6)]
    tested = []
    for k in range(1, 6):
        part = ds.splits[f"fold{k}"]
        train, test = set(part["train"]), set(part["test"])
        assert train | test == all_ids and not train & test
        assert test == {s.sample_id for s in items if s.meta["pair"] in sbu.FOLDS[k]}
        tested += part["test"]
    assert sorted(tested) == sorted(all_ids)


def test_convert_to_store(sbu_root, dataset, tmp_path):
    _, items = dataset
    store = convert("sbu", sbu_root, tmp_path / "sbu")
    assert len(store) == 282 and store.max_persons == 2 and store.layout == "sbu15"
    assert store.info()["splits"] == {f"fold{k}/{p}": len(parts)
                                      for k in range(1, 6)
                                      for p, parts in dataset[0].splits[f"fold{k}"].items()}
    for i in (0, 141, 281):
        got, want = store[i], items[i]
        assert got.sample_id == want.sample_id and got.label == want.label and got.meta == want.meta
        np.testing.assert_array_equal(got.data, want.data)


# -- one file -----------------------------------------------------------------------------------
def test_read_file_derives_id_from_path(tmp_path, first_bytes):
    d = tmp_path / "s05s03" / "04" / "012"
    d.mkdir(parents=True)
    s = sbu.read_file(_write(d, first_bytes))
    assert s.sample_id == "s05s03_04_012" and s.label == 3
    assert s.meta == {"pair": "s05s03", "subject_a": 5, "subject_b": 3, "action": 4, "repetition": 12, "fold": 2}
    assert s.num_frames == first_bytes.count(b"\n")


@pytest.mark.parametrize("parts", [("upload",), ("s01s02", "09", "001"), ("s01s99x", "01", "001")])
def test_read_file_outside_the_tree_has_no_label(tmp_path, first_bytes, parts):
    d = tmp_path.joinpath(*parts)
    d.mkdir(parents=True)
    s = sbu.read_file(_write(d, first_bytes, "take1.txt" if parts == ("upload",) else "skeleton_pos.txt"))
    assert s.label is None and s.meta == {}
    assert s.sample_id == ("take1" if parts == ("upload",) else "skeleton_pos")


def _line(values=None, frame="1") -> str:
    values = values if values is not None else ["0.5"] * 90
    return ",".join([frame] + list(values)) + "\r\n"


@pytest.mark.parametrize("content, problem", [
    (_line() + _line(["0.5"] * 89, frame="2"), "line 2 has 90 columns, expected 91"),
    (_line() + _line(["0.5"] * 91, frame="2"), "line 2 has 92 columns"),
    (_line(["0.5"] * 44 + ["abc"] + ["0.5"] * 45), "line 1: not a number"),
    (_line(["0.5"] * 10 + ["nan"] + ["0.5"] * 79), "line 1, column 12: non-finite"),
    (_line(["0.5"] * 89 + ["-inf"]), "line 1, column 91: non-finite"),
    (_line(["1e300"] + ["0.5"] * 89), "too large for float32"),
    ("", "empty file"),
    ("\r\n", "no frames (only blank lines)"),
    (_line(["0_5"] + ["0.5"] * 89), "line 1: not a number: '0_5'"),  # Python's float() reads it as 5.0
    (_line(frame="1_0"), "line 1: not a number: '1_0'"),
    (_line() + _line(frame="1"), "line 2: frame id 1 does not follow 1"),
    (_line(frame="x"), "frame id 'x' is not an integer"),
    (_line().rstrip("\r\n"), "line 1 has no line break"),
    (_line() + _line(frame="2").rstrip("\n"), "line 2 has no line break"),
])
def test_bad_content(tmp_path, content, problem):
    p = _write(tmp_path, content)
    with pytest.raises(DataError) as ei:
        sbu.read_file(p)
    assert ei.value.where == str(p)
    assert problem in ei.value.problem


def test_all_zero_file_is_refused(tmp_path):
    with pytest.raises(DataError, match="no valid frame"):
        sbu.read_file(_write(tmp_path, _line(["0"] * 90)))


def test_causes_are_chained(tmp_path):
    with pytest.raises(DataError) as ei:
        sbu.read_file(_write(tmp_path, _line(["0.5"] * 89 + ["1.2.3"])))
    assert isinstance(ei.value.__cause__, ValueError)
    with pytest.raises(DataError, match="not UTF-8") as ei:
        sbu.read_file(_write(tmp_path, _line().encode() + b"\xff\xfe\r\n"))
    assert isinstance(ei.value.__cause__, UnicodeDecodeError)


def test_size_limit_and_missing(tmp_path, monkeypatch, first_bytes):
    p = _write(tmp_path, first_bytes)
    monkeypatch.setattr(base, "MAX_FILE_BYTES", len(first_bytes) - 1)
    with pytest.raises(DataError, match="above the .*-byte limit"):
        sbu.read_file(p)
    with pytest.raises(DataError, match="cannot open"):
        sbu.read_file(tmp_path / "missing.txt")


def test_read_dataset_bad_roots(tmp_path):
    with pytest.raises(DataError, match="not a directory"):
        sbu.read_dataset(tmp_path / "nope")
    with pytest.raises(DataError, match="no sAAsBB/CC/RRR/skeleton_pos.txt files"):
        sbu.read_dataset(tmp_path)


def test_read_dataset_yields_bad_files_as_errors(tmp_path, first_bytes):
    good = tmp_path / "s01s02" / "02" / "001"
    bad = tmp_path / "s01s02" / "02" / "002"
    odd = tmp_path / "s01s02" / "xx" / "001"
    for d in (good, bad, odd):
        d.mkdir(parents=True)
    _write(good, first_bytes)
    _write(bad, first_bytes[:100])
    _write(odd, first_bytes)
    ds = sbu.read_dataset(tmp_path)
    items = list(ds.samples())
    assert [type(x).__name__ for x in items] == ["Sample", "DataError", "DataError"]
    assert items[0].sample_id == "s01s02_02_001"
    assert "columns" in items[1].problem and "path is not" in items[2].problem
    # splits name every well-named file; the store drops the ones that fail to read
    assert ds.splits["fold1"] == {"train": [], "test": ["s01s02_02_001", "s01s02_02_002"]}
    assert ds.splits["fold2"] == {"train": ["s01s02_02_001", "s01s02_02_002"], "test": []}


def test_blank_lines_after_the_last_frame_are_ignored(tmp_path, first_bytes):
    """An editor's extra newline at the end refused the whole file ('line 46 has 1 columns')."""
    ref = sbu.read_file(_write(tmp_path, first_bytes))
    (tmp_path / "b").mkdir()
    s = sbu.read_file(_write(tmp_path / "b", first_bytes + b"\r\n\n"))
    assert np.array_equal(s.data, ref.data)


def test_a_byte_order_mark_is_ignored(tmp_path, first_bytes):
    """A real file saved by a Windows editor or Excel ("CSV UTF-8") starts with a BOM: it was refused with
    "line 1: frame id '\\ufeff55' is not an integer"."""
    ref = sbu.read_file(_write(tmp_path, first_bytes))
    (tmp_path / "bom").mkdir()
    s = sbu.read_file(_write(tmp_path / "bom", b"\xef\xbb\xbf" + first_bytes))
    assert np.array_equal(s.data, ref.data) and s.num_frames == 45
    (tmp_path / "only").mkdir()
    with pytest.raises(DataError, match="empty file"):
        sbu.read_file(_write(tmp_path / "only", b"\xef\xbb\xbf"))


def test_a_damaged_frame_id_is_quoted_short(tmp_path, first_bytes):
    """A frame id of thousands of digits (a damaged line of a real file) was printed in full in the error
    (Python's int() refuses over 4300 digits, and a shorter one was echoed whole)."""
    lines = first_bytes.decode().split("\n")
    for digits in (30, 5000):
        frame, rest = lines[1].split(",", 1)
        damaged = "\n".join([lines[0], "9" * digits + "," + rest, *lines[2:]])
        with pytest.raises(DataError, match=r"line 2: frame id '9+(\.\.\.9+)?' is not an integer of at most 18 "
                                            r"digits") as ei:
            sbu.parse_text(damaged, "f")
        assert len(ei.value.problem) < 120
