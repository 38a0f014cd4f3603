"""The Explainer on real samples: shapes, focus = Captum LayerGradCam, top-2 overlap, L_e preview, adjacency."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from stf.errors import ArgumentError, DataError, LayoutError
from stf.explain import overlap
from stf.explain.adjacency import normalise_columns, scale_signed
from stf.explain.attributions import layer_gradcam
from stf.model.focus import compute_focus
from stf.sample import Sample
from tests.conftest import REPO, need_data


def test_prediction_and_focus_shapes(explainer, explanation, ucla_sample):
    e = explanation
    k_classes = len(explainer.class_names)
    assert e.logits.shape == e.probabilities.shape == (k_classes,)
    assert abs(float(e.probabilities.sum()) - 1) < 1e-5
    assert len(e.top5.indices) == len(e.top5.names) == len(e.top5.probs) == min(5, k_classes)
    assert np.all(np.diff(e.top5.probs) <= 0)
    assert e.target == e.prediction == int(np.argmax(e.logits))
    assert e.top5.names[0] == e.target_name == explainer.class_names[e.target]
    x = e.prepared.x
    m, t_orig, v = explainer.persons, ucla_sample.num_frames, ucla_sample.num_joints
    t_in = x.shape[2]
    assert x.shape == (1, 3, t_in, v, m)
    assert e.frame_index.shape == (t_in,) and e.frame_index.max() < t_orig
    f = e.focus
    assert len(f.raw) == len(f.module) == len(f.input) == len(f.original) == 6
    for k, stride in enumerate(explainer.strides):
        tk = -(-t_in // stride)
        assert f.raw[k].shape == f.module[k].shape == (m, tk, v)
        assert f.input[k].shape == (m, t_in, v)
        assert f.original[k].shape == (m, t_orig, v)
        for a in (f.module[k], f.input[k], f.original[k]):
            assert np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1 + 1e-6
        assert f.module[k].max() == pytest.approx(1.0, abs=1e-4)  # min-max normalised
    assert f.joint_summary(5).shape == (m, v) and f.frame_summary(5).shape == (m, t_orig)
    assert f.valid_frames.shape == (t_orig,) and f.valid_frames.all()
    assert e.notes == []  # same layout, same persons
    assert e.sample.data.shape == ucla_sample.data.shape


def test_layergradcam_equals_stf_focus_on_every_module(explainer, explanation):
    """Captum's LayerGradCam on module k (its output tensor) equals the STF focus before normalisation."""
    model, x, c = explainer.model, explanation.prepared.x, explanation.target
    assert not model.training
    res, _ = compute_focus(model, x, torch.tensor([c]))
    for k in range(model.num_modules):
        cam = layer_gradcam(model, x, c, k)
        ref = res.raw[k].detach()
        assert cam.shape == ref.shape
        assert ref.max() > 0
        torch.testing.assert_close(cam, ref, rtol=1e-4, atol=1e-5 * float(ref.abs().max()))
        np.testing.assert_allclose(explanation.focus.raw[k], ref.numpy(), rtol=1e-5, atol=1e-7)
    assert all(type(u).__name__ == "STFGCNUnit" for u in model.units)  # the tap did not touch the model


def test_focus_of_another_class(explainer, explanation, ucla_sample):
    other = int(explanation.top5.indices[2])
    f = explainer.focus(explanation, other)
    assert f.target == other
    e2 = explainer.explain(ucla_sample, target=other, compare_top2=False, exploration=False)
    assert e2.target == other and e2.comparison is None and e2.exploration is None
    for a, b in zip(f.original, e2.focus.original):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert e2.exploration is None
    assert e2.adjacency[0].R is not None


def test_overlap_formula():
    rng = np.random.default_rng(0)
    a = rng.random((1, 10, 20))
    assert overlap(a, a) == 1.0
    b = np.zeros_like(a)
    b[:, :5], a2 = 1.0, a.copy()
    a2[:, :5] = 0
    assert overlap(a2, b) == 0.0
    assert overlap(b * 0, b * 0) == 0.0
    v = overlap(a, rng.random((1, 10, 20)))
    assert 0 < v < 1
    assert overlap(a, a * 0.5) == pytest.approx(2 * 0.5 / 1.5)  # 2 Σ min / Σ sum


def test_top1_top2_comparison(explanation):
    c = explanation.comparison
    assert c.top1 == explanation.top5.indices[0] and c.top2 == explanation.top5.indices[1]
    assert len(c.overlaps) == 6 and all(0.0 <= o <= 1.0 for o in c.overlaps)
    assert c.overlap_last == c.overlaps[-1] == overlap(c.focus_top1.module[5], c.focus_top2.module[5])
    assert 0 <= c.overlap_mean <= 1
    assert c.focus_top2.target == c.top2
    assert c.focus_top1.module[0].shape == c.focus_top2.module[0].shape


def test_exploration_preview(explainer, explanation):
    xp = explanation.exploration
    lc = explainer.loss_config
    assert (xp.sigma, xp.omega) == (lc.sigma, lc.omega)
    assert xp.mask.shape == explanation.focus.input[5].shape
    assert xp.mask_original.shape == explanation.focus.original[5].shape
    assert xp.mask.min() > 0 and xp.mask.max() < 1
    s6 = explanation.focus.input[5]
    np.testing.assert_allclose(xp.mask, 1 / (1 + np.exp(-lc.omega * (s6 - lc.sigma))), atol=1e-5)
    assert 0 <= xp.prob_after <= 1 and abs(float(xp.probs_after.sum()) - 1) < 1e-5
    assert xp.prob_before == pytest.approx(float(explanation.top5.probs[0]), abs=1e-6)
    assert xp.input.shape == xp.masked_input.shape == xp.mask.shape + (3,)  # (M, T, V, C)
    if xp.erase == "zero":
        np.testing.assert_allclose(xp.masked_input, xp.input - xp.mask[..., None] * xp.input, atol=1e-6)


def test_adjacency_parts(explanation, explainer):
    adj = explanation.adjacency
    assert len(adj) == 6
    m, v = explainer.persons, explanation.prepared.x.shape[3]
    for a in adj:
        assert a.A.shape == (3, v, v) and a.B.shape == (3, v, v) and a.C.shape == (m, 3, v, v)
        np.testing.assert_allclose(a.G, a.A[None] + a.B[None] + a.alpha * a.C, atol=1e-6)
        np.testing.assert_allclose(a.C.sum(-2), 1.0, atol=1e-5)  # C: softmax over the source joint i
        assert a.R.shape == (m, v, v)
        np.testing.assert_allclose(a.R.sum(-2), 1.0, atol=1e-5)  # R_k columns sum to 1
        g = a.display("G")
        np.testing.assert_allclose(np.abs(g).sum(-2), 1.0, atol=1e-5)
        b = a.display("B")
        assert np.abs(b).max() <= 1 + 1e-6
        for part in ("A", "B", "C", "G", "R"):
            for p in (None, 0, 1, 2):
                mat = a.matrix(part, p)
                assert mat.shape == (v, v) and np.isfinite(mat).all()
                lo, hi, _ = a.value_range(part)
                assert mat.min() >= lo - 1e-6 and mat.max() <= hi + 1e-6
    assert scale_signed(np.array([[-2.0, 1.0], [0.0, 0.5]])).min() == -1.0
    np.testing.assert_allclose(normalise_columns(np.array([[1.0, -1.0], [3.0, 1.0]])), [[0.25, -0.5], [0.75, 0.5]])


def test_layout_and_channel_errors(explainer, ucla_sample):
    sbu = Sample(data=np.ones((2, 5, 15, 3), np.float32), layout="sbu15", sample_id="sbu-like")
    with pytest.raises(LayoutError, match="kinect20"):
        explainer.explain(sbu)
    flat = Sample(data=ucla_sample.data[..., :2].copy(), layout="kinect20", channels="xy")
    with pytest.raises(DataError, match="channels"):
        explainer.prepare(flat)


def test_ntu_two_person_sample_mapped_to_kinect_v1(explainer):
    root = need_data("ntu-raw-skeleton-samples", "nturgb+d_skeletons")
    from stf.data import ntu

    s = ntu.read_file(root / "S001C001P001R001A050.skeleton")  # A050: punching, two persons
    assert s.layout == "ntu25" and s.person_mask.sum() == 2
    e = explainer.explain(s, compare_top2=False)
    assert any("ntu25 -> kinect20" in n for n in e.notes)
    assert any("most active" in n for n in e.notes)
    assert e.sample.layout == "kinect20" and e.sample.data.shape == (1, s.num_frames, 20, 3)
    assert e.focus.original[5].shape == (1, s.num_frames, 20)
    assert np.isfinite(e.focus.original[5]).all()
    assert len(e.prepared.kept_persons) == 1


def test_sbu_sample_has_no_mapping_to_kinect_v1(explainer):
    root = need_data("sbu-kinect-interaction")
    from stf.data import sbu

    path = next(root.glob("s*/*/*/skeleton_pos.txt"))
    s = sbu.read_file(path)
    assert s.num_persons == 2
    with pytest.raises(LayoutError, match="needs: 'kinect20'"):
        explainer.explain(s)


def _untrained_two_person_sbu_checkpoint() -> dict:
    """A small untrained two-person SBU (sbu15) model wrapped as a checkpoint dict (for shapes only)."""
    from stf.checkpoint import SCHEMA, SCHEMA_VERSION
    from stf.model.stf import STF, ModelConfig

    torch.manual_seed(0)
    model = STF(ModelConfig(num_classes=8, layout="sbu15", persons=2, channels=(8, 8, 16, 16, 16, 16))).eval()
    test = [{"center": {"frame": "first"}}, {"minmax": {}}, {"uniform_resample": {"length": 16}}]
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "config": {"transforms": {"test": test}, "loss": {}},
            "model_config": model.cfg.to_dict(), "layout": "sbu15", "channels": "xyz", "stream": "joint",
            "persons": 2, "class_names": [f"c{i}" for i in range(8)], "model": model.state_dict(), "mean_pose": None}


def _untrained_kinetics_checkpoint() -> dict:
    """A small untrained two-person Kinetics (openpose18, x, y, score) model as a checkpoint dict."""
    ck = _untrained_two_person_sbu_checkpoint()
    from stf.model.stf import STF, ModelConfig

    model = STF(ModelConfig(num_classes=8, layout="openpose18", persons=2, channels=(8, 8, 16, 16, 16, 16))).eval()
    ck.update(model_config=model.cfg.to_dict(), layout="openpose18", channels="xy+score", model=model.state_dict())
    return ck


def test_undetected_joints_of_a_2d_pose_are_noted():
    """The real Kinetics clip: 31 % of its joints in the frames a person is in have score 0 (both ankles
    always); the note says so. A 3-D sample has no score, hence no such note."""
    from stf.data import kinetics
    from stf.explain import Explainer

    s = kinetics.read_file(need_data("kinetics-skeleton-format", "kinetics400_sample", "--33Lscn6sk.json"))
    in_frame = np.abs(s.data).sum(axis=(2, 3)) > 0
    share = float((s.data[..., 2][in_frame] == 0).mean())
    p = Explainer(_untrained_kinetics_checkpoint()).prepare(s)
    (note,) = [n for n in p.notes if "not detected" in n]
    assert note.startswith(f"{share:.0%} of the joints in the frames a person is in were not detected (score 0; "
                           "most often ankle_right 100%, ankle_left 100%, knee_left 60%)")
    assert 0.25 < share < 0.4


def test_sbu_two_person_model_shapes():
    root = need_data("sbu-kinect-interaction")
    from stf.data import sbu
    from stf.explain import Explainer

    s = sbu.read_file(next(root.glob("s*/*/*/skeleton_pos.txt")))
    ex = Explainer(_untrained_two_person_sbu_checkpoint())
    e = ex.explain(s)
    assert e.notes == [] and e.sample.data.shape == s.data.shape
    assert e.prepared.x.shape == (1, 3, 16, 15, 2)
    assert e.focus.person_mask.tolist() == [True, True]
    for k in range(6):
        assert e.focus.original[k].shape == (2, s.num_frames, 15) and np.isfinite(e.focus.original[k]).all()
    assert e.adjacency[0].C.shape == (2, 3, 15, 15) and e.adjacency[0].R.shape == (2, 15, 15)
    assert e.exploration.mask.shape == (2, 16, 15)  # no mean pose in this checkpoint: erase falls back to zero
    for k in range(6):  # LayerGradCam = focus with persons folded into the batch
        ref = compute_focus(ex.model, e.prepared.x, torch.tensor([e.target]))[0].raw[k].detach()
        torch.testing.assert_close(layer_gradcam(ex.model, e.prepared.x, e.target, k), ref, rtol=1e-4,
                                   atol=1e-5 * float(ref.abs().max()) + 1e-12)
    one = Sample(data=s.data[:1].copy(), layout="sbu15", sample_id="one")
    e1 = ex.explain(one, compare_top2=False, exploration=False, adjacency=False)
    assert any("zero padding" in n for n in e1.notes)
    assert e1.focus.person_mask.tolist() == [True, False] and e1.focus.original[5][1].max() == 0


def test_damaged_samples_are_refused_naming_the_sample(explainer, ucla_sample):
    """inf gave NaN probabilities, a NaN was silently masked, zero frames an IndexError deep in a transform."""
    d = ucla_sample.data.copy()
    d[0, 3, 4, 0] = np.inf
    with pytest.raises(DataError, match=r"#a\d\d_s\d\d_e\d\d_v03: non-finite value \(NaN or inf\) at person 0, frame 3"):
        explainer.explain(ucla_sample.with_data(d))
    d[0, 3, 4, 0] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        explainer.predict(ucla_sample.with_data(d))
    with pytest.raises(DataError, match="no frames"):
        explainer.explain(ucla_sample.with_data(ucla_sample.data[:, :0]))
    with pytest.raises(DataError, match="no valid frame"):
        explainer.explain(ucla_sample.with_data(np.zeros_like(ucla_sample.data)))


def test_class_indices_and_arguments_are_checked(explainer, explanation):
    """Negative targets wrapped around to the last class, 2.7 became 2, 99 was an IndexError inside captum."""
    from stf.errors import ArgumentError

    k = len(explainer.class_names)
    for bad, problem in ((k, f"target {k} out of range"), (-1, "target -1 out of range"),
                         (2.7, "must be an integer class index, got 2.7"), (True, "got True")):
        with pytest.raises(ArgumentError, match=problem):
            explainer.focus(explanation, bad)
    assert explainer.focus(explanation, 2.0).target == 2 and explainer.focus(explanation, np.int64(1)).target == 1
    with pytest.raises(ArgumentError, match="target -1 out of range"):
        explainer.attribute(explanation, "saliency", target=-1)
    with pytest.raises(ArgumentError, match=f"target {k} out of range"):
        explainer.explain(explanation.prepared, target=k)
    with pytest.raises(ArgumentError, match="target 99 out of range"):
        explainer.faithfulness(explanation, {"focus": explanation.focus.module[-1]}, target=99, steps=2)
    with pytest.raises(ArgumentError, match="n_steps must be an integer >= 1, got 0"):
        explainer.attribute(explanation, "integrated_gradients", n_steps=0)
    with pytest.raises(ArgumentError, match="frame_window must be an integer >= 1, got 0"):
        explainer.attribute(explanation, "occlusion", frame_window=0)
    with pytest.raises(ArgumentError, match="integrated_gradients: unknown parameter.s. n_step; it takes baseline, "
                                            "n_steps, internal_batch_size"):
        explainer.attribute(explanation, "integrated_gradients", n_step=8)
    with pytest.raises(ArgumentError, match="saliency: unknown parameter.s. abs; it takes none"):
        explainer.attribute(explanation, "saliency", abs=False)
    with pytest.raises(ArgumentError, match="internal_batch_size must be an integer >= 1, got 0"):
        explainer.attribute(explanation, "integrated_gradients", n_steps=4, internal_batch_size=0)
    with pytest.raises(ArgumentError, match="unknown attribution method 'bogus'"):
        explainer.attribute(explanation, "bogus")
    with pytest.raises(ArgumentError, match="module 6 out of range"):
        explanation.focus.joint_summary(6)
    assert explanation.focus.frame_summary(-6).shape == explanation.focus.frame_summary(0).shape
    p = explanation.prepared
    from stf.explain.focus import focus_maps

    with pytest.raises(ArgumentError, match="unknown focus variant 'bogus'"):
        focus_maps(explainer.model, p.x, 0, p.frame_index, p.num_frames, p.valid_frames, variant="bogus")


def test_checkpoint_dicts_are_checked(explainer):
    from stf.errors import CheckpointError
    from stf.explain import Explainer

    with pytest.raises(CheckpointError, match="checkpoint dict: not an stf checkpoint"):
        Explainer({})
    bad = {**explainer.ckpt, "class_names": explainer.class_names[:-1]}
    with pytest.raises(CheckpointError, match=f"{len(explainer.class_names) - 1} class names, but the model has "
                                              f"{len(explainer.class_names)} outputs"):
        Explainer(bad)


def test_two_models_focus_compared_on_the_original_frames(explainer, explanation, ucla_sample):
    """The tiny model (20 input frames) against the shipped STF model and its backbone (52 input frames):
    maps on the same original frames, compared per module; a model against itself overlaps fully."""
    from stf.errors import ArgumentError
    from stf.explain import Explainer, compare_models

    same = compare_models(explanation.focus, explanation.focus)
    assert all(o == pytest.approx(1.0) for o in same.overlaps)
    shipped = Explainer(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt")
    backbone = Explainer(REPO / "assets" / "baselines" / "backbone_ucla_xview_joint_cpu_seed3.pt")
    fa = shipped.explain(ucla_sample, compare_top2=False, exploration=False).focus
    fb = backbone.explain(ucla_sample, target=fa.target, compare_top2=False, exploration=False).focus
    assert fa.original[5].shape == fb.original[5].shape == explanation.focus.original[5].shape
    c = compare_models(fa, fb)
    assert len(c.overlaps) == 6 and all(0.0 <= o <= 1.0 for o in c.overlaps) and c.overlap_last == c.overlaps[5]
    assert not all(o == pytest.approx(1.0) for o in c.overlaps)  # two trained models do not focus identically
    # hand case: module maps of 1 person, 2 frames (the second not valid), 2 joints
    import dataclasses

    def maps(vals, valid=(True, False)):
        arrs = [np.asarray(vals, np.float32).reshape(1, 2, 2)] * 6
        return dataclasses.replace(fa, original=arrs, valid_frames=np.asarray(valid), person_mask=np.asarray([True]))

    hand = compare_models(maps([1.0, 0.0, 5.0, 5.0]), maps([1.0, 1.0, 0.0, 0.0]))
    assert hand.overlaps == [pytest.approx(2 * 1 / 3)] * 6  # frame 0 only: min sums to 1, a + b to 3
    with pytest.raises(ArgumentError, match=r"the two focus maps are \(1, 2, 2\) and"):
        compare_models(maps([1.0, 0.0, 5.0, 5.0]), fa)


def test_persons_are_kept_by_index_and_the_sample_masks_hold():
    """Duplicate bodies (trackers emit them) gave kept_persons [0, 0]; a person or frames the sample's masks
    mark absent were used; the focus was drawn in frames nobody is in."""
    root = need_data("sbu-kinect-interaction")
    from stf.data import sbu
    from stf.explain import Explainer

    s = sbu.read_file(next(root.glob("s*/*/*/skeleton_pos.txt")))
    ex = Explainer(_untrained_two_person_sbu_checkpoint())
    three = Sample(data=np.concatenate([s.data[:1]] * 3), layout="sbu15", sample_id="dup")
    p = ex.prepare(three)
    assert p.kept_persons == [0, 1]
    assert "The sample has 3 persons; this model takes 2: kept the most active (person 1, 2), dropped person 3." \
        in p.notes
    # person 2 marked absent (but holding coordinates): person 1 and 3 are kept, person 2's data never used
    varied = s.data[:1] * np.float32(0.5)
    data = np.concatenate([s.data[:1], s.data[:1] * np.float32(3), varied])
    p = ex.prepare(Sample(data=data, layout="sbu15", person_mask=np.array([True, False, True]), sample_id="m"))
    assert p.kept_persons == [0, 2] and np.array_equal(p.sample.data[1], varied[0])
    assert any("masks mark absent were left out" in n for n in p.notes)
    # person 2 absent in the first 5 frames: no focus drawn there
    d = s.data.copy()
    d[1, :5] = 0
    e = ex.explain(Sample(data=d, layout="sbu15", sample_id="late"), compare_top2=False, exploration=False)
    for k in range(6):
        assert e.focus.original[k][1, :5].max() == 0 and e.focus.original[k][1, 5:].max() > 0
    # and the per-joint summary averages person 2 over the frames it is in (it was halved by the zeros)
    fr = e.focus.frames_of()
    assert not fr[1, :5].any() and fr[1, 5:].all() and fr[0].all()
    np.testing.assert_allclose(e.focus.joint_summary(5)[1], e.focus.original[5][1, 5:].mean(0), rtol=1e-5)
    assert (e.focus.frame_summary(5)[1, :5] == 0).all()


def test_frame_mask_is_applied_and_one_person_noted_in_the_singular(explainer, ucla_sample):
    fm = np.zeros(ucla_sample.num_frames, bool)
    fm[:10] = True
    p = explainer.prepare(ucla_sample.with_data(ucla_sample.data, frame_mask=fm))
    assert p.valid_frames.sum() == 10 and np.abs(p.sample.data[:, 10:]).sum() == 0
    assert p.frame_index.max() < 10
    with pytest.raises(DataError, match="no person present|no valid frame"):
        explainer.prepare(ucla_sample.with_data(ucla_sample.data, frame_mask=np.zeros_like(fm)))
    with pytest.raises(DataError, match="label must be a non-negative int, got True"):
        explainer.prepare(Sample(data=ucla_sample.data, layout=ucla_sample.layout, label=True))


def test_edited_or_foreign_inputs_are_clear_errors(explainer, explanation):
    import copy

    from stf.errors import ArgumentError, CheckpointError
    from stf.explain import Explainer
    from stf.model.focus import compute_focus

    p = copy.copy(explanation.prepared)
    for x, problem in ((p.x.double(), "model input is float64, the model's weights float32"),
                       (p.x[:, :, :5], "has 5 frames but frame_index"),
                       (torch.full_like(p.x, float("nan")), "non-finite"),
                       (p.x[:, :, :0], "is empty")):
        p.x = x
        with pytest.raises(DataError, match=problem):
            explainer.explain(p)
    model, x = explainer.model, explanation.prepared.x
    with pytest.raises(DataError, match="model expects a torch tensor"):
        model(x.numpy())
    with pytest.raises(DataError, match="model input is int64"):
        model(x.long())
    for c in (len(explainer.class_names), -1):
        with pytest.raises(ArgumentError, match=f"focus class {c} out of range"):
            compute_focus(model, x, torch.tensor([c]))
    for k, problem in ((True, "module must be an integer index, got True"), (6, "module 6 out of range"),
                       (2.0, "got 2.0")):
        with pytest.raises(ArgumentError, match=problem):
            layer_gradcam(model, x, 0, k)
    for bad in (42, None):
        with pytest.raises(ArgumentError, match="checkpoint must be a path or a loaded checkpoint dict"):
            Explainer(bad)
    with pytest.raises(Exception, match="unknown device 'gpu'"):
        Explainer(explainer.ckpt, device="gpu")
    with pytest.raises(CheckpointError, match=r"mean_pose must be a \(C, V\) = \(3, 20\) tensor, got \(3, 25\)"):
        Explainer({**explainer.ckpt, "mean_pose": torch.zeros(3, 25)})
    with pytest.raises(CheckpointError, match="persons 2, but the model takes 1"):
        Explainer({**explainer.ckpt, "persons": 2})
    with pytest.raises(CheckpointError, match="a folder, not a checkpoint file"):
        Explainer(REPO / "assets")
    assert len(repr(explanation)) < 400 and repr(explanation).startswith("Explanation(Sample(")


def test_overlap_refuses_what_it_would_get_wrong():
    from stf.errors import ArgumentError

    a = np.random.default_rng(0).random((1, 13, 20))
    assert overlap(a, a) == pytest.approx(1.0)
    for b, problem in ((a[:, :1], "must have one shape"), (a - 0.5, "non-negative"),
                       (np.full_like(a, np.nan), "NaN or inf")):
        with pytest.raises(ArgumentError, match=problem):
            overlap(a, b)
    with pytest.raises(ArgumentError, match="one entry per person"):
        overlap(a, a, person_mask=[True, False])


def test_adjacency_matrix_person_and_partition_are_checked(explanation):
    """``matrix("C", person=-1)`` showed the last person without a word; a partition or person out of range
    was a bare IndexError."""
    a = explanation.adjacency[0]
    np.testing.assert_allclose(a.matrix("C", 0, person=0, normalised=False), a.C[0, 0])
    for bad in (dict(person=-1), dict(person=a.C.shape[0]), dict(person=True), dict(partition=3),
                dict(partition=-1), dict(partition=1.0)):
        kw = dict(partition=0, person=0) | bad
        with pytest.raises(ArgumentError, match="out of range"):
            a.matrix("C", **kw)
    with pytest.raises(ArgumentError, match=r"partition 3 out of range: 0-2 \(self, inward, outward\)"):
        a.matrix("A", 3)
    assert a.matrix("R", 2).shape == a.R.shape[1:]  # R has no partitions: ignored, as documented


KINETICS_CLIP = ("kinetics-skeleton-format", "kinetics400_sample", "--33Lscn6sk.json")


@functools.lru_cache(maxsize=1)
def kinetics_explained():
    """The real Kinetics clip (two OpenPose persons, 189 frames; person 2 is missing from 15 of the frames
    person 1 is in: a flickering detection) explained by the small two-person openpose18 model (16 input
    frames): ``(explainer, explanation)``, computed once for this file and test_attributions.py."""
    from stf.data import kinetics
    from stf.explain import Explainer

    s = kinetics.read_file(need_data(*KINETICS_CLIP))
    ex = Explainer(_untrained_kinetics_checkpoint())
    torch.manual_seed(0)
    return ex, ex.explain(s)


def test_maps_on_original_frames_are_zero_where_a_person_is_absent():
    """Resampled to the model's frames and back, a map reached the frames a person is missing from (the L_e
    mask there was up to 0.99 for person 2 of the real Kinetics clip). Every map on the original frames is
    now exactly 0 for a person where they are absent, and what it was in the frames they are in."""
    from stf.model.focus import to_original_frames

    ex, e = kinetics_explained()
    p = e.prepared
    pres = p.present  # (M, T_orig), from the displayed sample's own coordinates
    assert pres.shape == (2, 189) and pres.sum(1).tolist() == [163, 148]
    np.testing.assert_array_equal(pres, np.abs(e.sample.data).sum(axis=(2, 3)) > 0)
    late = p.valid_frames & ~pres[1]  # person 1 is there, person 2 is not
    assert late.sum() == 15 and pres[0][late].all()
    for k in range(6):  # the focus: 0 where absent, unchanged (and not all 0) where present
        ref = to_original_frames(e.focus.input[k], p.frame_index, p.num_frames)
        assert (e.focus.original[k][~pres] == 0).all()
        np.testing.assert_array_equal(e.focus.original[k][pres], ref[pres])
    assert e.focus.original[5][1][pres[1]].max() > 0 and e.focus.original[5][1][late].max() == 0
    xp = e.exploration  # the L_e mask: in (0, 1) on every model frame, so it leaked into every absent frame
    ref = to_original_frames(xp.mask, p.frame_index, p.num_frames)
    assert ref[1][late].min() > 0
    assert (xp.mask_original[~pres] == 0).all() and (xp.mask_original[1][late] == 0).all()
    np.testing.assert_array_equal(xp.mask_original[pres], ref[pres])
    assert xp.mask_original[pres].min() > 0
    lc = ex.loss_config  # the mask on the model frames is what erase used: as it was
    np.testing.assert_allclose(xp.mask, 1 / (1 + np.exp(-lc.omega * (e.focus.input[5] - lc.sigma))), atol=1e-5)
    from stf.explain.focus import person_frames  # the one helper the explainer takes the frames from

    np.testing.assert_array_equal(pres, person_frames(e.sample.data))


def test_a_padded_person_has_no_map_and_no_co_focus():
    """A padded person's L_e mask on the original frames was sigmoid(-omega * sigma) everywhere, and its
    co-focus target R the uniform 1 / V the epsilon gives; both are 0, the present person's are as before."""
    ex, e2 = kinetics_explained()
    s = e2.sample
    e = ex.explain(Sample(data=s.data[:1].copy(), layout=s.layout, channels=s.channels, sample_id="one"),
                   compare_top2=False)
    assert e.focus.person_mask.tolist() == [True, False] and not e.prepared.present[1].any()
    xp = e.exploration
    assert (xp.mask_original[1] == 0).all() and (xp.mask_original[0][e.prepared.present[0]] > 0).all()
    for k, a in enumerate(e.adjacency):
        assert (e.focus.original[k][1] == 0).all()
        assert (a.R[1] == 0).all() and (a.matrix("R", person=1) == 0).all()
        np.testing.assert_allclose(a.R[0].sum(-2), 1.0, atol=1e-5)
    for a in e2.adjacency:  # both persons present: R as the formula gives
        np.testing.assert_allclose(a.R.sum(-2), 1.0, atol=1e-5)
    from stf.explain.focus import mask_absent

    with pytest.raises(ArgumentError, match=r"present of shape \(2, 5\) for maps of shape \(2, 189, 18\)"):
        mask_absent(e2.focus.original[0], e2.prepared.present[:, :5])
