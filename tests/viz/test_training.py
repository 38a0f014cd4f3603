"""Training-curve figures drawn from the shipped models' real histories."""
from __future__ import annotations

import numpy as np
import pytest

from stf import viz
from stf.history import load_history
from tests.conftest import REPO

STF = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt"
BACKBONE = REPO / "assets" / "baselines" / "backbone_ucla_xview_joint_cpu_seed3.pt"


@pytest.fixture(scope="module")
def histories():
    return [load_history(STF), load_history(BACKBONE)]


def traces(fig, group_title: str) -> dict[str, object]:
    return {t.name: t for t in fig.data if t.legendgrouptitle.text == group_title}


def test_curves_show_each_run_and_term_where_it_was_logged(histories):
    stf, bb = histories
    fig = viz.training_curves_figure(histories)
    mine, theirs = traces(fig, stf.name), traces(fig, bb.name)
    assert set(mine) == {"L_cls", "L_e", "L_c", "L_d", "L_G", "train top-1", "lr", "focus cosine"}
    assert set(theirs) == {"L_cls", "train top-1", "lr", "focus cosine"}  # the backbone has no focus loss
    le = mine["L_e"]
    assert list(le.x) == list(range(6, 66))  # L_e starts with the focus losses, after 5 warm-up epochs
    np.testing.assert_allclose(le.y, stf.series("loss_e")[5:])
    np.testing.assert_allclose(theirs["train top-1"].y, 100 * bb.series("train_top1"))
    assert mine["L_cls"].line.dash == "solid" and theirs["L_cls"].line.dash == "dash"
    assert mine["L_cls"].line.color == theirs["L_cls"].line.color  # one colour per term, one dash per run
    assert fig.layout.yaxis.type == "log"
    vlines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(vlines) == 4 and {s.x0 for s in vlines} == {5.5}  # STF's warm-up end, on every panel; not the backbone's
    fig.to_json()


def test_missing_epochs_are_gaps_not_zeros(histories):
    h = histories[1]
    h2 = type(h)(**{**h.__dict__, "entries": [dict(e) for e in h.entries]})
    h2.entries[10]["loss_cls"] = float("nan")
    del h2.entries[20]["train_top1"]
    fig = viz.training_curves_figure([h2])
    t = traces(fig, h.name)
    assert 11 not in list(t["L_cls"].x) and 21 not in list(t["train top-1"].x)
    assert len(t["L_cls"].x) == 64


def test_focus_cosine_heatmap_is_modules_by_epochs(histories):
    bb = histories[1]
    fig = viz.focus_cosine_figure(bb)
    hm = fig.data[0]
    z = np.asarray(hm.z)
    assert z.shape == (6, 65) and list(hm.y) == [f"module {k}" for k in range(1, 7)]
    np.testing.assert_allclose(z[:, -1], bb.entries[-1]["focus_cosine_per_module"])
    with pytest.raises(ValueError, match="no per-module focus cosine"):
        viz.focus_cosine_figure(histories[0])  # logged before the per-module figures existed
    with pytest.raises(ValueError):
        viz.training_curves_figure([])
