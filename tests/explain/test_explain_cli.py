"""``python -m stf explain``: one sample of a data set explained with the shipped checkpoint, on real NW-UCLA.

The printed top-1 must be the shipped evaluation bundle's prediction for that sample; ``focus.npz`` holds the
explainer's own focus on the sample's frames; bad input is one line on stderr and exit status 2.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from stf.layouts import get_layout
from tests.conftest import REPO, need_data

CKPT = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt"
BUNDLE = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"
DATA = "ucla:nw-ucla"


@pytest.fixture(scope="module")
def bundle():
    from stf.evaluate import load_bundle

    return load_bundle(BUNDLE)


@pytest.fixture(scope="module")
def shipped():
    from stf.explain import Explainer

    return Explainer(CKPT)


@pytest.fixture(scope="module")
def wrong_id(bundle, ucla_store):
    """The first test-view sample the shipped model gets wrong (its top-1 is not its label)."""
    i = int(np.flatnonzero(bundle.preds != bundle.labels)[0])
    return str(bundle.ids[i])


def _pred(bundle, sid: str) -> int:
    return int(bundle.preds[bundle.ids.tolist().index(sid)])


def test_cli_prints_the_bundles_prediction_and_writes_the_focus(bundle, ucla_store, wrong_id, shipped, tmp_path):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "stf", "explain", "--checkpoint", str(CKPT), "--data", DATA,
                        "--sample", wrong_id, "--out", str(out)], cwd=REPO, env=dict(os.environ),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    names = bundle.class_names
    pred, label = _pred(bundle, wrong_id), int(ucla_store.labels[ucla_store.position(wrong_id)])
    assert lines[0].startswith(f"sample {wrong_id} ({DATA}): ")
    assert lines[1] == f"true label: {label} {names[label]} (predicted wrongly)"
    assert lines[2] == "top-5:"
    top = [line.split() for line in lines[3:8]]
    assert int(top[0][0]) == pred and " ".join(top[0][1:-2]) == names[pred]  # the bundle's top-1
    probs = bundle.probabilities()[bundle.ids.tolist().index(wrong_id)]
    want = np.argsort(-probs)[:5]
    assert [int(t[0]) for t in top] == want.tolist()
    np.testing.assert_allclose([float(t[-2]) for t in top], 100 * probs[want], atol=0.006)
    assert lines[8] == f"focus of {pred} {names[pred]!r} (the top-1), module 6:"
    assert lines[9].startswith("  joints: ") and lines[10].startswith("  frames: ")

    pos = ucla_store.position(wrong_id)
    t_orig = int(ucla_store.lengths[pos])
    with np.load(out / "focus.npz", allow_pickle=False) as z:
        f = {k: z[k] for k in z.files}
    assert f["focus"].shape == (6, 1, t_orig, 20) and f["focus"].dtype == np.float32
    assert f["valid_frames"].shape == (t_orig,) and f["present"].shape == (1, t_orig)
    assert f["joint_names"].tolist() == list(get_layout("kinect20").joints)
    assert str(f["sample_id"]) == wrong_id and int(f["target"]) == pred
    assert f["frame_index"].shape == (52,)  # the checkpoint's test pipeline resamples to 52 frames
    assert 0 <= f["focus"].min() and f["focus"].max() <= 1
    e = shipped.explain(ucla_store.get(pos), compare_top2=False, exploration=False, adjacency=False)
    np.testing.assert_allclose(f["focus"], np.stack(e.focus.original), atol=1e-5)

    rec = json.loads((out / "explanation.json").read_text())
    from stf import code_version

    assert rec["sample_id"] == wrong_id and rec["data"] == DATA
    assert rec["checkpoint"] == "assets/stf_ucla_xview_joint_cpu_seed0.pt"
    assert rec["code_version"] == code_version() and rec["class_names"] == names
    assert rec["prediction"] == {"index": pred, "class": names[pred], "correct": False}
    assert rec["target"] == {"index": pred, "class": names[pred], "is_top1": True}
    assert [t["index"] for t in rec["top5"]] == want.tolist()
    assert rec["files"] == {"focus": "focus.npz", "figure": "figure.html", "explanation": "explanation.json"}
    assert rec["frames"] == t_orig and rec["module"] == 6
    page = (out / "figure.html").read_text()
    assert page.count('class="plotly-graph-div"') == 2 and wrong_id in page
    assert sorted(p.name for p in out.iterdir()) == ["explanation.json", "figure.html", "focus.npz"]  # no temp files


def test_top1_matches_the_bundle_on_several_samples(bundle, ucla_store, shipped):
    from stf.explain.cli import explain_store_sample

    ids = bundle.ids.tolist()
    for sid in (ids[0], ids[len(ids) // 2], ids[-1]):
        r = explain_store_sample(CKPT, DATA, sid, explainer=shipped)
        assert r.record["prediction"]["index"] == _pred(bundle, sid), sid
        assert r.record["label"]["index"] == int(bundle.labels[ids.index(sid)])
        mf = r.record["most_focused"]
        assert len(mf) == 1 and len(mf[0]["joints"]) == 5 and len(mf[0]["frames"]) == 5
        js = r.explanation.focus.joint_summary(5)[0]
        assert [j["id"] for j in mf[0]["joints"]] == np.argsort(-js, kind="stable")[:5].tolist()
        assert all(0 <= f["frame"] < ucla_store.lengths[ucla_store.position(sid)] for f in mf[0]["frames"])


def test_target_by_index_or_name(bundle, ucla_store, shipped):
    from stf.explain.cli import explain_store_sample, format_report

    sid = bundle.ids.tolist()[0]
    other = next(k for k in range(10) if k != _pred(bundle, sid))
    name = shipped.class_names[other]
    by_index = explain_store_sample(CKPT, DATA, sid, str(other), explainer=shipped, module=2)
    by_name = explain_store_sample(CKPT, DATA, sid, name.upper(), explainer=shipped, module=2)
    assert by_index.record["target"] == by_name.record["target"] == {"index": other, "class": name, "is_top1": False}
    np.testing.assert_array_equal(np.stack(by_index.explanation.focus.original),
                                  np.stack(by_name.explanation.focus.original))
    assert f"focus of {other} {name!r} (not the top-1), module 3:" in format_report(by_index)


@pytest.mark.parametrize("args, fragments", [
    (["--sample", "a01_s01_e00_v3"], ["no sample with id 'a01_s01_e00_v3'", "close ids: a01_s01_e00_v03"]),
    (["--sample", "a01_s01_e00_v03", "--target", "10"], ["--target 10 out of range", "10 classes (0-9)"]),
    (["--sample", "a01_s01_e00_v03", "--target", "-1"], ["--target -1 out of range"]),
    (["--sample", "a01_s01_e00_v03", "--target", "sitdown"], ["--target 'sitdown' is not a class", "sit down"]),
    (["--sample", "a01_s01_e00_v03", "--module", "7"], ["--module 7: this model's modules are 1-6"]),
])
def test_bad_input_is_one_line_and_status_2(ucla_store, capsys, args, fragments):
    from stf.cli import main

    assert main(["explain", "--checkpoint", str(CKPT), "--data", DATA, *args]) == 2
    cap = capsys.readouterr()
    lines = cap.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stf: error: "), cap.err
    assert cap.out == "" and "Traceback" not in cap.err
    for f in fragments:
        assert f in lines[0], lines[0]


def test_a_checkpoint_for_another_layout_is_refused(tmp_path, capsys):
    from stf.cli import main

    need_data("sbu-kinect-interaction")
    r = subprocess.run([sys.executable, "-m", "stf", "explain", "--checkpoint", str(CKPT), "--data",
                        "sbu:sbu-kinect-interaction", "--sample", "s01s02_01_001", "--out", str(tmp_path / "o")],
                       cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == ["stf: error: checkpoint is for layout 'kinect20', but data set "
                                     "sbu:sbu-kinect-interaction is 'sbu15'"]
    assert not (tmp_path / "o").exists()
    need_data("ntu-raw-skeleton-samples")  # a mappable layout: refused without --map-layout, as `stf eval` does
    argv = ["explain", "--checkpoint", str(CKPT), "--data", "ntu:ntu-raw-skeleton-samples",
            "--sample", "S001C001P001R001A001"]
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "is 'ntu25'; pass --map-layout to convert it" in err[0]
    assert main(argv + ["--map-layout"]) == 0  # converted as the app converts an upload, with the explainer's note
    out = capsys.readouterr().out.splitlines()
    assert "true label: drink water (not a class of this model)" in out
    assert any(line.startswith("note: Converted ntu25 -> kinect20: ") for line in out)
