"""A model on a real video: the shipped NW-UCLA model on NTU's "throw" clip, its focus drawn on the frames."""
from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from stf.cli import main
from stf.data import read_file
from stf.data.mediapipe import read_image_landmarks
from stf.errors import ArgumentError
from stf.explain import Explainer
from stf.explain.video import explain_video, image_points
from stf.viz.export import ExportError, overlay_frame, overlay_frames
from tests.conftest import REPO, need_data

SHIPPED = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt"


@pytest.fixture(scope="module")
def throw_video():
    return need_data("action-videos", "ntu_rgb", "S004C003P003R001A007_rgb.avi")


def test_explain_video_writes_overlay_focus_and_prediction(ntu_poses, throw_video, tmp_path):
    ex = Explainer(SHIPPED)
    r = explain_video(SHIPPED, throw_video, tmp_path, pose=ntu_poses["A007"], explainer=ex)
    direct = ex.explain(read_file("mediapipe", ntu_poses["A007"]), compare_top2=False, exploration=False,
                        adjacency=False)
    rec = json.loads(r.prediction_json.read_text())
    assert [t["class"] for t in rec["top5"]] == direct.top5.names
    np.testing.assert_allclose([t["probability"] for t in rec["top5"]], direct.top5.probs, atol=1e-5)
    # NTU's "throw" clip through MediaPipe -> kinect20: NW-UCLA's "throw" (measured 83.3 %)
    assert rec["top5"][0]["class"] == "throw"
    assert rec["model_layout"] == "kinect20" and rec["frames"] == rec["frames_with_person"] == 77
    assert any("mediapipe33 -> kinect20" in n for n in rec["notes"]) and rec["module"] == 6
    cap = cv2.VideoCapture(str(r.overlay))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    assert len(frames) == 77 and frames[0].shape == (540, 960, 3)
    # the drawing sits on the video: the overlay differs from the plain frame where the skeleton is
    src = cv2.VideoCapture(str(throw_video))
    ok, first = src.read()
    plain = cv2.resize(first, (960, 540), interpolation=cv2.INTER_AREA)
    diff = np.abs(frames[0].astype(int) - plain.astype(int)).sum(-1) > 120
    pts = image_points(read_image_landmarks(ntu_poses["A007"])[0], "kinect20")[0] * 0.5
    near = [diff[max(0, int(y) - 3):int(y) + 4, max(0, int(x) - 3):int(x) + 4].mean() for x, y in pts]
    assert np.mean(near) > 0.5 and diff.mean() < 0.1  # joints marked, the rest of the frame kept
    with open(r.focus_csv) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 77 * 20
    np.testing.assert_allclose(float(rows[21]["value"]), direct.focus.original[5][0, 1, 1], atol=1e-5)


def test_overlay_and_arguments_are_checked(ntu_poses, throw_video, tmp_path):
    pts = image_points(read_image_landmarks(ntu_poses["A007"])[0], "kinect20")
    with pytest.raises(ExportError, match="more frames than the 10"):
        list(overlay_frames(throw_video, pts[:10], "kinect20"))
    with pytest.raises(ValueError, match="needs \\(T, 20, 2\\)"):
        list(overlay_frames(throw_video, pts[:, :15], "kinect20"))
    with pytest.raises(ArgumentError, match="module 6 out of range"):
        explain_video(SHIPPED, throw_video, tmp_path, pose=ntu_poses["A007"], module=6)


@pytest.mark.parametrize("clip", ["throw", "kinetics"])
def test_one_overlay_frame_is_the_same_frame_of_the_whole_overlay(clip, ntu_poses, throw_video):
    """The Video page draws one frame at a time (the video sought): it must be the frame drawn in sequence."""
    if clip == "throw":
        video = throw_video
        pts = image_points(read_image_landmarks(ntu_poses["A007"])[0], "kinect20")
        present = None
    else:  # 300 frames of H.264: seeking goes through key frames; no skeleton drawn, the frame itself compared
        video = need_data("action-videos", "kinetics_clips", "skateboarding.mp4")
        pts, present = np.zeros((300, 20, 2)), np.zeros(300, bool)
    focus = np.linspace(0, 1, pts.shape[0] * 20).reshape(pts.shape[:2])
    kw = dict(present_frames=present, width=480, title="t")
    seq = list(overlay_frames(video, pts, "kinect20", focus, **kw))
    assert len(seq) == pts.shape[0]
    for t in (0, 1, 17, len(seq) // 2, len(seq) - 1):
        np.testing.assert_array_equal(overlay_frame(video, pts, "kinect20", t, focus, **kw), seq[t], err_msg=f"{t}")
    with pytest.raises(ValueError, match=f"frame {len(seq)} out of range: the skeleton has frames 0-{len(seq) - 1}"):
        overlay_frame(video, pts, "kinect20", len(seq), focus)


def test_explain_video_command_extracts_and_explains(throw_video, tmp_path, capsys, ntu_poses):
    assert main(["explain-video", str(throw_video), "--checkpoint", str(SHIPPED), "--out", str(tmp_path),
                 "--mirrored", "--module", "5", "--codec", "mp4v"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("S004C003P003R001A007_rgb.avi: throw ")
    assert "a person in 77 of 77 frames; focus of module 5" in out
    assert (tmp_path / "overlay.mp4").is_file() and (tmp_path / "S004C003P003R001A007_rgb.pose.npz").is_file()
    assert main(["explain-video", str(tmp_path / "none.avi"), "--checkpoint", str(SHIPPED), "--out",
                 str(tmp_path / "x")]) == 2
    assert "no such video file" in capsys.readouterr().err
    for module in ("0", "7"):  # counted from 1 on the command line, and said so
        assert main(["explain-video", str(throw_video), "--checkpoint", str(SHIPPED), "--out", str(tmp_path / "m"),
                     "--module", module]) == 2
        assert f"--module {module}: this model's modules are 1-6" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
