"""The Sample type: masks, helpers, and validate() naming each kind of problem."""
from __future__ import annotations

import numpy as np
import pytest

from stf.errors import DataError
from stf.sample import Sample


def make(m=2, t=4, v=20, c=3, layout="kinect20", **kw):
    data = np.arange(m * t * v * c, dtype=np.float32).reshape(m, t, v, c) / 10 + 0.1
    return Sample(data=data, layout=layout, sample_id="x1", source=kw.pop("source", "file.json"), **kw)


def problem(s: Sample) -> str:
    with pytest.raises(DataError) as ei:
        s.validate()
    assert ei.value.where == s.where()
    return ei.value.problem


def test_valid_sample_and_masks():
    d = np.ones((2, 5, 20, 3), np.float64)
    d[1] = 0  # second person absent
    d[:, 3] = 0  # frame 3 empty
    s = Sample(data=d, layout="kinect20", label=4, sample_id="a01")
    assert s.validate() is s
    assert s.data.dtype == np.float32
    assert s.person_mask.tolist() == [True, False]
    assert s.frame_mask.tolist() == [True, True, True, False, True]
    assert (s.num_persons, s.num_frames, s.num_joints, s.num_valid_frames) == (2, 5, 20, 4)
    assert s.to_ctvm().shape == (3, 5, 20, 2) and s.to_ctvm().flags.c_contiguous
    np.testing.assert_array_equal(s.to_ctvm()[:, :, :, 0], s.data[0].transpose(2, 0, 1))
    t = s.with_data(np.ones((1, 2, 20, 3)))
    assert t.frame_mask.tolist() == [True, True] and t.person_mask.tolist() == [True] and t.label == 4
    assert "shape(M,T,V,C)=(2, 5, 20, 3)" in repr(s)


def test_where_prefers_source_then_id():
    assert make().where() == "file.json"
    assert make(source="").where() == "x1"


def test_wrong_joint_count():
    assert problem(make(v=19)) == "19 joints, but layout kinect20 has 20"
    assert problem(make(v=20, layout="ntu25")) == "20 joints, but layout ntu25 has 25"


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_names_the_position(value):
    s = make()
    s.data[1, 2, 7, 0] = value
    assert problem(s) == "non-finite value (NaN or inf) at person 1, frame 2, joint 7"


def test_zero_frames_and_zero_persons():
    assert problem(make(t=0)) == "no frames (empty sequence)"
    assert problem(make(m=0)) == "no persons (zero bodies)"


def test_all_zero_data():
    s = make()
    s.data[:] = 0
    s = s.with_data(s.data)
    assert problem(s) == "no valid frame (every frame is empty)"
    s = make(frame_mask=np.ones(4, bool), person_mask=np.zeros(2, bool))
    assert problem(s) == "no person present (all persons are zero)"


def test_wrong_channel_count():
    assert problem(make(c=2)) == "2 channels, but 'xyz' means 3"
    assert problem(make(c=3, channels="xy")) == "3 channels, but 'xy' means 2"
    make(c=2, channels="xy").validate()
    make(c=3, channels="xy+score").validate()
    assert problem(make(channels="rgb")).startswith("unknown channels 'rgb'")


def test_layout_shape_masks_and_label():
    assert problem(make(layout="body25")).startswith("OpenPose BODY_25 (25 joints, 2D) is not supported")
    assert problem(make(layout="nope")).startswith("unknown skeleton layout 'nope'")
    assert problem(Sample(data=np.ones((4, 20, 3)), layout="kinect20")) == \
        "data must be (persons, frames, joints, channels), got shape (4, 20, 3)"
    assert problem(make(frame_mask=np.ones(3, bool))) == "frame_mask must have shape (4,)"
    assert problem(make(person_mask=np.ones(3, bool))) == "person_mask must have shape (2,)"
    assert problem(make(label=-1)) == "label must be a non-negative int, got -1"
    assert problem(make(label=1.0)) == "label must be a non-negative int, got 1.0"
    make(label=np.int64(3)).validate()


def test_all_zero_data_with_masks_given():
    """A reader that passes its own masks (every person, every frame marked present) over all-zero
    coordinates: validate() used to accept the sample."""
    s = make(frame_mask=np.ones(4, bool), person_mask=np.ones(2, bool))
    s.data[:] = 0
    assert problem(s) == "no person present (all coordinates are zero)"


def test_data_that_is_not_an_array_is_a_data_error():
    """Ragged nested lists used to raise numpy's ValueError from the constructor, naming nothing."""
    with pytest.raises(DataError) as ei:
        Sample(data=[[1.0, 2.0], [3.0]], layout="kinect20", sample_id="x1", source="upload.json")
    assert ei.value.where == "upload.json" and "not a numeric (persons, frames, joints, channels) array" in ei.value.problem
