"""Evaluation bundles, fusion by sample id, the report, and checkpoint/data compatibility."""
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from stf.errors import CheckpointError, ConfigError, DataError
from stf.evaluate import evaluate, load_bundle, metrics_from_logits, write_bundle
from stf.fuse import fuse
from stf.report import collect, discordance, mcnemar_exact, table

from .conftest import REPO, need_data


def test_metrics_hand_case():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 1.0, 2.0], [2.0, 0.0, 1.0]])
    labels = np.array([0, 1, 1, 2])
    m = metrics_from_logits(logits, labels, ["a", "b", "c"])
    assert m["top1"] == 0.5
    assert m["confusion"] == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    assert [c["top1"] for c in m["per_class"]] == [1.0, 0.5, 0.0]


@pytest.fixture(scope="module")
def bundle(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "bundle"
    evaluate(tiny_checkpoint, "ucla:nw-ucla", "xview/test", out, device="cpu")
    return load_bundle(out)


def test_bundle_holds_every_view3_id_with_provenance(bundle, ucla_store):
    expected = set(ucla_store.splits["xview"]["test"])
    assert set(bundle.ids.tolist()) == expected and len(bundle.ids) == 464
    m = bundle.metrics
    assert m["schema"] == "stf-eval-bundle" and m["class_names"] == ucla_store.class_names
    assert m["checkpoint"]["sha256"] and m["checkpoint"]["seed"] == 0 and m["stream"] == "joint"
    assert m["data"]["split"] == "xview/test"
    # what the model trained on: the tiny config's 48 class-balanced samples of views 1-2
    ck = m["checkpoint"]
    assert (ck["train_split"], ck["train_fraction"], ck["train_max_samples"]) == ("xview/train", None, 48)
    assert np.asarray(m["confusion"]).sum() == 464
    assert m["top1"] == pytest.approx(float((bundle.preds == bundle.labels).mean()))
    lines = (bundle.path / "predictions.csv").read_text().splitlines()
    assert len(lines) == 465 and lines[0].startswith("id,label")


def test_evaluation_is_deterministic(bundle, tiny_checkpoint, tmp_path):
    again = load_bundle(evaluate(tiny_checkpoint, "ucla:nw-ucla", "xview/test", tmp_path / "b", device="cpu"))
    assert np.array_equal(again.ids, bundle.ids)
    np.testing.assert_allclose(again.logits, bundle.logits, rtol=1e-5, atol=1e-5)


def test_fuse_matches_by_id_not_position(bundle, tmp_path):
    perm = np.random.default_rng(0).permutation(len(bundle.ids))
    shuffled = write_bundle(tmp_path / "shuf", bundle.ids[perm].tolist(), bundle.logits[perm],
                            bundle.labels[perm], bundle.class_names, {"stream": "joint"})
    ids, fused, labels = fuse([bundle, load_bundle(shuffled)], [0.6, 0.4])
    pos = {s: i for i, s in enumerate(bundle.ids.tolist())}
    order = [pos[s] for s in ids]
    assert np.array_equal(labels, bundle.labels[order])
    assert np.array_equal(fused.argmax(1), bundle.logits[order].argmax(1))  # same model twice: same argmax


def test_a_fused_bundle_keeps_the_source_its_parts_share(bundle, tiny_checkpoint, tmp_path):
    """Two real evaluations of one store: the fused record names its source (what `report` identifies a
    data set by); with a part written before sources were recorded (the shipped bundle) it names none."""
    from stf.fuse import fused_provenance

    other = load_bundle(evaluate(tiny_checkpoint, "ucla:nw-ucla", "xview/test", tmp_path / "b2", device="cpu"))
    data = fused_provenance([bundle, other], None)["data"]
    assert data["source_format"] == "ucla" and data["source"] == bundle.metrics["data"]["source"]
    assert (data["spec"], data["split"], data["layout"]) == ("ucla:nw-ucla", "xview/test", "kinect20")
    shipped = load_bundle(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval")
    assert "source" not in shipped.metrics["data"]
    legacy = fused_provenance([shipped, other], None)["data"]
    assert "source" not in legacy and legacy["spec"] == "ucla:nw-ucla"


@pytest.mark.parametrize("weights", [[1.0, -1.0], [0.0, 0.0], [float("nan"), 1.0], [1.0]])
def test_fuse_refuses_bad_weights(bundle, weights):
    with pytest.raises(DataError, match="weights"):
        fuse([bundle, bundle], weights)


def test_fuse_refuses_different_id_sets(bundle, tmp_path):
    part = write_bundle(tmp_path / "part", bundle.ids[:-1].tolist(), bundle.logits[:-1], bundle.labels[:-1],
                        bundle.class_names, {"stream": "bone"})
    with pytest.raises(DataError, match="sample ids differ"):
        fuse([bundle, load_bundle(part)])
    r = subprocess.run([sys.executable, "-m", "stf", "fuse", str(bundle.path), str(part), "--out", str(tmp_path / "f")],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and "sample ids differ" in r.stderr and "Traceback" not in r.stderr


SHIPPED_BUNDLE = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"


def _damaged_copy(tmp_path, name, edit):
    import shutil

    d = tmp_path / name
    shutil.copytree(SHIPPED_BUNDLE, d)
    edit(d)
    return d


def test_damaged_bundles_are_clear_errors(tmp_path):
    """A cut or corrupted copy of the shipped bundle is a DataError naming the file, never a crash."""
    raw = (SHIPPED_BUNDLE / "logits.npz").read_bytes()
    cases = {f"cut{i}": (lambda d, c=c: (d / "logits.npz").write_bytes(raw[:c]), "logits.npz: truncated or corrupt")
             for i, c in enumerate(np.linspace(0, len(raw) - 1, 8).astype(int))}
    mid = len(raw) // 2
    cases["flipped"] = (lambda d: (d / "logits.npz").write_bytes(raw[:mid] + bytes(b ^ 0xFF for b in raw[mid:mid + 64])
                                                               + raw[mid + 64:]), "logits.npz: truncated or corrupt")
    cases["no_logits"] = (lambda d: (d / "logits.npz").unlink(), "missing logits.npz")
    cases["json_cut"] = (lambda d: (d / "metrics.json").write_text((SHIPPED_BUNDLE / "metrics.json").read_text()[:50]),
                         "metrics.json: unreadable")
    cases["json_list"] = (lambda d: (d / "metrics.json").write_text("[1, 2]"), "not an stf evaluation bundle")
    m = json.loads((SHIPPED_BUNDLE / "metrics.json").read_text())
    del m["class_names"]
    cases["no_classes"] = (lambda d: (d / "metrics.json").write_text(json.dumps(m)), "no class_names")
    good = json.loads((SHIPPED_BUNDLE / "metrics.json").read_text())
    fields = {  # hand-edited or foreign metrics: each field a reader relies on is checked, by name
        "confusion_shape": ({"confusion": [[464]]}, "confusion must be a 10 x 10 matrix of counts"),
        "confusion_negative": ({"confusion": [[-1] * 10] * 10}, "confusion must be a 10 x 10"),
        "top1_text": ({"top1": "90%"}, r"top1 must be null or a number in \[0, 1\], got '90%'"),
        "top1_percent": ({"top1": 90.5}, r"top1 must be null or a number in \[0, 1\], got 90.5"),
        "no_top5": ({"top5": None, "__drop__": "top5"}, "has no top5"),
        "num_samples_text": ({"num_samples": "many"}, "num_samples must be an integer >= 0, got 'many'"),
        "checkpoint_text": ({"checkpoint": "x"}, "checkpoint must be a mapping, got str"),
        "data_list": ({"data": [1]}, "data must be a mapping, got list"),
    }
    for name, (change, message) in fields.items():
        edited = {**good, **change}
        edited.pop(edited.pop("__drop__", "__none__"), None)
        cases[name] = (lambda d, e=edited: (d / "metrics.json").write_text(json.dumps(e)), message)
    from stf.app_support.discovery import read_bundle_ref

    for name, (edit, message) in cases.items():
        d = _damaged_copy(tmp_path, name, edit)
        with pytest.raises(DataError, match=message):
            load_bundle(d)
        if name in fields:
            assert read_bundle_ref(d, "test") is None, name  # the app's lists leave it out
    r = subprocess.run([sys.executable, "-m", "stf", "report", str(tmp_path / "cut3")], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "truncated or corrupt" in r.stderr and "Traceback" not in r.stderr
    assert load_bundle(SHIPPED_BUNDLE).metrics["num_samples"] == 464  # the original is untouched


def test_report_table(bundle):
    rows = collect([str(bundle.path)])
    assert rows[0]["kind"] == "STF" and rows[0]["n"] == 464
    assert f"{rows[0]['top1']:.2f}" in table(rows)


def _relabelled(src, out, **checkpoint):
    """The committed bundle ``src`` written again with other provenance (config name, seed, stream)."""
    b = load_bundle(src)
    prov = {k: b.metrics[k] for k in ("checkpoint", "data", "stream")}
    prov["checkpoint"] = {**prov["checkpoint"], **{k: v for k, v in checkpoint.items() if k != "stream"}}
    if checkpoint:  # another model's bundle stands in: not the same checkpoint (fuse refuses copies)
        prov["checkpoint"]["sha256"] = hashlib.sha256(repr(sorted(checkpoint.items())).encode()).hexdigest()
    prov["stream"] = checkpoint.get("stream", prov["stream"])
    return str(write_bundle(out, b.ids.tolist(), b.logits, b.labels, b.class_names, prov))


def test_report_rows_per_config_with_a_paired_row_each(tmp_path):
    stf0 = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"
    res = REPO / "docs" / "results"
    stf1, bb0, bb1 = (res / f"{n}.eval" for n in ("stf_ucla_xview_joint_cpu_seed1", "backbone_ucla_xview_joint_cpu_seed0",
                                                   "backbone_ucla_xview_joint_cpu_seed1"))
    # a second STF config: the backbone's seed-1 predictions under another name (its top-1 is known: 89.66)
    other = _relabelled(bb1, tmp_path / "other", config_name="stf-variant", focus_losses=True)
    rows = collect([str(stf0), str(stf1), str(bb0), str(bb1), other])
    lines = table(rows).splitlines()
    assert lines[2] == "| STF (stf_ucla_xview_joint_cpu) | 90.52 | 89.66 | 90.09 ± 0.61 |"
    assert lines[3] == "| STF (stf-variant) | – | 89.66 | 89.66 (1 seed) |"
    assert lines[4] == "| backbone (backbone_ucla_xview_joint_cpu) | 91.38 | 89.66 | 90.52 ± 1.22 |"
    assert lines[5] == "| STF (stf_ucla_xview_joint_cpu) − backbone (paired) | -0.86 | +0.00 | -0.43 ± 0.61 |"
    assert lines[6] == "| STF (stf-variant) − backbone (paired) | – | +0.00 | +0.00 (1 seed) |"
    # another stream gets its own table; the same config and seed twice is refused, naming both bundles
    bone = _relabelled(bb0, tmp_path / "bone", config_name="backbone_bone", stream="bone")
    out = table(collect([str(stf0), str(bb0), bone]))
    assert out.count("| model |") == 2 and "bone stream" in out and "joint stream" in out
    dup = _relabelled(stf0, tmp_path / "dup")
    with pytest.raises(ConfigError, match="two bundles of config 'stf_ucla_xview_joint_cpu' seed 0"):
        table(collect([str(stf0), dup]))


def test_report_refuses_a_bundle_without_labels(tmp_path):
    """Predictions on unlabelled data have no top-1 (it was a TypeError traceback); the report says so."""
    b = load_bundle(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval")
    prov = {k: b.metrics[k] for k in ("checkpoint", "data", "stream")}
    path = write_bundle(tmp_path / "unlabelled", b.ids.tolist(), b.logits, np.full(len(b.ids), -1), b.class_names, prov)
    assert load_bundle(path).metrics["top1"] is None
    with pytest.raises(DataError, match="unlabelled: has no top-1: none of its 464 samples is labelled"):
        collect([str(path)])
    # fusing stream predictions on unlabelled data is fine (it printed a TypeError traceback): top-1 n/a
    prov2 = {**prov, "stream": "bone", "checkpoint": {**prov["checkpoint"], "sha256": "0" * 64, "stream": "bone"}}
    other = write_bundle(tmp_path / "unlabelled2", b.ids.tolist(), b.logits, np.full(len(b.ids), -1), b.class_names,
                         prov2)
    r = subprocess.run([sys.executable, "-m", "stf", "fuse", str(path), str(other), "--out", str(tmp_path / "f")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "fused 464 samples: top-1 n/a" in r.stdout and load_bundle(tmp_path / "f").metrics["top1"] is None


def test_mcnemar_exact_hand_cases():
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)  # all 5 discordant samples favour one model
    assert mcnemar_exact(1, 9) == mcnemar_exact(9, 1) == pytest.approx(2 * 11 / 1024)


def test_report_counts_discordant_samples_by_id():
    res = REPO / "docs" / "results"
    rows = collect([str(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"),
                    str(res / "backbone_ucla_xview_joint_cpu_seed0.eval")])
    stf, bb = rows
    ids = sorted(stf["correct"])
    only_stf = sum(stf["correct"][i] and not bb["correct"][i] for i in ids)
    only_bb = sum(bb["correct"][i] and not stf["correct"][i] for i in ids)
    assert only_stf - only_bb == round(4.64 * (stf["top1"] - bb["top1"]))  # 464 samples: 1 sample = 0.2155 points
    assert f"seed 0 {only_stf} / {only_bb} (p = {mcnemar_exact(only_stf, only_bb):.2f})" in table(rows)


def test_checkpoint_for_another_layout_is_refused(tiny_checkpoint, tmp_path):
    need_data("sbu-kinect-interaction")
    with pytest.raises(CheckpointError, match="layout 'kinect20'.*sbu15"):
        evaluate(tiny_checkpoint, "sbu:sbu-kinect-interaction", "fold1/test", tmp_path / "x", device="cpu")


def test_eval_cli(tiny_checkpoint, tmp_path):
    r = subprocess.run([sys.executable, "-m", "stf", "eval", "--checkpoint", str(tiny_checkpoint), "--data",
                        "ucla:nw-ucla", "--split", "xview-val/test", "--out", str(tmp_path / "b"), "--device", "cpu"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "504 samples" in r.stdout
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["num_samples"] == 504
    r = subprocess.run([sys.executable, "-m", "stf", "eval", "--checkpoint", str(tmp_path / "nope.pt"), "--data",
                        "ucla:nw-ucla", "--out", str(tmp_path / "c")], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and "no such checkpoint" in r.stderr and "Traceback" not in r.stderr


def test_unlabelled_data_gets_predictions(tmp_path):
    """A store without labels (an .npy of real view-3 samples, as a user's own data arrives) is evaluated:
    the bundle holds predictions and top-1 n/a (it was refused: 'checkpoint has 10 classes, data set has 0')."""
    from stf.data import ucla
    from stf.data.store import write_store

    root = need_data("nw-ucla", "all_sqe")
    ids = ["a01_s01_e00_v03", "a06_s03_e01_v03", "a12_s09_e04_v03"]
    samples = [ucla.read_file(root / f"{i}.json") for i in ids]
    for s in samples:
        s.label = None
    store = write_store(tmp_path / "own", samples, name="own", source_format="test", source="mem",
                        layout="kinect20", channels="xyz", class_names=[], max_persons=1)
    assert store.class_names == [] and (store.labels == -1).all()
    out = evaluate(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt", str(store.path), "all", tmp_path / "b",
                   device="cpu")
    b = load_bundle(out)
    assert b.metrics["top1"] is None and b.ids.tolist() == ids and (b.labels == -1).all()
    # the same samples, labelled, in the shipped view-3 bundle: the predictions agree
    ref = load_bundle(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval")
    shipped = dict(zip(ref.ids.tolist(), ref.preds.tolist()))
    assert b.preds.tolist() == [shipped[i] for i in ids]


def test_fused_bundles_say_what_they_fused_and_report_groups_them(tmp_path):
    """A fused bundle keeps its parts' kind, seed, config and split, so `stf report` puts it in its own
    (joint+bone) table with the right kind (it had no provenance and was reported as a backbone, split None)."""
    from stf.fuse import fused_provenance

    stf0 = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"
    res = REPO / "docs" / "results"
    stf1, bb0 = res / "stf_ucla_xview_joint_cpu_seed1.eval", res / "backbone_ucla_xview_joint_cpu_seed0.eval"
    bone = _relabelled(stf0, tmp_path / "bone", config_name="stf_ucla_xview_bone_cpu", stream="bone")

    def fused(name, *paths):
        bs = [load_bundle(p) for p in paths]
        ids, logits, labels = fuse(bs)
        return str(write_bundle(tmp_path / name, ids, logits, labels, bs[0].class_names, fused_provenance(bs, None)))

    two_stream = fused("jb", stf0, bone)
    ensemble = fused("ens", stf0, stf1)
    mixed = fused("mix", stf0, bb0)
    rows = {r["path"]: r for r in collect([two_stream, ensemble, mixed])}
    assert (rows[two_stream]["kind"], rows[two_stream]["seed"], rows[two_stream]["stream"]) == ("STF", 0, "joint+bone")
    assert rows[two_stream]["config"] == "stf_ucla_xview_joint_cpu+stf_ucla_xview_bone_cpu"
    assert (rows[ensemble]["kind"], rows[ensemble]["seed"]) == ("STF", None)
    assert (rows[mixed]["kind"], rows[mixed]["seed"]) == ("STF + backbone", 0)
    assert {r["split"] for r in rows.values()} == {"xview/test"}
    out = table(list(rows.values()))
    assert "joint+bone stream" in out and "joint+joint stream" in out and "| seed ensemble |" in out
    meta = load_bundle(two_stream).metrics
    assert [p["stream"] for p in meta["fused_from"]] == ["joint", "bone"] and meta["weights"] == [1.0, 1.0]
    # the training share is kept where the parts share it, and left out where they differ
    tenth = _relabelled(stf0, tmp_path / "tenth", train_fraction=0.1, train_split="xview/train")
    bone10 = _relabelled(stf0, tmp_path / "bone10", stream="bone", train_fraction=0.1, train_split="xview/train")
    ck = load_bundle(fused("jb10", tenth, bone10)).metrics["checkpoint"]
    assert (ck["train_fraction"], ck["train_split"]) == (0.1, "xview/train")
    assert "train_fraction" not in load_bundle(fused("mixed10", tenth, stf0)).metrics["checkpoint"]


def test_scarce_report_one_row_per_training_share_paired_by_seed(tmp_path):
    """`report --scarce`: rows by training share (bundles without one are the whole split), paired by seed."""
    from stf.report import scarce_table

    stf0 = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"
    res = REPO / "docs" / "results"
    stf1, bb0, bb1 = (res / f"{n}.eval" for n in ("stf_ucla_xview_joint_cpu_seed1", "backbone_ucla_xview_joint_cpu_seed0",
                                                   "backbone_ucla_xview_joint_cpu_seed1"))
    # 10 % runs: seed 0 pairs the shipped STF's predictions (90.52) with backbone seed 1's (89.66);
    # seed 1 has only a backbone (so no paired difference for it)
    s10 = _relabelled(stf0, tmp_path / "s10", config_name="stf_ucla_xview-10pct_joint_cpu", train_fraction=0.1)
    b10 = _relabelled(bb1, tmp_path / "b10", config_name="backbone_ucla_xview-10pct_joint_cpu", train_fraction=0.1,
                      seed=0)
    b10s1 = _relabelled(bb0, tmp_path / "b10s1", config_name="backbone_ucla_xview-10pct_joint_cpu",
                        train_fraction=0.1, seed=1)
    n200 = _relabelled(bb0, tmp_path / "n200", config_name="backbone_ucla_xview-200_joint_cpu", train_max_samples=200)
    rows = collect([str(p) for p in (stf0, stf1, bb0, bb1, s10, b10, b10s1, n200)])
    lines = scarce_table(rows).splitlines()
    assert lines[0] == "| training share | seeds | backbone | STF | STF − backbone (paired) |"
    assert lines[2] == "| 200 samples | 0 | 91.38 (1 seed) | – | – |"
    # the backbone's unpaired seed 1 is left out of the row (and named), so both means cover seed 0
    assert lines[3] == "| 10 % | 0 | 89.66 (1 seed) | 90.52 (1 seed) | +0.86 (1 seed) |"
    assert lines[-1] == "Left out of the rows, unpaired: 10 %: backbone seed 1 (no run of the other model yet)"
    assert lines[4] == "| 100 % | 0, 1 | 90.52 ± 1.22 | 90.09 ± 0.61 | -0.43 ± 0.61 |"
    a, b = discordance(*collect([str(stf0), str(bb1)]))
    assert f"10 %: seed 0 {a} / {b} (p = {mcnemar_exact(a, b):.2f})" in lines[-3]
    with pytest.raises(ConfigError, match=r"two STF bundles of training share 10 % seed 0"):
        scarce_table(collect([str(s10), str(_relabelled(s10, tmp_path / "again"))]))
    bone = _relabelled(bb0, tmp_path / "bone", stream="bone")
    with pytest.raises(ConfigError, match="a scarce-data report compares one stream"):
        scarce_table(collect([str(stf0), bone]))
    r = subprocess.run([sys.executable, "-m", "stf", "report", "--scarce", "--cv", str(stf0)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "--cv and --scarce" in r.stderr


# -- what an evaluation or a fusion may not overwrite, and what it may not score ----------------------------
def _copy_bundle(src, dest):
    import shutil

    shutil.copytree(src, dest)
    return dest


def _digest(d):
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_fuse_and_eval_never_overwrite_a_saved_bundle(tmp_path, tiny_checkpoint):
    """`fuse A B --out A` replaced the joint bundle A by the fusion without a word; `eval --out` an
    existing bundle too. Now: an input is never the output, and an existing bundle needs --force."""
    a = _copy_bundle(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval", tmp_path / "A")
    b = _copy_bundle(REPO / "docs" / "results" / "stf_ucla_xview_bone_cpu_seed0.eval", tmp_path / "B")
    before = _digest(a)
    for extra in ([], ["--force"]):
        r = subprocess.run([sys.executable, "-m", "stf", "fuse", str(a), str(b), "--out", str(a), *extra],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "is one of the bundles being read" in r.stderr, r.stderr
    assert _digest(a) == before
    with pytest.raises(DataError, match="given twice; to weight a stream more, use --weights"):
        fuse([load_bundle(a), load_bundle(a)])
    with pytest.raises(DataError, match="already holds an evaluation bundle; pass --force"):
        evaluate(tiny_checkpoint, "ucla:nw-ucla", "xview/test", a, device="cpu")
    with pytest.raises(DataError, match="already holds an evaluation bundle"):
        write_bundle(a, ["x"], np.zeros((1, 10)), np.zeros(1, np.int64), [f"c{i}" for i in range(10)], {})
    assert _digest(a) == before
    evaluate(tiny_checkpoint, "ucla:nw-ucla", "xview/test", a, device="cpu", overwrite=True)
    shipped = json.loads((REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval" / "metrics.json").read_text())
    assert load_bundle(a).metrics["checkpoint"]["sha256"] != shipped["checkpoint"]["sha256"]  # replaced on request


def test_fuse_refuses_a_copy_and_a_single_bundle(tmp_path):
    """A copied bundle (same checkpoint, data and split) under another name would count one model twice."""
    a = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"
    copy = _copy_bundle(a, tmp_path / "copy")
    with pytest.raises(DataError, match=r"same checkpoint's scores \(sha256 7754332a19a6\) on the same data and "
                                        r"split as .*: a copy; to weight a stream more, use --weights"):
        fuse([load_bundle(a), load_bundle(copy)])
    for args in ([str(a), str(copy)], [str(a)]):
        r = subprocess.run([sys.executable, "-m", "stf", "fuse", *args, "--out", str(tmp_path / "f")],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr and not (tmp_path / "f").exists(), r.stderr
    assert "fusing needs two or more bundles" in r.stderr


def test_fusion_weights_are_scaled_before_summing():
    """--weights 1e308 1e308 overflowed to inf and every fused score to the clip floor (75.22 % top-1)."""
    parts = [load_bundle(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"),
             load_bundle(REPO / "docs" / "results" / "stf_ucla_xview_bone_cpu_seed0.eval")]
    _, equal, _ = fuse(parts)
    _, huge, _ = fuse(parts, [1e308, 1e308])
    np.testing.assert_allclose(huge, equal, rtol=1e-6)


def test_non_finite_values_in_a_store_are_refused(tmp_path, tiny_checkpoint):
    """inf in a store edited after conversion gave NaN logits, argmax 0, and the sample counted as correct."""
    from stf.data import ucla
    from stf.data.store import SkeletonStore, write_store

    root = need_data("nw-ucla", "all_sqe")
    ids = ["a01_s01_e00_v03", "a02_s01_e00_v03"]
    st = write_store(tmp_path / "st", [ucla.read_file(root / f"{i}.json") for i in ids], name="t",
                     source_format="ucla", source="test", layout="kinect20", channels="xyz",
                     class_names=list(ucla.CLASS_NAMES), max_persons=1)
    data = np.load(st.path / "data.npy", mmap_mode="r+")
    o = st.index["offsets"][1]
    data[o + 2, 0, 3, 1] = np.inf  # (frames, persons, joints, channels)
    data.flush()
    del data
    with pytest.raises(DataError, match=r"#a02_s01_e00_v03: non-finite value \(NaN or inf\) at person 0, frame 2, joint 3"):
        evaluate(tiny_checkpoint, str(st.path), "all", tmp_path / "out", device="cpu")
    assert not (tmp_path / "out").exists()
    assert SkeletonStore(st.path).get(0).sample_id == ids[0]  # the intact sample still reads


def test_a_checkpoint_with_nan_weights_is_refused(tmp_path, tiny_checkpoint):
    import torch

    from stf.checkpoint import load_checkpoint, model_from_checkpoint

    ck = load_checkpoint(tiny_checkpoint)
    name = next(k for k, v in ck["model"].items() if v.is_floating_point())
    ck["model"][name] = ck["model"][name].clone().fill_(float("nan"))
    with pytest.raises(CheckpointError, match=f"checkpoint weights hold NaN or inf \\(in {name}\\)"):
        model_from_checkpoint(ck)
    assert torch.isfinite(load_checkpoint(tiny_checkpoint)["model"][name]).all()


def test_class_names_must_agree_unless_generic():
    from stf.evaluate import check_classes

    names = ["walk", "sit", "stand"]
    check_classes(names, names, "d")
    check_classes(names, [], "d")  # unlabelled data
    check_classes(names, ["class_0", "class_1", "class_2"], "d")  # labels given as indices, no names file
    with pytest.raises(CheckpointError, match="class names differ: class 0 is 'walk' in the checkpoint but 'sit' in d"):
        check_classes(names, ["sit", "walk", "stand"], "d")
    with pytest.raises(CheckpointError, match="checkpoint has 3 classes, d has 2"):
        check_classes(names, ["walk", "sit"], "d")


NTU = "ntu:ntu-raw-skeleton-samples"


def _class_map(tmp_path, rows, header="data_class,model_class"):
    p = tmp_path / "map.csv"
    p.write_text("\n".join([header] + rows) + "\n", encoding="utf-8")
    return p


def test_map_layout_without_a_mapping_says_which_layouts_map(tiny_checkpoint, tmp_path):
    """An NW-UCLA (kinect20) model on real SBU (sbu15): no mapping turns sbu15 into kinect20."""
    need_data("sbu-kinect-interaction")
    with pytest.raises(CheckpointError, match=r"is 'sbu15', and no mapping turns 'sbu15' into 'kinect20' "
                                              r"\(layouts that map into it: mediapipe33, ntu25\)"):
        evaluate(tiny_checkpoint, "sbu:sbu-kinect-interaction", "fold1/test", tmp_path / "x", device="cpu",
                 map_layout=True)
    assert not (tmp_path / "x").exists()


def test_cross_data_set_evaluation_maps_layout_and_classes(tiny_checkpoint, tmp_path):
    """An NW-UCLA (kinect20) model on real NTU (ntu25) files: converted like an upload, labels mapped."""
    from stf.data import open_dataset
    from stf.explain import Explainer

    need_data("ntu-raw-skeleton-samples")
    with pytest.raises(CheckpointError, match=r"is 'ntu25'; pass --map-layout to convert it \(Kinect v2 -> v1"):
        evaluate(tiny_checkpoint, NTU, "all", tmp_path / "x", device="cpu")
    cmap = _class_map(tmp_path, ["drink water,pick up with one hand", "take off a shoe,doffing",
                                 "punching/slapping other person,throw", "handshaking,throw"])
    b = load_bundle(evaluate(tiny_checkpoint, NTU, "all", tmp_path / "b", device="cpu", map_layout=True,
                             class_map=cmap))
    store = open_dataset(NTU)
    mapped = {"A001": "pick up with one hand", "A017": "doffing", "A050": "throw", "A058": "throw"}
    want = {i: mapped[i[-4:]] for i in store.ids if i[-4:] in mapped}
    assert len(want) == 5  # two handshaking files
    assert sorted(b.ids.tolist()) == sorted(want)
    assert [b.metrics["class_names"][k] for k in b.labels] == [want[i] for i in b.ids.tolist()]
    assert b.metrics["data"]["left_out_unmapped"] == len(store) - 5
    assert b.metrics["data"]["layout_mapping"].startswith("ntu25 -> kinect20: Kinect v2 -> v1")
    assert b.metrics["data"]["class_map"]["handshaking"] == "throw"
    ex = Explainer(tiny_checkpoint)  # the app's path for a sample of another layout gives the same logits
    for sid, logits in zip(b.ids.tolist(), b.logits):
        _, ref = ex.predict(store.get(store.position(sid)))
        np.testing.assert_allclose(logits, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rows, header, message", [
    (["drink water,pick up with one hand"], "data,model", "header is 'data_class,model_class'"),
    (["drink wine,pick up with one hand"], None, r"row 2: 'drink wine' is not a class of the data set"),
    (["drink water,juggling"], None, r"row 2: 'juggling' is not a class of the model"),
    (["drink water,throw", "drink water,carry"], None, r"row 3: data class 'drink water' is mapped twice"),
    (["drink water"], None, r"row 2: expected 2 columns"),
    ([], None, "maps no class"),
    (["kicking something,throw"], None, r"split 'all' holds no sample of a class the class map maps"),
])
def test_bad_class_maps_are_clear(tiny_checkpoint, tmp_path, rows, header, message):
    need_data("ntu-raw-skeleton-samples")
    cmap = _class_map(tmp_path, rows, header or "data_class,model_class")
    with pytest.raises(DataError, match=message):
        evaluate(tiny_checkpoint, NTU, "all", tmp_path / "x", device="cpu", map_layout=True, class_map=cmap)
    assert not (tmp_path / "x").exists()


def test_dataset_shift_protocol_ntu60_model_on_an_ntu120_store(tmp_path, tiny_checkpoint):
    """The shift config's evaluation: a 60-class NTU model on the NTU 120 reading of the same real files,
    selected by a split expression, classes matched by name -> the same labels and logits as on NTU 60."""
    from stf.checkpoint import build_tiny_checkpoint
    from stf.data import ntu
    from stf.data.resolve import convert

    src = need_data("ntu-raw-skeleton-samples", "nturgb+d_skeletons")
    ck = build_tiny_checkpoint(tmp_path / "ntu60", data=NTU, samples=12, overrides=("data.train_split=all",))
    ntu120 = convert("ntu", src, tmp_path / "ntu120", ntu=120)
    assert ntu120.num_classes == 120 and len(ntu120) == 12
    on60 = load_bundle(evaluate(ck, NTU, "all", tmp_path / "on60", device="cpu"))
    on120 = load_bundle(evaluate(ck, str(ntu120.path), "setup<=17 & action<=60", tmp_path / "on120", device="cpu",
                                 class_map="names"))
    assert on120.metrics["class_names"] == on60.metrics["class_names"] and len(on60.metrics["class_names"]) == 60
    assert on120.ids.tolist() == on60.ids.tolist()
    assert on120.labels.tolist() == on60.labels.tolist()
    np.testing.assert_array_equal(on120.logits, on60.logits)
    assert on120.metrics["data"]["left_out_unmapped"] == 0
    with pytest.raises(CheckpointError, match="class names differ|checkpoint has 60 classes"):
        evaluate(ck, str(ntu120.path), "all", tmp_path / "x", device="cpu")  # without the class map
    # NW-UCLA and NTU 60 share one class name, "throw", which none of the twelve files shows
    with pytest.raises(DataError, match="split 'all' holds no sample of a class the class map maps"):
        evaluate(tiny_checkpoint, NTU, "all", tmp_path / "y", device="cpu", map_layout=True, class_map="names")
    from stf.data import sbu, ucla
    from stf.evaluate import read_class_map

    assert read_class_map("names", list(ntu.CLASS_NAMES_60), list(ucla.CLASS_NAMES)) == {
        ntu.CLASS_NAMES_60.index("throw"): ucla.CLASS_NAMES.index("throw")}
    with pytest.raises(DataError, match="class map 'names': no class of the data set has the name of a model class"):
        read_class_map("names", list(sbu.CLASS_NAMES), list(ucla.CLASS_NAMES))


def test_cv_report_refuses_overlapping_or_repeated_folds(bundle, tiny_checkpoint, tmp_path):
    from stf.report import cv_table

    part = evaluate(tiny_checkpoint, "ucla:nw-ucla", "xview/test & label<=2", tmp_path / "part", device="cpu")
    with pytest.raises(ConfigError, match=r"is in the test parts of xview/test & label<=2 and xview/test|"
                                          r"is in the test parts of xview/test and xview/test & label<=2"):
        cv_table(collect([str(bundle.path), str(part)]))
    with pytest.raises(ConfigError, match=r"two STF bundles of split 'xview/test'"):
        cv_table(collect([str(bundle.path), str(bundle.path)]))
    ntu = evaluate(tiny_checkpoint, NTU, "all", tmp_path / "ntu", device="cpu", map_layout=True,
                   class_map=_class_map(tmp_path, ["drink water,pick up with one hand"]))
    with pytest.raises(ConfigError, match=r"the folds of a cross-validation come from one data set"):
        cv_table(collect([str(bundle.path), str(ntu)]))
    view2 = evaluate(tiny_checkpoint, "ucla:nw-ucla", "view=2", tmp_path / "v2", device="cpu")
    text = cv_table(collect([str(bundle.path), str(view2)]))  # disjoint test parts: a two-fold table
    rows = collect([str(bundle.path), str(view2)])
    pooled = 100 * sum(sum(r["correct"].values()) for r in rows) / sum(len(r["correct"]) for r in rows)
    assert f"| {pooled:.2f} ({464 + 504}) |" in text and "| model | view=2 | xview/test |" in text


def test_cv_and_scarce_reports_say_why_a_bundle_of_unknown_kind_has_no_row(tmp_path):
    """A bundle whose checkpoint record lacks focus_losses was called 'a fused STF + backbone bundle'."""
    from stf.report import cv_table, scarce_table

    stf0 = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"
    vague = _relabelled(stf0, tmp_path / "vague", focus_losses=None)
    rows = collect([vague])
    assert rows[0]["kind"] == "unknown model"
    for make, name in ((cv_table, "cross-validation"), (scarce_table, "scarce-data")):
        with pytest.raises(ConfigError, match=rf"vague: its metrics.json does not record whether the model is STF or "
                                              rf"backbone \(checkpoint.focus_losses\), so it has no row in a {name} "
                                              "report"):
            make(rows)


def test_an_out_that_cannot_be_created_is_refused_before_any_work(tmp_path, tiny_checkpoint):
    """`eval --out FILE/sub` evaluated the whole split, then failed to write (NotADirectoryError): an hour of
    NTU evaluation lost for a typo. Now it is refused before the checkpoint or the data are read."""
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    done = []
    with pytest.raises(DataError, match=f"{blocker}: is a file, so --out {blocker / 'sub' / 'b'} cannot be created"):
        evaluate(tiny_checkpoint, "ucla:nw-ucla", "xview/test", blocker / "sub" / "b", device="cpu",
                 progress=lambda n, total: done.append(n))
    assert done == [] and blocker.read_text() == "keep me"
    r = subprocess.run([sys.executable, "-m", "stf", "eval", "--checkpoint", str(tiny_checkpoint), "--data",
                        "ucla:nw-ucla", "--split", "xview/test", "--out", str(blocker / "sub"), "--device", "cpu"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "cannot be created" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_an_interrupted_overwrite_leaves_no_bundle_that_mixes_two_evaluations(tmp_path, monkeypatch):
    """`--force` over a bundle wrote logits.npz first and metrics.json last, so a run stopped in between (Ctrl-C,
    a full disk) left the old metrics.json beside the new logits: it loaded as a complete bundle whose top-1
    was not that of its predictions. metrics.json marks a complete bundle: it now goes first."""
    import stf.evaluate as ev

    a = _copy_bundle(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval", tmp_path / "A")
    bone = load_bundle(REPO / "docs" / "results" / "stf_ucla_xview_bone_cpu_seed0.eval")
    real = ev.atomic_write_bytes

    def stop_at_predictions(path, data):
        if path.name == "predictions.csv":
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(ev, "atomic_write_bytes", stop_at_predictions)
    with pytest.raises(KeyboardInterrupt):
        write_bundle(a, bone.ids.tolist(), bone.logits, bone.labels, bone.class_names, {"stream": "bone"},
                     overwrite=True)
    monkeypatch.undo()
    try:
        left = load_bundle(a)
    except DataError as e:
        assert "missing metrics.json" in str(e)
    else:
        assert left.metrics["top1"] == pytest.approx(float((left.preds == left.labels).mean())), \
            "metrics.json is of another evaluation than logits.npz"
    with pytest.raises(DataError, match="already holds logits.npz; pass --force"):  # still needs --force
        write_bundle(a, bone.ids.tolist(), bone.logits, bone.labels, bone.class_names, {"stream": "bone"})


@pytest.mark.parametrize("step", [{"random_rotate": {"degrees": [30.0, 30.0, 0.0]}},
                                  {"crop_resize": {"length": 20, "p_interval": [0.5, 1.0]}}])
def test_a_test_pipeline_with_random_steps_is_refused(tmp_path, tiny_checkpoint, step):
    """eval promises the checkpoint's deterministic test preprocessing, no test-time augmentation; a config
    whose transforms.test held a random step (accepted by the config check) was evaluated augmented."""
    from stf.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(tiny_checkpoint)
    ck["config"]["transforms"]["test"] = [*ck["config"]["transforms"]["test"], step]
    save_checkpoint(ck, tmp_path / "aug.pt")
    (name,) = step
    with pytest.raises(CheckpointError, match=f"test preprocessing .* random step {name}"):
        evaluate(tmp_path / "aug.pt", "ucla:nw-ucla", "xview/test", tmp_path / "out", device="cpu")
    assert not (tmp_path / "out").exists()
    from stf.explain.explainer import Explainer  # the explain API and the app preprocess as eval does

    with pytest.raises(CheckpointError, match=f"aug.pt: its test preprocessing .* random step {name}"):
        Explainer(tmp_path / "aug.pt")
