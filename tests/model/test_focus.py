"""The spatio-temporal focus: closed form = autograd, gradient checks, masking, projection."""
import numpy as np
import pytest
import torch

from stf.model import STF, ModelConfig, compute_focus
from stf.model.focus import gradcam, last_module_cam, module_cams, normalise, to_original_frames, upsample_time

SMALL = dict(channels=(6, 6, 8, 8, 10, 10))


def _model(layout="kinect20", persons=1, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    m = STF(ModelConfig(num_classes=4, layout=layout, persons=persons, **SMALL)).to(dtype).eval()
    # non-trivial BN statistics so eval mode is not the identity
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    return m


@pytest.mark.parametrize("layout,persons", [("kinect20", 1), ("ntu25", 2), ("sbu15", 2)])
def test_closed_form_last_module_equals_autograd(layout, persons):
    m = _model(layout, persons)
    v = m.cfg and {"kinect20": 20, "ntu25": 25, "sbu15": 15}[layout]
    x = torch.randn(3, 3, 16, v, persons, dtype=torch.float64)
    out = m(x)
    for c in range(4):
        cls = torch.full((3,), c)
        closed = last_module_cam(m, out, cls)
        auto = module_cams(m, out, cls, [5], closed_form_last=False)[5]
        torch.testing.assert_close(closed, auto, rtol=1e-10, atol=1e-12)


def test_closed_form_with_positive_weights_equals_autograd():
    """grad_weights: positive_mean clamps the mean gradient at 0; the closed form of module 6 ignored the
    switch (it equalled the plain-mean map; 1.06e-3 from autograd's in the review's case)."""
    m = _model()
    x = torch.randn(4, 3, 16, 20, 1, dtype=torch.float64)
    out = m(x)
    for c in range(4):
        cls = torch.full((4,), c)
        closed = module_cams(m, out, cls, [5], positive_weights=True)[5]
        auto = module_cams(m, out, cls, [5], positive_weights=True, closed_form_last=False)[5]
        torch.testing.assert_close(closed, auto, rtol=1e-10, atol=1e-12)
        plain = module_cams(m, out, cls, [5])[5]
        assert not torch.allclose(closed, plain)  # the clamp changes this map (some weights are negative)


def test_closed_form_with_a_padded_person():
    m = _model("ntu25", 2)
    x = torch.randn(2, 3, 16, 25, 2, dtype=torch.float64)
    x[0, ..., 1] = 0
    out = m(x)
    cls = out.logits.argmax(1)
    closed = last_module_cam(m, out, cls)
    auto = module_cams(m, out, cls, [5], closed_form_last=False)[5]
    torch.testing.assert_close(closed, auto, rtol=1e-10, atol=1e-12)
    maps = normalise(closed, out.person_mask)
    assert maps[0, 1].abs().max() == 0  # padded person masked out of the focus
    raw1 = closed.view(2, 2, *closed.shape[1:])[1]
    span = raw1.max() - raw1.min()  # joint min-max over both persons of sample 1
    assert maps[1].max().item() == pytest.approx((span / (span + 1e-6)).item(), rel=1e-9)


def test_closed_form_with_head_dropout_in_training_equals_autograd():
    torch.manual_seed(3)
    m = STF(ModelConfig(num_classes=4, layout="kinect20", dropout=0.5, **SMALL)).to(torch.float64).train()
    out = m(torch.randn(4, 3, 16, 20, 1, dtype=torch.float64))
    assert out.head_mask is not None and set(out.head_mask.unique().tolist()) == {0.0, 2.0}
    cls = out.logits.argmax(1)
    closed = last_module_cam(m, out, cls)
    auto = module_cams(m, out, cls, [5], closed_form_last=False)[5]
    torch.testing.assert_close(closed, auto, rtol=1e-10, atol=1e-12)
    without_mask = last_module_cam(m, type(out)(**{**out.__dict__, "head_mask": None}), cls)
    assert not torch.allclose(without_mask, auto)  # the dropout multiplier matters
    assert m.eval()(torch.randn(1, 3, 16, 20, 1, dtype=torch.float64)).head_mask is None


@pytest.mark.parametrize("variant,head_grad", [("first_order", False), ("exact", True), ("exact", False)])
def test_closed_form_gradients_equal_autograd(variant, head_grad):
    """The closed form back-propagates as autograd's variant does: first-order detaches the classifier
    weights (head_grad False), exact keeps them (whatever head_grad says)."""
    m = _model("kinect20", 1)
    x = torch.randn(3, 3, 16, 20, 1, dtype=torch.float64)
    grads = []
    for closed in (True, False):
        out = m(x)
        cls = out.logits.argmax(1)
        cam = module_cams(m, out, cls, [5], variant, closed_form_last=closed, head_grad=head_grad)[5]
        m.zero_grad()
        (cam ** 2).sum().backward()
        grads.append({n: p.grad.clone() if p.grad is not None else torch.zeros_like(p) for n, p in m.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-8, atol=1e-12, msg=name)
    assert (grads[0]["fc.weight"].abs().sum() > 0) == (variant == "exact")


def test_first_order_closed_form_keeps_the_head_on_the_graph_by_default():
    m = _model("kinect20", 1)
    out = m(torch.randn(2, 3, 16, 20, 1, dtype=torch.float64))
    cam = module_cams(m, out, out.logits.argmax(1), [5])[5]
    (w,) = torch.autograd.grad(cam.sum(), [m.fc.weight])
    assert w.abs().sum() > 0  # what trained the shipped model (loss.focus_head_grad: true)


def test_gradcam_matches_manual_formula():
    f = torch.rand(2, 5, 4, 3, dtype=torch.float64)
    g = torch.randn(2, 5, 4, 3, dtype=torch.float64)
    w = g.mean(dim=(2, 3))
    manual = torch.relu(torch.einsum("nc,nctv->ntv", w, f))
    torch.testing.assert_close(gradcam(f, g), manual)


def test_first_order_focus_gradcheck():
    """S_k is differentiable through F_k: gradcheck the map as a function of the input (weights fixed)."""
    m = _model()
    x0 = torch.randn(1, 3, 8, 20, 1, dtype=torch.float64)
    out = m(x0)
    cls = out.logits.argmax(1)
    g = torch.autograd.grad(out.logits.gather(1, cls.view(-1, 1)).sum(), out.features[2])[0].detach()

    def f(x):
        feat = m(x).features[2]
        return (g.mean(dim=(2, 3), keepdim=True) * feat).sum(1)  # pre-ReLU map, smooth

    x = x0.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5)


def test_exact_variant_has_second_order_path():
    m = _model()
    x = torch.randn(2, 3, 8, 20, 1, dtype=torch.float64)
    out = m(x)
    # a class whose module-2 map is not all zero after the ReLU (random weights)
    cls = next(torch.full((2,), c) for c in range(4)
               if module_cams(m, out, torch.full((2,), c), [1])[1].sum() > 0)
    first = module_cams(m, out, cls, [1], "first_order")[1]
    exact = module_cams(m, out, cls, [1], "exact")[1]
    torch.testing.assert_close(first, exact)  # same value ...
    p = m.fc.weight
    g_first = torch.autograd.grad(first.sum(), p, retain_graph=True, allow_unused=True)[0]
    g_exact = torch.autograd.grad(exact.sum(), p, retain_graph=True, allow_unused=True)[0]
    assert g_first is None or g_first.abs().sum() == 0  # ... but only exact reaches the head through w
    assert g_exact is not None and g_exact.abs().sum() > 0


def test_compute_focus_shapes_and_range():
    m = _model(dtype=torch.float32)
    x = torch.randn(2, 3, 16, 20, 1)
    foc, out = compute_focus(m, x)
    assert sorted(foc.maps) == list(range(6))
    for k, s in foc.maps.items():
        assert s.shape == (2, 1, out.features[k].shape[2], 20)
        assert s.min() >= 0 and s.max() <= 1
    up = foc.on_input(5, 4, 16)
    assert up.shape == (2, 1, 16, 20)


def test_explanation_maps_are_off_the_graph_unless_asked():
    m = _model(dtype=torch.float32)
    x = torch.randn(2, 3, 16, 20, 1)
    foc, out = compute_focus(m, x)
    assert all(s.grad_fn is None and r.grad_fn is None for s, r in zip(foc.maps.values(), foc.raw.values()))
    # the graph of `out` is kept: another class's focus from the same forward equals a fresh one
    other = module_cams(m, out, (foc.classes + 1) % 4, differentiable=False)
    fresh, _ = compute_focus(m, x, (foc.classes + 1) % 4)
    for k in range(6):
        torch.testing.assert_close(other[k], fresh.raw[k])
    diff, _ = compute_focus(m, x, differentiable=True)
    for k in range(6):
        torch.testing.assert_close(diff.maps[k].detach(), foc.maps[k])
    diff.maps[2].sum().backward()  # the losses' case: gradients reach the parameters through F_k
    assert m.units[0].gcn.proj.weight.grad.abs().sum() > 0


def test_upsample_places_module_frames_at_stride_multiples():
    s = torch.arange(4.0).view(1, 4, 1)  # module frames 0..3 at stride 4
    up = upsample_time(s, 4, 16)[0, :, 0]
    assert up[0] == 0 and up[4] == 1 and up[8] == 2 and up[12] == 3
    assert up[2] == pytest.approx(0.5)
    assert up[15] == 3  # clamped past the last module frame


def test_to_original_frames_means_and_interpolates():
    s = np.array([[1.0], [3.0], [5.0], [7.0]])  # (T_in=4, V=1)
    idx = np.array([0, 0, 4, 6])  # two model frames from source 0; 1-3 and 5 never sampled
    out = to_original_frames(s, idx, 8)
    assert out.shape == (8, 1)
    assert out[0, 0] == pytest.approx(2.0)  # mean of 1 and 3
    assert out[4, 0] == pytest.approx(5.0) and out[6, 0] == pytest.approx(7.0)
    assert out[2, 0] == pytest.approx(3.5)  # interpolated between frames 0 (2) and 4 (5)
    assert out[7, 0] == pytest.approx(7.0)  # held after the last sampled frame


# --- bad input at the public entry points ----------------------------------------------------------
@pytest.fixture(scope="module")
def real(tiny_checkpoint, ucla_store):
    """The tiny real checkpoint's network (eval mode) and 3 real NW-UCLA test samples."""
    from stf.checkpoint import load_checkpoint, model_from_checkpoint
    from stf.data.dataset import SkeletonDataset
    from stf.evaluate import eval_pipeline

    ck = load_checkpoint(tiny_checkpoint)
    ds = SkeletonDataset(ucla_store, ucla_store.split_indices("xview/test")[:3], eval_pipeline(ck))
    return model_from_checkpoint(ck), torch.stack([ds[i]["x"] for i in range(len(ds))])


@pytest.mark.parametrize("classes,problem", [
    (torch.tensor([0, 1]), r"shape \(N,\) = \(3,\), one per sample, got \(2,\)"),
    (torch.tensor(1), r"shape \(N,\) = \(3,\), one per sample, got \(\)"),  # used to explain sample 0 alone
    (torch.tensor([0.0, 1.0, 2.0]), "int64 or int32, got float32"),
    (torch.tensor([1, 0, 1], dtype=torch.uint8), "got uint8"),  # uint8 indexes as a mask
    ([0, 1, 2], "got list"),
    (2, "got int"),
])
def test_compute_focus_rejects_malformed_classes(real, classes, problem):
    from stf.errors import ArgumentError

    m, x = real
    with pytest.raises(ArgumentError, match=problem):
        compute_focus(m, x, classes)


def test_out_of_range_class_is_a_clear_error_in_training_mode_and_in_module_cams(real):
    """In training mode (on CPU) and at module_cams / last_module_cam the class was not checked:
    'index 7 is out of bounds for dimension 1 with size K' from torch."""
    import copy

    from stf.errors import ArgumentError

    m, x = real
    k = m.cfg.num_classes
    bad = torch.tensor([0, k, 1])
    out = m(x)
    for call in (lambda: module_cams(m, out, bad), lambda: last_module_cam(m, out, bad),
                 lambda: module_cams(m, out, bad, [0])):
        with pytest.raises(ArgumentError, match=f"focus class {k} out of range"):
            call()
    mt = copy.deepcopy(m).train()
    with pytest.raises(ArgumentError, match=f"focus class {k} out of range"):
        compute_focus(mt, x, bad)


@pytest.mark.parametrize("modules", [3, [True], "5"])
def test_malformed_module_list_is_a_clear_error(real, modules):
    from stf.errors import ArgumentError

    m, x = real
    with pytest.raises(ArgumentError, match="must be a list of module indices"):
        compute_focus(m, x, modules=modules)


def test_compute_focus_rejects_a_non_tensor_and_a_foreign_forward(real):
    from stf.errors import ArgumentError, DataError

    m, x = real
    with pytest.raises(DataError, match="expects a torch tensor"):
        compute_focus(m, x.numpy())
    with pytest.raises(ArgumentError, match="forward pass of 2 samples"):
        compute_focus(m, x, out=m(x[:2]))
    with pytest.raises(DataError, match="non-finite"):
        compute_focus(m, torch.full_like(x, float("nan")))
