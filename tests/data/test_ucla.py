"""NW-UCLA reader against the real CTR-GCN dump (1,484 files) and against bad JSON."""
from __future__ import annotations

import collections
import json

import numpy as np
import pytest

from stf.data import ucla
from stf.data.safe_pickle import safe_load
from stf.errors import DataError
from stf.sample import Sample
from tests.conftest import need_data

SOME = "a12_s09_e04_v03"


@pytest.fixture(scope="module")
def ucla_root():
    return need_data("nw-ucla")


@pytest.fixture(scope="module")
def dataset(ucla_root):
    ds = ucla.read_dataset(ucla_root)
    return ds, list(ds.samples())


@pytest.fixture(scope="module")
def val_label(ucla_root):
    # CTR-GCN's view-3 list: 464 {file_name, length, label 1..10}, read without running pickle code
    return safe_load(ucla_root / "val_label.pkl")


def _json(tmp_path, obj, name=SOME + ".json"):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def _skeleton(frames=3):
    return (np.arange(frames * 60, dtype=float).reshape(frames, 20, 3) / 100 + 0.1).tolist()


# -- the real data ------------------------------------------------------------------------------
def test_all_1484_samples_read(dataset):
    ds, items = dataset
    errors = [x for x in items if isinstance(x, DataError)]
    assert not errors, errors[:3]
    assert len(items) == ds.num_samples == 1484
    assert len(ds.class_names) == 10 and ds.layout == "kinect20"
    counts = collections.Counter(s.label for s in items)
    assert [counts[k] for k in range(10)] == [150, 152, 141, 173, 148, 149, 142, 142, 145, 142]
    for s in items:
        assert s.data.dtype == np.float32 and s.data.shape[0] == 1 and s.data.shape[2:] == (20, 3)
        assert 1 <= s.num_frames <= 201
        assert s.label == ucla.ACTION_IDS.index(s.meta["action"])


def test_xview_split_equals_val_label_pkl(dataset, val_label):
    ds, items = dataset
    xview = ds.splits["xview"]
    assert len(xview["train"]) == 1020 and len(xview["test"]) == 464
    assert set(xview["train"]).isdisjoint(xview["test"])
    assert len(val_label) == 464
    assert sorted(xview["test"]) == sorted(d["file_name"] for d in val_label)
    by_id = {s.sample_id: s for s in items}
    for d in val_label:
        s = by_id[d["file_name"]]
        assert s.label == d["label"] - 1
        assert s.num_frames == d["length"]
    val = ds.splits["xview-val"]
    assert sorted(val["train"] + val["test"]) == sorted(xview["train"])
    assert {by_id[i].meta["view"] for i in val["train"]} == {1}
    assert {by_id[i].meta["view"] for i in val["test"]} == {2}


def test_values_are_the_json_numbers(ucla_root, dataset):
    _, items = dataset
    raw = json.loads((ucla_root / "all_sqe" / f"{SOME}.json").read_text())
    s = next(x for x in items if x.sample_id == SOME)
    np.testing.assert_allclose(s.data[0], np.asarray(raw["skeletons"], dtype=np.float32))
    assert s.label == raw["label"] - 1 == 9
    assert s.meta == {"action": 12, "subject": 9, "repetition": 4, "view": 3}


def test_files_with_zero_joints_are_kept(dataset):
    # two files hold all-zero joints in some frames (reference/splits.md); they stay valid samples
    _, items = dataset
    with_zero = sorted(s.sample_id for s in items if (np.abs(s.data).sum(-1) == 0).any())
    assert with_zero == ["a04_s01_e01_v01", "a04_s04_e02_v01"]


# -- names --------------------------------------------------------------------------------------
def test_parse_name():
    assert ucla.parse_name("a01_s02_e03_v01") == {"action": 1, "subject": 2, "repetition": 3, "view": 1}
    assert ucla.parse_name("a11_s10_e00_v03")["action"] == 11
    for bad in ("a01_s02_e03", "x01_s02_e03_v01", "a01_s02_e03_v01.json", ""):
        assert ucla.parse_name(bad) == {}


def test_label_from_name_when_missing(tmp_path):
    s = ucla.read_file(_json(tmp_path, {"file_name": "a09_s01_e00_v02", "skeletons": _skeleton()},
                             name="a09_s01_e00_v02.json"))
    assert s.label == 7 and s.sample_id == "a09_s01_e00_v02"  # a09 = doffing, the 8th class


def test_unnamed_file_uses_stem_and_label(tmp_path):
    s = ucla.read_file(_json(tmp_path, {"skeletons": _skeleton(), "label": 3}, name="mine.json"))
    assert s.sample_id == "mine" and s.label == 2 and s.meta == {}
    s = ucla.read_file(_json(tmp_path, {"skeletons": _skeleton()}, name="other.json"))
    assert s.label is None


# -- bad JSON -----------------------------------------------------------------------------------
@pytest.mark.parametrize("content, problem", [
    ('{"skeletons": [[[1, 2, 3]]', "invalid JSON"),
    ("[1, 2, 3]", "expected a JSON object with a 'skeletons' list"),
    ({"label": 1}, "expected a JSON object with a 'skeletons' list"),
    ({"skeletons": [[[1, 2, 3]] * 19]}, "has shape (1, 19, 3)"),
    ({"skeletons": [[[1, 2]] * 20]}, "has shape (1, 20, 2)"),
    ({"skeletons": []}, "has shape (0,)"),
    ({"skeletons": [[[1, 2, 3]] * 20, [[1, 2, 3]] * 19]}, "not a rectangular"),
    ({"skeletons": [[["1", "2", "3"]] * 20]}, "holds non-numbers"),
    ({"skeletons": [[[True, False, True]] * 20]}, "holds non-numbers"),
    ({"skeletons": [[[None, 1, 2]] * 20]}, "holds non-numbers"),
    ('{"skeletons": [[[1' + "0" * 400 + ", 2, 3]]]}", "holds non-numbers"),  # an int beyond float64
    ({"skeletons": [[[1e39, 2, 3]] * 20]}, "too large for float32"),
    ('{"skeletons": [[[NaN, 2, 3]' + ", [1, 2, 3]" * 19 + "]]}", "non-finite value"),
    ({"skeletons": _skeleton(), "label": 11}, "label 11 is not an int in 1..10"),
    ({"skeletons": _skeleton(), "label": 0}, "label 0 is not an int"),
    ({"skeletons": _skeleton(), "label": True}, "label True is not an int"),
    ({"skeletons": _skeleton(), "label": 2.0}, "label 2.0 is not an int"),
    ({"file_name": SOME, "skeletons": _skeleton(), "label": 3}, "label 3 disagrees with action a12"),
    ({"skeletons": [[[0, 0, 0]] * 20]}, "no valid frame"),
    ({"file_name": 123, "skeletons": _skeleton()}, "'file_name' is int, not a string"),  # was sample id "123"
    ({"file_name": [SOME], "skeletons": _skeleton()}, "'file_name' is list, not a string"),  # "['a12_...']"
])
def test_bad_json(tmp_path, content, problem):
    p = _json(tmp_path, content)
    with pytest.raises(DataError) as ei:
        ucla.read_file(p)
    assert ei.value.where == str(p)
    assert problem in ei.value.problem


def test_errors_are_chained(tmp_path):
    with pytest.raises(DataError) as ei:
        ucla.read_file(_json(tmp_path, '{"skeletons": [}'))
    assert isinstance(ei.value.__cause__, json.JSONDecodeError)
    with pytest.raises(DataError) as ei:
        ucla.read_file(_json(tmp_path, '{"skeletons": 1' + "0" * 5000 + "}"))  # int digit limit
    assert isinstance(ei.value.__cause__, ValueError)
    with pytest.raises(DataError) as ei:
        ucla.read_file(_json(tmp_path, '{"skeletons": ' + "[" * 100_000 + "]" * 100_000 + "}"))
    assert isinstance(ei.value.__cause__, RecursionError)
    p = tmp_path / "latin1.json"
    p.write_bytes(b'{"file_name": "caf\xe9", "skeletons": []}')
    with pytest.raises(DataError, match="not UTF-8") as ei:
        ucla.read_file(p)
    assert isinstance(ei.value.__cause__, UnicodeDecodeError)


def test_read_dataset_bad_roots(tmp_path):
    with pytest.raises(DataError, match="not a directory"):
        ucla.read_dataset(tmp_path / "nope")
    with pytest.raises(DataError, match="no .json files"):
        ucla.read_dataset(tmp_path)


def test_read_dataset_yields_bad_files_as_errors(tmp_path):
    _json(tmp_path, {"file_name": "a01_s01_e00_v01", "skeletons": _skeleton()}, name="a01_s01_e00_v01.json")
    _json(tmp_path, "{", name="a01_s01_e00_v03.json")
    ds = ucla.read_dataset(tmp_path)
    items = list(ds.samples())
    assert isinstance(items[0], Sample) and isinstance(items[1], DataError)
    assert ds.splits["xview"] == {"train": ["a01_s01_e00_v01"], "test": ["a01_s01_e00_v03"]}


def test_file_name_with_its_json_suffix_names_the_same_sample(ucla_root, tmp_path):
    """A file_name written with '.json' lost the sample's view, subject and action (its meta) and was
    left out of every split by read_dataset."""
    obj = json.loads((ucla_root / "all_sqe" / f"{SOME}.json").read_text())
    d = tmp_path / "set"
    d.mkdir()
    _json(d, dict(obj, file_name=SOME + ".json"))
    s = ucla.read_file(d / f"{SOME}.json")
    assert s.sample_id == SOME and s.meta == {"action": 12, "subject": 9, "repetition": 4, "view": 3}
    np.testing.assert_array_equal(s.data[0], np.asarray(obj["skeletons"], np.float32))
    ds = ucla.read_dataset(d)
    (item,) = list(ds.samples())
    assert isinstance(item, Sample) and ds.splits["xview"]["test"] == [SOME]


def test_file_name_inside_must_agree_with_the_file_name(tmp_path):
    """A renamed copy (file a01_s01_e00_v03.json saying a01_s01_e00_v01) fell out of every split: the
    splits are keyed by the file name, the sample by 'file_name'. Now the file is skipped, with the reason."""
    with pytest.raises(DataError, match="'file_name' 'a01_s01_e00_v01' inside disagrees with the file's own name"):
        ucla.read_file(_json(tmp_path, {"file_name": "a01_s01_e00_v01", "skeletons": _skeleton()},
                             name="a01_s01_e00_v03.json"))
    d = tmp_path / "set"
    d.mkdir()
    _json(d, {"file_name": "a01_s01_e00_v01", "skeletons": _skeleton()}, name="a01_s01_e00_v01.json")
    _json(d, {"file_name": "mine", "skeletons": _skeleton()}, name="a01_s01_e01_v03.json")
    items = list(ucla.read_dataset(d).samples())
    assert isinstance(items[0], Sample)
    assert isinstance(items[1], DataError) and "'file_name' 'mine' inside differs" in items[1].problem
