"""Shape contracts of the STF network on every layout, 1 and 2 persons."""
import pytest
import torch

from stf.errors import DataError
from stf.layouts import LAYOUTS
from stf.model import STF, ModelConfig
from stf.model.stf import combine_adjacency

SMALL = dict(channels=(8, 8, 16, 16, 32, 32))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("persons", [1, 2])
def test_forward_shapes_every_layout(layout, persons):
    v = LAYOUTS[layout].num_joints
    m = STF(ModelConfig(num_classes=7, layout=layout, persons=persons, **SMALL)).eval()
    x = torch.randn(3, 3, 24, v, persons)
    out = m(x)
    assert out.logits.shape == (3, 7)
    assert len(out.features) == 6 and len(out.adjacency) == 6
    t = [24, 24, 12, 12, 6, 6]
    for k, (f, a) in enumerate(zip(out.features, out.adjacency)):
        assert f.shape == (3 * persons, SMALL["channels"][k], t[k], v)
        assert a["A"].shape == (3, v, v) and a["B"].shape == (3, v, v)
        assert a["C"].shape == (3 * persons, 3, v, v)
        # C is normalised over the source joint i (dim -2)
        torch.testing.assert_close(a["C"].sum(-2), torch.ones(3 * persons, 3, v))
        g = combine_adjacency(a)
        torch.testing.assert_close(g, a["A"] + a["B"] + a["alpha"] * a["C"])
    assert out.person_mask.shape == (3, persons)


def test_parts_can_be_switched_off():
    m = STF(ModelConfig(num_classes=5, layout="kinect20", use_learned_adjacency=False,
                        use_instance_adjacency=False, **SMALL))
    out = m(torch.randn(2, 3, 16, 20, 1))
    assert all(a["B"] is None and a["C"] is None for a in out.adjacency)
    assert not any("theta" in n or n.endswith(".B") for n, _ in m.named_parameters())


def test_padded_person_does_not_change_the_prediction():
    torch.manual_seed(0)
    m = STF(ModelConfig(num_classes=5, layout="ntu25", persons=2, **SMALL)).eval()
    x = torch.randn(2, 3, 16, 25, 2)
    x[:, :, :, :, 1] = 0  # second person is padding
    out = m(x)
    assert out.person_mask[:, 0].all() and not out.person_mask[:, 1].any()
    # the pooled feature is person 0's alone
    per0 = out.features[-1].view(2, 2, *out.features[-1].shape[1:])[:, 0].mean(dim=(2, 3))
    torch.testing.assert_close(out.pooled, per0)


def test_wrong_input_shape_is_a_clear_error():
    m = STF(ModelConfig(num_classes=5, layout="kinect20", **SMALL))
    with pytest.raises(DataError, match="V=20"):
        m(torch.randn(2, 3, 16, 25, 1))


# --- bad input at the public entry points: clear stf.errors, not deep torch errors ------------------
@pytest.fixture(scope="module")
def real(tiny_checkpoint, ucla_store):
    """The tiny real checkpoint's network and 4 real NW-UCLA test samples as it sees them."""
    from stf.checkpoint import load_checkpoint, model_from_checkpoint
    from stf.data.dataset import SkeletonDataset
    from stf.evaluate import eval_pipeline

    ck = load_checkpoint(tiny_checkpoint)
    ds = SkeletonDataset(ucla_store, ucla_store.split_indices("xview/test")[:4], eval_pipeline(ck))
    return model_from_checkpoint(ck), torch.stack([ds[i]["x"] for i in range(len(ds))])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_a_clear_error(real, bad):
    """A NaN in the input used to flow through silently (NaN logits, an arbitrary argmax)."""
    m, x = real
    x = x.clone()
    x[1, 0, 5, 3, 0] = bad
    with pytest.raises(DataError, match=r"1 non-finite values .*first at index \(1, 0, 5, 3, 0\)"):
        m(x)


def test_fewer_frames_than_the_total_stride_is_a_clear_error(real):
    """T = 3 < the stride 4 of modules 5 and 6 ran silently on a degenerate 1-frame module output."""
    m, x = real
    with pytest.raises(DataError, match="3 frames, fewer than the network's total temporal stride 4"):
        m(x[:, :, :3].contiguous())
    assert m(x[:, :, :4].contiguous()).features[-1].shape[2] == 1  # T = stride is fine


def test_input_on_another_device_is_a_clear_error(real):
    m, x = real
    with pytest.raises(DataError, match="model input is on meta, the model on cpu"):
        m(torch.empty(x.shape, device="meta"))


@pytest.mark.parametrize("cfg,problem", [
    (dict(channels=(), strides=()), "at least one module"),
    (dict(channels=(2, 2, 2, 2, 2, 2)), "must all be >= 4 with model.temporal 'multiscale'"),
    (dict(channels=(8, 8, 3, 16, 32, 32)), "must all be >= 4"),
])
def test_inconsistent_model_config_is_a_config_error(cfg, problem):
    """Channels < 4 with the four-branch temporal conv failed deep in torch ("weight of size [0, 2, 1, 1]");
    no module at all built a network without a focus."""
    from stf.errors import ConfigError

    with pytest.raises(ConfigError, match=problem):
        ModelConfig(num_classes=5, layout="kinect20", **{**SMALL, **cfg})
    # a narrow plan is fine with the single 9x1 temporal conv
    STF(ModelConfig(num_classes=5, layout="kinect20", channels=(2,) * 6, temporal="conv9"))(torch.randn(1, 3, 8, 20, 1))
