"""Every page driven with Streamlit's AppTest: widgets set, shown values checked against stf computed directly."""
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from stf.checkpoint import load_checkpoint, model_from_checkpoint
from stf.data import SkeletonStore
from stf.data.dataset import sample_to_tensor
from stf.evaluate import eval_pipeline, load_bundle
from tests.app.conftest import no_exception
from tests.conftest import need_data


def chart(at, key: str):
    """The plotly chart with widget key ``key`` (its spec parsed)."""
    for c in at.get("plotly_chart"):
        if c.proto.id.endswith("-" + key):
            return json.loads(c.proto.spec)
    raise AssertionError(f"no chart {key!r}; have {[c.proto.id.rsplit('-', 1)[-1] for c in at.get('plotly_chart')]}")


def arr(v) -> np.ndarray:
    """A plotly JSON array: a list, or plotly's typed array ``{"dtype", "bdata", "shape"}`` (base64)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        if "shape" in v:
            a = a.reshape([int(x) for x in str(v["shape"]).split(",")])
        return a
    return np.asarray(v)


def table(at, column: str):
    """The (first) dataframe shown with a column named ``column``."""
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    raise AssertionError(f"no dataframe with a column {column!r}")


def metric(at, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise AssertionError(f"no metric {label!r}: {[m.label for m in at.metric]}")


def direct_prediction(ckpt_path, sample) -> str:
    """The model's top-1 class name computed here, without the app or the explain API."""
    ck = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ck)
    s, _ = eval_pipeline(ck)(sample, np.random.default_rng(0))
    with torch.no_grad():
        logits = model(sample_to_tensor(s).unsqueeze(0)).logits[0]
    return ck["class_names"][int(logits.argmax())]


def shipped(app_env):
    assets = Path(app_env["STF_ASSETS_DIR"])
    return assets / "tiny.pt", load_bundle(assets / "tiny.eval"), SkeletonStore(app_env["SMALL_STORE"])


# -- sample explorer -----------------------------------------------------------------------------------
def test_explorer_opens_on_the_shipped_model_and_its_evaluation(app, app_env):
    at = app.run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    ck, bundle, store = shipped(app_env)
    assert Path(at.sidebar.selectbox(key="model").value) == ck.resolve()
    assert at.sidebar.selectbox(key="data").value == app_env["SMALL_STORE"]
    assert at.sidebar.selectbox(key="split").value == "xview/test"
    sid = at.sidebar.selectbox(key="sample").value
    assert sid == str(bundle.ids[0])
    sample = store.get(store.position(sid))
    shown = metric(at, "Prediction")
    assert shown == direct_prediction(ck, sample)
    assert shown == bundle.class_names[int(bundle.preds[0])]  # the bundle agrees
    assert metric(at, "True class") == store.class_names[sample.label]
    anim = chart(at, "fig_skeleton")
    assert anim["frames"] and anim["data"][1]["name"] == "joints 1"
    assert len(arr(anim["data"][1]["marker"]["color"])) == 20  # one focus value per joint
    heat = chart(at, "fig_heatmap")
    assert arr(heat["data"][0]["z"]).shape == (20, sample.num_frames)
    assert len(chart(at, "fig_modules")["data"]) == 6
    assert table(at, "probability")["class"].iloc[0] == shown


def test_explorer_shows_another_models_focus_on_the_same_sample(app, app_env, tmp_path):
    """A second model (the tiny config trained with another seed) on the sidebar's sample: its prediction,
    its focus of the same class beside this model's, and their overlap, as the explain API gives them."""
    from stf.checkpoint import build_tiny_checkpoint
    from stf.explain import Explainer, compare_models

    ck, _, store = shipped(app_env)
    other = build_tiny_checkpoint(tmp_path / "runs" / "seed1", seed=1)
    at = app.run()
    no_exception(at)
    box = at.selectbox(key="other_model")
    assert box.value == "none" and box.options == ["— none —", "runs/seed1/last.pt"]  # labels; values are paths
    box.set_value(str(other.resolve())).run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    sample = store.get(store.position(at.sidebar.selectbox(key="sample").value))
    mine = Explainer(ck).explain(sample)
    theirs = Explainer(other).explain(sample, target=mine.target)
    assert metric(at, "Its prediction") == direct_prediction(other, sample) == theirs.top5.names[0]
    expected = compare_models(mine.focus, theirs.focus)
    assert metric(at, "Focus overlap, module 6") == f"{expected.overlaps[5]:.2f}"
    grid = chart(at, "fig_other")["data"]
    assert len(grid) == 2
    np.testing.assert_allclose(arr(grid[1]["z"]), theirs.focus.original[5][0].T, atol=1e-6)
    # its own prediction's focus instead
    at.radio(key="other_class").set_value("its own prediction").run()
    no_exception(at)
    own = Explainer(other).explain(sample)
    np.testing.assert_allclose(arr(chart(at, "fig_other")["data"][1]["z"]), own.focus.original[5][0].T, atol=1e-6)


def test_filters_restrict_the_samples_to_the_bundles_predictions(app, app_env):
    at = app.run()
    _, bundle, _ = shipped(app_env)
    at.sidebar.radio(key="f_correct").set_value("incorrect").run()
    no_exception(at)
    wrong = {str(i) for i, p, l in zip(bundle.ids, bundle.preds, bundle.labels) if p != l}
    box = at.sidebar.selectbox(key="sample")
    assert set(box.options) == {o for o in box.options if "✗" in o}  # every option is an incorrect one
    assert len(box.options) == len(wrong)
    name = bundle.class_names[int(bundle.preds[int(np.flatnonzero(bundle.preds != bundle.labels)[-1])])]
    at.sidebar.radio(key="f_correct").set_value("all")
    at.sidebar.multiselect(key="f_pred").set_value([name]).run()
    expect = {str(i) for i, p in zip(bundle.ids, bundle.preds) if bundle.class_names[p] == name}
    assert len(at.sidebar.selectbox(key="sample").options) == len(expect)
    last = sorted(expect)[-1]
    at.sidebar.selectbox(key="sample").set_value(last).run()
    no_exception(at)
    assert metric(at, "Prediction") == name


def test_upload_of_a_real_file_is_explained(app, app_env):
    f = need_data("nw-ucla", "all_sqe", "a08_s01_e00_v01.json")
    at = app.run()
    at.sidebar.radio(key="source").set_value("upload").run()
    at.sidebar.file_uploader(key="upload").set_value((f.name, f.read_bytes(), "application/json")).run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    from stf.data import read_file

    ck, _, _ = shipped(app_env)
    assert metric(at, "Prediction") == direct_prediction(ck, read_file("ucla", f))
    assert metric(at, "True class") == "donning"
    assert any("read as ucla" in i.value for i in at.info)


def test_upload_in_another_layout_is_converted_with_a_note(app):
    f = need_data("ntu-raw-skeleton-samples", "nturgb+d_skeletons", "S001C001P001R001A001.skeleton")
    at = app.run()
    at.sidebar.radio(key="source").set_value("upload").run()
    at.sidebar.file_uploader(key="upload").set_value((f.name, f.read_bytes(), "text/plain")).run()
    no_exception(at)
    notes = [i.value for i in at.info]
    assert any("Converted ntu25 -> kinect20" in n for n in notes), notes
    assert metric(at, "Prediction")
    # the true class is named from NTU's classes (A001), not read as an index into the model's ten;
    # drinking is none of NW-UCLA's classes, so right / wrong is undefined
    assert metric(at, "True class") == "drink water"
    assert metric(at, "Result") == "n/a"


def test_bad_uploads_show_a_message_and_no_exception(app, monkeypatch):
    at = app.run()
    at.sidebar.radio(key="source").set_value("upload").run()
    up = at.sidebar.file_uploader(key="upload")
    up.set_value(("a01_s01_e00_v01.json", b'{"skeletons": "nope"', "application/json")).run()
    no_exception(at)
    assert at.error and "Cannot read a01_s01_e00_v01.json" in at.error[0].value
    assert not at.metric
    # a two-person SBU file for this one-person Kinect v1 model: no mapping sbu15 -> kinect20
    sbu = sorted(need_data("sbu-kinect-interaction").glob("*/*/*/skeleton_pos.txt"))[0]
    at.sidebar.file_uploader(key="upload").set_value((sbu.name, sbu.read_bytes(), "text/plain")).run()
    no_exception(at)
    assert any("kinect20" in e.value and "sbu15" in e.value for e in at.error), [e.value for e in at.error]
    monkeypatch.setenv("STF_MAX_UPLOAD_BYTES", "1000")
    at.sidebar.file_uploader(key="upload").set_value(("big.json", b"{" + b" " * 2000 + b"}", "application/json"))
    at.run()
    no_exception(at)
    assert any("above the upload limit" in e.value for e in at.error), [e.value for e in at.error]


def test_without_a_data_root_the_app_says_how_to_set_it(app, monkeypatch):
    monkeypatch.setenv("STF_DATA_ROOT", "")
    at = app.run()
    no_exception(at)
    assert any("STF_DATA_ROOT is not set" in i.value for i in at.sidebar.info)
    assert at.sidebar.radio(key="source").value == "upload"
    assert len(at.sidebar.file_uploader) == 1


# -- adjacency -------------------------------------------------------------------------------------------
def test_adjacency_page_shows_every_part(app, app_env):
    at = app.run()
    at.switch_page("pages/adjacency.py").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    for key in ("fig_adj_A", "fig_adj_B", "fig_adj_G", "fig_adj_C", "fig_adj_R"):
        chart(at, key)
    at.radio(key="adj_module").set_value(3)
    at.radio(key="adj_partition").set_value("inward").run()
    no_exception(at)
    a = arr(chart(at, "fig_adj_A")["data"][0]["z"]).astype(float)
    from stf.layouts import get_layout

    inward = get_layout("kinect20").adjacency()[1]
    np.testing.assert_allclose(a, inward, atol=1e-6)  # the fixed inward partition, as the layout defines it
    r = arr(chart(at, "fig_adj_R")["data"][0]["z"]).astype(float)
    np.testing.assert_allclose(r.sum(0), 1.0, atol=1e-4)  # R: columns are distributions


# -- confusion explorer -----------------------------------------------------------------------------------------
def test_confusion_page_shows_the_bundles_counts_and_a_cells_samples(app, app_env):
    _, bundle, _ = shipped(app_env)
    at = app.run()
    at.switch_page("pages/confusion.py").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert Path(at.selectbox(key="bundle").value) == bundle.path.resolve()
    assert metric(at, "Samples") == str(len(bundle.ids))
    fig = chart(at, "cm_fig")
    conf = np.asarray(bundle.metrics["confusion"])
    np.testing.assert_array_equal(arr(fig["data"][0]["text"]), conf)
    # the most frequent confusion is preselected; its samples are listed, each with two focus maps
    off = conf.copy()
    np.fill_diagonal(off, -1)
    i, j = np.unravel_index(int(off.argmax()), off.shape)
    assert (at.selectbox(key="cm_true").value, at.selectbox(key="cm_pred").value) == (i, j)
    ids = table(at, "top-2")["id"].tolist()
    expect = {str(s) for s, l, p in zip(bundle.ids, bundle.labels, bundle.preds) if (l, p) == (i, j)}
    assert set(ids) == expect and len(ids) == conf[i, j]
    for sid in ids[:4]:
        assert len(chart(at, f"cm_focus_{sid}")["data"]) == 2
    # pick a diagonal cell by hand
    at.selectbox(key="cm_pred").set_value(int(i)).run()
    no_exception(at)
    assert any(f"**{conf[i, i]}** sample(s)" in md.value for md in at.markdown)


def test_confusion_page_compares_two_models_sample_by_sample(app, app_env, tmp_path):
    """A second model's bundle of the same data: counts of samples right under only one, per-class bars,
    the discordant samples listed, and one of them opened in the explorer with the other model."""
    from stf.app_support.discovery import file_sha256
    from stf.checkpoint import save_checkpoint
    from stf.evaluate import write_bundle

    ck, bundle, _ = shipped(app_env)
    other_dir = tmp_path / "runs" / "other"
    other_dir.mkdir(parents=True)
    other_ck = load_checkpoint(ck)
    other_ck["seed"] = 7  # another file (another sha256), so the explorer must open this one
    save_checkpoint(other_ck, other_dir / "model.pt")
    # "the other model": right on every sample (its logits peak at the label)
    logits = np.full_like(bundle.logits, -5.0)
    logits[np.arange(len(bundle.ids)), bundle.labels] = 5.0
    prov = {k: bundle.metrics[k] for k in ("checkpoint", "data", "stream")}
    prov["checkpoint"] = {**prov["checkpoint"], "config_name": "oracle", "seed": 7,
                          "path": str(other_dir / "model.pt"), "sha256": file_sha256(other_dir / "model.pt")}
    write_bundle(other_dir / "model.eval", bundle.ids.tolist(), logits, bundle.labels, bundle.class_names, prov)
    wrong = sorted(str(i) for i, ok in zip(bundle.ids, bundle.preds == bundle.labels) if not ok)
    assert wrong, "the tiny model should miss some of its 16 samples"

    at = app.run()
    at.switch_page("pages/confusion.py").run()
    no_exception(at)
    other = [o for o in at.selectbox(key="cm_other").options if "other" in o]
    assert len(other) == 1
    at.selectbox(key="cm_other").select_index(at.selectbox(key="cm_other").options.index(other[0])).run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert metric(at, "Right only here") == "0" and metric(at, "Right only there") == str(len(wrong))
    assert metric(at, "Top-1 there") == "100.00%" and metric(at, "Top-1 here") == f"{100 * bundle.metrics['top1']:.2f}%"
    assert any("there: **oracle (seed 7)**" in c.value for c in at.caption)
    bars = chart(at, "cm_cmp_fig")["data"]
    assert [t["name"] for t in bars] == [f"{bundle.metrics['checkpoint']['config_name']} (seed 0)", "oracle (seed 7)"]
    per_class = {r["name"]: r["top1"] for r in bundle.metrics["per_class"] if r["support"]}
    shown = dict(zip(bars[0]["y"], arr(bars[0]["x"]).tolist()))
    for i, name in enumerate(bundle.class_names):
        if name in per_class:
            assert shown[f"{i} {name}"] == pytest.approx(100 * per_class[name])
    at.radio(key="cm_cmp_which").set_value("only_b").run()
    assert sorted(table(at, "oracle (seed 7)")["id"].tolist()) == wrong
    # open a discordant sample in the explorer with the other model
    at.selectbox(key="cm_cmp_pick").set_value(wrong[-1]).run()
    at.button(key="cm_cmp_open_b").click().run()
    no_exception(at)
    assert at.selectbox(key="sample").value == wrong[-1]
    assert Path(at.selectbox(key="model").value) == (other_dir / "model.pt").resolve()


# -- attributions ------------------------------------------------------------------------------------------------
def test_attributions_page_computes_maps_and_curves(app):
    at = app.run()
    at.switch_page("pages/attributions.py").run()
    no_exception(at)
    at.multiselect(key="attr_methods").set_value(["saliency", "occlusion"])
    at.slider(key="fa_steps").set_value(10)
    at.button(key="attr_submit").click().run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    for key in ("fig_attr_saliency", "fig_attr_occlusion", "fig_focus_saliency", "fig_curves"):
        chart(at, key)
    aucs = table(at, "deletion_auc")
    assert list(aucs["method"]) == ["STF focus", "Saliency", "Occlusion", "random"]
    assert ((aucs["deletion_auc"] >= 0) & (aucs["deletion_auc"] <= 1)).all()
    assert ((aucs["insertion_auc"] >= 0) & (aucs["insertion_auc"] <= 1)).all()
    assert any("Attribution time" in c.value for c in at.caption)


# -- evaluation runs -----------------------------------------------------------------------------------------------
def test_run_submitted_from_the_page_is_queued_then_done_after_worker_once(app, app_env):
    from stf import runs

    at = app.run()
    at.switch_page("pages/runs.py").run()
    no_exception(at)
    at.selectbox(key="run_data").set_value(app_env["SMALL_STORE"])
    at.text_input(key="run_split").input("xview/test")
    at.button(key="run_submit").click().run()
    no_exception(at)
    assert any("Queued run" in s.value for s in at.success), [e.value for e in at.error]
    db = Path(os.environ["STF_RUNS_DIR"]) / "runs.sqlite"
    reg = runs.Registry(db)
    run = reg.list()[0]
    assert (run.status, run.data, run.split) == ("queued", app_env["SMALL_STORE"], "xview/test")
    # a bad split is refused with a message, nothing queued
    at.text_input(key="run_split").input("nope/test")
    at.button(key="run_submit").click().run()
    no_exception(at)
    assert any("no split 'nope/test'" in e.value for e in at.error)
    assert len(reg.list()) == 1
    # so is a data set the model cannot be evaluated on (SBU's 15 joints, the model NW-UCLA's 20)
    at.selectbox(key="run_data").set_value("sbu:sbu-kinect-interaction")
    at.text_input(key="run_split").input("all")
    at.button(key="run_submit").click().run()
    no_exception(at)
    assert any("checkpoint is for layout 'kinect20', but data set" in e.value and "'sbu15'" in e.value
               for e in at.error), [e.value for e in at.error]
    assert len(reg.list()) == 1
    at.selectbox(key="run_data").set_value("ntu:ntu-raw-skeleton-samples/nturgb+d_skeletons")  # NTU's 25: mappable
    at.button(key="run_submit").click().run()
    no_exception(at)
    assert any("is 'ntu25'; runs evaluate data of the model's own layout; `python -m stf eval --map-layout` "
               "converts it" in e.value for e in at.error), [e.value for e in at.error]
    assert len(reg.list()) == 1
    at.selectbox(key="run_data").set_value(app_env["SMALL_STORE"])
    # several runs can wait in the queue
    at.text_input(key="run_split").input("all")
    at.button(key="run_submit").click().run()
    assert [r.status for r in reg.list()] == ["queued", "queued"]
    assert runs.worker(db, once=True, log=lambda m: None) == 2
    at.run()  # a reload: everything comes from the registry
    no_exception(at)
    runs_table = table(at, "status")
    row = runs_table[runs_table["id"] == run.id].iloc[0]
    assert row["status"] == "done" and row["progress"] == 1.0 and row["samples"] == "16/16"
    assert list(runs_table["status"]) == ["done", "done"]
    at.button(key=f"open_{run.id}").click().run()  # the finished bundle opens in the confusion explorer
    no_exception(at)
    assert Path(at.selectbox(key="bundle").value) == runs.bundle_dir(run.id, db.parent)
    assert metric(at, "Samples") == "16"


def test_a_killed_workers_run_shows_as_interrupted_and_cancel_says_what_it_did(app, app_env, tmp_path):
    """A worker SIGKILLed mid-run (not restarted, not yet reaped): the page shows its run failed, interrupted,
    not "running" for ever. Cancelling a run a worker took meanwhile says so (and cancels no other run); a
    finished run whose bundle was removed offers no button that cannot open it."""
    import subprocess
    import sys
    import textwrap

    from stf import runs
    from tests.conftest import REPO

    db = Path(os.environ["STF_RUNS_DIR"]) / "runs.sqlite"
    reg = runs.Registry(db)
    ck = str(Path(app_env["STF_ASSETS_DIR"]) / "tiny.pt")
    gone = reg.submit(ck, app_env["SMALL_STORE"])
    reg.claim()
    reg.finish(gone, tmp_path / "removed-bundle")
    killed = reg.submit(ck, app_env["SMALL_STORE"])
    victim = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from stf import runs
        def ev(checkpoint, data, split, out, progress):
            progress(3, 16)
            time.sleep(120)
        runs.worker({str(db)!r}, once=True, evaluate=ev, log=lambda m: None)
    """)], cwd=REPO)
    try:
        deadline = time.time() + 60
        while reg.get(killed).done != 3:
            assert time.time() < deadline and victim.poll() is None
            time.sleep(0.05)
        victim.send_signal(9)
        time.sleep(0.3)
        taken, other = reg.submit(ck, app_env["SMALL_STORE"]), reg.submit(ck, app_env["SMALL_STORE"])
        at = app.run()
        at.switch_page("pages/runs.py").run()
        no_exception(at)
        assert any(f"Run {killed} failed: {runs.INTERRUPTED}" in e.value for e in at.error), [e.value for e in at.error]
        assert reg.get(killed).status == "failed"
        assert not [b for b in at.button if b.key == f"open_{gone}"]
        assert any("bundle removed" in c.value for c in at.caption)
        at.selectbox(key="cancel_id").set_value(taken).run()
        assert reg.claim().id == taken  # a worker takes it before the click
        at.button(key="cancel").click().run()
        no_exception(at)
        assert any(f"Run {taken} was not cancelled: it is no longer queued" in w.value for w in at.warning), \
            [w.value for w in at.warning]
        assert reg.get(other).status == "queued"  # not the other one instead
        at.selectbox(key="cancel_id").set_value(other).run()
        at.button(key="cancel").click().run()
        no_exception(at)
        assert any(f"Cancelled run {other}." in s.value for s in at.success)
        assert [r.id for r in reg.list()] == [taken, killed, gone]
    finally:
        victim.kill()
        victim.wait()
        reg.close()


# -- training curves ----------------------------------------------------------------------------------------------
def test_training_page_shows_the_shipped_model_and_follows_runs_in_progress(app, app_env, tiny_checkpoint):
    import shutil

    from stf.history import load_history

    at = app.run()
    at.switch_page("pages/training.py").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    shipped_ck = Path(app_env["STF_ASSETS_DIR"]) / "tiny.pt"
    assert [Path(p) for p in at.multiselect(key="train_runs").value] == [shipped_ck.resolve()]
    h = load_history(shipped_ck)
    spec = chart(at, "train_curves")
    mine = {t["name"]: t for t in spec["data"] if t["legendgrouptitle"]["text"] == h.name}
    assert {"L_cls", "L_e", "L_c", "L_d", "L_G", "train top-1", "lr", "focus cosine"} <= set(mine)
    np.testing.assert_allclose(arr(mine["L_cls"]["y"]), h.series("loss_cls"))
    summary = table(at, "epochs")
    assert summary.iloc[0]["run"] == h.name and summary.iloc[0]["epochs"] == "2 / 2"
    cos = chart(at, "train_cos")
    assert arr(cos["data"][0]["z"]).shape == (6, 2)
    assert not at.info  # nothing in progress

    # a run still training (one of two epochs logged) and a run whose log is broken, under the runs folder
    runs_dir = Path(os.environ["STF_RUNS_DIR"])
    partial, broken = runs_dir / "partial", runs_dir / "broken"
    shutil.copytree(tiny_checkpoint.parent, partial)
    (partial / "log.jsonl").write_text((partial / "log.jsonl").read_text().splitlines()[0] + "\n")
    shutil.copytree(tiny_checkpoint.parent, broken)
    (broken / "log.jsonl").write_text("{cut")
    at.button(key="train_reload").click().run()  # looks for new runs at once (else within 5 s)
    options = list(at.multiselect(key="train_runs").options)  # as shown: relative to their root
    assert options == ["assets/tiny.pt", "runs/broken", "runs/partial"] or \
        options == ["assets/tiny.pt", "runs/partial", "runs/broken"]  # a folder's last.pt is not listed again
    at.multiselect(key="train_runs").set_value([str(shipped_ck.resolve()), str(partial.resolve()),
                                                str(broken.resolve())]).run()
    no_exception(at)
    assert any("broken" in e.value and "line 1 is not JSON" in e.value for e in at.error)
    assert any("1 of 2 epochs logged" in i.value for i in at.info)
    groups = {t["legendgrouptitle"]["text"] for t in chart(at, "train_curves")["data"]}
    assert len(groups) == 1  # the folder's run has the shipped model's name: same config and seed ...
    assert len({t["legendgroup"] for t in chart(at, "train_curves")["data"]}) == 2  # ... but its own curves
    assert list(table(at, "epochs")["epochs"]) == ["2 / 2", "1 / 2"]
    # the folder's log grows: a reload shows the new epoch
    shutil.copy(tiny_checkpoint.parent / "log.jsonl", partial / "log.jsonl")
    at.button(key="train_reload").click().run()
    no_exception(at)
    assert list(table(at, "epochs")["epochs"]) == ["2 / 2", "2 / 2"]


# -- exports ------------------------------------------------------------------------------------------------------
def _keys(at, kind: str) -> set[str]:
    return {getattr(e, "key", None) or e.proto.id.rsplit("-", 1)[-1] for e in at.get(kind)}


def test_explorer_exports_csv_video_and_png(app):
    at = app.run()
    assert "dl_csv" in _keys(at, "download_button")
    at.button(key="video_make").click().run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    videos = at.get("video")
    assert len(videos) == 1 and "webm" in videos[0].proto.url
    assert {"dl_mp4", "dl_webm"} <= _keys(at, "download_button")
    from stf.viz import export

    webm = at.session_state["video"][1]
    mp4 = at.session_state["video"][2]
    assert webm[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a WebM file
    assert mp4[4:8] == b"ftyp"  # an MP4 file
    if Path("/usr/bin/chromium").exists():  # Kaleido draws PNGs with a Chromium
        at.button(key="png_make").click().run()
        no_exception(at)
        assert not at.error, [e.value for e in at.error]
        assert "dl_png" in _keys(at, "download_button")
        assert at.session_state["png"][1][:8] == b"\x89PNG\r\n\x1a\n"
    assert export  # imported: the app's exports come from stf.viz.export


def test_focus_volume_on_demand(app):
    at = app.run()
    assert "fig_volume" not in {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}
    at.toggle(key="show_volume").set_value(True).run()
    no_exception(at)
    vol = chart(at, "fig_volume")
    assert [t["name"] for t in vol["data"]][:2] == ["bones 1", "joints 1"]


# -- errors are messages ----------------------------------------------------------------------------------------
def test_a_broken_checkpoint_is_a_message(app, app_env, tmp_path, monkeypatch):
    import shutil

    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "a_broken.pt").write_bytes(b"this is not a checkpoint")
    shutil.copy(Path(app_env["STF_ASSETS_DIR"]) / "tiny.pt", assets / "tiny.pt")
    monkeypatch.setenv("STF_ASSETS_DIR", str(assets))
    at = app.run()
    no_exception(at)
    assert Path(at.sidebar.selectbox(key="model").value).name == "a_broken.pt"
    assert any("Cannot load this model" in e.value and "not a loadable checkpoint" in e.value for e in at.error)
    assert "\n" not in at.error[0].value and "Traceback" not in at.error[0].value
    at.sidebar.selectbox(key="model").set_value(str((assets / "tiny.pt").resolve())).run()
    no_exception(at)
    assert not at.error and metric(at, "Prediction")


def test_a_split_without_evaluation_offers_a_run_and_failed_runs_show_their_error(app, app_env):
    from stf import runs

    at = app.run()
    at.sidebar.selectbox(key="split").set_value("all").run()
    no_exception(at)
    assert any("No evaluation of this model on this split" in i.value for i in at.sidebar.info)
    at.sidebar.button(key="start_eval").click().run()
    no_exception(at)
    assert any("Queued run" in s.value for s in at.sidebar.success)
    reg = runs.Registry(Path(os.environ["STF_RUNS_DIR"]) / "runs.sqlite")
    newest = reg.list()[0]
    assert (newest.status, newest.data, newest.split) == ("queued", app_env["SMALL_STORE"], "all")
    reg.claim()
    reg.fail(newest.id, "DataError: something went wrong")
    at.switch_page("pages/runs.py").run()
    no_exception(at)
    assert any(f"Run {newest.id} failed: DataError: something went wrong" in e.value for e in at.error)


def test_an_evaluation_on_a_split_expression_is_browsable(app, app_env):
    """A run queued on a condition (stf.data.splits) adds that split to the explorer, with its predictions."""
    from stf import runs
    from stf.data.store import SkeletonStore

    small = SkeletonStore(app_env["SMALL_STORE"])
    expr = "xview/test & label<=4"
    expect = {small.ids[i] for i in small.split_indices(expr)}
    assert 0 < len(expect) < len(small.split_indices("xview/test"))
    at = app.run()
    at.switch_page("pages/runs.py").run()
    at.selectbox(key="run_data").set_value(app_env["SMALL_STORE"])
    at.text_input(key="run_split").input(expr)
    at.button(key="run_submit").click().run()
    no_exception(at)
    db = Path(os.environ["STF_RUNS_DIR"]) / "runs.sqlite"
    assert runs.worker(db, once=True, log=lambda m: None) == 1
    time.sleep(5.5)  # the page caches the list of a model's bundles for 5 s
    at.switch_page("app.py").run()
    no_exception(at)
    assert expr in at.sidebar.selectbox(key="split").options
    at.sidebar.selectbox(key="split").set_value(expr).run()
    no_exception(at)
    shown = at.sidebar.selectbox(key="sample").options  # "id — true → predicted ✓/✗ (confidence)"
    assert {o.split(" — ")[0] for o in shown} == expect
    assert all("→" in o for o in shown)  # each with the run's prediction
    assert any("Predictions from the evaluation" in c.value for c in at.sidebar.caption)


def test_a_second_models_samples_are_named_and_scored_by_its_own_data(app, tmp_path):
    """A two-person SBU model beside the NW-UCLA one, shown on its own evaluation's data and split: the true
    class and result of its samples are SBU's, and the sample list carries its bundle's predictions."""
    from stf.checkpoint import build_tiny_checkpoint
    from stf.evaluate import evaluate

    need_data("sbu-kinect-interaction")
    run = Path(os.environ["STF_RUNS_DIR"]) / "sbu"
    ck = build_tiny_checkpoint(run, data="sbu:sbu-kinect-interaction", samples=16,
                               overrides=("data.train_split=fold1/train", "data.persons=2"))
    b = load_bundle(evaluate(ck, "sbu:sbu-kinect-interaction", "fold2/test", run / "eval", device="cpu"))
    at = app.run()
    first = at.sidebar.selectbox(key="data").value
    assert "sbu" not in first
    options = at.sidebar.selectbox(key="model").options
    at.sidebar.selectbox(key="model").set_value(next(o for o in options if o.endswith("sbu/last.pt"))).run()
    no_exception(at)
    at.sidebar.selectbox(key="data").set_value("sbu:sbu-kinect-interaction").run()
    at.sidebar.selectbox(key="split").set_value("fold2/test").run()
    no_exception(at)
    assert any("Predictions from the evaluation" in c.value for c in at.sidebar.caption)
    sid = at.sidebar.selectbox(key="sample").value
    i = b.ids.tolist().index(sid)
    assert metric(at, "True class") == b.class_names[int(b.labels[i])]
    assert metric(at, "Result") == ("correct" if b.preds[i] == b.labels[i] else "incorrect")
    # its attributions show either person's maps (person 1 only, before)
    at.switch_page("pages/attributions.py").run()
    at.sidebar.selectbox(key="model").set_value(next(o for o in options if o.endswith("sbu/last.pt"))).run()
    at.sidebar.selectbox(key="data").set_value("sbu:sbu-kinect-interaction").run()
    at.sidebar.selectbox(key="split").set_value("fold2/test").run()
    at.multiselect(key="attr_methods").set_value(["saliency"])
    at.slider(key="fa_steps").set_value(5)
    at.button(key="attr_submit").click().run()
    no_exception(at)
    assert at.radio(key="attr_person").options == ["person 1", "person 2"]
    first = chart(at, "fig_attr_saliency")
    at.radio(key="attr_person").set_value(1).run()
    no_exception(at)
    second = chart(at, "fig_attr_saliency")
    assert arr(second["data"][0]["z"]).shape == arr(first["data"][0]["z"]).shape
    assert not np.array_equal(arr(second["data"][0]["z"]), arr(first["data"][0]["z"]))


def test_a_damaged_run_registry_leaves_its_runs_out_with_a_warning(app, tmp_path):
    """Not a database, or a runs table of another schema: pages that list bundles warn and go on."""
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir(exist_ok=True)
    db = runs_dir / "runs.sqlite"
    at = None
    for damage, message in ((lambda: db.write_bytes(b"not a database " * 100), "cannot open the run registry"),
                            (lambda: sqlite3.connect(db).execute("CREATE TABLE runs (x INTEGER)").connection.commit(),
                             "not a run registry of this version")):
        db.unlink(missing_ok=True)
        damage()
        at = app.run() if at is None else at.switch_page("pages/explorer.py").run()
        no_exception(at)
        assert any("Bundles of evaluation runs are left out" in w.value and message in w.value
                   for w in at.warning), [w.value for w in at.warning]
        assert any(m.label == "Prediction" for m in at.metric)  # the sample is still explained
        at.switch_page("pages/confusion.py").run()
        no_exception(at)
        assert any(message in w.value for w in at.warning), [w.value for w in at.warning]
        assert any(m.label == "Top-1" for m in at.metric)  # the shipped bundle still opens


def test_malformed_settings_are_named(app, monkeypatch):
    """STF_TORCH_THREADS / STF_MAX_UPLOAD_BYTES that are not numbers: a message naming the variable."""
    import streamlit as st

    monkeypatch.setenv("STF_TORCH_THREADS", "two")
    monkeypatch.setenv("STF_MAX_UPLOAD_BYTES", "10MB")
    st.cache_resource.clear()  # the thread count is configured once per process
    try:
        at = app.run()
        no_exception(at)
        assert any("STF_TORCH_THREADS must be an integer >= 1, got 'two'; using 1 thread" in w.value
                   for w in at.warning), [w.value for w in at.warning]
        at.sidebar.radio(key="source").set_value("upload").run()
        no_exception(at)
        assert any("STF_MAX_UPLOAD_BYTES must be an integer >= 1, got '10MB'" in e.value for e in at.error), \
            [e.value for e in at.error]
    finally:
        monkeypatch.delenv("STF_TORCH_THREADS")
        st.cache_resource.clear()
