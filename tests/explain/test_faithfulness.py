"""Deletion / insertion curves: x axis, AUC range, endpoints, seeded random baseline, removal modes."""
from __future__ import annotations

import numpy as np
import pytest

from stf.errors import ConfigError
from stf.explain.faithfulness import auc, interpolate_removed, random_ranking


def _check_curve(c, steps):
    assert c.fractions.shape == c.probs.shape == (steps + 1,)
    assert c.fractions[0] == 0 and c.fractions[-1] == 1 and np.all(np.diff(c.fractions) > 0)
    assert np.all((c.probs >= 0) & (c.probs <= 1))
    assert 0 <= c.auc <= 1 and c.auc == pytest.approx(auc(c.fractions, c.probs))


@pytest.mark.parametrize("mode", ["zero", "mean_pose", "interpolate"])
def test_curves(explainer, explanation, mode):
    e = explanation
    maps = {"focus": e.focus.input[5], "neg": -e.focus.input[5]}
    rep = explainer.faithfulness(e, maps, steps=10, mode=mode, random_seed=3)
    assert set(rep.curves) == {"focus", "neg", "random"}
    p_full = float(e.probabilities[e.target])
    ends = set()
    for name, per in rep.curves.items():
        for kind, c in per.items():
            _check_curve(c, 10)
        d, i = per["deletion"], per["insertion"]
        assert d.probs[0] == pytest.approx(p_full, abs=1e-5) and i.probs[-1] == pytest.approx(p_full, abs=1e-5)
        assert d.probs[-1] == pytest.approx(i.probs[0], abs=1e-6)  # the fully removed input
        ends.add(round(float(d.probs[-1]), 6))
        assert rep.scores[name] == pytest.approx(i.auc - d.auc)
    assert len(ends) == 1
    assert rep.forward_passes == 2 + 3 * 2 * 9
    assert [r["method"] for r in rep.rows()] == ["focus", "neg", "random"]


def test_random_baseline_is_seeded(explainer, explanation):
    a = random_ranking((1, 20, 20), seed=5)
    assert np.array_equal(a, random_ranking((1, 20, 20), seed=5))
    assert not np.array_equal(a, random_ranking((1, 20, 20), seed=6))
    r1 = explainer.faithfulness(explanation, {}, steps=5, random_seed=7).curves["random"]["deletion"]
    r2 = explainer.faithfulness(explanation, {}, steps=5, random_seed=7).curves["random"]["deletion"]
    np.testing.assert_allclose(r1.probs, r2.probs, atol=1e-6)


def test_bad_arguments(explainer, explanation):
    with pytest.raises(ConfigError):
        explainer.faithfulness(explanation, {"x": np.zeros((2, 2, 2))})
    with pytest.raises(ConfigError):
        explainer.faithfulness(explanation, {}, mode="blur")


def test_maps_and_counts_are_checked(explainer, explanation):
    """A map named "random" was replaced by the seeded ranking; a NaN map gave curves of index order;
    steps=2.5 or batch_size=0 were TypeErrors and ValueErrors from numpy."""
    from stf.errors import ArgumentError

    m = explanation.focus.input[5]
    with pytest.raises(ArgumentError, match="map name 'random' is the seeded random baseline's"):
        explainer.faithfulness(explanation, {"random": m}, steps=2)
    mine = explainer.faithfulness(explanation, {"random": m}, steps=2, random_seed=None)
    assert list(mine.curves) == ["random"]  # the caller's own ranking, under that name, when no seed is asked
    bad = m.copy()
    bad[0, 3, 4] = np.nan
    with pytest.raises(ArgumentError, match="map 'f' holds a non-finite value .* at person 0, frame 3, joint 4"):
        explainer.faithfulness(explanation, {"f": bad}, steps=2)
    for kw, problem in (({"steps": 0}, "steps must be an integer >= 1, got 0"), ({"steps": 2.5}, "got 2.5"),
                        ({"steps": True}, "got True"), ({"batch_size": 0}, "batch_size must be an integer >= 1"),
                        ({"random_seed": -1}, "random_seed must be None or an integer >= 0")):
        with pytest.raises(ArgumentError, match=problem):
            explainer.faithfulness(explanation, {"f": m}, **kw)
    with pytest.raises(ArgumentError, match="maps must be a mapping of name"):
        explainer.faithfulness(explanation, [m])


def test_interpolate_removed():
    t = 7
    x = np.zeros((3, t, 2, 1), np.float32)
    x[:, :, 0, 0] = np.arange(t) * 2.0  # a linear ramp on joint 0
    x[:, :, 1, 0] = 5.0
    removed = np.zeros((2, 1, t, 2), bool)
    removed[0, 0, 2:5, 0] = True  # interior gap: linear interpolation restores the ramp
    removed[1, 0, 4:, 1] = True  # tail: hold the last kept value
    removed[1, 0, :, 0] = True  # everything: zero
    out = interpolate_removed(x, removed, np.ones(t, bool))
    assert out.shape == (2, 3, t, 2, 1)
    np.testing.assert_allclose(out[0], x)
    np.testing.assert_allclose(out[1, :, :, 1, 0], 5.0)
    assert np.all(out[1, :, :, 0, 0] == 0)


def test_auc():
    f = np.linspace(0, 1, 11)
    assert auc(f, np.ones(11)) == pytest.approx(1.0)
    assert auc(f, f) == pytest.approx(0.5)
    assert auc(f, np.zeros(11)) == 0.0
