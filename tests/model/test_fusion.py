"""The inference form with BatchNorm folded: same function, same focus, fewer layers, never trained."""
import numpy as np
import pytest
import torch
from torch import nn

from stf.checkpoint import load_checkpoint, model_from_checkpoint
from stf.errors import ArgumentError
from stf.model import STF, ModelConfig, fold_batchnorm
from stf.model.focus import module_cams, normalise

SMALL = dict(channels=(6, 6, 8, 8, 10, 10))


def _model(layout, persons, temporal="multiscale"):
    torch.manual_seed(0)
    m = STF(ModelConfig(num_classes=4, layout=layout, persons=persons, temporal=temporal, **SMALL)).double()
    with torch.no_grad():  # non-trivial statistics and affine parameters, so every BN does something
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.3, 0.3)
                mod.running_var.uniform_(0.3, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    return m.eval()


def _bns(m):
    return sum(isinstance(mod, nn.modules.batchnorm._BatchNorm) for mod in m.modules())


@pytest.mark.parametrize("layout,persons,temporal", [("kinect20", 1, "multiscale"), ("ntu25", 2, "multiscale"),
                                                     ("sbu15", 2, "conv9"), ("coco17", 1, "conv9")])
def test_folded_network_computes_the_same_logits_features_and_focus(layout, persons, temporal):
    m = _model(layout, persons, temporal)
    f = fold_batchnorm(m)
    nj = {"kinect20": 20, "ntu25": 25, "sbu15": 15, "coco17": 17}[layout]
    x = torch.randn(3, 3, 20, nj, persons, dtype=torch.float64)
    if persons == 2:
        x[0, ..., 1] = 0  # a padded second person
    a, b = m(x), f(x)
    torch.testing.assert_close(b.logits, a.logits, rtol=1e-10, atol=1e-10)
    for fa, fb in zip(a.features, b.features):
        torch.testing.assert_close(fb, fa, rtol=1e-10, atol=1e-10)
    cls = a.logits.argmax(1)
    ca, cb = module_cams(m, a, cls), module_cams(f, b, cls)  # every module, the last in closed form
    for k in range(6):
        torch.testing.assert_close(normalise(cb[k], b.person_mask), normalise(ca[k], a.person_mask),
                                   rtol=1e-8, atol=1e-8)
    # the closed-form last module still equals autograd on the folded network
    closed = cb[5]
    auto = module_cams(f, b, cls, [5], closed_form_last=False)[5]
    torch.testing.assert_close(closed, auto, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("temporal,pairs,left", [("multiscale", 47, 7), ("conv9", 17, 1)])
def test_what_is_folded_and_what_is_kept(temporal, pairs, left):
    """Per module: graph-conv proj, 'down' where channels change (modules 1, 3, 5), the temporal
    conv(s), the residual conv where shape changes (modules 3, 5). Kept: data_bn (+ the max-pool
    branch's BN, which follows no convolution)."""
    m = _model("kinect20", 1, temporal)
    before = _bns(m)
    f = fold_batchnorm(m)
    assert f.folded_batchnorm == pairs and _bns(f) == left
    assert _bns(m) == before and not getattr(m, "folded_batchnorm", 0)  # the original is untouched
    assert fold_batchnorm(f) is f
    m.train()  # the original still trains
    with pytest.raises(ArgumentError, match="inference only"):
        f.train()
    f.eval()  # eval() is fine


def test_shipped_path_uses_folded_network_on_real_samples(tiny_checkpoint, ucla_store):
    ck = load_checkpoint(tiny_checkpoint)
    plain, folded = model_from_checkpoint(ck), model_from_checkpoint(ck, fold_bn=True)
    assert not getattr(plain, "folded_batchnorm", 0) and folded.folded_batchnorm > 0
    from stf.explain import Explainer
    from stf.evaluate import eval_pipeline
    from stf.data.dataset import sample_to_tensor

    assert Explainer(ck).model.folded_batchnorm == folded.folded_batchnorm
    pipe = eval_pipeline(ck)
    xs = [sample_to_tensor(pipe(ucla_store.get(i), np.random.default_rng(0))[0]) for i in range(0, 40, 5)]
    x = torch.stack(xs)
    with torch.no_grad():
        la, lb = plain(x).logits, folded(x).logits
    torch.testing.assert_close(lb, la, rtol=1e-4, atol=1e-4)
    assert torch.equal(la.argmax(1), lb.argmax(1))


def test_fold_batchnorm_refuses_what_is_not_an_stf_network():
    """A plain module used to come back unfolded, tagged ``folded_batchnorm = 0``, as if it had worked."""
    with pytest.raises(ArgumentError, match="expects an STF network, got Sequential"):
        fold_batchnorm(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)))
