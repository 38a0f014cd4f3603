"""Deletion / insertion curves: x axis, AUC range, endpoints, seeded random baseline, removal modes, and
persons absent from some frames (real two-person Kinetics-skeleton clips)."""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from stf.errors import ArgumentError, ConfigError
from stf.explain.faithfulness import auc, faithfulness_report, interpolate_removed, random_ranking, valid_cells
from tests.conftest import need_data


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


# -- persons absent from some frames: their cells there are neither ranked nor interpolated ---------------
KINETICS = ("kinetics-skeleton-format", "kinetics400_sample", "--33Lscn6sk.json")  # 2 persons, 189 frames
THROW = ("kinetics-skeleton-format", "ntu_rgb_openpose_kinetics_format", "kinetics_train",
         "S004C003P003R001A007_rgb.json")  # NTU "throw" in that format: person 2 is seen in frames 60, 61 only


def _real_input(*parts, pad: int = 0):
    """A real two-person sample as ``x (1, C, T + pad, V, M)``, its ``frame_index`` (``pad`` trailing -1
    frames, zero) and ``present (M, T + pad)``: the person has some nonzero joint in the frame."""
    from stf.data import kinetics

    s = kinetics.read_file(need_data(*parts))
    data = np.concatenate([s.data, np.zeros((s.num_persons, pad) + s.data.shape[2:], np.float32)], axis=1)
    x = torch.from_numpy(np.ascontiguousarray(data.transpose(3, 1, 2, 0)))[None]
    frame_index = np.concatenate([np.arange(s.num_frames), np.full(pad, -1)])
    return x, frame_index, np.abs(data).sum(axis=(2, 3)) > 0


def test_valid_cells_of_a_flickering_person():
    """Person 2 of the real Kinetics clip is absent in frames 143, 147, 148 and from 151 on, person 1 in
    143 and in most of 161..188: those cells were ranked (and "removed", changing nothing) before."""
    x, fi, present = _real_input(*KINETICS, pad=11)
    assert x.shape == (1, 3, 200, 18, 2)
    assert np.flatnonzero(~present[1, :189])[:4].tolist() == [143, 147, 148, 151]
    assert present[1, [144, 145, 146, 149, 150]].all() and present[0, 147] and not present[0, 143]
    valid = valid_cells(x, fi)
    assert valid.shape == (2, 200, 18)
    assert np.array_equal(valid, np.repeat(present[:, :, None], 18, axis=2))
    assert not valid[1, [143, 147, 148, 151, 160, 188]].any() and valid[1, [144, 146, 149, 150]].all()
    assert not valid[:, 189:].any()  # padding
    assert valid.sum() == 18 * present.sum() < 18 * 2 * 189
    assert np.array_equal(valid_cells(x[:, :, :189], None), valid[:, :189])  # no frame_index: present frames

    x, fi, present = _real_input(*THROW)  # a person who shows up for two frames only
    valid = valid_cells(x, fi)
    assert valid[0].all() and np.flatnonzero(valid[1].any(axis=1)).tolist() == [60, 61]


def test_valid_cells_hand_checked():
    x = torch.zeros(1, 2, 6, 3, 2)
    x[0, :, :5, :, 0] = 1.0  # person 1 in frames 0..4
    x[0, 0, 2:4, 1, 1] = 2.0  # person 2 in frames 2, 3 only (one joint nonzero is enough)
    x[0, :, 5, :, 1] = 3.0  # a padding frame with coordinates in it is still padding
    fi = np.array([0, 1, 2, 3, 4, -1])
    valid = valid_cells(x, fi)
    expect = np.zeros((2, 6), bool)
    expect[0, :5] = True
    expect[1, 2:4] = True
    assert np.array_equal(valid, np.repeat(expect[:, :, None], 3, axis=2))
    # nobody present: every person's non-padding frames, as before
    assert np.array_equal(valid_cells(torch.zeros(1, 2, 6, 3, 2), fi)[:, :, 0], np.tile(fi >= 0, (2, 1)))
    assert valid_cells(torch.zeros(1, 2, 6, 3, 2)).all()


def test_interpolate_skips_frames_a_person_is_absent_from():
    """Frames where the person is absent (real data: person 2, frames 147, 148) are not sources (their zeros
    were interpolated towards) and are not filled with poses."""
    x, fi, present = _real_input(*KINETICS)
    ok = present  # (M, T): no padding here
    xn = x[0].numpy()  # (C, T, V, M)
    removed = np.zeros((1, 2, 189, 18), bool)
    removed[0, 1, 146:150, :] = True  # 146 and 149 present, 147 and 148 absent
    out = interpolate_removed(xn, removed, ok)
    assert out.shape == (1, 3, 189, 18, 2)
    assert np.all(out[0, :, 147:149, :, 1] == 0)
    for v in (1, 2, 5):  # neck and shoulders: detected in frames 145 and 150
        a, b = xn[:, 145, v, 1], xn[:, 150, v, 1]
        assert np.abs(a).sum() > 0 and np.abs(b).sum() > 0
        np.testing.assert_allclose(out[0, :, 146, v, 1], a + (b - a) / 5, rtol=1e-6)
        np.testing.assert_allclose(out[0, :, 149, v, 1], a + (b - a) * 4 / 5, rtol=1e-6)
    keep = np.ones((2, 189), bool)
    keep[1, 146:150] = False
    tm = (slice(None), slice(None), keep.T)  # on (C, V, T, M)
    np.testing.assert_array_equal(out[0].transpose(0, 2, 1, 3)[tm], xn.transpose(0, 2, 1, 3)[tm])  # rest untouched


def test_interpolate_per_person_frames_hand_checked():
    t = 6
    x = np.zeros((1, t, 1, 2), np.float32)
    x[0, :, 0, 0] = np.arange(t) * 2.0  # person 1: a ramp, present throughout
    x[0, [0, 1, 4, 5], 0, 1] = [1.0, 2.0, 9.0, 13.0]  # person 2: absent in frames 2, 3
    ok = np.abs(x).sum(axis=(0, 2)).T > 0  # (M, T)
    removed = np.zeros((1, 2, t, 1), bool)
    removed[0, 0, 2, 0] = True
    removed[0, 1, 1:4, 0] = True
    out = interpolate_removed(x, removed, ok)[0, 0, :, 0]  # (T, M)
    np.testing.assert_allclose(out[:, 0], np.arange(t) * 2.0)  # from frames 1 and 3
    np.testing.assert_allclose(out[:, 1], [1.0, 3.0, 0.0, 0.0, 9.0, 13.0])  # frame 1: 1 + (9 - 1) / 4
    # a (T,) frames_ok is every person's
    same = interpolate_removed(x, removed, np.ones(t, bool))
    np.testing.assert_array_equal(same, interpolate_removed(x, removed, np.ones((2, t), bool)))
    with pytest.raises(ArgumentError, match=r"frames_ok must have shape \(T,\) = \(6,\) or \(M, T\) = \(2, 6\)"):
        interpolate_removed(x, removed, np.ones((3, t), bool))


class _Recorder(torch.nn.Module):
    """A stand-in model that keeps every input it is given (the curves' inputs) and scores them."""

    def __init__(self):
        super().__init__()
        self.cfg = types.SimpleNamespace(num_classes=2)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        s = x.sum(dim=(1, 2, 3, 4))
        return types.SimpleNamespace(logits=torch.stack([s, -s], 1))


@pytest.mark.parametrize("mode", ["zero", "interpolate"])
def test_curves_never_touch_absent_persons(mode):
    """Every input of every curve on the real flickering sample keeps each person's absent and padding
    frames zero (interpolate filled them before), and changes only cells of present frames."""
    x, fi, present = _real_input(*KINETICS, pad=11)
    model = _Recorder()
    a = random_ranking((2, 200, 18), seed=1)
    faithfulness_report(model, x, {"a": a, "-a": -a}, target=0, steps=8, mode=mode, frame_index=fi, random_seed=2)
    seen = torch.cat(model.seen).numpy()  # (B, C, T, V, M)
    assert seen.shape[0] == 2 + 3 * 2 * 7
    absent = ~present  # (M, T)
    assert np.all(seen.transpose(0, 1, 3, 2, 4)[:, :, :, absent.T] == 0)  # (B, C, V, T, M)
    changed = (seen != x.numpy()).any(axis=(0, 1, 3))  # (T, M)
    assert not changed[absent.T].any() and changed.any()


def test_absent_cells_are_not_ranked():
    """A map that ranks a flickering person's absent frames (and the padding) highest: those cells used
    to be removed first, so the first deletion steps changed nothing (and the first insertion steps
    restored nothing); now every step removes / restores cells of present frames."""
    x, fi, present = _real_input(*KINETICS, pad=11)
    model = _Recorder()
    a = np.repeat((~present)[:, :, None], 18, axis=2).astype(np.float32)  # (M, T, V): 1 where absent
    a += 0.5 * random_ranking(a.shape, seed=4)
    steps = 8
    assert (~present).mean() > 1 / steps  # the old code's first step held absent cells only
    rep = faithfulness_report(model, x, {"a": a}, target=0, steps=steps, mode="zero", frame_index=fi,
                              random_seed=None)
    seen = torch.cat(model.seen).numpy()
    assert seen.shape[0] == 2 + 2 * (steps - 1)
    deletion, insertion = seen[2:2 + steps - 1], seen[2 + steps - 1:]
    xn = x.numpy()
    assert all((d != xn[0]).any() for d in deletion)
    assert all((i != 0).any() for i in insertion)
    n = int(present.sum()) * 18  # cells ranked
    np.testing.assert_allclose(rep.curves["a"]["deletion"].fractions,
                               np.round(np.linspace(0, 1, steps + 1) * n) / n)
