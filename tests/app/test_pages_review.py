"""Pages driven with AppTest: another model of other persons, a removed model, a checkpoint rewritten in place."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tests.app.conftest import no_exception
from tests.app.test_pages import arr, chart, metric, shipped


def test_another_model_with_other_persons_is_shown_beside_without_an_overlap(app, app_env, tmp_path):
    """A second model of two persons (the sample's focus maps then differ in shape): the explorer showed only
    an error instead of its prediction and focus; now its metrics and its own map, and why there is no overlap."""
    from stf.checkpoint import build_tiny_checkpoint
    from stf.explain import Explainer

    ck, _, store = shipped(app_env)
    other = build_tiny_checkpoint(tmp_path / "runs" / "two", samples=16, overrides=("data.persons=2",))
    at = app.run()
    at.selectbox(key="other_model").set_value(str(other.resolve())).run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    sample = store.get(store.position(at.sidebar.selectbox(key="sample").value))
    mine = Explainer(ck).explain(sample)
    theirs = Explainer(other).explain(sample, target=mine.target)
    assert metric(at, "Its prediction") == theirs.top5.names[0]
    assert any("No overlap:" in c.value and "persons" in c.value for c in at.caption)
    at.radio(key="module").set_value(1).run()
    no_exception(at)
    z = arr(chart(at, "fig_other")["data"][0]["z"])
    np.testing.assert_allclose(z, theirs.focus.original[0][0].T, atol=1e-6)

def test_confusion_page_opens_when_the_model_chosen_elsewhere_was_removed(app, app_env, tmp_path, monkeypatch):
    """The sidebar's model removed from disk (another checkpoint chosen on the explorer): the confusion page
    looked up that model's bundles for its default, and failed as a whole (FileNotFoundError)."""
    assets = tmp_path / "assets"
    shutil.copytree(app_env["STF_ASSETS_DIR"], assets)
    shutil.copy(assets / "tiny.pt", assets / "copy.pt")
    monkeypatch.setenv("STF_ASSETS_DIR", str(assets))
    _, bundle, _ = shipped(app_env)
    at = app.run()
    at.sidebar.selectbox(key="model").set_value(str((assets / "copy.pt").resolve())).run()
    no_exception(at)
    (assets / "copy.pt").unlink()
    at.switch_page("pages/confusion.py").run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert metric(at, "Samples") == str(len(bundle.ids))

def test_attributions_follow_a_checkpoint_rewritten_in_place(app, app_env, tmp_path):
    """A run's last.pt is rewritten after every epoch: the explorer's focus follows (its cache key holds the
    file's mtime) but the attributions page kept the maps and curves of the old weights."""
    import os

    from stf.checkpoint import build_tiny_checkpoint
    from stf.explain import Explainer

    _, _, store = shipped(app_env)
    run = tmp_path / "runs" / "live"
    run.mkdir(parents=True)
    ck = run / "last.pt"
    shutil.copy(Path(app_env["STF_ASSETS_DIR"]) / "tiny.pt", ck)
    newer = build_tiny_checkpoint(tmp_path / "elsewhere", seed=1, samples=16)
    at = app.run()
    at.sidebar.selectbox(key="model").set_value(str(ck.resolve())).run()
    at.switch_page("pages/attributions.py").run()
    at.sidebar.selectbox(key="model").set_value(str(ck.resolve())).run()
    at.multiselect(key="attr_methods").set_value(["saliency"])
    at.slider(key="fa_steps").set_value(5)
    at.button(key="attr_submit").click().run()
    no_exception(at)
    tgt = at.session_state["attr_request"]["target"]
    before = arr(chart(at, "fig_attr_saliency")["data"][0]["z"])
    shutil.copy(newer, ck)  # the next epoch's weights, same path
    t = ck.stat().st_mtime + 5
    os.utime(ck, (t, t))
    at.run()
    no_exception(at)
    assert at.session_state["attr_request"]["target"] == tgt
    sample = store.get(store.position(at.sidebar.selectbox(key="sample").value))
    ex = Explainer(ck)
    want = ex.attribute(ex.explain(sample), "saliency", target=tgt)
    got = arr(chart(at, "fig_attr_saliency")["data"][0]["z"])
    assert not np.allclose(got, before)
    np.testing.assert_allclose(got, want.original[0].T, rtol=1e-4, atol=1e-6)
