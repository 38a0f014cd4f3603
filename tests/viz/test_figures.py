"""Figure contracts: traces, animation frames, colours = focus values, labels."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from stf import viz
from stf.layouts import get_layout


def test_skeleton_animation_frames_and_colours(two_person):
    data, focus = two_person
    fig = viz.skeleton_animation(data, "kinect20", focus, max_frames=20)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["bones 1", "joints 1", "bones 2", "joints 2"]
    assert all(t.type == "scatter3d" for t in fig.data)
    assert len(fig.frames) == 20
    names = [int(f.name) for f in fig.frames]
    assert names[0] == 0 and names[-1] == 49 and names == sorted(names)
    for fr in fig.frames:
        t = int(fr.name)
        np.testing.assert_allclose(fr.data[1].marker.color, focus[0, t], atol=1e-4)
        np.testing.assert_allclose(fr.data[3].marker.color, focus[1, t], atol=1e-4)
        np.testing.assert_allclose(np.asarray(fr.data[1].x, float), data[0, t, :, 0], atol=1e-4)
        if t >= 30:  # absent person: nothing drawn
            assert all(v is None for v in fr.data[2].x)
    np.testing.assert_allclose(fig.data[1].marker.color, focus[0, 0], atol=1e-4)
    sizes = np.asarray(fig.frames[3].data[1].marker.size)
    t3 = int(fig.frames[3].name)
    assert np.argmax(sizes) == np.argmax(focus[0, t3])
    assert list(fig.data[1].text) == [f"{j} {n}" for j, n in enumerate(get_layout("kinect20").joints)]
    assert "focus" in fig.data[1].hovertemplate
    assert fig.layout.scene.camera.up.y == 1
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["▶ play", "❚❚ pause"]
    assert len(fig.layout.sliders[0].steps) == 20
    fig.to_json()


def test_skeleton_animation_all_frames_one_person_no_focus(two_person):
    data, _ = two_person
    fig = viz.skeleton_animation(data[:1, :12], "kinect20", None, max_frames=None)
    assert len(fig.frames) == 12 and len(fig.data) == 2
    with pytest.raises(ValueError):
        viz.skeleton_animation(data, "kinect20", np.zeros((2, 49, 20)))


def test_skeleton_animation_2d():
    rng = np.random.default_rng(1)
    d = rng.random((1, 8, 18, 3)).astype(np.float32)
    fig = viz.skeleton_animation(d, "openpose18", rng.random((1, 8, 18)), channels="xy+score")
    np.testing.assert_allclose(np.asarray(fig.data[1].y, float), -d[0, 0, :, 1], atol=1e-4)  # image y points down
    assert len(fig.frames) == 8


def test_focus_volume(two_person):
    data, focus = two_person
    fig = viz.focus_volume(data, "kinect20", focus, num_skeletons=5)
    assert [t.name for t in fig.data] == ["bones 1", "joints 1", "bones 2", "joints 2"]
    np.testing.assert_allclose(fig.data[1].marker.color, focus[0, [0, 12, 24, 37, 49]].reshape(-1), atol=1e-6)
    assert list(fig.layout.scene.xaxis.ticktext) == ["0", "12", "24", "37", "49"]
    x = np.asarray(fig.data[1].x, float).reshape(5, 20)
    assert np.all(np.diff(np.nanmean(x, 1)) > 0)  # skeletons offset along the time axis, left to right


def test_heatmaps_and_bars(two_person):
    _, focus = two_person
    lay = get_layout("kinect20")
    valid = np.ones(50, bool)
    valid[45:] = False
    fig = viz.focus_heatmap(focus, "kinect20", person=1, valid_frames=valid)
    z = np.asarray(fig.data[0].z, float)
    assert z.shape == (20, 50)
    np.testing.assert_allclose(z[:, :45], focus[1, :45].T)
    assert np.isnan(z[:, 45:]).all()
    assert list(fig.data[0].y) == [f"{j} {n}" for j, n in enumerate(lay.joints)]
    g = viz.focus_grid([focus[:, :50], focus[:, :25], focus[:, :13]], "kinect20", titles=["a", "b", "c"], cols=2)
    assert len(g.data) == 3 and np.asarray(g.data[2].z).shape == (20, 13)
    jb = viz.joint_bars(focus.mean(1), "kinect20")
    assert len(jb.data) == 2 and list(jb.data[0].y) == list(fig.data[0].y)
    fb = viz.frame_bars(focus.mean(2), valid_frames=valid)
    assert len(fb.data) == 2 and len(fb.data[0].x) == 45


def test_adjacency_figures():
    lay = get_layout("kinect20")
    m = np.zeros((20, 20))
    m[0, 5], m[5, 0], m[3, 19], m[7, 7] = 0.9, 0.2, -0.4, 1.0
    fig = viz.adjacency_heatmap(m, "kinect20")
    assert np.asarray(fig.data[0].z).shape == (20, 20) and fig.data[0].zmid == 0  # signed: diverging
    assert list(fig.data[0].x) == [f"{j} {n}" for j, n in enumerate(lay.joints)]
    edges = viz.graph_edges(m, threshold=0.1)
    assert edges == [(0, 5, 0.9), (3, 19, -0.4)]  # both directions merged, self weights left out
    g = viz.adjacency_graph(m, "kinect20", threshold=0.1)
    names = [t.name for t in g.data]
    assert names == ["bones", "edge 0-5", "edge 3-19", "edge weights", "joints"]
    assert g.data[1].line.width > g.data[2].line.width
    p = viz.adjacency_panel(m, "kinect20", pose=np.random.default_rng(0).random((20, 3)), threshold=0.3)
    assert [t.type for t in p.data].count("heatmap") == 1 and "edge 0-5" in [t.name for t in p.data]


def test_confusion_figure():
    conf = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    fig = viz.confusion_figure(conf, ["a", "b", "c"])
    z = np.asarray(fig.data[0].z, float)
    np.testing.assert_allclose(z, [[0.8, 0.2, 0], [0.25, 0.75, 0], [0, 0, 0]])
    cd = np.asarray(fig.data[0].customdata)
    assert cd.shape == (3, 3, 4) and tuple(cd[1, 0, :3]) == (1, 0, 1)
    counts = viz.confusion_figure(conf, ["a", "b", "c"], normalise=None)
    np.testing.assert_allclose(np.asarray(counts.data[0].z, float), conf)
    with pytest.raises(ValueError):
        viz.confusion_figure(conf, ["a", "b"])


def test_per_class_comparison_figure():
    fig = viz.per_class_comparison_figure(["a", "b", "c"], [0.5, 1.0, np.nan], [0.75, 0.5, np.nan], [4, 2, 0],
                                          label_a="STF", label_b="backbone")
    assert [t.name for t in fig.data] == ["STF", "backbone"] and all(t.orientation == "h" for t in fig.data)
    assert list(fig.data[0].y) == ["0 a", "1 b", "2 c"]
    np.testing.assert_allclose(np.asarray(fig.data[0].x, float), [50, 100, np.nan])
    np.testing.assert_allclose(np.asarray(fig.data[1].customdata, float)[:2], [[4, 25], [2, -50]])
    with pytest.raises(ValueError, match="do not match 2 class names"):
        viz.per_class_comparison_figure(["a", "b"], [0.5, 1.0, 0.0], [0.5, 1.0], [1, 1])


def test_curves_figure():
    from stf.explain.faithfulness import Curve

    f = np.linspace(0, 1, 6)
    mk = lambda n, k, p: Curve(method=n, kind=k, fractions=f, probs=p, auc=float(np.trapezoid(p, f)))  # noqa: E731
    curves = {"focus": {"deletion": mk("focus", "deletion", 1 - f), "insertion": mk("focus", "insertion", f)},
              "random": {"deletion": mk("random", "deletion", 1 - f / 2),
                         "insertion": mk("random", "insertion", f / 2)}}
    fig = viz.curves_figure(curves)
    assert len(fig.data) == 4
    assert fig.data[0].name == "focus (AUC 0.500)" and fig.data[1].name == "random (AUC 0.750)"
    assert fig.data[1].line.dash == "dash"


def test_joint_layout():
    fig = viz.joint_layout("ntu25")
    assert list(fig.data[1].text) == [str(j) for j in range(25)]
