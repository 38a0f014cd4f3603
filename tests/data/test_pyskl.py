"""pyskl reader on PaddleVideo's real PoseC3D annotation, and pyskl files built from real annotations."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from stf.data import pyskl
from stf.data.resolve import convert
from stf.data.safe_pickle import safe_load
from stf.errors import DataError
from stf.sample import Sample
from tests.conftest import need_data

NAME = "v_ApplyEyeMakeup_g01_c01"


@pytest.fixture
def pkl():
    return need_data("paddlevideo-skeleton-samples", "example_UCF101_skeleton.pkl")


@pytest.fixture
def ann(pkl):
    return safe_load(pkl)


def _dump(tmp_path, obj, name="ann.pkl"):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(obj, protocol=3))
    return path


def _renamed(ann, frame_dir, label):
    return dict(ann, frame_dir=frame_dir, label=label)


def test_real_annotation(pkl, ann):
    (s,) = pyskl.read_file(pkl)
    assert (s.sample_id, s.layout, s.channels, s.label) == (NAME, "coco17", "xy+score", 0)
    assert s.data.shape == (2, 163, 17, 3) and s.meta == {"img_h": 256, "img_w": 340}
    np.testing.assert_array_equal(s.data[..., :2], ann["keypoint"].astype(np.float32))
    np.testing.assert_array_equal(s.data[..., 2], ann["keypoint_score"].astype(np.float32))
    assert s.person_mask.all() and s.num_valid_frames == 163
    # person 0 is the actor seen in every frame; person 1 a faint second detection in 14 frames
    assert (s.data[1] != 0).any(axis=(1, 2)).sum() == 14
    assert s.data[0, :, :, 2].sum() > 10 * s.data[1, :, :, 2].sum()


@pytest.mark.parametrize("shape", [np.array([256, 340]), np.array([256, 340], dtype=np.int32), [256, 340]])
def test_img_shape_as_array_or_list_reaches_meta(ann, tmp_path, shape):
    (s,) = pyskl.read_file(_dump(tmp_path, dict(ann, img_shape=shape)))
    assert s.meta == {"img_h": 256, "img_w": 340}


def test_first_two_persons_are_kept(ann, tmp_path):
    kp = ann["keypoint"]
    third = dict(ann, keypoint=np.concatenate([kp, kp[:1] + 1]),
                 keypoint_score=np.concatenate([ann["keypoint_score"], ann["keypoint_score"][:1]]))
    (s,) = pyskl.read_file(_dump(tmp_path, third))
    assert s.num_persons == 2
    np.testing.assert_array_equal(s.data[..., :2], kp.astype(np.float32))


def test_score_as_third_channel(ann, tmp_path):
    kp3 = np.concatenate([ann["keypoint"], ann["keypoint_score"][..., None]], axis=-1)
    (s,) = pyskl.read_file(_dump(tmp_path, {k: v for k, v in dict(ann, keypoint=kp3).items()
                                            if k != "keypoint_score"}))
    (ref,) = pyskl.read_file(_dump(tmp_path, ann, "ref.pkl"))
    np.testing.assert_array_equal(s.data, ref.data)


def test_ntu_3d_annotation_from_real_ntu_array(tmp_path):
    ctvm = np.load(need_data("paddlevideo-skeleton-samples", "example_NTU-RGB-D_sketeton.npy"))[:, :72]
    kp = np.ascontiguousarray(ctvm.transpose(3, 1, 2, 0))  # (M, T, V, C), as pyskl's ntu60_3danno.pkl
    (s,) = pyskl.read_file(_dump(tmp_path, {"frame_dir": "S001", "label": 4, "keypoint": kp, "total_frames": 72}))
    assert (s.layout, s.channels, s.data.shape, s.label) == ("ntu25", "xyz", (2, 72, 25, 3), 4)
    assert s.person_mask.tolist() == [True, False]


@pytest.mark.parametrize("edit, problem", [
    (lambda a: a.update(keypoint=np.zeros((1, 5, 18, 2), np.float32)), "18 joints and 2 channels"),
    (lambda a: a.update(keypoint=np.zeros((1, 5, 25, 2), np.float32)), "25 joints and 2 channels"),
    (lambda a: a.pop("keypoint_score"), "need 'keypoint_score'"),
    (lambda a: a.update(keypoint_score=a["keypoint_score"][:, :10]), "need 'keypoint_score'"),
    (lambda a: a.update(total_frames=100), "total_frames 100 but keypoint holds 163"),
    (lambda a: a.update(label=-1), "label -1"),
    (lambda a: a.update(frame_dir=""), "'frame_dir'"),
    (lambda a: a.update(keypoint=a["keypoint"].astype(np.int32)), "expected floats"),
    (lambda a: a.update(keypoint=np.where(np.arange(2) == 1, np.float16(np.inf), a["keypoint"])), "non-finite"),
    (lambda a: a.update(keypoint="no"), "must be an array"),
])
def test_bad_annotations(ann, tmp_path, edit, problem):
    a = dict(ann)
    edit(a)
    with pytest.raises(DataError, match=problem):
        pyskl.read_file(_dump(tmp_path, a))


def test_not_an_annotation_file(tmp_path):
    with pytest.raises(DataError, match="not a pyskl annotation file"):
        pyskl.read_file(_dump(tmp_path, {"hello": 1}))
    with pytest.raises(DataError, match="no annotations"):
        pyskl.read_file(_dump(tmp_path, []))


def test_full_pyskl_file_with_splits(ann, tmp_path):
    anns = [ann, _renamed(ann, "b", 3), _renamed(ann, "c", 1), dict(_renamed(ann, "d", 2), total_frames=5)]
    path = _dump(tmp_path, {"split": {"xsub_train": [NAME, "b"], "xsub_val": ["c", "d"], "train1": [NAME],
                                      "test1": ["b"], "custom": ["c"]}, "annotations": anns})
    ds = pyskl.read_dataset(path)
    assert (ds.layout, ds.channels, ds.extra, ds.num_samples) == ("coco17", "xy+score", {"max_persons": 2}, 4)
    assert ds.class_names == ["class_0", "class_1", "class_2", "class_3"]
    assert ds.splits == {"xsub": {"train": [NAME, "b"], "test": ["c", "d"]},
                         "split1": {"train": [NAME], "test": ["b"]}, "custom": {"all": ["c"]}}
    items = list(ds.samples())
    assert [x.sample_id for x in items[:3]] == [NAME, "b", "c"] and isinstance(items[3], DataError)
    (tmp_path / "names.txt").write_text("a\nb\nc\nd\n")
    assert pyskl.read_dataset(path, class_names=tmp_path / "names.txt").class_names == ["a", "b", "c", "d"]
    store = convert("pyskl", path, tmp_path / "store")
    assert store.ids == [NAME, "b", "c"] and store.labels.tolist() == [0, 3, 1]
    assert store.splits["xsub"] == {"train": [NAME, "b"], "test": ["c"]}  # "d" was skipped
    assert store.index["skipped"][0]["where"].endswith("#d")


def test_list_of_annotations_and_mixed_layouts(ann, tmp_path):
    kp3d = np.ones((1, 163, 25, 3), np.float32)
    anns = [ann, {"frame_dir": "x", "keypoint": kp3d, "total_frames": 163}]
    out = list(pyskl.read_dataset(_dump(tmp_path, anns)).samples())
    assert isinstance(out[0], Sample) and out[0].layout == "coco17"
    assert isinstance(out[1], DataError) and "ntu25/xyz, but the file's first annotation is coco17" in out[1].problem
    with pytest.raises(DataError, match="first annotation is coco17"):
        pyskl.read_file(_dump(tmp_path, anns))


def test_malicious_annotation_file(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return exec, (f"open({str(marker)!r}, 'w').close()",)

    path = _dump(tmp_path, {"split": {}, "annotations": [{"frame_dir": "x", "keypoint": Evil()}]})
    with pytest.raises(DataError, match="refused to load pickle: it references builtins.exec"):
        pyskl.read_dataset(path)
    assert not marker.exists()


def test_a_huge_label_is_refused(ann, tmp_path):
    """label 10**7 "converted" into 10,000,001 class names (a 169 MB index.json); it is a corrupt label."""
    a = dict(ann)
    a["label"] = 10 ** 7
    with pytest.raises(DataError, match="label 10000000 is beyond 10000 classes"):
        pyskl.read_dataset(_dump(tmp_path, a))


@pytest.mark.parametrize("parts, what", [
    (("paddlevideo-skeleton-samples", "fsd10_example_skeleton.npy"), r"a NumPy \.npy array \(--format npy"),
    (("kinetics-skeleton-format", "kinetics400_sample", "--33Lscn6sk.json"), r"JSON text \(--format kinetics"),
])
def test_another_format_given_to_the_pickle_reader_is_named(parts, what):
    """Real files of other formats: the error says what the file is (it said 'invalid load key')."""
    src = need_data(*parts)
    with pytest.raises(DataError, match=r"not a pickle: " + what) as ei:
        pyskl.read_file(src)
    assert str(src) in str(ei.value)


def test_a_broken_first_annotation_is_skipped_like_the_others(ann, tmp_path):
    """The file's layout came from annotation 0 alone: one broken first annotation refused the whole file
    (a broken second one is skipped); now the first annotation with a layout decides it."""
    broken = {k: v for k, v in _renamed(ann, "a", 1).items() if k != "keypoint"}
    path = _dump(tmp_path, {"split": {"xsub_train": ["a", NAME]}, "annotations": [broken, ann]})
    ds = pyskl.read_dataset(path)
    assert (ds.layout, ds.channels, ds.num_samples) == ("coco17", "xy+score", 2)
    items = list(ds.samples())
    assert isinstance(items[0], DataError) and "'keypoint' must be an array" in items[0].problem
    assert items[0].where == str(path)
    assert isinstance(items[1], Sample) and items[1].sample_id == NAME
    store = convert("pyskl", path, tmp_path / "store")
    assert store.ids == [NAME] and len(store.index["skipped"]) == 1
    with pytest.raises(DataError, match="'keypoint' must be an array"):  # none has one: the first's error
        pyskl.read_dataset(_dump(tmp_path, [broken, dict(broken, frame_dir="b")], "none.pkl"))
