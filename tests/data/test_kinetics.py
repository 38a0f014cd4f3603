"""Kinetics-skeleton reader on the real ST-GCN file and the two NTU clips in that format."""
from __future__ import annotations

import json

import numpy as np
import pytest

from stf.data import kinetics
from stf.data.resolve import convert
from stf.errors import DataError
from tests.conftest import need_data

NTU_DIR = ("kinetics-skeleton-format", "ntu_rgb_openpose_kinetics_format")
HUG, THROW = "S004C002P003R001A055_rgb", "S004C003P003R001A007_rgb"


@pytest.fixture
def kin():
    return need_data("kinetics-skeleton-format", "kinetics400_sample", "--33Lscn6sk.json")


def _ntu(name):
    return need_data(*NTU_DIR, "kinetics_train", f"{name}.json")


def _skeletons(entry) -> np.ndarray:
    """One frame entry of the raw JSON -> (n, 18, 3) x, y, score (the test's own reference parse)."""
    return np.array([np.column_stack([np.reshape(sk["pose"], (18, 2)), sk["score"]]) for sk in entry["skeleton"]]
                    ).reshape(-1, 18, 3)


def test_real_kinetics_file(kin):
    raw = json.loads(kin.read_text())
    s = kinetics.read_file(kin)
    assert (s.sample_id, s.layout, s.channels, s.label) == ("--33Lscn6sk", "openpose18", "xy+score", 129)
    assert s.meta == {"label_name": "flipping pancake"}
    assert s.data.shape == (2, 189, 18, 3) and s.person_mask.all()
    counts = {e["frame_index"]: len(e["skeleton"]) for e in raw["data"]}
    assert sorted(counts) == list(range(1, 190))  # 1-based: frame_index 1 is frame 0
    assert s.frame_mask.tolist() == [counts[t + 1] > 0 for t in range(189)]
    assert s.num_valid_frames == 163 and max(counts.values()) == 3
    assert s.frame_mask[0] and (s.data[0, 0] != 0).any()


def test_persons_are_ranked_by_summed_score_per_frame(kin):
    raw = json.loads(kin.read_text())
    s = kinetics.read_file(kin)
    three = 0
    for e in raw["data"]:
        sk, t = _skeletons(e), e["frame_index"] - 1
        order = sorted(range(len(sk)), key=lambda i: -sk[i, :, 2].sum())
        want = np.zeros((2, 18, 3), np.float32)
        want[: min(2, len(sk))] = sk[order[:2]]
        np.testing.assert_allclose(s.data[:, t], want, rtol=0, atol=1e-6)
        three += len(sk) == 3
        if len(sk) == 3:  # the least confident of three is dropped
            assert not np.isclose(s.data[:, t], sk[order[2]]).all(axis=(1, 2)).any()
    assert three == 4


@pytest.mark.parametrize("name, label, frames", [(HUG, 55, 76), (THROW, 7, 77)])
def test_ntu_clips_without_scores(name, label, frames):
    path = _ntu(name)
    raw = json.loads(path.read_text())
    assert all(v == 0 for e in raw["data"] for sk in e["skeleton"] for v in sk["score"])
    s = kinetics.read_file(path)
    assert (s.label, s.data.shape, s.num_valid_frames) == (label, (2, frames, 18, 3), frames)
    assert not s.data[..., 2].any()
    assert kinetics.read_file(path, label_base="1").label == label - 1
    again = kinetics.read_file(path)
    np.testing.assert_array_equal(s.data, again.data)
    # with all scores 0, the skeletons with the most detected joints win; ties keep file order
    for e in raw["data"]:
        sk = _skeletons(e)
        detected = (sk[:, :, :2] != 0).any(axis=2).sum(axis=1)
        order = sorted(range(len(sk)), key=lambda i: (-detected[i], i))[:2]
        np.testing.assert_allclose(s.data[: len(order), e["frame_index"] - 1], sk[order], atol=1e-6)


def test_hug_clip_has_frames_with_more_than_two_people():
    raw = json.loads(_ntu(HUG).read_text())
    assert max(len(e["skeleton"]) for e in raw["data"]) == 4


def test_zero_based_and_missing_frames(kin, tmp_path):
    raw = json.loads(kin.read_text())
    raw["data"] = [dict(e, frame_index=e["frame_index"] - 1) for e in raw["data"] if e["frame_index"] not in (2, 3)]
    (tmp_path / "z.json").write_text(json.dumps(raw))
    s = kinetics.read_file(tmp_path / "z.json")
    ref = kinetics.read_file(kin)
    assert s.num_frames == 189 and not s.frame_mask[1:3].any()
    np.testing.assert_array_equal(s.data[:, 3:], ref.data[:, 3:])


@pytest.mark.parametrize("edit, problem", [
    (lambda o: o["data"].append(dict(o["data"][0])), "frame_index 1 appears twice"),
    (lambda o: o["data"][0].update(frame_index=-3), "frame_index -3 is not an int"),
    (lambda o: o["data"][0].update(frame_index=10 ** 9), "is not an int in 0..100000"),
    (lambda o: o["data"][0].update(frame_index="1"), "frame_index '1'"),
    (lambda o: o["data"][0]["skeleton"][0]["pose"].pop(), r"pose must be a list of 36 numbers"),
    (lambda o: o["data"][0]["skeleton"][0]["score"].__setitem__(0, "0.5"), r"score must be a list of 18"),
    (lambda o: o["data"][0].pop("skeleton"), "'skeleton' must be a list"),
    (lambda o: o.update(data=[]), "no frames"),
    (lambda o: o.update(data={}), "not a Kinetics-skeleton file"),
    (lambda o: o.update(label_index=-5), "label_index -5"),
    (lambda o: o.update(label_index=True), "label_index True"),
    (lambda o: [e.update(skeleton=[]) for e in o["data"]], "no valid frame"),
])
def test_bad_files(kin, tmp_path, edit, problem):
    obj = json.loads(kin.read_text())
    edit(obj)
    (tmp_path / "bad.json").write_text(json.dumps(obj))
    with pytest.raises(DataError, match=problem):
        kinetics.read_file(tmp_path / "bad.json")


def test_nan_and_unknown_label(kin, tmp_path):
    obj = json.loads(kin.read_text())
    obj["label_index"] = -1
    (tmp_path / "u.json").write_text(json.dumps(obj))
    assert kinetics.read_file(tmp_path / "u.json").label is None
    obj["data"][0]["skeleton"][0]["pose"][0] = float("nan")
    (tmp_path / "n.json").write_text(json.dumps(obj))  # json writes NaN, which Python's json reads
    with pytest.raises(DataError, match="non-finite"):
        kinetics.read_file(tmp_path / "n.json")


def test_dataset_with_found_label_index():
    d = need_data(*NTU_DIR, "kinetics_train")
    ds = kinetics.read_dataset(d)  # kinetics_train_label.json next to the directory; labels 1..60
    assert (ds.layout, ds.channels, ds.extra) == ("openpose18", "xy+score", {"max_persons": 2})
    assert len(ds.class_names) == 60 and ds.class_names[54] == "hugging other person"
    assert ds.class_names[6] == "throw" and ds.splits == {}
    got = {s.sample_id: s.label for s in ds.samples()}
    assert got == {HUG: 54, THROW: 6}


def test_release_root_gives_splits(tmp_path):
    ds = kinetics.read_dataset(need_data(*NTU_DIR))  # holds kinetics_train/ only (no kinetics_val/)
    assert ds.splits == {"kinetics": {"train": [HUG, THROW]}}
    store = convert("kinetics", need_data(*NTU_DIR), tmp_path / "store")
    assert store.split_names() == ["kinetics/train"] and store.max_persons == 2
    assert store.lengths.tolist() == [76, 77] and store.labels.tolist() == [54, 6]


def test_dataset_finds_kinetics_class_names(kin, tmp_path):
    ds = kinetics.read_dataset(kin.parent)  # no label index: labels from the file itself
    assert len(ds.class_names) == 400 and ds.class_names[129] == "flipping pancake"
    (s,) = list(ds.samples())
    assert s.label == 129
    names = need_data("kinetics-skeleton-format", "kinetics400_label_name.txt")
    assert kinetics.read_dataset(kin.parent, class_names=names).class_names == ds.class_names
    # the Kinetics names do not fit NTU labels: given explicitly, that is an error
    mismatch = r"kinetics400_label_name.txt: class \d+ is '[^']+' there but '[^']+' in the labels"
    with pytest.raises(DataError, match=mismatch):
        kinetics.read_dataset(need_data(*NTU_DIR, "kinetics_train"), class_names=names, label_base=1)


def test_dataset_label_index_option(tmp_path):
    d = tmp_path / "videos"
    d.mkdir()
    for name in (HUG, THROW):
        (d / f"{name}.json").symlink_to(_ntu(name))
    (d / "unlisted.json").symlink_to(_ntu(HUG))
    index = {HUG: {"label": "hugging other person", "label_index": 55, "has_skeleton": True},
             THROW: {"label": "throw", "label_index": 7, "has_skeleton": False}}
    (tmp_path / "index.json").write_text(json.dumps(index))
    ds = kinetics.read_dataset(d, labels=tmp_path / "index.json", label_base="0")
    items = list(ds.samples())
    assert ds.num_samples == 2  # the has_skeleton: false entry is left out, as ST-GCN's feeder does
    assert [(x.sample_id, x.label) for x in items if not isinstance(x, DataError)] == [(HUG, 55)]
    assert [x.problem for x in items if isinstance(x, DataError)] == ["not listed in the label index"]
    assert ds.class_names[55] == "hugging other person" and len(ds.class_names) == 56
    with pytest.raises(DataError, match="label_base 'two'"):
        kinetics.read_dataset(d, labels=tmp_path / "index.json", label_base="two")
    (tmp_path / "bad_index.json").write_text(json.dumps({HUG: {"label": "x"}}))
    with pytest.raises(DataError, match="expected {'label_index': int"):
        kinetics.read_dataset(d, labels=tmp_path / "bad_index.json")


def test_a_huge_label_index_is_refused(kin, tmp_path):
    """label_index 10**12 made the class-name list that long (a MemoryError); it is a corrupt index."""
    obj = json.loads(kin.read_text())
    obj["label_index"] = 10 ** 12
    (tmp_path / "big.json").write_text(json.dumps(obj))
    with pytest.raises(DataError, match="label_index 1000000000000 is beyond 10000 classes"):
        kinetics.read_dataset(tmp_path)
    with pytest.raises(DataError, match="label_index 1000000000000 is beyond 10000 classes"):  # one file alone
        kinetics.read_file(tmp_path / "big.json")
