"""The focus losses on hand-checkable cases, and their side effects."""
import copy

import numpy as np
import pytest
import torch

from stf.model import STF, LossConfig, ModelConfig, stf_step_losses
from stf.model.focus import module_cams, normalise
from stf.model.losses import (adjacency_loss, coherence_loss, cofocus_target, divergence_loss, erase,
                              exploration_mask, frozen_bn_stats)

ONE = torch.ones(1, 1, dtype=torch.bool)


def test_divergence_zero_for_disjoint_one_for_identical():
    a = torch.zeros(1, 1, 4, 3)
    b = torch.zeros(1, 1, 4, 3)
    a[..., :2, :] = 1.0
    b[..., 2:, :] = 0.7
    assert divergence_loss(a, b, ONE).item() == pytest.approx(0.0, abs=1e-6)
    s = torch.rand(1, 1, 4, 3)
    assert divergence_loss(s, s, ONE).item() == pytest.approx(1.0, abs=1e-5)
    # half overlap: min sums to 1 of total 4 -> 2*1/4
    c = torch.tensor([[1.0, 1.0, 0.0, 0.0]]).view(1, 1, 4, 1)
    d = torch.tensor([[0.0, 1.0, 1.0, 0.0]]).view(1, 1, 4, 1)
    assert divergence_loss(c, d, ONE).item() == pytest.approx(0.5, abs=1e-5)


def test_coherence_hand_case():
    s5 = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 4, 1)
    m6 = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 4, 1)
    # share inside mask = 1/2 -> relu(0.8 - 0.5) = 0.3
    assert coherence_loss(s5, m6, 0.8, ONE).item() == pytest.approx(0.3, abs=1e-5)
    assert coherence_loss(s5, torch.ones_like(m6), 0.8, ONE).item() == pytest.approx(0.0, abs=1e-6)


def test_adjacency_loss_zero_at_target_and_positive_elsewhere():
    s = torch.rand(1, 1, 6, 5)
    r = cofocus_target(s.view(1, 6, 5))
    torch.testing.assert_close(r.sum(1), torch.ones(1, 5))
    c = r.unsqueeze(1).repeat(1, 3, 1, 1)  # (N*M, P, V, V) equal to the target
    assert adjacency_loss(c, s, ONE).item() == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full_like(c, 1 / 5)
    assert adjacency_loss(uniform, s, ONE).item() > 1e-3


def test_adjacency_loss_gradient_reaches_only_the_adjacency_branch():
    torch.manual_seed(0)
    m = STF(ModelConfig(num_classes=4, layout="kinect20", channels=(6, 6, 8, 8, 10, 10)))
    out = m(torch.randn(4, 3, 12, 20, 1))
    s = torch.rand(4, 1, out.features[2].shape[2], 20, requires_grad=True)
    loss = adjacency_loss(out.adjacency[2]["C"], s, torch.ones(4, 1, dtype=torch.bool))
    loss.backward()
    assert s.grad is None or s.grad.abs().sum() == 0  # stop-gradient on the target
    unit = m.units[2]
    assert unit.adjacency.theta.weight.grad.abs().sum() > 0
    assert unit.adjacency.phi.weight.grad.abs().sum() > 0
    assert unit.gcn.proj.weight.grad is None  # the graph conv itself is untouched
    assert m.fc.weight.grad is None


def test_exploration_mask_and_erase():
    s6 = torch.tensor([0.0, 1.0]).view(1, 1, 2, 1)
    mask = exploration_mask(s6, 2, 4, sigma=0.5, omega=10.0)
    assert mask.shape == (1, 1, 4, 1)
    assert mask[0, 0, 0, 0] < 0.01 and mask[0, 0, 2, 0] > 0.99
    x = torch.ones(1, 3, 4, 1, 1)
    xs = erase(x, mask)
    torch.testing.assert_close(xs[0, :, 2, 0, 0], 1 - mask[0, 0, 2, 0].expand(3))
    mp = torch.full((3, 1), 5.0)
    xm = erase(x, torch.ones_like(mask), "mean_pose", mp)
    torch.testing.assert_close(xm, torch.full_like(x, 5.0))


def test_masked_pass_leaves_bn_running_stats_untouched():
    torch.manual_seed(0)
    cfg = ModelConfig(num_classes=4, layout="kinect20", channels=(6, 6, 8, 8, 10, 10))
    base = STF(cfg).train()
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    x, y = torch.randn(6, 3, 12, 20, 1), torch.tensor([0, 1, 2, 3, 0, 1])
    stf_step_losses(a, x, y, LossConfig(), focus_on=True).total.backward()
    stf_step_losses(b, x, y, LossConfig(lambda_e=0, lambda_c=0, lambda_d=0, lambda_g=0), focus_on=True).total.backward()
    for (n, ba), (_, bb) in zip(a.named_buffers(), b.named_buffers()):
        assert torch.equal(ba, bb), n
    with frozen_bn_stats(a):
        a(torch.randn(6, 3, 12, 20, 1))
    for (n, ba), (_, bb) in zip(a.named_buffers(), b.named_buffers()):
        assert torch.equal(ba, bb), n


@pytest.mark.parametrize("switch", [{"le_grad": "mask_only"}, {"erase": "interpolate"}, {"focus_variant": "exact"},
                                    {"focus_class": "gt"}, {"divergence_pair": "gt_confuser"},
                                    {"grad_weights": "positive_mean"}, {"ld_mask": "target"},
                                    {"focus_head_grad": False}, {"dropout": 0.5}])
def test_every_switch_runs_and_gives_finite_terms(switch):
    torch.manual_seed(0)
    drop = switch.pop("dropout", 0.0)
    m = STF(ModelConfig(num_classes=4, layout="kinect20", channels=(6, 6, 8, 8, 10, 10), dropout=drop)).train()
    x, y = torch.randn(4, 3, 12, 20, 1), torch.tensor([0, 1, 2, 3])
    res = stf_step_losses(m, x, y, LossConfig(**switch), focus_on=True)
    assert set(res.terms) == {"cls", "e", "c", "d", "g"}
    assert all(torch.isfinite(torch.tensor(v)) for v in res.terms.values())
    res.total.backward()


def test_backbone_is_cls_only():
    m = STF(ModelConfig(num_classes=4, layout="kinect20", channels=(6, 6, 8, 8, 10, 10))).train()
    x, y = torch.randn(4, 3, 12, 20, 1), torch.tensor([0, 1, 2, 3])
    res = stf_step_losses(m, x, y, LossConfig(lambda_e=0, lambda_c=0, lambda_d=0, lambda_g=0), focus_on=True)
    assert set(res.terms) == {"cls"}
    res = stf_step_losses(m, x, y, LossConfig(), focus_on=False)  # warm-up
    assert set(res.terms) == {"cls"}


@pytest.mark.parametrize("le_grad", ["mask_only", "both"])
def test_mask_only_reaches_the_network_only_through_the_mask(le_grad):
    """The head's bias moves the logits but not the focus mask (the closed-form CAM uses W only): with
    ``mask_only`` L_e adds nothing to its gradient, with ``both`` it does."""
    torch.manual_seed(0)
    m = STF(ModelConfig(num_classes=4, layout="kinect20", channels=(6, 6, 8, 8, 10, 10))).train()
    x, y = torch.randn(6, 3, 12, 20, 1), torch.tensor([0, 1, 2, 3, 0, 1])
    only_e = LossConfig(lambda_c=0, lambda_d=0, lambda_g=0, le_fraction=1.0, le_grad=le_grad)
    cls = LossConfig(lambda_e=0, lambda_c=0, lambda_d=0, lambda_g=0)
    g_e = torch.autograd.grad(stf_step_losses(m, x, y, only_e, focus_on=True).total, m.fc.bias)[0]
    g_cls = torch.autograd.grad(stf_step_losses(m, x, y, cls, focus_on=True).total, m.fc.bias)[0]
    w = torch.autograd.grad(stf_step_losses(m, x, y, only_e, focus_on=True).total, m.fc.weight)[0]
    w_cls = torch.autograd.grad(stf_step_losses(m, x, y, cls, focus_on=True).total, m.fc.weight)[0]
    assert not torch.allclose(w, w_cls)  # L_e does reach the head's weights (through the mask at least)
    if le_grad == "mask_only":
        torch.testing.assert_close(g_e, g_cls, rtol=0, atol=1e-7)
    else:
        assert (g_e - g_cls).abs().max() > 1e-4


@pytest.mark.parametrize("head_grad", [True, False])
def test_focus_head_grad_decides_whether_lc_ld_lg_reach_the_head(head_grad):
    """Without L_e the head's weights get focus-loss gradient only through module 6's closed-form map."""
    torch.manual_seed(0)
    m = STF(ModelConfig(num_classes=4, layout="kinect20", channels=(6, 6, 8, 8, 10, 10))).train()
    x, y = torch.randn(6, 3, 12, 20, 1), torch.tensor([0, 1, 2, 3, 0, 1])
    no_e = LossConfig(lambda_e=0, focus_head_grad=head_grad)
    cls = LossConfig(lambda_e=0, lambda_c=0, lambda_d=0, lambda_g=0)
    w = torch.autograd.grad(stf_step_losses(m, x, y, no_e, focus_on=True).total, m.fc.weight)[0]
    w_cls = torch.autograd.grad(stf_step_losses(m, x, y, cls, focus_on=True).total, m.fc.weight)[0]
    if head_grad:
        assert (w - w_cls).abs().max() > 1e-6
    else:
        torch.testing.assert_close(w, w_cls, rtol=0, atol=1e-7)


def test_autocast_step_with_every_focus_loss_on_cpu():
    """Autocast (bfloat16 on CPU, as float16 on CUDA) with the focus losses on: the focus gradients are
    taken w.r.t. the module outputs autocast made (gradients w.r.t. fp32 copies of them do not exist)."""
    torch.manual_seed(0)
    m = STF(ModelConfig(num_classes=4, layout="kinect20", channels=(6, 6, 8, 8, 10, 10))).train()
    x, y = torch.randn(6, 3, 12, 20, 1), torch.tensor([0, 1, 2, 3, 0, 1])
    res = stf_step_losses(m, x, y, LossConfig(), focus_on=True, autocast=True)
    assert res.out.features[0].dtype == torch.bfloat16
    assert set(res.terms) == {"cls", "e", "c", "d", "g"} and all(np.isfinite(list(res.terms.values())))
    res.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_focus_from_float16_outputs_is_fp32_and_close():
    """(bfloat16's 8-bit mantissa is too coarse for this comparison; CUDA autocast gives float16.)"""
    torch.manual_seed(0)
    m = STF(ModelConfig(num_classes=4, layout="kinect20", channels=(6, 6, 8, 8, 10, 10))).eval()
    x = torch.randn(3, 3, 16, 20, 1)
    ref_out = m(x)
    cls = ref_out.logits.argmax(1)
    ref = module_cams(m, ref_out, cls, differentiable=False)
    with torch.autocast("cpu", dtype=torch.float16):
        out = m(x)
    assert out.features[0].dtype == torch.float16
    got = module_cams(m, out, cls, differentiable=False)
    for k in ref:
        assert got[k].dtype == torch.float32
        diff = (normalise(got[k], out.person_mask) - normalise(ref[k], ref_out.person_mask)).abs().max()
        assert diff < 0.05, (k, float(diff))


@pytest.mark.parametrize("strides", [(1, 1, 2, 1, 1, 2), (1, 1, 2, 1, 2, 2)])
def test_coherence_with_a_strided_last_module_uses_module_5_frames(strides):
    """M6 is placed on module 5's frames (frame i on frame 2i, linear between): a strided module 6 used
    to crash (24 vs 12 frames) or broadcast a 1-frame map over module 5 without a word."""
    torch.manual_seed(0)
    m = STF(ModelConfig(num_classes=4, layout="kinect20", channels=(6, 6, 8, 8, 10, 10), strides=strides)).train()
    x, y = torch.randn(4, 3, 16, 20, 1), torch.tensor([0, 1, 2, 3])
    cfg = LossConfig(lambda_e=0, lambda_d=0, lambda_g=0, lambda_c=1.0)
    res = stf_step_losses(m, x, y, cfg, focus_on=True)
    raw = module_cams(m, res.out, res.out.logits.argmax(1), [4, 5], cfg.focus_variant)
    s5, s6 = (normalise(raw[k], res.out.person_mask) for k in (4, 5))
    assert s6.shape[2] * 2 - s5.shape[2] in (0, 1)
    up = torch.stack([s6[:, :, min(j // 2, s6.shape[2] - 1)] if j % 2 == 0 or j // 2 + 1 >= s6.shape[2]
                      else (s6[:, :, j // 2] + s6[:, :, j // 2 + 1]) / 2 for j in range(s5.shape[2])], dim=2)
    want = coherence_loss(s5, torch.sigmoid(cfg.omega * (up - cfg.sigma)), cfg.theta, res.out.person_mask)
    assert res.terms["c"] == pytest.approx(float(want.detach()), rel=1e-5)
    res.total.backward()


# --- bad input to one training step: clear stf.errors, before any forward -------------------------
@pytest.fixture(scope="module")
def real_batch(tiny_checkpoint, ucla_store):
    """A fresh network of the tiny config (training mode) and 4 real NW-UCLA training samples with labels."""
    from stf.checkpoint import load_checkpoint
    from stf.data.dataset import SkeletonDataset
    from stf.evaluate import eval_pipeline

    ck = load_checkpoint(tiny_checkpoint)
    ds = SkeletonDataset(ucla_store, ucla_store.split_indices("xview/train")[:4], eval_pipeline(ck))
    items = [ds[i] for i in range(len(ds))]
    torch.manual_seed(0)
    m = STF(ModelConfig.from_dict(ck["model_config"])).train()
    return m, torch.stack([b["x"] for b in items]), torch.as_tensor([int(b["label"]) for b in items])


@pytest.mark.parametrize("focus_on", [False, True])
@pytest.mark.parametrize("make_y,problem", [
    (lambda y, k: torch.where(torch.arange(len(y)) == 2, k, y), "label {k} out of range: the model has classes"),
    (lambda y, k: torch.where(torch.arange(len(y)) == 0, -1, y), "label -1 out of range"),
    (lambda y, k: y[:3], r"labels must have shape \(N,\) = \(4,\)"),
    (lambda y, k: y.view(-1, 1), r"labels must have shape \(N,\) = \(4,\), one per sample, got \(4, 1\)"),
    (lambda y, k: y.float(), "labels must be a tensor of int64, got float32"),
    (lambda y, k: y.tolist(), "labels must be an integer tensor"),
])
def test_malformed_labels_are_a_clear_error(real_batch, make_y, problem, focus_on):
    """Out-of-range labels gave torch's IndexError 'Target 10 is out of bounds' (on a GPU a device-side
    assert); wrong shapes or dtypes deep RuntimeErrors from cross-entropy."""
    from stf.errors import ArgumentError

    m, x, y = real_batch
    k = m.cfg.num_classes
    with pytest.raises(ArgumentError, match=problem.format(k=k)):
        stf_step_losses(m, x, make_y(y, k), LossConfig(), focus_on=focus_on)


def test_focus_losses_need_two_classes_and_coherence_two_modules():
    """One class: 'selected index k out of range' from topk(2); one module with L_c: a misleading
    'focus modules [-1, 0] out of range'."""
    from stf.errors import ConfigError

    x = torch.randn(2, 3, 8, 20, 1)
    m1 = STF(ModelConfig(num_classes=1, layout="kinect20", channels=(6, 6, 8, 8, 10, 10))).train()
    with pytest.raises(ConfigError, match="need at least 2 classes"):
        stf_step_losses(m1, x, torch.zeros(2, dtype=torch.long), LossConfig(), focus_on=True)
    assert set(stf_step_losses(m1, x, torch.zeros(2, dtype=torch.long), LossConfig(), focus_on=False).terms) == {"cls"}
    one = STF(ModelConfig(num_classes=3, layout="kinect20", channels=(6,), strides=(1,))).train()
    with pytest.raises(ConfigError, match="lambda_c > 0 .* needs at least 2 modules"):
        stf_step_losses(one, x, torch.tensor([0, 1]), LossConfig(), focus_on=True)
    res = stf_step_losses(one, x, torch.tensor([0, 1]), LossConfig(lambda_c=0), focus_on=True)
    assert set(res.terms) == {"cls", "e", "d", "g"}


def test_erase_rejects_a_mismatched_mask_or_mean_pose(real_batch):
    from stf.errors import ArgumentError

    _, x, _ = real_batch
    n, c, t, v, mm = x.shape
    with pytest.raises(ArgumentError, match=r"mask \(4, 2, %d, 20\) does not fit x" % t):
        erase(x, torch.zeros(n, 2, t, v))  # two persons' mask on one person's input: used to broadcast silently
    with pytest.raises(ArgumentError, match=r"mask \(4, 1, %d, 20\) does not fit x" % (t - 1)):
        erase(x, torch.zeros(n, mm, t - 1, v))
    with pytest.raises(ArgumentError, match=r"mean_pose must be a \(C, V\) = \(3, 20\) tensor"):
        erase(x, torch.zeros(n, mm, t, v), "mean_pose", torch.zeros(3, 25))
    with pytest.raises(ArgumentError, match="mean_pose must be"):
        stf_step_losses(STF(ModelConfig(num_classes=10, layout="kinect20", channels=(6, 6, 8, 8, 10, 10))).train(),
                        x, torch.tensor([0, 1, 2, 3]), LossConfig(erase="mean_pose"), focus_on=True,
                        mean_pose=torch.zeros(3, 25))


def test_step_rejects_a_non_tensor_input(real_batch):
    from stf.errors import DataError

    m, x, y = real_batch
    with pytest.raises(DataError, match="expects a torch tensor"):
        stf_step_losses(m, x.numpy(), y, LossConfig(), focus_on=True)
