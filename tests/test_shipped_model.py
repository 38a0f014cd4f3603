"""The shipped NW-UCLA model: re-evaluated on all 464 view-3 samples, it reproduces its shipped bundle."""

import numpy as np
import pytest

from stf.checkpoint import load_checkpoint
from stf.evaluate import evaluate, load_bundle

from .conftest import REPO, need_data

SHIPPED = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt"
BUNDLE = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> tuple:
    need_data("nw-ucla")
    assert SHIPPED.is_file() and (BUNDLE / "metrics.json").is_file(), "the shipped checkpoint and bundle are missing"
    out = tmp_path_factory.mktemp("shipped") / "eval"
    evaluate(SHIPPED, "ucla:nw-ucla", "xview/test", out, device="cpu")
    return load_bundle(out), load_bundle(BUNDLE)


def test_shipped_checkpoint_is_the_protocol_model():
    ck = load_checkpoint(SHIPPED)
    assert ck["seed"] == 0 and ck["epoch"] == ck["config"]["train"]["epochs"] == 65  # last epoch, no selection
    assert ck["config"]["train"]["passes_per_epoch"] == 1 and ck["config"]["data"]["train_split"] == "xview/train"
    assert ck["config"]["data"]["eval_split"] is None  # view 3 was never evaluated during training
    assert ck["optimizer"] is None  # stripped for release


def test_bundle_holds_exactly_the_view3_ids(fresh, ucla_store):
    new, shipped = fresh
    view3 = {i for i in ucla_store.ids if i.endswith("_v03")}
    assert len(view3) == 464
    assert set(new.ids.tolist()) == view3 == set(shipped.ids.tolist())


def test_predictions_and_accuracy_match_the_shipped_bundle(fresh):
    new, shipped = fresh
    pos = {s: i for i, s in enumerate(shipped.ids.tolist())}
    order = np.asarray([pos[s] for s in new.ids.tolist()])
    same = int((new.preds == shipped.preds[order]).sum())
    assert same >= 463, f"only {same} of 464 predictions match the shipped bundle"
    assert abs(100 * new.metrics["top1"] - 100 * shipped.metrics["top1"]) <= 0.22
