"""Captum attributions reduced to (M, T, V): shapes, finiteness, baselines."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stf.errors import ConfigError
from stf.explain.attributions import baseline_tensor, reduce_cells


@pytest.mark.parametrize("baseline", ["zeros", "mean_pose", "first_frame"])
def test_integrated_gradients(explainer, explanation, baseline):
    a = explainer.attribute(explanation, "integrated_gradients", baseline=baseline, n_steps=8)
    m, t, v = explanation.focus.input[0].shape
    assert a.input.shape == (m, t, v) and a.original.shape == explanation.focus.original[0].shape
    assert np.isfinite(a.input).all() and np.isfinite(a.original).all()
    assert a.full.shape == (3, t, v, m) and a.params == {"baseline": baseline, "n_steps": 8}
    assert np.abs(a.input).max() > 0
    np.testing.assert_allclose(a.input, a.full.sum(0).transpose(2, 0, 1), rtol=1e-5, atol=1e-6)


def test_saliency_and_occlusion(explainer, explanation):
    s = explainer.attribute(explanation, "saliency")
    assert s.input.shape == explanation.focus.input[0].shape and (s.input >= 0).all() and np.isfinite(s.input).all()
    o = explainer.attribute(explanation, "occlusion", joint_window=2, frame_window=4)
    assert o.input.shape == s.input.shape and np.isfinite(o.input).all()
    assert o.params["joint_window"] == 2 and o.params["frame_window"] == 4 and o.params["frame_stride"] == 4
    o2 = explainer.attribute(explanation, "occlusion", joint_window=1, frame_window=4, frame_stride=2)
    assert o2.params["frame_stride"] == 2 and np.isfinite(o2.input).all()
    assert o.original.shape == explanation.focus.original[0].shape
    o3 = explainer.attribute(explanation, "occlusion", frame_window=4, frame_stride=1000)  # was Captum's assertion
    assert o3.params["frame_stride"] == 4  # at most the window: non-overlapping, as by default
    np.testing.assert_allclose(o3.input, explainer.attribute(explanation, "occlusion", frame_window=4).input)
    with pytest.raises(ValueError):
        explainer.attribute(explanation, "gradcam++")


def test_baselines():
    x = torch.zeros(1, 3, 6, 4, 2)
    x[0, :, 2:, :, 0] = torch.arange(1, 5, dtype=torch.float32).view(1, 4, 1)  # person 0 from frame 2; person 1 absent
    mp = torch.arange(12, dtype=torch.float32).view(3, 4)
    assert baseline_tensor(x, "zeros").abs().sum() == 0
    b = baseline_tensor(x, "mean_pose", mp)
    assert torch.equal(b[0, :, 3, :, 0], mp) and b[0, :, :2].abs().sum() == 0 and b[..., 1].abs().sum() == 0
    f = baseline_tensor(x, "first_frame")
    assert torch.equal(f[0, :, 5, :, 0], x[0, :, 2, :, 0]) and f[0, :, :2].abs().sum() == 0
    with pytest.raises(ConfigError):
        baseline_tensor(x, "mean_pose", None)
    r = reduce_cells(torch.ones(1, 3, 6, 4, 2), "sum")
    assert r.shape == (2, 6, 4) and (r == 3).all()
    assert (reduce_cells(-torch.ones(3, 6, 4, 2), "abs") == 3).all()


@pytest.mark.parametrize("method, kw", [("saliency", {}), ("integrated_gradients", {"n_steps": 4}),
                                        ("occlusion", {"frame_window": 4})])
def test_attributions_on_original_frames_are_zero_where_a_person_is_absent(method, kw):
    """The real Kinetics clip, person 2 missing from 15 of the frames person 1 is in (and 26 frames hold
    nobody): mapped back from the model's 16 frames, every method's map reached those frames. ``original``
    is now exactly 0 for a person where they are absent and unchanged where they are in."""
    from stf.errors import ArgumentError
    from stf.explain import attributions as attr
    from stf.model.focus import to_original_frames
    from tests.explain.test_explainer import kinetics_explained

    ex, e = kinetics_explained()
    p = e.prepared
    pres = p.present  # (M, T_orig)
    a = ex.attribute(e, method, **kw)
    ref = to_original_frames(a.input, p.frame_index, p.num_frames)
    late = p.valid_frames & ~pres[1]
    assert late.sum() == 15 and np.abs(ref[1][late]).max() > 0  # what was returned there
    assert a.original.shape == (2, 189, 18) and (a.original[~pres] == 0).all() and (a.original[1][late] == 0).all()
    np.testing.assert_array_equal(a.original[pres], ref[pres])
    assert np.abs(a.original[1][pres[1]]).max() > 0
    fn = getattr(attr, method)  # the functions take the frames too; without them, as before
    plain = fn(ex.model, p.x, a.target, frame_index=p.frame_index, num_frames=p.num_frames, **kw)
    np.testing.assert_allclose(plain.original, ref, rtol=1e-5, atol=1e-7)
    with pytest.raises(ArgumentError, match="present of shape"):
        fn(ex.model, p.x, a.target, frame_index=p.frame_index, num_frames=p.num_frames, present=pres[:1], **kw)
    with pytest.raises(ArgumentError, match="unknown parameter"):
        ex.attribute(e, method, present=pres, **kw)  # the Explainer passes the sample's own
