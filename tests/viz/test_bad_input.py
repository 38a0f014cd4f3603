"""Figures refuse what they would draw wrongly: NaN focus, another layout's joints, bad per-frame arrays,
and show class names as plain text."""
from __future__ import annotations

import numpy as np
import pytest

from stf import viz
from stf.data import ntu, sbu, ucla
from stf.errors import ArgumentError, LayoutError
from stf.viz.export import render_frames
from tests.conftest import need_data


@pytest.fixture(scope="module")
def real():
    s = ucla.read_file(need_data("nw-ucla", "all_sqe", "a06_s03_e01_v02.json"))
    focus = np.random.default_rng(0).random(s.data.shape[:3])
    return s, focus


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_focus_is_refused_by_every_drawing(real, bad):
    """NaN was drawn as the lowest focus in the animation, the volume and the video, blank in the heatmap."""
    s, focus = real
    f = focus.copy()
    f[0, 5, 3] = bad
    for draw in (lambda: viz.skeleton_animation(s.data, "kinect20", f), lambda: viz.focus_volume(s.data, "kinect20", f),
                 lambda: render_frames(s.data, "kinect20", f, max_frames=2),
                 lambda: viz.focus_heatmap(f, "kinect20")):
        with pytest.raises(ArgumentError, match=r"non-finite value \(NaN or inf\) at \(0, 5, 3\)|at \(5, 3\)"):
            draw()


def test_skeletons_of_another_layout_are_refused(real):
    """NTU's 25 joints drawn as kinect20 joined the wrong joints; SBU's 15 were an IndexError."""
    n = ntu.read_file(need_data("ntu-raw-skeleton-samples", "nturgb+d_skeletons", "S001C001P001R001A050.skeleton"))
    b = sbu.read_file(next(need_data("sbu-kinect-interaction").glob("s*/*/*/skeleton_pos.txt")))
    for d, v in ((n.data, 25), (b.data, 15)):
        for draw in (viz.skeleton_animation, lambda x, lay: render_frames(x, lay, max_frames=2)):
            with pytest.raises(LayoutError, match=f"data has {v} joints, layout kinect20 has 20"):
                draw(d, "kinect20")
    s, _ = real
    for shape in ((0, 5, 20, 3), (1, 0, 20, 3), (5, 20, 3)):
        with pytest.raises(ArgumentError, match="skeleton data must be"):
            viz.skeleton_animation(np.zeros(shape, np.float32), "kinect20")


def test_per_frame_arrays_and_persons_are_checked(real):
    s, focus = real
    t = s.num_frames
    with pytest.raises(ArgumentError, match=r"person 3 out of range: the map has persons 0-0"):
        viz.focus_heatmap(focus, "kinect20", person=3)
    with pytest.raises(ArgumentError, match=rf"valid_frames has shape \(5,\), expected one entry per frame \({t},\)"):
        viz.focus_heatmap(focus, "kinect20", valid_frames=np.ones(5, bool))
    with pytest.raises(ArgumentError, match="frame_ids has shape"):
        viz.frame_bars(focus[0].mean(1), frame_ids=np.arange(5))
    with pytest.raises(ArgumentError, match="valid_frames has shape"):
        viz.skeleton_animation(s.data, "kinect20", focus, valid_frames=np.ones(t + 1, bool))
    with pytest.raises(ArgumentError, match="at least one map"):
        viz.focus_grid([], "kinect20")


def test_class_names_are_plain_text_and_long_ones_are_cut():
    names = ["<b>bold</b>", "a<br>b", "x & y", "n" * 120]
    fig = viz.confusion_figure(np.eye(4, dtype=int), names)
    ticks = list(fig.data[0].x)
    assert ticks[:3] == ["0 &lt;b&gt;bold&lt;/b&gt;", "1 a&lt;br&gt;b", "2 x &amp; y"]
    assert ticks[3] == "3 " + "n" * 39 + "…" and len(set(ticks)) == 4
    grid = viz.focus_grid([np.zeros((4, 20))], "kinect20", titles=["top-1: a<br>b"])
    assert grid.layout.annotations[0].text == "top-1: a&lt;br&gt;b"
    assert viz.focus_heatmap(np.zeros((4, 20)), "kinect20", title="<i>x</i>").layout.title.text == "&lt;i&gt;x&lt;/i&gt;"


def test_a_sample_given_to_a_figure_brings_its_channels():
    """2-D Kinetics data with a score channel drawn from its array alone took the score as depth."""
    from stf.data import kinetics

    s = kinetics.read_file(need_data("kinetics-skeleton-format", "kinetics400_sample", "--33Lscn6sk.json"))
    assert s.channels == "xy+score" and s.data.shape[-1] == 3
    z2 = np.asarray(viz.skeleton_animation(s, s.layout).data[1].z, float)
    assert np.isfinite(z2).any() and (z2[np.isfinite(z2)] == 0).all()  # drawn flat: x, y and a score
    guessed = viz.skeleton_animation(s.data, s.layout)  # the array alone: C = 3 taken as x, y, z
    z = np.asarray(guessed.data[1].z, float)
    assert (z[np.isfinite(z)] != 0).any()


def test_maps_and_matrices_of_another_layout_are_refused_not_mislabelled():
    """A 15-joint (SBU) map in focus_grid / joint_bars, or a 15 x 15 matrix in adjacency_heatmap, was drawn with the
    first 15 kinect20 joint names; a 25 x 25 matrix in the graph was an IndexError."""
    rng = np.random.default_rng(0)
    for draw in (lambda: viz.focus_grid([rng.random((10, 20)), rng.random((10, 15))], "kinect20"),
                 lambda: viz.joint_bars(rng.random((2, 15)), "kinect20"),
                 lambda: viz.adjacency_heatmap(rng.random((15, 15)), "kinect20"),
                 lambda: viz.adjacency_graph(rng.random((25, 25)), "kinect20"),
                 lambda: viz.adjacency_panel(rng.random((15, 15)), "kinect20"),
                 lambda: viz.adjacency_graph(rng.random((20, 20)), "kinect20", pose=rng.random((15, 3)))):
        with pytest.raises(LayoutError, match="layout kinect20 has 20"):
            draw()
    for draw in (lambda: viz.adjacency_heatmap(rng.random((20, 3)), "kinect20"),
                 lambda: viz.adjacency_heatmap(np.full((20, 20), np.nan), "kinect20"),
                 lambda: viz.joint_bars(rng.random((2, 5, 20)), "kinect20"),
                 lambda: viz.joint_bars(np.full(20, np.nan), "kinect20"),
                 lambda: viz.frame_bars(np.full(8, np.inf)),
                 lambda: viz.focus_grid([rng.random((10, 20))] * 3, "kinect20", titles=["only one"]),
                 lambda: viz.joint_bars(rng.random((2, 20)), "kinect20", person_names=["a"]),
                 lambda: viz.skeleton_animation(rng.random((2, 5, 20, 3)), "kinect20", person_mask=[True])):
        with pytest.raises(ArgumentError):
            draw()
    # what fits is drawn as before
    assert len(viz.focus_grid([rng.random((10, 20))] * 2, "kinect20", titles=["a", "b"]).data) == 2
    assert len(viz.joint_bars(rng.random((2, 20)), "kinect20", person_names=["a", "b"]).data) == 2


def test_adjacency_titles_are_plain_text():
    """The adjacency page puts the class name in the title; Plotly read ``a<br>b`` in it as markup."""
    m = np.eye(20)
    assert viz.adjacency_heatmap(m, "kinect20", title="R (co-focus of a<br>b)").layout.title.text == \
        "R (co-focus of a&lt;br&gt;b)"
    assert viz.adjacency_panel(m, "kinect20", title="x & <b>y</b>").layout.title.text == "x &amp; &lt;b&gt;y&lt;/b&gt;"
    assert viz.adjacency_graph(m, "kinect20", title="<i>z</i>").layout.title.text == "&lt;i&gt;z&lt;/i&gt;"


def test_confusion_counts_must_be_counts():
    """Row shares (floats) given as the confusion were cut to integers: a figure of zeros and a stray 1."""
    shares = np.array([[0.75, 0.25], [0.5, 0.5]])
    for bad in (shares, -np.eye(2), np.array([[1.0, np.nan], [0.0, 1.0]])):
        with pytest.raises(ArgumentError, match="whole sample counts"):
            viz.confusion_figure(bad, ["a", "b"])
    fig = viz.confusion_figure(np.array([[3.0, 1.0], [0.0, 4.0]]), ["a", "b"])  # whole floats (JSON) are fine
    assert fig.data[0].z.tolist() == [[0.75, 0.25], [0.0, 1.0]]


def test_sbu_skeletons_stand_upright():
    """SBU's x, y are image coordinates (y grows down): its 3-D skeletons were drawn head down under "y (up)"."""
    b = sbu.read_file(next(need_data("sbu-kinect-interaction").glob("s*/*/*/skeleton_pos.txt")))
    head, feet = 0, [11, 14]  # sbu15: head, foot_left, foot_right
    fig = viz.skeleton_animation(b.data, "sbu15", channels="xyz", max_frames=3)
    for tr in fig.data[1::2]:  # joints 1, joints 2
        y = np.asarray(tr.y, float)
        assert y[head] > y[feet].max()
    np.testing.assert_allclose(np.asarray(fig.data[1].y, float), -b.data[0, 0, :, 1], atol=1e-4)
    np.testing.assert_allclose(np.asarray(fig.data[1].x, float), -b.data[0, 0, :, 0], atol=1e-4)
    assert (fig.layout.scene.xaxis.title.text, fig.layout.scene.yaxis.title.text) == ("−x", "−y (up)")
    vol = viz.focus_volume(b.data, "sbu15", np.zeros(b.data.shape[:3]), num_skeletons=2)
    y = np.asarray(vol.data[1].y, float).reshape(-1, 15)
    assert (y[:, head] > y[:, feet].max(1)).all()
    pose = viz.joint_layout("sbu15", pose=b.data[0, 0])
    assert pose.data[1].y[head] > max(pose.data[1].y[f] for f in feet)
    # camera-space layouts are drawn as before: x, y as stored
    n = ntu.read_file(need_data("ntu-raw-skeleton-samples", "nturgb+d_skeletons", "S001C001P001R001A050.skeleton"))
    tr = viz.skeleton_animation(n.data, "ntu25", max_frames=1).data[1]
    assert np.allclose(np.asarray(tr.y, float), np.round(n.data[0, 0, :, 1], 4))
    assert np.allclose(np.asarray(tr.x, float), np.round(n.data[0, 0, :, 0], 4))
