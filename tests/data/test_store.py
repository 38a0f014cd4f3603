"""The project's store: round trip, memory mapping, atomic writes, skipped samples, splits, corrupt
indexes, and the worked example of docs/data_format.md run on real samples."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from stf.data import sbu, ucla
from stf.data.store import SkeletonStore, write_store
from stf.errors import DataError, LayoutError
from stf.layouts import get_mapping
from stf.sample import Sample
from tests.conftest import REPO, need_data

UCLA_IDS = ["a01_s01_e00_v01", "a06_s03_e01_v02", "a12_s09_e04_v03"]
SBU_PATHS = [("s01s02", "01", "001"), ("s06s03", "06", "001")]


@pytest.fixture(scope="module")
def ucla_samples():
    root = need_data("nw-ucla", "all_sqe")
    return [ucla.read_file(root / f"{i}.json") for i in UCLA_IDS]


@pytest.fixture(scope="module")
def sbu_samples():
    root = need_data("sbu-kinect-interaction")
    return [sbu.read_file(root.joinpath(*p, "skeleton_pos.txt")) for p in SBU_PATHS]


def _write(dest, samples, **kw):
    args = dict(name="t", source_format="test", source="mem", layout="kinect20", channels="xyz",
                class_names=list(ucla.CLASS_NAMES), max_persons=1)
    args.update(kw)
    return write_store(dest, samples, **args)


def _siblings(path):
    return sorted(p.name for p in path.parent.iterdir())


# -- round trip ---------------------------------------------------------------------------------
def test_round_trip_ucla(tmp_path, ucla_samples):
    store = _write(tmp_path / "s", ucla_samples)
    assert len(store) == 3 and store.ids == UCLA_IDS
    assert isinstance(store.data, np.memmap) and store.data.dtype == np.float32
    assert store.data.shape == (sum(s.num_frames for s in ucla_samples), 1, 20, 3)
    for i, want in enumerate(ucla_samples):
        got = store[i]
        assert got.sample_id == want.sample_id and got.label == want.label and got.meta == want.meta
        assert got.layout == "kinect20" and got.channels == "xyz"
        np.testing.assert_array_equal(got.data, want.data)
        got.validate()
    assert store.position(UCLA_IDS[2]) == 2
    with pytest.raises(DataError, match="no sample with id"):
        store.position("nope")


def test_round_trip_pads_persons(tmp_path, sbu_samples, ucla_samples):
    # two-person SBU samples plus a one-person sample mapped to sbu15: padded to max_persons = 2
    one = ucla_samples[0]
    mapped = Sample(data=get_mapping("kinect20", "sbu15").apply(one.data), layout="sbu15",
                    label=0, sample_id="one-person", meta={"n": np.int64(3), "x": (1, 2)})
    store = _write(tmp_path / "s", sbu_samples + [mapped], layout="sbu15", class_names=list(sbu.CLASS_NAMES),
                   max_persons=2)
    assert store.index["persons"] == [2, 2, 1]
    for i, want in enumerate(sbu_samples):
        np.testing.assert_array_equal(store[i].data, want.data)
    got = store[2]
    np.testing.assert_array_equal(got.data[:1], mapped.data)
    assert not got.data[1].any() and got.person_mask.tolist() == [True, False]
    assert got.meta == {"n": 3, "x": "(1, 2)"}  # numpy scalars unwrapped, other values as strings


def test_more_persons_than_max_keeps_the_first(tmp_path, sbu_samples):
    store = _write(tmp_path / "s", sbu_samples, layout="sbu15", class_names=list(sbu.CLASS_NAMES), max_persons=1)
    assert store.data.shape[1] == 1 and store.index["persons"] == [1, 1]
    np.testing.assert_array_equal(store[0].data, sbu_samples[0].data[:1])


def test_more_persons_than_max_keeps_the_present_ones(tmp_path, sbu_samples):
    """A real two-person SBU sample whose first person is absent (all zero): max_persons=1 keeps the one
    who is there, not an all-zero person (which wrote a store whose sample cannot be read back)."""
    s = sbu_samples[0]
    d = s.data.copy()
    d[0] = 0
    store = _write(tmp_path / "s", [s.with_data(d)], layout="sbu15", class_names=list(sbu.CLASS_NAMES),
                   max_persons=1)
    assert store.index["persons"] == [1]
    np.testing.assert_array_equal(store[0].data, s.data[1:2])


def test_a_sample_without_an_id_is_skipped(tmp_path, ucla_samples):
    """An empty sample id is not a key for logits or splits: such a sample is skipped naming the reason
    (it used to be written, and every further one skipped as a 'duplicate sample id')."""
    samples = [s.with_data(s.data, sample_id="") for s in ucla_samples[:2]] + ucla_samples[2:]
    store = _write(tmp_path / "s", samples)
    assert store.ids == UCLA_IDS[2:]
    assert [k["problem"] for k in store.index["skipped"]] == ["no sample id"] * 2


def test_a_store_another_process_wrote_meanwhile_is_kept(tmp_path, ucla_samples):
    """Concurrent conversion to one destination: the one that finishes second, without overwrite, must not
    replace the first one's store (which that process has open) but say it already exists."""
    dest = tmp_path / "s"

    def meanwhile():
        yield ucla_samples[0]
        _write(dest, ucla_samples[:1])  # the other process finishes first
        yield from ucla_samples[1:]

    with pytest.raises(DataError, match="already exists"):
        _write(dest, meanwhile())
    assert SkeletonStore(dest).ids == UCLA_IDS[:1]
    assert _siblings(dest) == ["s"]  # no temporary directory left behind


def test_a_store_appearing_just_before_the_rename_is_kept(tmp_path, ucla_samples, monkeypatch):
    """The other process renames its store into place between our last check and our rename."""
    import os

    from stf.data import store as store_mod

    dest = tmp_path / "s"
    real = os.rename

    def racing_rename(a, b):
        if str(b) == str(dest) and not dest.exists():
            monkeypatch.setattr(store_mod.os, "rename", real)
            _write(dest, ucla_samples[:1])
        return real(a, b)

    monkeypatch.setattr(store_mod.os, "rename", racing_rename)
    with pytest.raises(DataError, match="already exists"):
        _write(dest, ucla_samples)
    assert SkeletonStore(dest).ids == UCLA_IDS[:1] and _siblings(dest) == ["s"]


def test_info(tmp_path, ucla_samples):
    info = _write(tmp_path / "s", ucla_samples, splits={"p": {"a": UCLA_IDS[:1]}}).info()
    lengths = [s.num_frames for s in ucla_samples]
    assert info["samples"] == 3 and info["classes"] == 10 and info["skipped"] == 0
    assert info["frames"] == {"total": sum(lengths), "min": min(lengths), "median": float(np.median(lengths)),
                              "max": max(lengths)}
    assert info["per_class"]["pick up with one hand"] == 1 and info["per_class"]["carry"] == 1
    assert info["splits"] == {"p/a": 1}


# -- atomic writes ------------------------------------------------------------------------------
class Boom(RuntimeError):
    pass


def _failing(samples, after, exc=Boom):
    for k, s in enumerate(samples):
        if k == after:
            raise exc("reader died")
        yield s


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_failure_mid_conversion_leaves_nothing(tmp_path, ucla_samples, exc):
    dest = tmp_path / "out" / "s"
    dest.parent.mkdir()
    with pytest.raises(exc):
        _write(dest, _failing(ucla_samples, 2, exc))
    assert not dest.exists()
    assert _siblings(dest) == []  # no .s.tmp-* left behind


def test_failure_with_overwrite_keeps_the_old_store(tmp_path, ucla_samples):
    dest = tmp_path / "s"
    _write(dest, ucla_samples[:1])
    with pytest.raises(Boom):
        _write(dest, _failing(ucla_samples, 2), overwrite=True)
    assert SkeletonStore(dest).ids == UCLA_IDS[:1]
    assert _siblings(dest) == ["s"]


_KILLED_CONVERSION = """
import os, signal, sys
from pathlib import Path
from stf.data import ucla
from stf.data.store import write_store
root, dest, where = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
ids = {ids!r}
def samples():
    for k, i in enumerate(ids):
        if where == "reading" and k == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        yield ucla.read_file(root / f"{{i}}.json")
if where == "renaming":  # die between moving the old store aside and moving the new one in
    real = os.rename
    def rename(a, b):
        real(a, b)
        if ".old-" in str(b):
            os.kill(os.getpid(), signal.SIGKILL)
    os.rename = rename
write_store(dest, samples(), name="t", source_format="test", source="mem", layout="kinect20", channels="xyz",
            class_names=list(ucla.CLASS_NAMES), max_persons=1, overwrite=True)
"""


@pytest.mark.parametrize("where", ["reading", "renaming"])
def test_a_killed_conversion_is_tidied_by_the_next(tmp_path, ucla_samples, where):
    """SIGKILL leaves no chance to clean up: the next conversion to the same place removes the temporary
    directory, and puts back an old store that a replacement had moved aside when it died."""
    import signal
    import subprocess
    import sys

    dest = tmp_path / "s"
    _write(dest, ucla_samples[:1])
    code = _KILLED_CONVERSION.format(ids=UCLA_IDS)
    r = subprocess.run([sys.executable, "-c", code, str(need_data("nw-ucla", "all_sqe")), str(dest), where],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr
    left = [n for n in _siblings(dest) if n != "s"]
    assert left and all(re.fullmatch(r"\.s\.(tmp|old)-\d+(-.*)?", n) for n in left), left
    assert dest.exists() == (where == "reading")
    with pytest.raises(DataError, match="already exists"):  # the old store is back (or never left)
        _write(dest, ucla_samples)
    assert _siblings(dest) == ["s"]
    assert SkeletonStore(dest).ids == UCLA_IDS[:1]


def test_the_files_of_a_running_conversion_are_left_alone(tmp_path, ucla_samples):
    import os

    from stf.data.store import sweep_interrupted

    dest = tmp_path / "s"
    mine = tmp_path / f".s.tmp-{os.getpid()}-abc"
    mine.mkdir()
    other = tmp_path / ".t.tmp-999999999-abc"  # another store's name: not ours to touch
    other.mkdir()
    assert sweep_interrupted(dest) == []
    _write(dest, ucla_samples[:1])
    assert mine.is_dir() and other.is_dir()


def test_no_valid_sample_writes_nothing(tmp_path):
    dest = tmp_path / "s"
    with pytest.raises(DataError, match=r"no valid sample to write \(2 skipped\)\n  a: bad one\n  b: bad two$"):
        _write(dest, [DataError("a", "bad one"), DataError("b", "bad two")])
    assert _siblings(dest) == []
    many = [DataError(f"f{i}", "bad") for i in range(7)]  # the first five reasons, then a count
    with pytest.raises(DataError, match=r"\(7 skipped\)(\n  f\d: bad){5}\n  \.\.\. and 2 more$"):
        _write(dest, many)


def test_overwrite(tmp_path, ucla_samples):
    dest = tmp_path / "s"
    _write(dest, ucla_samples[:1])
    with pytest.raises(DataError, match="already exists"):
        _write(dest, ucla_samples)
    assert SkeletonStore(dest).ids == UCLA_IDS[:1]
    store = _write(dest, ucla_samples, overwrite=True)
    assert store.ids == UCLA_IDS and SkeletonStore(dest).ids == UCLA_IDS
    assert _siblings(dest) == ["s"]  # the moved-aside old copy is gone


def test_force_replaces_only_a_store(tmp_path, ucla_samples):
    """--force on a file or on a directory that is not a store (a typo, a home directory) touches nothing:
    it replaced a file with a store, and would have moved aside and deleted any directory."""
    notes = tmp_path / "labels.csv"
    notes.write_text("keep")
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("keep")
    (home / "index.json").write_text("{}")  # even with an index.json, other files mean: not a store
    for dest in (notes, home):
        with pytest.raises(DataError, match="is not a converted data set.*nothing was touched"):
            _write(dest, ucla_samples, overwrite=True)
    assert notes.read_text() == "keep" and (home / "thesis.tex").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "labels.csv"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _write(empty, ucla_samples[:1], overwrite=True).ids == UCLA_IDS[:1]


def test_unwritable_destination_is_a_data_error(tmp_path, ucla_samples):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="cannot create"):
        _write(tmp_path / "file" / "s", ucla_samples)


def test_bad_store_arguments(tmp_path, ucla_samples):
    with pytest.raises(LayoutError):
        _write(tmp_path / "s", ucla_samples, layout="kinect21")
    with pytest.raises(DataError, match="unknown channels"):
        _write(tmp_path / "s", ucla_samples, channels="rgb")
    assert not (tmp_path / "s").exists()


# -- skipped samples ----------------------------------------------------------------------------
def test_skipped_samples_are_recorded(tmp_path, ucla_samples, sbu_samples):
    nan = ucla_samples[1].data.copy()
    nan[0, 2, 5, 1] = np.nan
    items = [
        ucla_samples[0],
        DataError("file-x.json", "invalid JSON"),
        ucla_samples[0],  # duplicate id
        sbu_samples[0],  # another layout
        Sample(data=nan, layout="kinect20", sample_id="nan-one", source="nan.json"),
        Sample(data=np.zeros((1, 4, 19, 3)) + 1, layout="kinect20", sample_id="v19", source="v19.json"),
        ucla_samples[2],
    ]
    store = _write(tmp_path / "s", items)
    assert store.ids == [UCLA_IDS[0], UCLA_IDS[2]]
    skipped = store.index["skipped"]
    assert [s["where"] for s in skipped] == ["file-x.json", ucla_samples[0].source, sbu_samples[0].source,
                                            "nan.json", "v19.json"]
    problems = [s["problem"] for s in skipped]
    assert problems[0] == "invalid JSON"
    assert "duplicate sample id" in problems[1]
    assert "layout/channels sbu15/xyz" in problems[2]
    assert problems[3] == "non-finite value (NaN or inf) at person 0, frame 2, joint 5"
    assert problems[4] == "19 joints, but layout kinect20 has 20"
    assert store.info()["skipped"] == 5


# -- splits -------------------------------------------------------------------------------------
def test_splits_are_filtered_and_indexed(tmp_path, ucla_samples):
    splits = {"xview": {"train": [UCLA_IDS[0], UCLA_IDS[1], "gone"], "test": [UCLA_IDS[2]]},
              "other": {"all": ["gone"]}}
    store = _write(tmp_path / "s", ucla_samples, splits=splits)
    assert store.splits == {"xview": {"train": UCLA_IDS[:2], "test": UCLA_IDS[2:]}, "other": {"all": []}}
    assert store.split_names() == ["xview/train", "xview/test", "other/all"]
    assert store.split_indices("xview/test").tolist() == [2]
    assert store.split_indices("xview/train").tolist() == [0, 1]
    assert store.split_indices("all").tolist() == store.split_indices(None).tolist() == [0, 1, 2]
    with pytest.raises(DataError, match="no split 'xview/val'; available: xview/train"):
        store.split_indices("xview/val")
    with pytest.raises(DataError, match="split 'other/all' holds no samples"):  # every id of it was dropped
        store.split_indices("other/all")
    assert store.split_indices("other/all", allow_empty=True).tolist() == []


# -- corrupt stores -----------------------------------------------------------------------------
@pytest.fixture
def good_store(tmp_path, ucla_samples):
    return _write(tmp_path / "s", ucla_samples, splits={"p": {"a": UCLA_IDS[:2]}}).path


def _edit_index(path, change):
    idx = json.loads((path / "index.json").read_text())
    change(idx)
    (path / "index.json").write_text(json.dumps(idx))


@pytest.mark.parametrize("change, problem", [
    (lambda i: i.update(format="other"), "not an stf-skeleton-store index"),
    (lambda i: i.update(version=2), "store schema version 2, this code reads 1"),
    (lambda i: i.pop("lengths"), "missing keys ['lengths']"),
    (lambda i: i.update(ids=[]), "'ids' must be a non-empty list"),
    (lambda i: i.update(ids=[UCLA_IDS[0]] * 3), "'ids' has duplicates"),
    (lambda i: i["labels"].pop(), "'labels' must be a list with one entry per id (3)"),
    (lambda i: i["offsets"].__setitem__(0, "0"), "'offsets' must hold integers"),
    (lambda i: i["meta"].__setitem__(0, []), "'meta' must hold one dict per id"),
    (lambda i: i["labels"].__setitem__(0, 10), "a label is outside -1..9"),
    (lambda i: i["lengths"].__setitem__(0, 0), "lengths must be >= 1"),
    (lambda i: i.update(layout="kinect21"),
     "written with layout 'kinect21', which this process does not know: unknown skeleton layout 'kinect21'"),
    (lambda i: i.update(channels="rgb"), "unknown channels 'rgb'"),
    (lambda i: i.update(max_persons=0), "'max_persons' must be a positive int"),
    (lambda i: i.update(splits={"p": {"a": ["nope"]}}), "'splits' must be"),
    (lambda i: i.update(splits={"p": {"a": [["a01_s01_e00_v01"]]}}), "'splits' must be"),  # was a TypeError
    (lambda i: i.update(channels=["xyz"]), "unknown channels ['xyz']"),  # was a TypeError
    (lambda i: i["persons"].__setitem__(0, 5), "'persons' must be within 0..max_persons (1)"),
    (lambda i: i.update(max_persons=2), "the index needs float32 (frames, *(2, 20, 3))"),
    (lambda i: i["offsets"].__setitem__(2, 10_000), "index needs 10"),
])
def test_corrupt_index(good_store, change, problem):
    _edit_index(good_store, change)
    with pytest.raises(DataError) as ei:
        SkeletonStore(good_store)
    assert problem in ei.value.problem


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "", "\udcff"])
def test_unreadable_index(good_store, content):
    (good_store / "index.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(DataError) as ei:
        SkeletonStore(good_store)
    assert ei.value.where == str(good_store / "index.json")


def test_corrupt_array(good_store):
    raw = (good_store / "data.npy").read_bytes()
    (good_store / "data.npy").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(DataError, match="data.npy: truncated: the file is shorter than its header says"):
        SkeletonStore(good_store)
    (good_store / "data.npy").unlink()
    with pytest.raises(DataError, match="unreadable array"):
        SkeletonStore(good_store)


@pytest.mark.parametrize("content, problem", [
    (b"", "data.npy: empty file"),
    (b"\x80\x04garbage that numpy would unpickle", "data.npy: not a .npy array (no NumPy header)"),
    (b"\x93NUMPY", "data.npy: unreadable array"),  # the magic and nothing after it
])
def test_a_data_file_that_is_not_an_array(good_store, content, problem):
    (good_store / "data.npy").write_bytes(content)
    with pytest.raises(DataError, match=re.escape(problem)):
        SkeletonStore(good_store)


def test_not_a_store(tmp_path):
    with pytest.raises(DataError, match="not a converted data set"):
        SkeletonStore(tmp_path)


def test_a_source_file_given_as_a_store_is_named():
    """A real pyskl file given where a converted directory goes (FORMAT: forgotten) said only
    'unreadable index: [Errno 20] Not a directory: .../example_UCF101_skeleton.pkl/index.json'."""
    f = need_data("paddlevideo-skeleton-samples", "example_UCF101_skeleton.pkl")
    with pytest.raises(DataError) as ei:
        SkeletonStore(f)
    assert ei.value.where == str(f)
    assert "is a file, not a converted data set" in ei.value.problem and "FORMAT:PATH" in ei.value.problem


# -- docs ---------------------------------------------------------------------------------------
DOC = REPO / "docs" / "data_format.md"


def test_documented_index_keys_are_the_written_ones(good_store):
    text = DOC.read_text().split("`index.json` keys:", 1)[1].split("\n\n", 2)[1]
    documented = re.findall(r"^\| `(\w+)` \|", text, flags=re.M)
    written = json.loads((good_store / "index.json").read_text())
    assert documented == list(written)


def test_doc_worked_example_runs_on_real_samples(tmp_path, ucla_samples):
    code = next(b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S) if "def convert_my_data" in b)
    ns: dict = {}
    exec(compile(code, str(DOC), "exec"), ns)
    folder = tmp_path / "recordings"
    folder.mkdir()
    for s in ucla_samples[:2]:
        np.save(folder / f"{s.sample_id}.npy", s.data[0])  # (T, 20, 3)
    (folder / "broken.npy").write_bytes(b"not an npy file")
    np.save(folder / "flat.npy", ucla_samples[2].data[0, :, :, 0])  # (T, 20): no channel axis
    (folder / "labels.csv").write_text(
        "name,class,part\n"
        f"{UCLA_IDS[0]},wave,train\n{UCLA_IDS[1]},bow,test\nbroken,clap,test\n")
    store = ns["convert_my_data"](str(folder), str(tmp_path / "mine"))
    assert isinstance(store, SkeletonStore)
    store = SkeletonStore(tmp_path / "mine")
    assert store.ids == UCLA_IDS[:2] and store.class_names == ["wave", "clap", "bow"]
    assert store.labels.tolist() == [0, 2]
    for i in range(2):
        np.testing.assert_array_equal(store[i].data, ucla_samples[i].data)
    assert store.splits == {"mine": {"train": [UCLA_IDS[0]], "test": [UCLA_IDS[1]]}}
    assert sorted(s["where"] for s in store.index["skipped"]) == [str(folder / "broken.npy"),
                                                                    str(folder / "flat.npy")]
    shutil.rmtree(folder)
    np.testing.assert_array_equal(store[0].data, ucla_samples[0].data)  # the store stands alone
