"""Pose extraction from real videos, checked against the Kinect skeleton recorded with the same clip."""
from __future__ import annotations

import json

import numpy as np
import pytest

from stf.cli import main
from stf.data.mediapipe import read_file, read_image_landmarks
from stf.data.ntu import read_raw_bodies
from stf.errors import DataError
from stf.layouts import NTU25, get_mapping
from stf.pose.runner import PoseUnavailable, extract_poses, pose_python
from tests.conftest import need_data, need_pose_environment

# joints both skeletons place on the body itself (Kinect's hand / foot / spine points have no MediaPipe twin)
JOINTS = ["head", "shoulder_left", "shoulder_right", "elbow_left", "elbow_right", "wrist_left", "wrist_right",
          "hip_left", "hip_right", "knee_left", "knee_right", "ankle_left", "ankle_right"]
IDX = [NTU25.joints.index(n) for n in JOINTS]


@pytest.fixture(scope="module")
def kinect():
    """The Kinect v2 body of S001C001P001R001A001: joints (T, 25, 3) in metres, colour-image pixels (T, 25, 2)."""
    f = need_data("ntu-raw-skeleton-samples", "nturgb+d_skeletons", "S001C001P001R001A001.skeleton")
    body = next(iter(read_raw_bodies(f)["data"].values()))
    return body["joints"].reshape(-1, 25, 3), body["colors"]


def errors_against_kinect(pose_path, kinect):
    """Median distance over frames and joints: image landmarks vs Kinect's colour pixels, world landmarks
    (centred on the spine base) vs Kinect's joints (centred the same way)."""
    joints, colors = kinect
    m = get_mapping("mediapipe33", "ntu25")
    image, present, _ = read_image_landmarks(pose_path)
    xy = m.apply(image[None, ..., :2])[0]
    world = m.apply(read_file(pose_path).data)[0]
    assert len(xy) == len(colors) == len(joints) and present.all()
    px = np.linalg.norm(xy[:, IDX] - colors[:, IDX], axis=2)
    metres = np.linalg.norm((world - world[:, [0]])[:, IDX] - (joints - joints[:, [0]])[:, IDX], axis=2)
    return float(np.median(px)), float(np.median(metres))


def test_extracted_skeleton_matches_the_kinect_one_of_the_same_clip(ntu_poses, kinect):
    px, metres = errors_against_kinect(ntu_poses["A001"], kinect)
    # measured 12.2 px (of 1920 x 1080) and 0.105 m; the thresholds leave room for MediaPipe's jitter
    assert px < 25, px
    assert metres < 0.15, metres
    s = read_file(ntu_poses["A001"])
    assert s.data.shape == (1, 103, 33, 3) and s.meta["fps"] == 30.0 and s.meta["mirrored"] is True
    assert (s.meta["width"], s.meta["height"]) == (1920, 1080)


def test_without_mirrored_left_and_right_are_swapped(ntu_poses, kinect, tmp_path):
    video = need_data("action-videos", "ntu_rgb", "S001C001P001R001A001_rgb.avi")
    plain = extract_poses([video], tmp_path)[0]
    px_plain, m_plain = errors_against_kinect(plain.pose, kinect)
    px, metres = errors_against_kinect(ntu_poses["A001"], kinect)
    assert px_plain > 2 * px and m_plain > metres  # measured 42.4 px / 0.182 m against 12.2 px / 0.105 m
    a, b = read_image_landmarks(plain.pose)[0], read_image_landmarks(ntu_poses["A001"])[0]
    left, right = 11, 12  # shoulder_left / right: the same pixels under exchanged names
    np.testing.assert_allclose(a[:, left, :2], b[:, right, :2], atol=1e-3)


def test_the_runner_names_what_is_wrong(tmp_path, monkeypatch):
    need_pose_environment()
    not_video = tmp_path / "clip.avi"
    not_video.write_text("not a video")
    with pytest.raises(DataError, match="OpenCV cannot open it as a video") as e:
        extract_poses([not_video], tmp_path / "out")
    assert str(not_video) in str(e.value)
    res = extract_poses([not_video, need_data("action-videos", "kinetics_clips", "ta_chi.mp4")], tmp_path / "out",
                        keep_going=True)
    assert isinstance(res[0], DataError) and res[1].frames == 300 and res[1].with_person > 250
    with pytest.raises(DataError, match="no such video file"):
        extract_poses([tmp_path / "missing.mp4"], tmp_path / "out")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "clip.avi").write_text("x")
    with pytest.raises(DataError, match="two videos named 'clip'"):
        extract_poses([not_video, tmp_path / "b" / "clip.avi"], tmp_path / "out")
    monkeypatch.setenv("STF_POSE_PYTHON", str(tmp_path / "nowhere" / "python"))
    with pytest.raises(PoseUnavailable, match="requirements-pose.txt"):
        pose_python()


def test_pose_command(ntu_poses, tmp_path, capsys):
    video = need_data("action-videos", "kinetics_clips", "skateboarding.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    assert main(["pose", str(video), str(bad), "--out", str(tmp_path / "p")]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"wrote {tmp_path / 'p' / 'skateboarding.pose.npz'}: 300 frames")
    assert out[1].startswith(f"failed {bad}: ")
    info = json.loads(str(np.load(tmp_path / "p" / "skateboarding.pose.npz")["info"]))
    assert info["mirrored"] is False and info["extractor"].startswith("mediapipe 0.10.14") and info["fps"] > 0
