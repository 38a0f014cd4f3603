"""Kinetics-skeleton reader on the real ST-GCN file and the two NTU clips in that format."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from stf.data import kinetics
from stf.data.resolve import convert
from stf.errors import DataError
from tests.conftest import REPO, need_data

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


@pytest.mark.parametrize("name, action, frames", [(HUG, 55, 76), (THROW, 7, 77)])
def test_ntu_clips_without_scores(name, action, frames):
    path = _ntu(name)
    raw = json.loads(path.read_text())
    assert all(v == 0 for e in raw["data"] for sk in e["skeleton"] for v in sk["score"])
    assert raw["label_index"] == action  # the NTU action number, counted from 1
    s = kinetics.read_file(path)  # label_base auto: an NTU clip named by its action number counts from 1
    assert (s.label, s.data.shape, s.num_valid_frames) == (action - 1, (2, frames, 18, 3), frames)
    assert not s.data[..., 2].any()
    assert kinetics.read_file(path, label_base="1").label == action - 1
    assert kinetics.read_file(path, label_base=0).label == action
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
    assert (ds.layout, ds.channels, ds.extra["max_persons"]) == ("openpose18", "xy+score", 2)
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
    assert [x.problem for x in items if isinstance(x, DataError)] == ["not listed in the label index index.json"]
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


# --- labels with or without a label index, sources, folder layouts ------------------------------
def _clips(folder, *names):
    """``folder`` with symlinks to the real NTU clips ``names``."""
    folder.mkdir(parents=True)
    for name in names:
        (folder / f"{name}.json").symlink_to(_ntu(name))
    return folder


def _labels(ds) -> dict:
    """``{sample_id: label}`` of a data set whose files all read."""
    items = list(ds.samples())
    assert not [str(e) for e in items if isinstance(e, DataError)]
    return {s.sample_id: s.label for s in items}


def test_labels_agree_with_and_without_the_label_index(tmp_path):
    """Read with kinetics_train_label.json the NTU clips were 54 / 6 (the index's 1..60 counted from 1); the same
    files in a folder without the index were 55 / 7, and read_file said 55 / 7 too."""
    with_index = kinetics.read_dataset(need_data(*NTU_DIR, "kinetics_train"))
    without = kinetics.read_dataset(_clips(tmp_path / "clips", HUG, THROW))
    want = {HUG: 54, THROW: 6}
    assert _labels(with_index) == _labels(without) == want
    assert {n: kinetics.read_file(_ntu(n)).label for n in want} == want
    assert {n: _labels(kinetics.read_dataset(_ntu(n)))[n] for n in want} == want  # one file as the source
    # the names the labels carry agree with the index's class names either way
    assert with_index.class_names[54] == without.class_names[54] == "hugging other person"
    assert with_index.class_names[6] == without.class_names[6] == "throw"
    # each says where its labels came from
    assert with_index.extra["notes"] == ["labels from kinetics_train_label.json, label_index counted from 1 "
                                         "(the indices are exactly 1..60)"]
    (note,) = without.extra["notes"]
    assert note.startswith("labels from the files' own label_index (no label index given, and no "
                           "clips_label.json beside clips/), label_index counted from 1")
    # the real Kinetics file: 0-based either way (its folder has no index; the names file agrees at 129)
    kin = need_data("kinetics-skeleton-format", "kinetics400_sample", "--33Lscn6sk.json")
    assert kinetics.read_file(kin).label == _labels(kinetics.read_dataset(kin))["--33Lscn6sk"] == 129


def test_a_file_that_contradicts_the_label_index_is_refused(tmp_path):
    """A file whose own label_index or label disagrees with its index entry took the index's silently."""
    train = tmp_path / "kinetics_train"
    train.mkdir()
    (tmp_path / "kinetics_train_label.json").symlink_to(need_data(*NTU_DIR, "kinetics_train_label.json"))
    raw = json.loads(_ntu(HUG).read_text())
    (train / f"{HUG}.json").write_text(json.dumps(dict(raw, label_index=12)))
    (train / f"{THROW}.json").write_text(json.dumps(dict(json.loads(_ntu(THROW).read_text()), label="catch")))
    items = list(kinetics.read_dataset(train).samples())
    assert [(e.where, e.problem) for e in items] == [
        (str(train / f"{HUG}.json"), "label conflict: the file says label_index 12 ('hugging other person') but "
                                     "kinetics_train_label.json says 55 ('hugging other person')"),
        (str(train / f"{THROW}.json"), "label conflict: the file says label_index 7 ('catch') but "
                                       "kinetics_train_label.json says 7 ('throw')")]
    with pytest.raises(DataError, match="label conflict: the file says label_index 12"):  # one file: at once
        kinetics.read_dataset(train / f"{HUG}.json")
    # a file that says nothing (-1, no label) takes the index's label and name
    (train / f"{HUG}.json").write_text(json.dumps({"data": raw["data"], "label_index": -1}))
    (train / f"{THROW}.json").unlink()
    (s,) = kinetics.read_dataset(train).samples()
    assert (s.label, s.meta) == (54, {"label_name": "hugging other person"})


def test_a_truncated_file_without_an_index_says_invalid_json(tmp_path):
    """Without a label index a truncated file was reported as 'not listed in the label index'."""
    clips = _clips(tmp_path / "clips", HUG)
    (clips / "cut.json").write_bytes(_ntu(THROW).read_bytes()[:5000])
    items = list(kinetics.read_dataset(clips).samples())
    assert [s.sample_id for s in items if not isinstance(s, DataError)] == [HUG]
    (err,) = [e for e in items if isinstance(e, DataError)]
    assert err.where == str(clips / "cut.json") and err.problem.startswith("invalid JSON: ")
    with pytest.raises(DataError, match=r"cut\.json: invalid JSON: "):  # the file alone
        kinetics.read_dataset(clips / "cut.json")
    # a file with no label at all is read, unlabelled, rather than 'not listed'
    (clips / "cut.json").write_text(json.dumps({"data": json.loads(_ntu(THROW).read_text())["data"]}))
    assert _labels(kinetics.read_dataset(clips)) == {HUG: 54, "cut": None}


def _release(root, val_index=True):
    """ST-GCN's layout under ``root`` from the real files: HUG in kinetics_train/, THROW in kinetics_val/."""
    _clips(root / "kinetics_train", HUG)
    _clips(root / "kinetics_val", THROW)
    train_index = need_data(*NTU_DIR, "kinetics_train_label.json")
    (root / "kinetics_train_label.json").symlink_to(train_index)
    if val_index:  # the real val index lists other clips: one holding THROW's real entry
        entry = json.loads(train_index.read_text())[THROW]
        (root / "kinetics_val_label.json").write_text(json.dumps({THROW: entry}))
    return root


def test_the_release_layout_is_found_at_its_root_and_a_few_folders_above(tmp_path):
    """A folder holding the release (data/Kinetics/kinetics-skeleton/) was 'no .json files found'."""
    root = _release(tmp_path / "data" / "Kinetics" / "kinetics-skeleton")
    for given in (root, root.parent, root.parent.parent, tmp_path):
        ds = kinetics.read_dataset(given)
        assert ds.name == "kinetics-skeleton" and ds.splits == {"kinetics": {"train": [HUG], "test": [THROW]}}
        assert _labels(ds) == {HUG: 54, THROW: 6} and len(ds.class_names) == 60
    store = convert("kinetics", tmp_path, tmp_path / "store")
    assert sorted(store.split_names()) == ["kinetics/test", "kinetics/train"] and store.labels.tolist() == [54, 6]
    (root / "kinetics_val_label.json").unlink()  # a split without its index: the files' own labels, said so
    ds = kinetics.read_dataset(tmp_path)
    assert _labels(ds) == {HUG: 54, THROW: 6}
    assert ds.extra["notes"][0].startswith("labels from kinetics_train_label.json; the files' own label_index "
                                           "(no label index given, and no kinetics_val_label.json beside")


def test_nested_folders_of_json_files_are_found_and_ambiguity_is_refused(tmp_path):
    _clips(tmp_path / "a" / "b" / "clips", HUG, THROW)
    assert _labels(kinetics.read_dataset(tmp_path)) == {HUG: 54, THROW: 6}
    _clips(tmp_path / "other", HUG)
    with pytest.raises(DataError, match=r"holds 2 Kinetics-skeleton data sets \(a/b/clips/, other/\); give one"):
        kinetics.read_dataset(tmp_path)
    # the real folder holds two data sets: the Kinetics sample and the NTU clips
    with pytest.raises(DataError, match=r"holds 2 Kinetics-skeleton data sets \(kinetics400_sample/, "
                                        r"ntu_rgb_openpose_kinetics_format/\)"):
        kinetics.read_dataset(need_data("kinetics-skeleton-format"))
    deep = tmp_path / "deep"
    _clips(deep / "1" / "2" / "3" / "4", HUG)
    with pytest.raises(DataError, match="no .json files found in it or up to 3 folders below; expected ST-GCN's "
                                        r"layout \(kinetics_train/ and kinetics_val/"):
        kinetics.read_dataset(deep)
    assert _labels(kinetics.read_dataset(deep / "1")) == {HUG: 54}
    with pytest.raises(DataError, match="no such file or directory"):
        kinetics.read_dataset(tmp_path / "missing")


def test_one_json_file_is_a_one_sample_data_set(kin, tmp_path):
    """A single file as the source was 'not a directory of Kinetics-skeleton JSON files'."""
    ds = kinetics.read_dataset(kin)
    (s,) = ds.samples()
    assert (ds.name, ds.num_samples, s.sample_id, s.label, s.data.shape) == ("--33Lscn6sk", 1, "--33Lscn6sk", 129,
                                                                             (2, 189, 18, 3))
    assert len(ds.class_names) == 400 and ds.class_names[129] == "flipping pancake"  # the names file above it
    store = convert("kinetics", _ntu(HUG), tmp_path / "store")  # labelled by the index beside its folder
    assert store.ids == [HUG] and store.labels.tolist() == [54] and len(store.class_names) == 60
    clips = _clips(tmp_path / "clips", HUG)
    (tmp_path / "index.json").write_text(json.dumps({HUG: {"label_index": 55, "has_skeleton": False}}))
    with pytest.raises(DataError, match=f"{HUG}.json: has_skeleton is false in index.json, so it is left out"):
        kinetics.read_dataset(clips / f"{HUG}.json", labels=tmp_path / "index.json")
    (tmp_path / "index.json").write_text("{}")
    with pytest.raises(DataError, match=f"{HUG}.json: not listed in the label index index.json"):
        kinetics.read_dataset(clips / f"{HUG}.json", labels=tmp_path / "index.json")


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stf", *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_cli_convert_prints_a_summary_the_skipped_files_and_the_label_source(tmp_path):
    clips = _clips(tmp_path / "clips", HUG, THROW)
    (clips / "cut.json").write_bytes(_ntu(THROW).read_bytes()[:5000])
    r = _cli("data", "convert", "--format", "kinetics", clips, tmp_path / "out")
    assert r.returncode == 0 and not r.stderr, r.stderr
    summary, skipped, note = r.stdout.splitlines()
    assert summary == f"wrote 2 samples (55 classes, layout openpose18) to {tmp_path / 'out'}; skipped 1"
    assert skipped.startswith(f"  skipped {clips / 'cut.json'}: invalid JSON: ")
    assert note.startswith("  note: labels from the files' own label_index")
    r = _cli("data", "convert", "--format", "kinetics", clips / "cut.json", tmp_path / "one")
    assert r.returncode == 2 and not r.stdout
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"stf: error: {clips / 'cut.json'}: invalid JSON: "), line


def _full_parse_labels(path):
    """What a full JSON parse says a file's own labels are (the reference the byte scan must match)."""
    obj = json.loads(path.read_text())
    label = obj.get("label")
    return {"label_index": obj["label_index"], "label": label if isinstance(label, str) else ""}


def test_label_scan_reads_what_a_full_parse_reads(kin, tmp_path):
    """The folder pass that finds class names and the label base reads each file's labels by a byte scan
    (parsing every JSON in full made a folder without a label index parse twice); on the real files, laid out
    every way the releases write them, it must say what json.loads says, and fall back to it elsewhere."""
    raw = json.loads(kin.read_text())
    real = [kin, _ntu(HUG), _ntu(THROW)]
    variants = {
        "compact_label_last": json.dumps(raw, separators=(",", ":")),
        "label_first": json.dumps({"label_index": 129, "label": "flipping pancake", "data": raw["data"]}),
        "no_label_name": json.dumps({"data": raw["data"], "label_index": 3}),
        "unknown": json.dumps({"data": raw["data"], "label": "x", "label_index": -1}),
        "escaped_name": json.dumps({"label": 'caf\u00e9 "[open" {', "data": raw["data"], "label_index": 4},
                                   ensure_ascii=True),
        "name_not_a_string": json.dumps({"label": 5, "data": raw["data"], "label_index": 4}),
        "key_twice": '{"label_index": 1, "data": [], "label_index": 2}',  # JSON: the last one wins
        "nested_too": json.dumps({"data": [{"frame_index": 1, "skeleton": [], "label_index": 9}],
                                  "label_index": 2}),
    }
    for name, text in variants.items():
        (tmp_path / f"{name}.json").write_text(text)
    for p in real + sorted(tmp_path.glob("*.json")):
        want = _full_parse_labels(p)
        assert kinetics._own_labels(p) == want, p.name
        fast = kinetics._scanned_labels(p.read_bytes())
        assert fast is None or fast == want, p.name
    # the releases' own layouts take the scan, not the full parse
    assert all(kinetics._scanned_labels(p.read_bytes()) is not None for p in real)
    # a file that cannot be parsed gives no labels to the folder pass (it reports its problem when read)
    text = kin.read_text()
    (tmp_path / "cut.json").write_text(text[: len(text) // 2] + text[-60:])  # labels intact, data cut
    (tmp_path / "latin1.json").write_bytes(json.dumps({"label": "caf\u00e9", "label_index": 1, "data": []},
                                                      ensure_ascii=False).encode("latin-1"))
    assert kinetics._own_labels(tmp_path / "cut.json") is None
    assert kinetics._own_labels(tmp_path / "latin1.json") is None


def test_a_file_whose_label_scan_misreads_is_refused_not_mislabelled(kin, tmp_path):
    """Strings holding brackets can make the scan take a nested label_index for the file's own;
    the sample pass parses the file in full and refuses it, naming both readings."""
    raw = json.loads(kin.read_text())
    clips = tmp_path / "clips"
    clips.mkdir()
    tricky = clips / "tricky.json"
    # the real key is written with an escape, so the only literal "label_index" is the nested one
    tricky.write_text('{"a": "]", "extra": {"label_index": 3}, "b": "[", "label\\u005findex": 7, "data": '
                      + json.dumps(raw["data"]) + "}")
    (clips / "plain.json").write_text(json.dumps(dict(raw, label_index=7, label="x")))
    assert kinetics._own_labels(tricky) == {"label_index": 3, "label": ""}  # the misreading the guard is for
    items = {getattr(i, "sample_id", None) or str(i): i for i in kinetics.read_dataset(clips).samples()}
    assert items["plain"].label == 7
    (err,) = [i for i in items.values() if isinstance(i, DataError)]
    assert str(tricky) in str(err) and "label_index 7 ('') in full but 3 ('') by the label scan" in str(err)
