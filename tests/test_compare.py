"""Two bundles compared sample by sample: the shipped STF model against its backbone, and hand cases."""
from __future__ import annotations

import numpy as np
import pytest

from stf.compare import compare_bundles
from stf.errors import DataError
from stf.evaluate import load_bundle, write_bundle
from stf.report import collect, discordance, mcnemar_exact

from .conftest import REPO

STF0 = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval"
BB0 = REPO / "docs" / "results" / "backbone_ucla_xview_joint_cpu_seed0.eval"


def test_shipped_model_against_its_backbone_matches_the_report():
    a, b = load_bundle(STF0), load_bundle(BB0)
    c = compare_bundles(a, b)
    assert len(c.ids) == 464 and c.left_out == 0 and list(c.ids) == sorted(a.ids.tolist())
    only_stf, only_bb = discordance(*collect([str(STF0), str(BB0)]))
    assert (int(c.only_a.sum()), int(c.only_b.sum())) == (only_stf, only_bb)
    assert c.p_value == mcnemar_exact(only_stf, only_bb)
    assert c.top1_a == pytest.approx(a.metrics["top1"]) and c.top1_b == pytest.approx(b.metrics["top1"])
    # per class: what each bundle's own metrics say
    np.testing.assert_allclose(c.per_class_a, [r["top1"] for r in a.metrics["per_class"]])
    np.testing.assert_allclose(c.per_class_b, [r["top1"] for r in b.metrics["per_class"]])
    assert c.per_class_n.tolist() == [r["support"] for r in a.metrics["per_class"]]
    # the selections partition what they should, by id
    ids = a.ids.tolist()
    right_a = dict(zip(ids, (a.preds == a.labels).tolist()))
    assert {c.ids[i] for i in c.select("only_a")} == {i for i in ids if right_a[i]} - {
        str(i) for i, ok in zip(b.ids.tolist(), (b.preds == b.labels).tolist()) if ok}
    both_right = int((c.right_a & c.right_b).sum())
    assert both_right + sum(len(c.select(w)) for w in ("only_a", "only_b", "both_wrong")) == 464
    assert set(c.select("only_a")) | set(c.select("only_b")) <= set(c.select("disagree"))
    with pytest.raises(ValueError, match="which must be one of"):
        c.select("everything")


def _bundle(path, ids, preds, labels, names=("x", "y", "z")):
    logits = np.full((len(ids), len(names)), -5.0, np.float32)
    logits[np.arange(len(ids)), preds] = 5.0
    return load_bundle(write_bundle(path, ids, logits, np.asarray(labels), list(names), {"checkpoint": {}, "data": {}}))


def test_hand_case_matched_by_id_not_position(tmp_path):
    # the same four samples in another order; B also holds one sample A lacks, and one unlabelled
    a = _bundle(tmp_path / "a", ["s1", "s2", "s3", "s4"], [0, 1, 2, 0], [0, 1, 1, 2])
    b = _bundle(tmp_path / "b", ["s4", "s3", "s2", "s1", "s5", "s6"], [2, 1, 0, 0, 1, 1], [2, 1, 1, 0, 1, -1])
    c = compare_bundles(a, b)
    assert c.ids.tolist() == ["s1", "s2", "s3", "s4"] and c.left_out == 2
    # s1: both right; s2: only A; s3: only B; s4: only B
    assert c.only_a.tolist() == [False, True, False, False] and c.only_b.tolist() == [False, False, True, True]
    assert c.p_value == mcnemar_exact(1, 2) == 1.0
    np.testing.assert_allclose(c.per_class_a, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(c.per_class_b, [1.0, 0.5, 1.0])
    assert c.per_class_n.tolist() == [1, 2, 1]
    assert [c.ids[i] for i in c.select("disagree")] == ["s2", "s3", "s4"]


def test_incomparable_bundles_are_clear_errors(tmp_path):
    a = _bundle(tmp_path / "a", ["s1", "s2"], [0, 1], [0, 1])
    with pytest.raises(DataError, match="its classes differ"):
        compare_bundles(a, _bundle(tmp_path / "b", ["s1", "s2"], [0, 1], [0, 1], names=("x", "z", "y")))
    with pytest.raises(DataError, match="sample 's2' is labelled 0 here and 1 in a: not the same data"):
        compare_bundles(a, _bundle(tmp_path / "c", ["s1", "s2"], [0, 1], [0, 0]))
    with pytest.raises(DataError, match="shares no labelled sample"):
        compare_bundles(a, _bundle(tmp_path / "d", ["t1"], [0], [0]))
