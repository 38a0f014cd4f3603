"""Skeleton layouts: trees, partitioned adjacency, names, lookup messages, mappings between layouts."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stf.errors import LayoutError
from stf.layouts import (KINECT20, LAYOUTS, MAPPINGS, Layout, get_layout, get_mapping, layout_for_joint_count)
from tests.conftest import need_data

ALL = sorted(LAYOUTS)
KNOWN = "coco17, kinect20, mediapipe33, ntu25, openpose18, sbu15"


def test_registry():
    assert ALL == KNOWN.split(", ")
    assert [lay.num_joints for lay in map(get_layout, ALL)] == [17, 20, 33, 25, 18, 15]


@pytest.mark.parametrize("name", ALL)
def test_bones_form_a_tree(name):
    lay = get_layout(name)
    v = lay.num_joints
    assert len(lay.bones) == v - 1
    children = [c for c, _ in lay.bones]
    assert len(set(children)) == v - 1 and lay.root not in children  # one parent each, none for the root
    neighbours = {j: set() for j in range(v)}
    for c, p in lay.bones:
        assert 0 <= c < v and 0 <= p < v and c != p
        neighbours[c].add(p)
        neighbours[p].add(c)
    seen, todo = {lay.root}, [lay.root]
    while todo:
        for n in neighbours[todo.pop()] - seen:
            seen.add(n)
            todo.append(n)
    assert seen == set(range(v))  # connected with V-1 edges: a tree
    par = lay.parents()
    assert par[lay.root] == lay.root and all(par[c] == p for c, p in lay.bones)
    lay.validate()


@pytest.mark.parametrize("name", ALL)
def test_adjacency_partitions(name):
    lay = get_layout(name)
    v = lay.num_joints
    a = lay.adjacency()
    assert a.shape == (3, v, v) and a.dtype == np.float32
    np.testing.assert_array_equal(a[0], np.eye(v))
    edges = np.zeros((v, v), bool)
    for c, p in lay.bones:
        edges[c, p] = True
    np.testing.assert_array_equal(a[1] > 0, edges)  # inward: a child's feature enters its parent's update
    np.testing.assert_array_equal(a[2] > 0, (a[1] > 0).T)  # outward = inward transposed (before normalising)
    for part in (a[1], a[2]):
        cols = part.sum(axis=0)
        nonempty = (part > 0).any(axis=0)
        np.testing.assert_allclose(cols[nonempty], 1.0, rtol=1e-6)
        assert (cols[~nonempty] == 0).all()
    # outward: every joint but the root hears from exactly its parent, with weight 1
    assert (a[2] > 0).sum(axis=0).tolist() == [0 if j == lay.root else 1 for j in range(v)]
    a[1, 0, 0] = 99.0  # a copy: the cached matrix is not changed
    assert lay.adjacency()[1, 0, 0] != 99.0


@pytest.mark.parametrize("name", ALL)
def test_names_origin_and_symmetry(name):
    lay = get_layout(name)
    assert len(set(lay.joints)) == lay.num_joints
    assert all(0 <= o < lay.num_joints for o in lay.origin) and 0 <= lay.root < lay.num_joints
    mirrored = set()
    for left, right in lay.symmetric:
        swapped = lay.joints[left].replace("left", "@").replace("right", "left").replace("@", "right")
        assert swapped == lay.joints[right], (lay.joints[left], lay.joints[right])
        mirrored |= {left, right}
    assert len(mirrored) == 2 * len(lay.symmetric)
    sided = {j for j, n in enumerate(lay.joints) if "left" in n or "right" in n}
    assert mirrored == sided  # every sided joint has its mirror listed
    assert lay.joint_index(lay.joints[-1]) == lay.num_joints - 1
    with pytest.raises(LayoutError, match=f"layout '{name}' has no joint named 'tail'"):
        lay.joint_index("tail")


def test_invalid_layouts_are_refused():
    def make(bones, root=0):
        return Layout("bad", "", ("a", "b", "c"), tuple(bones), root, (0,))

    with pytest.raises(LayoutError, match="a joint has two parents"):
        make([(1, 0), (1, 2)]).validate()
    with pytest.raises(LayoutError, match="the root 0 has a parent"):
        make([(0, 1), (2, 1)]).validate()
    with pytest.raises(LayoutError, match="1 bones for 3 joints"):
        make([(1, 0)]).validate()
    with pytest.raises(LayoutError, match="cycle"):
        make([(1, 2), (2, 1)]).validate()


@pytest.mark.parametrize("kw, problem", [
    (dict(origin=()), "no origin joint"),  # Center took the mean of no joint: NaN everywhere
    (dict(bones=((1, 0), (3, 1))), "bone (3, 1) names a joint outside 0..2"),  # was an IndexError
    (dict(bones=((1, 0), (-1, 1))), "bone (-1, 1) names a joint outside 0..2"),  # was accepted
    (dict(root=5, bones=((1, 0), (2, 1))), "root 5 is outside 0..2"),  # was 'cycle through joint 0'
    (dict(symmetric=((0, 7),)), "symmetric pair (0, 7) names a joint outside 0..2"),
    (dict(joints=("a", "b", "a")), "joint name 'a' is used twice"),
])
def test_out_of_range_and_ambiguous_layouts_are_refused(kw, problem):
    args = dict(name="bad", description="", joints=("a", "b", "c"), bones=((1, 0), (2, 1)), root=0, origin=(0,))
    args.update(kw)
    with pytest.raises(LayoutError, match=re.escape(problem)):
        Layout(**args).validate()


def test_a_registered_layout_with_capitals_is_found_by_its_name(monkeypatch):
    """get_layout lower-cased the name before looking it up, so a layout of one's own named 'MyPose3' was
    'unknown' even though the error listed it among the supported layouts."""
    from stf import layouts

    monkeypatch.setattr(layouts, "LAYOUTS", dict(LAYOUTS))
    lay = layouts.register(Layout("MyPose3", "", ("a", "b", "c"), ((1, 0), (2, 1)), 0, (0,)))
    assert get_layout("MyPose3") is lay and get_layout("mypose3") is lay
    assert get_layout("ntu25").name == "ntu25"


def test_lookup_aliases():
    assert get_layout("NTU").name == "ntu25" and get_layout(" ucla ").name == "kinect20"
    assert get_layout("nw-ucla") is KINECT20 and get_layout(KINECT20) is KINECT20
    assert get_layout("Kinetics").name == "openpose18" and get_layout("sbu").name == "sbu15"
    assert [lay.name for lay in layout_for_joint_count(25)] == ["ntu25"]
    assert [lay.name for lay in layout_for_joint_count(33)] == ["mediapipe33"]
    assert get_layout("MediaPipe").name == "mediapipe33"


def test_unknown_layout_message():
    with pytest.raises(LayoutError) as ei:
        get_layout("kinect21")
    assert str(ei.value) == (f"unknown skeleton layout 'kinect21'; supported layouts: {KNOWN}; a layout of your "
                             "own: stf.layouts.register(Layout(...)) in a module named by $STF_LAYOUT_MODULES "
                             "(docs/data_format.md)")


@pytest.mark.parametrize("name", ["BODY_25", "body25", "openpose25", "Body-25"])
def test_known_missing_layouts(name):
    with pytest.raises(LayoutError) as ei:
        get_layout(name)
    msg = str(ei.value)
    assert f"is not supported; supported layouts: {KNOWN}; a layout of your own:" in msg
    assert "BODY_25 (25 joints, 2D)" in msg


# -- mappings -----------------------------------------------------------------------------------
@pytest.mark.parametrize("key", sorted(MAPPINGS))
def test_mapping_matrices(key):
    m = MAPPINGS[key]
    src, tgt = get_layout(m.source), get_layout(m.target)
    mat = m.matrix()
    assert mat.shape == (src.num_joints, tgt.num_joints)
    np.testing.assert_allclose(mat.sum(axis=0), 1.0, rtol=1e-6)
    for j, name in enumerate(tgt.joints):  # a joint both layouts name is carried over unchanged
        if name in src.joints:
            assert m.sources[j] == (src.joints.index(name),), (key, name)
    x = np.random.default_rng(0).normal(size=(2, 5, src.num_joints, 3)).astype(np.float32)
    y = m.apply(x)
    assert y.shape == (2, 5, tgt.num_joints, 3) and y.dtype == np.float32
    for j, sources in enumerate(m.sources):
        np.testing.assert_allclose(y[..., j, :], x[..., list(sources), :].mean(axis=-2), rtol=1e-5, atol=1e-6)
    with pytest.raises(LayoutError, match=f"expects {src.num_joints} joints"):
        m.apply(x[..., :-1, :])


def test_a_mapping_averages_only_present_joints_on_a_real_coco_sample():
    """OpenPose's neck is the mean of COCO's shoulders; with one shoulder undetected (all zero) it used to be
    half the other shoulder's coordinates, a point near the image corner; now it is the detected shoulder,
    and zero (absent) when neither is there. Real pyskl COCO-17 detections, one shoulder removed."""
    from stf.data import pyskl

    s = pyskl.read_file(need_data("paddlevideo-skeleton-samples", "example_UCF101_skeleton.pkl"))[0]
    coco = get_layout("coco17").joints
    left, right = coco.index("shoulder_left"), coco.index("shoulder_right")
    both = (np.abs(s.data[..., [left, right], :]).sum(-1) > 0).all(-1)  # (M, T)
    assert both.any()
    x = s.data.copy()
    x[..., right, :] = 0
    m = get_mapping("coco17", "openpose18")
    neck = get_layout("openpose18").joints.index("neck")
    y = m.apply(x)
    np.testing.assert_array_equal(y[..., neck, :][both], x[..., left, :][both])
    x[..., left, :] = 0
    assert not m.apply(x)[..., neck, :].any()
    full = m.apply(s.data)  # every source present: the plain mean, as before
    np.testing.assert_allclose(full[..., neck, :][both], s.data[..., [left, right], :].mean(-2)[both], rtol=1e-6)


def test_composed_and_missing_mappings():
    m = get_mapping("ntu", "sbu15")
    assert (m.source, m.target) == ("ntu25", "sbu15") and "Then:" in m.note
    sbu = get_layout("sbu15").joints
    ntu = get_layout("ntu25").joints
    assert m.sources[sbu.index("neck")] == (ntu.index("spine_shoulder"),)
    assert m.sources[sbu.index("torso")] == (ntu.index("spine_mid"),)
    assert m.sources[sbu.index("hand_left")] == (ntu.index("hand_left"),)
    assert get_mapping("ntu25", "openpose18") is None
    assert get_mapping("coco17", "openpose18").sources[1] == (5, 6)  # neck = mean of the shoulders


def test_ntu25_to_kinect20_on_a_real_ntu_sample():
    ntu = pytest.importorskip("stf.data.ntu", reason="the NTU reader (stf/data/ntu.py) is not written yet")
    path = need_data("ntu-raw-skeleton-samples", "nturgb+d_skeletons", "S001C001P001R001A001.skeleton")
    s = ntu.read_file(path)
    s = s[0] if isinstance(s, list) else s
    x = s.data[s.person_mask][:, s.frame_mask]  # (M, T, 25, 3), persons and frames present
    assert x.shape[1:] == (103, 25, 3)
    y = get_mapping("ntu25", "kinect20").apply(x)
    assert y.shape == x.shape[:2] + (20, 3)
    k, n = KINECT20.joints, get_layout("ntu25").joints
    for v1, v2 in [("hip_center", "spine_base"), ("spine", "spine_mid"), ("shoulder_center", "spine_shoulder"),
                   ("head", "head"), ("hand_left", "hand_left"), ("foot_right", "foot_right")]:
        np.testing.assert_array_equal(y[..., k.index(v1), :], x[..., n.index(v2), :])
    # a plausible Kinect v1 body: bone lengths (metres) within x2 of NW-UCLA's, real Kinect v1 data
    ucla_dir = need_data("nw-ucla", "all_sqe")
    from stf.data import ucla

    ref = np.concatenate([ucla.read_file(f).data for f in sorted(ucla_dir.glob("a0[1-3]_s01_*_v01.json"))], axis=1)
    for c, p in KINECT20.bones:
        if {k[c], k[p]} == {"hip_center", "spine"}:
            continue  # documented approximation: v2 spine_mid sits well above v1 spine
        got = np.median(np.linalg.norm(y[..., c, :] - y[..., p, :], axis=-1))
        want = np.median(np.linalg.norm(ref[..., c, :] - ref[..., p, :], axis=-1))
        assert 0.5 < got / want < 2.0, (k[c], k[p], got, want)


# -- layouts of one's own ------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
BODY25 = REPO / "docs" / "examples" / "body25_layout.py"


def _stf(*args, plugins: str | None = None, code: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "STF_LAYOUT_MODULES"}
    if plugins is not None:
        env["STF_LAYOUT_MODULES"] = plugins
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "stf", *map(str, args)]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_a_layout_module_named_by_the_environment_reaches_every_command(tmp_path):
    """The documented BODY_25 example on the real FSD-10 file (BODY_25, x, y, score): converted, opened
    and run through the network in fresh processes; without the variable the store says what it lacks."""
    src = need_data("paddlevideo-skeleton-samples", "fsd10_example_skeleton.npy")
    dest = tmp_path / "fsd10"
    r = _stf("data", "convert", "--format", "npy", "--opt", "layout=BODY_25", "--opt", "channels=xy+score", src,
             dest, plugins=str(BODY25))
    assert r.returncode == 0, r.stderr
    assert "wrote 1 samples (0 classes, layout body25)" in r.stdout  # unlabelled
    assert "layout: body25" in _stf("data", "info", dest, plugins=f" {BODY25} ,").stdout
    code = ("import torch; from stf.data import open_dataset; from stf.model import STF, ModelConfig; "
            "from stf.model.focus import compute_focus; "
            f"st = open_dataset({str(dest)!r}); "
            "x = torch.from_numpy(st.get(0).data).permute(3, 1, 2, 0)[None, :, :64]; "
            "m = STF(ModelConfig(num_classes=3, layout=st.layout, channels=(8,) * 6)).eval(); "
            "f, _ = compute_focus(m, x.float()); print(st.layout, tuple(f.maps[0].shape), tuple(x.shape))")
    r = _stf(code=code, plugins=str(BODY25))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "body25" and "25)" in r.stdout
    r = _stf("data", "info", dest)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "written with layout 'body25', which this process does not know" in r.stderr
    assert "$STF_LAYOUT_MODULES" in r.stderr


def test_a_layout_module_that_cannot_be_imported_is_named():
    code = "from stf.layouts import get_layout; get_layout('body25')"
    r = _stf(code=code, plugins="no_such_layout_module")
    assert "STF_LAYOUT_MODULES names 'no_such_layout_module', which cannot be imported: ModuleNotFoundError" in r.stderr
    r = _stf(code=code, plugins=str(BODY25) + ",/nonexistent/mine.py")
    assert "'/nonexistent/mine.py', which cannot be imported" in r.stderr
