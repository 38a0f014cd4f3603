"""Preprocessing steps: shape contracts on every layout, frame indices, and the field's recipes."""
import re
import numpy as np
import pytest

from stf.errors import ConfigError, DataError
from stf.layouts import LAYOUTS, get_layout
from stf.sample import Sample
from stf.transforms import (AlignView, Center, CropResize, MinMax, Pad, Pipeline, RandomResample, RandomRotate,
                            RandomScale, SelectPersons, ToBone, ToMotion, UniformResample, bone, motion)

from .conftest import need_data


def _sample(layout: str, m=2, t=30, channels="xyz", seed=0) -> Sample:
    v = get_layout(layout).num_joints
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(m, t, v, 3)).astype(np.float32) + 2.0
    if channels == "xy+score":
        d[..., 2] = rng.uniform(0.1, 1.0, size=(m, t, v))
    d[1:, t // 2:] = 0  # the second person leaves half-way
    return Sample(data=d, layout=layout, channels=channels, label=0, sample_id="x")


STEPS = [Center(), RandomRotate(), RandomScale(), MinMax(), UniformResample(16), RandomResample(16),
         CropResize(16), CropResize(16, (0.95,)), Pad(40), Pad(40, "loop"), ToBone(), ToMotion(), SelectPersons(1),
         SelectPersons(3)]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("step", STEPS, ids=lambda s: type(s).__name__ + str(getattr(s, "length", "")))
def test_shape_contract_on_every_layout(layout, step):
    channels = "xy+score" if layout in ("openpose18", "coco17") else "xyz"
    s = _sample(layout, channels=channels)
    out, idx = step(s, np.random.default_rng(1))
    m_exp = {1: 1, 3: 3}.get(getattr(step, "count", None), 2)
    t_exp = getattr(step, "length", s.num_frames)
    assert out.data.shape == (m_exp, t_exp, s.num_joints, 3)
    assert out.data.dtype == np.float32
    assert out.frame_mask.shape == (t_exp,) and out.person_mask.shape == (m_exp,)
    if idx is not None:
        assert idx.shape == (t_exp,) and idx.max() < s.num_frames
        ok = idx >= 0
        np.testing.assert_array_equal(out.data[:, ok], s.data[:, idx[ok]])  # frames come from where idx says
    absent = np.abs(s.data).sum(-1) == 0
    if idx is None and out.data.shape[0] == 2:  # absent joints stay absent in spatial steps
        assert (np.abs(out.data).sum(-1)[absent] == 0).all()
    if channels == "xy+score" and idx is None and m_exp == 2 and not isinstance(step, ToMotion):
        np.testing.assert_array_equal(out.data[..., 2], s.data[..., 2])  # the score channel is never moved
    out.validate()


def test_pipeline_composes_frame_indices():
    s = _sample("kinect20", m=1, t=50)
    pipe = Pipeline([CropResize(20, (0.5,)), UniformResample(10)])
    out, idx = pipe(s)
    assert out.num_frames == 10
    np.testing.assert_array_equal(out.data, s.data[:, idx])


def test_center_moves_origin_of_first_frame_to_zero():
    s = _sample("ntu25", m=2)
    out, _ = Center()(s, None)
    o = get_layout("ntu25").origin
    np.testing.assert_allclose(out.data[0, 0, list(o)].mean(0), 0, atol=1e-6)


def test_minmax_range_and_rotation_preserves_lengths():
    s = _sample("kinect20", m=1)
    out, _ = MinMax()(s, None)
    assert out.data.min() == pytest.approx(-1) and out.data.max() == pytest.approx(1)
    rot, _ = RandomRotate((60, 60, 60))(s, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(rot.data, axis=-1), np.linalg.norm(s.data, axis=-1), rtol=1e-5)


def test_align_view_on_real_ntu():
    need_data("ntu-raw-skeleton-samples")
    from stf.data.ntu import read_file

    from .conftest import _data_root
    s = read_file(_data_root() / "ntu-raw-skeleton-samples/nturgb+d_skeletons/S001C001P001R001A001.skeleton")
    out, _ = AlignView()(Center()(s, None)[0], None)
    lay = get_layout("ntu25")
    p = out.data[0, int(np.flatnonzero(out.frame_mask)[0])]
    up = p[lay.joint_index("spine_mid")] - p[lay.joint_index("spine_base")]
    across = p[lay.joint_index("shoulder_left")] - p[lay.joint_index("shoulder_right")]
    assert up[0] == pytest.approx(0, abs=1e-5) and up[2] == pytest.approx(0, abs=1e-5) and up[1] > 0
    assert across[2] == pytest.approx(0, abs=1e-5) and across[0] > 0
    with pytest.raises(DataError, match="xyz"):
        AlignView()(_sample("coco17", channels="xy+score"), None)


def test_bone_and_motion_streams():
    s = _sample("sbu15", m=1, t=5)
    par = get_layout("sbu15").parents()
    b = bone(s.data, "sbu15")
    np.testing.assert_allclose(b[:, :, 4], s.data[:, :, 4] - s.data[:, :, par[4]])
    assert (b[:, :, get_layout("sbu15").root] == 0).all()
    mo = motion(s.data)
    np.testing.assert_allclose(mo[:, 1], s.data[:, 2] - s.data[:, 1])
    assert (mo[:, -1] == 0).all()


def test_ucla_recipe_from_config(ucla_store):
    train = Pipeline.from_config([{"center": {"frame": "first"}}, {"random_rotate": {"degrees": [60, 60, 0]}},
                                  {"minmax": {}}, {"random_resample": {"length": 52}}], persons=1)
    test = Pipeline.from_config([{"center": {}}, {"minmax": {}}, {"uniform_resample": {"length": 52}}], persons=1)
    s = ucla_store.get(0)
    a, ia = train(s, np.random.default_rng(0))
    b, ib = test(s)
    assert a.data.shape == b.data.shape == (1, 52, 20, 3)
    assert np.all(np.diff(ia) >= 0) and np.all(np.diff(ib) >= 0)  # sorted frames
    assert b.data.min() >= -1 - 1e-6 and b.data.max() <= 1 + 1e-6
    c, _ = test(s)
    np.testing.assert_array_equal(b.data, c.data)  # the test transform is deterministic
    with pytest.raises(ConfigError, match="unknown transform"):
        Pipeline.from_config([{"flip_everything": {}}])
    with pytest.raises(ConfigError, match="unknown stream"):
        Pipeline.from_config([], stream="velocity")


@pytest.mark.parametrize("step", ["uniform_resample", "random_resample", "crop_resize", "pad"])
@pytest.mark.parametrize("length", [0, -3, 2.5, True, None])
def test_a_frame_count_below_one_is_refused_when_the_pipeline_is_built(step, length):
    """uniform_resample length 0 built, then failed inside a reshape on the first sample."""
    from stf.errors import ConfigError

    with pytest.raises(ConfigError, match=f"length must be an integer >= 1, got {re.escape(repr(length))}"):
        Pipeline.from_config([{step: {"length": length}}])


def test_minmax_does_not_depend_on_the_unit_of_the_coordinates():
    """An absolute 1e-8 threshold treated every axis of a sample in units of 1e-9 as flat (another class)."""
    from stf.data import ucla

    s = ucla.read_file(need_data("nw-ucla", "all_sqe", "a06_s03_e01_v02.json"))
    ref = MinMax()(s, None)[0].data
    for scale in (1e3, 1e-9):
        np.testing.assert_allclose(MinMax()(s.with_data(s.data * np.float32(scale)), None)[0].data, ref, atol=1e-5)
    flat = s.data.copy()
    flat[..., 2] = np.where(np.abs(flat).sum(-1) > 0, 2.5, 0)  # z constant on present joints: left at low
    out = MinMax()(s.with_data(flat), None)[0].data
    pres = np.abs(flat).sum(-1) > 0
    assert np.allclose(out[..., 2][pres], -1.0) and np.allclose(out[..., :2], ref[..., :2], atol=1e-6)


def _sbu_sample():
    from stf.data import sbu

    return sbu.read_file(need_data("sbu-kinect-interaction", "s01s02", "01", "001", "skeleton_pos.txt"))


def test_center_uses_the_first_present_person_when_person_0_is_absent():
    """A real two-person SBU sample whose first person slot is empty in every frame: centring took the
    origin of that empty person (zero) and so did not centre at all."""
    s = _sbu_sample()
    d = s.data.copy()
    d[0] = 0
    out, _ = Center()(s.with_data(d), None)
    o = list(get_layout("sbu15").origin)
    np.testing.assert_allclose(out.data[1, 0, o].mean(0), 0, atol=1e-6)
    assert not out.data[0].any()  # the absent person stays absent
    ref, _ = Center()(s, None)  # person 0 present: unchanged (person 0's origin, as always)
    np.testing.assert_allclose(ref.data[0, 0, o].mean(0), 0, atol=1e-6)


def test_center_takes_person_0s_first_frame_that_holds_the_origin():
    """A real SBU sample where person 0 enters late (blank in the first 5 frames, the other person there):
    centring took person 0's origin in frame 0, which is zero, and so did not centre at all."""
    s = _sbu_sample()
    d = s.data.copy()
    d[0, :5] = 0
    out, _ = Center()(s.with_data(d), None)
    o = list(get_layout("sbu15").origin)
    np.testing.assert_allclose(out.data[0, 5, o].mean(0), 0, atol=1e-6)
    assert not out.data[0, :5].any()  # absent frames stay absent
    shift = d[1, 0, 0] - out.data[1, 0, 0]
    np.testing.assert_allclose(shift, d[0, 5, o].mean(0), atol=1e-5)  # person 1 moved by the same origin


def test_center_averages_only_the_origin_joints_that_are_present():
    """A real COCO-17 (pyskl) sample whose left hip is missing in the first frame: the origin, the mean of
    both hips, was pulled halfway to 0 by the missing one; it is now the hip that is there."""
    from stf.data import pyskl

    s = pyskl.read_file(need_data("paddlevideo-skeleton-samples", "example_UCF101_skeleton.pkl"))[0]
    lay = get_layout("coco17")
    left, right = lay.origin
    d = s.data.copy()
    f0 = int(np.flatnonzero(np.abs(d[0]).sum(axis=(1, 2)) > 0)[0])
    d[0, f0, left] = 0
    out, _ = Center()(s.with_data(d), None)
    np.testing.assert_allclose(out.data[0, f0, right, :2], 0, atol=1e-5)
    np.testing.assert_array_equal(out.data[..., 2], d[..., 2])  # scores untouched
    full, _ = Center()(s, None)  # both hips there: their mean, as before
    np.testing.assert_allclose(full.data[0, f0, [left, right], :2].mean(0), 0, atol=1e-4)


def test_select_persons_drops_the_frames_only_dropped_persons_were_in():
    """A real SBU interaction where the more active person leaves 10 frames before the end: keeping one
    person kept those 10 frames marked valid, though they now hold nobody (later steps resample over them)."""
    s = _sbu_sample()
    d = s.data.copy()
    keep = int(SelectPersons(1).kept(s)[0])
    d[keep, -10:] = 0
    s = s.with_data(d)
    assert SelectPersons(1).kept(s).tolist() == [keep] and s.frame_mask[-10:].all()
    out, _ = SelectPersons(1)(s, None)
    np.testing.assert_array_equal(out.frame_mask, np.arange(s.num_frames) < s.num_frames - 10)
    np.testing.assert_array_equal(out.data[0], d[keep])
    padded, _ = SelectPersons(3)(s, None)  # padding adds nobody and removes no frame
    np.testing.assert_array_equal(padded.frame_mask, s.frame_mask)


def test_streams_and_mappings_refuse_data_that_does_not_fit_the_layout(ucla_store):
    """A real NW-UCLA sample (kinect20, 20 joints) cut to 15 joints but still called kinect20: to_bone failed
    with a bare IndexError (or, with more joints than the layout, computed bones of the wrong parents)."""
    from stf.errors import LayoutError
    from stf.transforms import MapLayout

    s = ucla_store.get(0)
    for bad in (s.data[:, :, :15], np.concatenate([s.data, s.data[:, :, :5]], axis=2)):
        b = Sample(data=bad, layout="kinect20", sample_id=s.sample_id)
        with pytest.raises(LayoutError, match=rf"{s.sample_id}: {bad.shape[2]} joints, but layout kinect20 has 20"):
            ToBone()(b, None)
        with pytest.raises(LayoutError, match=rf"{s.sample_id}: {bad.shape[2]} joints, but layout kinect20 has 20"):
            MapLayout("sbu15")(b, None)
    with pytest.raises(LayoutError, match="15 joints, but layout kinect20 has 20"):
        bone(s.data[:, :, :15], "kinect20")


@pytest.mark.parametrize("spec, message", [
    ({"random_rotate": {"degrees": [30]}}, r"random_rotate: degrees must be 3 numbers \(x, y, z\), got \(30,\)"),
    ({"random_rotate": {"degrees": 30}}, r"random_rotate: degrees must be 3 numbers"),
    ({"select_persons": {"count": 0}}, r"select_persons: count must be an integer >= 1, got 0"),
    # the next ones were built and failed on the first sample (or, for the first, with an AttributeError)
    ({"center": "first"}, r"transform center: parameters must be a mapping \{param: value\}, got 'first'"),
    ({"center": {"frame": "middle"}}, r"center: frame must be 'first' or 'each', got 'middle'"),
    ({"pad": {"length": 5, "mode": "edge"}}, r"pad: mode must be 'zero' or 'loop', got 'edge'"),
    ({"crop_resize": {"length": 5, "p_interval": []}}, r"crop_resize: p_interval must be 1 or 2 numbers in \(0, 1\]"),
    ({"crop_resize": {"length": 5, "p_interval": 0.5}}, r"crop_resize: p_interval must be 1 or 2 numbers"),
    ({"random_scale": {"low": "a"}}, r"random_scale: low and high must be numbers, got 'a', 1.5"),
    ({"minmax": {"high": None}}, r"minmax: low and high must be numbers, got -1.0, None"),
])
def test_bad_step_parameters_are_refused_when_the_pipeline_is_built(spec, message):
    """degrees=[30] failed on the first sample with a TypeError from rotation_matrix; count 0 made samples
    with no person at all."""
    with pytest.raises(ConfigError, match=message):
        Pipeline.from_config([spec])


def test_a_non_finite_value_is_named_not_spread(ucla_store):
    """One NaN in a real NW-UCLA sample made min-max turn the whole sample into NaN, silently."""
    s = ucla_store.get(0)
    d = s.data.copy()
    d[0, 3, 7, 1] = np.nan
    test = Pipeline.from_config([{"center": {}}, {"minmax": {}}, {"uniform_resample": {"length": 52}}], persons=1)
    with pytest.raises(DataError, match="non-finite value .* at person 0, frame 3, joint 7"):
        test(s.with_data(d))
