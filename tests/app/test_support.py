"""The app's Streamlit-free helpers: discovery of models / bundles / data sets, sample tables, uploads."""
from __future__ import annotations

import json
import zipfile
import io

import numpy as np
import pytest

from stf.app_support import discovery as disc
from stf.app_support.upload import UploadError, detect_format, read_upload, safe_name
from stf.errors import DataError
from stf.evaluate import load_bundle, write_bundle
from tests.conftest import need_data


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    for name in ("assets", "runs", "cache"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("STF_ASSETS_DIR", str(tmp_path / "assets"))
    monkeypatch.setenv("STF_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("STF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _bundle(out, sha, spec="ucla:nw-ucla", split="xview/test", n=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)).astype(np.float32)
    labels = np.arange(n) % k
    return write_bundle(out, [f"s{i}" for i in range(n)], logits, labels, [f"c{j}" for j in range(k)],
                        {"checkpoint": {"path": "/elsewhere/model.pt", "sha256": sha},
                         "data": {"spec": spec, "split": split, "store": "/nowhere"}})


def test_checkpoints_and_their_bundles_are_found_by_sha(dirs):
    ck = dirs / "assets" / "stf_demo.pt"
    ck.write_bytes(b"weights")
    other = dirs / "runs" / "exp" / "last.pt"
    other.parent.mkdir()
    other.write_bytes(b"other weights")
    (dirs / "runs" / "exp" / ".last.pt.tmp-1").write_bytes(b"partial")  # a write in progress: ignored
    sha = disc.file_sha256(ck)
    _bundle(dirs / "assets" / "stf_demo.eval", sha)                    # <name>.eval/
    _bundle(dirs / "assets" / "stf_demo.eval" / "xview-val", sha, split="xview-val/test")  # <name>.eval/<any>/
    _bundle(dirs / "assets" / "stranger", "0" * 64)                     # a sibling of another checkpoint
    _bundle(dirs / "runs" / "exp" / "eval-test", disc.file_sha256(other))
    models = disc.find_checkpoints()
    assert [(m.label, m.root) for m in models] == [("assets/stf_demo.pt", "assets"), ("runs/exp/last.pt", "runs")]
    refs = disc.bundles_for(ck)
    assert sorted(r.split for r in refs) == ["xview-val/test", "xview/test"]
    assert disc.bundles_for(other)[0].path == (dirs / "runs" / "exp" / "eval-test").resolve()
    assert disc.bundle_for_data(refs, "ucla:nw-ucla", "xview/test").split == "xview/test"
    assert disc.bundle_for_data(refs, "ucla:nw-ucla", "fold1/test") is None
    ref = refs[0]
    assert disc.checkpoint_for_bundle(ref, models) == ck.resolve()  # recorded path elsewhere, sha matches
    assert len(disc.all_bundles()) == 4


def test_bundles_of_finished_runs_are_found(dirs):
    from stf.runs import Registry

    ck = dirs / "runs" / "m.pt"
    ck.write_bytes(b"w")
    reg = Registry()
    rid = reg.submit(ck, "ucla:nw-ucla", "xview/test")
    reg.claim()
    out = _bundle(dirs / "runs" / "evals" / str(rid), disc.file_sha256(ck))
    reg.finish(rid, out)
    refs = disc.bundles_for(ck)
    assert [r.origin for r in refs] == [f"run {rid}"]


def test_incomplete_bundle_is_ignored(dirs):
    ck = dirs / "assets" / "m.pt"
    ck.write_bytes(b"w")
    b = _bundle(dirs / "assets" / "m.eval", disc.file_sha256(ck))
    (b / "logits.npz").unlink()
    assert disc.bundles_for(ck) == []


def test_sample_table_and_filters(dirs, ucla_store):
    split = "xview/test"
    idx = ucla_store.split_indices(split)[:20]
    ids = [ucla_store.ids[i] for i in idx]
    labels = ucla_store.labels[idx]
    logits = np.zeros((20, 10), np.float32)
    logits[np.arange(20), labels] = 5.0
    logits[:5] = 0
    logits[:5, 0] = 5.0  # the first five predicted class 0
    b = load_bundle(write_bundle(dirs / "b", ids, logits, labels, ucla_store.class_names, {}))
    df = disc.sample_table(ucla_store, split, b)
    assert len(df) == len(ucla_store.split_indices(split))
    have = df[df["pred"].notna()]
    assert len(have) == 20
    assert (have["correct"] == (have["label"] == have["pred_idx"])).all()
    wrong = disc.filter_samples(df, correctness="incorrect")
    assert set(wrong["id"]) == {ids[i] for i in range(5) if labels[i] != 0}
    name0 = ucla_store.class_names[0]
    assert set(disc.filter_samples(df, pred=[name0])["id"]) >= set(ids[:5])
    hi = disc.filter_samples(df, confidence=(0.9, 1.0))
    assert len(hi) == 20 and (hi["confidence"] >= 0.9).all()
    assert disc.sample_table(ucla_store, split)["pred"].isna().all()


def test_datasets_offer_known_sources_and_converted_stores(dirs, monkeypatch):
    root = need_data()
    monkeypatch.setenv("STF_DATA_ROOT", str(root))
    specs = [d.spec for d in disc.find_datasets()]
    assert "ucla:nw-ucla" in specs
    assert disc.data_root_status() is None
    monkeypatch.setenv("STF_DATA_ROOT", "")
    assert "not set" in disc.data_root_status()
    empty = dirs / "empty"
    empty.mkdir()
    monkeypatch.setenv("STF_DATA_ROOT", str(empty))
    assert "is empty" in disc.data_root_status()
    assert all(not d.spec.startswith("ucla:") for d in disc.find_datasets())


def test_bundle_zip_holds_the_bundle_files(dirs):
    b = _bundle(dirs / "b", "x")
    z = zipfile.ZipFile(io.BytesIO(disc.bundle_zip(b)))
    assert sorted(z.namelist()) == sorted(f"b/{n}" for n in ("metrics.json", "logits.npz", "predictions.csv",
                                                            "confusion.csv"))
    assert json.loads(z.read("b/metrics.json"))["schema"] == "stf-eval-bundle"


# -- uploads -------------------------------------------------------------------------------------
def test_upload_of_real_files_in_several_formats():
    ucla = need_data("nw-ucla", "all_sqe", "a01_s01_e00_v01.json")
    ntu = need_data("ntu-raw-skeleton-samples", "nturgb+d_skeletons", "S001C001P001R001A001.skeleton")
    s, fmt = read_upload(ucla.name, ucla.read_bytes())
    assert fmt == "ucla" and s[0].layout == "kinect20" and s[0].sample_id == "a01_s01_e00_v01"
    s, fmt = read_upload(ntu.name, ntu.read_bytes())
    assert fmt == "ntu" and s[0].layout == "ntu25"
    sbu = sorted(need_data("sbu-kinect-interaction").glob("*/*/*/skeleton_pos.txt"))[0]
    s, fmt = read_upload(sbu.name, sbu.read_bytes())
    assert fmt == "sbu" and s[0].num_persons == 2


def test_upload_refusals_are_one_line_messages(monkeypatch):
    monkeypatch.setenv("STF_MAX_UPLOAD_BYTES", "100")
    with pytest.raises(UploadError, match="above the upload limit"):
        read_upload("big.json", b"x" * 101)
    monkeypatch.delenv("STF_MAX_UPLOAD_BYTES")
    with pytest.raises(UploadError, match="unknown file type .exe"):
        read_upload("virus.exe", b"MZ")
    with pytest.raises(UploadError, match="empty"):
        read_upload("a.json", b"")
    with pytest.raises(DataError):
        read_upload("a01_s01_e00_v01.json", b'{"skeletons": [[[1, 2]]]}')
    with pytest.raises(DataError):
        read_upload("x.skeleton", b"garbage\n")
    with pytest.raises(DataError, match="layout"):
        read_upload("x.npy", b"\x93NUMPY\x01\x00" + b" " * 50)
    # the message names the uploaded file, never the temporary copy the reader opened
    ntu = need_data("ntu-raw-skeleton-samples", "nturgb+d_skeletons", "S001C001P001R001A001.skeleton").read_bytes()
    with pytest.raises(DataError) as err:
        read_upload("my clip.skeleton", ntu[:len(ntu) // 2])
    assert str(err.value).startswith("my clip.skeleton: frame ") and "truncated" in str(err.value)
    assert "stf-upload-" not in str(err.value)


def test_names_and_detection():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("a b/../c;rm -rf.json") == "c_rm_-rf.json"
    assert safe_name(".hidden") == "hidden"
    assert detect_format("x.json", b'{"file_name": "a", "skeletons": []}') == "ucla"
    assert detect_format("x.json", b'{"data": [{"frame_index": 1}]}') == "kinetics"
    assert detect_format("X.SKELETON", b"") == "ntu"


def test_true_class_is_named_by_the_data_and_scored_only_on_shared_classes():
    from stf.app_support.discovery import true_class, upload_class_names
    from stf.data import ntu, sbu, ucla
    from stf.sample import Sample

    model = list(ucla.CLASS_NAMES)
    assert true_class(3, model, model) == ("walk around", 3)
    assert true_class(None, model, model) == (None, None) and true_class(-1, None, model) == (None, None)
    assert true_class(3, None, model) == ("walk around", 3)  # no names: an index into the model's classes
    assert true_class(3, [f"class_{k}" for k in range(10)], model) == ("walk around", 3)
    assert true_class(12, None, model) == ("class 12", None)
    ntu_names = list(ntu.CLASS_NAMES_120)
    assert true_class(0, ntu_names, model) == ("drink water", None)
    assert true_class(ntu_names.index("throw"), ntu_names, model) == ("throw", model.index("throw"))
    assert true_class(0, list(sbu.CLASS_NAMES), model) == ("approaching", None)
    s = Sample(data=np.ones((1, 2, 18, 3), np.float32), layout="openpose18", channels="xy+score", label=2,
               meta={"label_name": "throw"})
    assert true_class(2, upload_class_names("kinetics", s), model) == ("throw", model.index("throw"))
    assert upload_class_names("npy", s) is None and upload_class_names("ntu", s) == ntu_names


def test_upload_of_a_video_pose_file_is_explained_in_the_model_layout(ntu_poses):
    from stf.explain import Explainer
    from tests.conftest import REPO

    data = ntu_poses["A007"].read_bytes()
    samples, fmt = read_upload("S004C003P003R001A007_rgb.pose.npz", data)
    assert fmt == "mediapipe" and len(samples) == 1
    s = samples[0]
    assert s.layout == "mediapipe33" and s.sample_id == "S004C003P003R001A007_rgb" and s.label == 6
    e = Explainer(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt").explain(s, compare_top2=False)
    assert e.sample.layout == "kinect20" and any("mediapipe33 -> kinect20" in n for n in e.notes)
    with pytest.raises(DataError, match="clip.pose.npz: not a readable .npz file"):
        read_upload("clip.pose.npz", data[:500])


def test_discovery_leaves_out_what_it_cannot_read(dirs):
    """A dangling or looping *.pt symlink crashed every page's sidebar, a FIFO hung it, and a cache folder
    whose index.json is JSON but not an index crashed the data-set list."""
    import os

    runs = dirs / "runs"
    (runs / "dangling.pt").symlink_to(dirs / "gone.pt")
    (runs / "loop.pt").symlink_to(runs / "loop.pt")
    (dirs / "assets" / "loop.pt").symlink_to(dirs / "assets" / "loop.pt")
    os.mkfifo(runs / "fifo.pt")
    assert disc.find_checkpoints() == []
    for name, content in (("list", "[1, 2]"), ("numbers", '{"source_format": "ucla", "source": 5}')):
        (dirs / "cache" / name).mkdir()
        (dirs / "cache" / name / "index.json").write_text(content)
    labels = [c.label for c in disc.find_datasets()]
    assert not any("list" in lab for lab in labels)
    with pytest.raises(DataError, match="no such bundle folder"):
        disc.bundle_zip(dirs / "removed")
    from stf.errors import ArgumentError

    with pytest.raises(ArgumentError, match="correctness must be all, correct or incorrect, got 'wrong'"):
        disc.filter_samples(None, correctness="wrong")


def test_a_tiny_upload_limit_is_said_in_bytes(monkeypatch):
    monkeypatch.setenv("STF_MAX_UPLOAD_BYTES", "10")
    with pytest.raises(UploadError, match="the file is 11 bytes, above the upload limit of 10 bytes"):
        read_upload("x.json", b"{" * 11)


def test_the_newest_bundle_of_a_split_is_chosen(dirs):
    """Two finished runs of one checkpoint on the same data and split: the explorer's predictions come from the
    newest (the registry lists runs newest first, and the oldest was taken)."""
    import os

    from stf.runs import Registry

    ck = dirs / "runs" / "m.pt"
    ck.write_bytes(b"w")
    sha = disc.file_sha256(ck)
    reg = Registry()
    outs = []
    for seed in (0, 1):
        rid = reg.submit(ck, "ucla:nw-ucla", "xview/test")
        reg.claim()
        out = _bundle(dirs / "runs" / "evals" / str(rid), sha, seed=seed)
        reg.finish(rid, out)
        outs.append(out)
    old = (outs[0] / "metrics.json").stat().st_mtime - 60
    os.utime(outs[0] / "metrics.json", (old, old))
    refs = disc.bundles_for(ck)
    assert len(refs) == 2
    assert disc.bundle_for_data(refs, "ucla:nw-ucla", "xview/test").path == outs[1].resolve()
    assert disc.bundle_for_data(refs[::-1], "ucla:nw-ucla", "xview/test").path == outs[1].resolve()
