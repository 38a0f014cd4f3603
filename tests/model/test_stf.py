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
