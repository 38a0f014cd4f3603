"""Pose extraction from real videos, checked against the Kinect skeleton recorded with the same clip."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from stf.cli import main
from stf.data.mediapipe import read_file, read_image_landmarks
from stf.data.ntu import read_raw_bodies
from stf.errors import DataError
from stf.layouts import NTU25, get_mapping
from stf.pose.runner import REPO, PoseUnavailable, extract_poses, pose_python
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


def test_relative_paths_are_the_callers_not_the_repositorys(tmp_path, monkeypatch):
    """The extractor runs with the repository as its working directory: the caller's relative video and
    --out paths must still mean the caller's files (and errors name them as the caller wrote them)."""
    import shutil

    need_pose_environment()
    shutil.copy(need_data("action-videos", "kinetics_clips", "ta_chi.mp4"), tmp_path / "ta_chi.mp4")
    (tmp_path / "bad.avi").write_bytes(b"\x00" * 100)
    monkeypatch.chdir(tmp_path)
    res = extract_poses(["ta_chi.mp4", "bad.avi"], "out", keep_going=True)
    assert not isinstance(res[0], DataError), res[0]
    assert res[0].frames == 300 and res[0].pose.resolve() == tmp_path / "out" / "ta_chi.pose.npz"
    assert (tmp_path / "out" / "ta_chi.pose.npz").is_file()
    assert isinstance(res[1], DataError) and str(res[1]) == "bad.avi: OpenCV cannot open it as a video"


def test_a_model_complexity_missing_from_the_wheel_is_named(tmp_path):
    """mediapipe 0.10.14 ships only the complexity-1 model; 0 and 2 it downloads on first use (no network
    here, and nothing may download weights at run time): the error must say so, not blame the video with a
    bare '<urlopen error ...>'."""
    need_pose_environment()
    video = need_data("action-videos", "kinetics_clips", "ta_chi.mp4")
    lite = next(pose_python().parent.parent.glob("lib/python3*/site-packages/mediapipe/modules/pose_landmark"))
    if (lite / "pose_landmark_lite.tflite").exists():
        pytest.skip("this pose environment holds the complexity-0 model")
    with pytest.raises(DataError) as ei:
        extract_poses([video], tmp_path, complexity=0)
    assert str(ei.value).startswith(f"{video}: ") and "pose_landmark_lite.tflite" in str(ei.value), str(ei.value)
    assert "--complexity 1" in str(ei.value) and "nothing is downloaded" in str(ei.value), str(ei.value)
    assert not (lite / "pose_landmark_lite.tflite").exists()  # and nothing was fetched


def _fake_pose_python(tmp_path, body: str):
    """An interpreter stand-in (STF_POSE_PYTHON) called as ``PY -m stf.pose.extract VIDEO --out DIR ...``."""
    py = tmp_path / "fake-python"
    py.write_text("#!/bin/sh\n" + body + "\n")
    py.chmod(0o755)
    return py


def test_a_pose_extractor_printing_garbage_or_dying_is_a_clear_data_error(tmp_path, monkeypatch):
    video = need_data("action-videos", "kinetics_clips", "ta_chi.mp4")
    # a record for the video, but without the fields the runner reads
    monkeypatch.setenv("STF_POSE_PYTHON", str(_fake_pose_python(
        tmp_path, 'echo "garbage"; echo "{\\"video\\": \\"$3\\", \\"out\\": 7}"')))
    with pytest.raises(DataError, match="unexpected output from the pose extractor") as e:
        extract_poses([video], tmp_path / "out", timeout=30)
    assert str(e.value).startswith(f"{video}: ")
    # killed (e.g. by the kernel for memory): said so, not as a negative exit status
    monkeypatch.setenv("STF_POSE_PYTHON", str(_fake_pose_python(tmp_path, "echo started >&2; kill -9 $$")))
    with pytest.raises(DataError, match=r"the pose extractor was killed by signal 9 \(SIGKILL\)") as e:
        extract_poses([video], tmp_path / "out", timeout=30)
    assert str(e.value).startswith(f"{video}: ")


def test_a_batch_that_times_out_keeps_the_videos_it_finished(tmp_path, monkeypatch):
    """The extractor finished the first video, then hung writing the second one's pose file: the first
    result is kept, the second names the time limit, and the half-written temporary file is removed."""
    first = need_data("action-videos", "kinetics_clips", "ta_chi.mp4")
    second = need_data("action-videos", "kinetics_clips", "skateboarding.mp4")
    out = tmp_path / "out"
    out.mkdir()
    (out / "ta_chi.pose.npz").write_bytes(b"x")
    monkeypatch.setenv("STF_POSE_PYTHON", str(_fake_pose_python(tmp_path, (
        f'echo "{{\\"video\\": \\"{first}\\", \\"out\\": \\"{out / "ta_chi.pose.npz"}\\", \\"frames\\": 300, '
        f'\\"with_person\\": 290, \\"seconds\\": 1.0}}"; '
        f': > "{out}/.skateboarding.pose.npz.tmp-123.npz"; exec sleep 30'))))
    res = extract_poses([first, second], out, timeout=3, keep_going=True)
    assert res[0].frames == 300 and res[0].pose == out / "ta_chi.pose.npz"
    assert isinstance(res[1], DataError) and str(res[1]) == f"{second}: pose extraction did not finish within 3 s"
    assert sorted(p.name for p in out.iterdir()) == ["ta_chi.pose.npz"]
    with pytest.raises(DataError, match=f"^{second}: pose extraction did not finish within 3 s$"):
        extract_poses([first, second], out, timeout=3)


def test_a_pose_file_that_cannot_be_put_in_place_leaves_no_temporary_file(tmp_path):
    need_pose_environment()
    video = need_data("action-videos", "kinetics_clips", "ta_chi.mp4")
    (tmp_path / "ta_chi.pose.npz").mkdir()  # a folder where the pose file should go
    with pytest.raises(DataError, match="Is a directory") as e:
        extract_poses([video], tmp_path)
    assert str(e.value).startswith(f"{video}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ta_chi.pose.npz"]  # no .ta_chi.pose.npz.tmp-*


def test_output_that_is_not_utf8_is_still_a_one_line_error(tmp_path, monkeypatch):
    """FFmpeg / MediaPipe logs can carry raw bytes (a Latin-1 file name, a damaged tag): decoding the
    extractor's output must not raise UnicodeDecodeError (a traceback on the command line and in the app)."""
    from stf.pose.runner import check_pose_environment

    video = need_data("action-videos", "kinetics_clips", "ta_chi.mp4")
    monkeypatch.setenv("STF_POSE_PYTHON", str(_fake_pose_python(
        tmp_path, r"printf '\377\376 not utf-8\n'; printf 'libav: \377 bad byte\n' >&2; exit 1")))
    with pytest.raises(DataError, match=r"stopped \(exit status 1\): libav: \ufffd bad byte$") as e:
        extract_poses([video], tmp_path / "out", timeout=30)
    assert str(e.value).startswith(f"{video}: ")
    with pytest.raises(PoseUnavailable, match="cannot import mediapipe"):
        check_pose_environment(timeout=30)


def test_a_video_above_the_frame_limit_is_refused_before_it_is_read(tmp_path):
    """The container states its frame count: a video over --max-frames is refused at once, saying how
    long it is, not after MediaPipe ran over the first max-frames frames (minutes on a long upload)."""
    need_pose_environment()
    video = need_data("action-videos", "kinetics_clips", "ta_chi.mp4")  # 300 frames
    r = subprocess.run([str(pose_python()), "-m", "stf.pose.extract", str(video), "--out", str(tmp_path),
                        "--max-frames", "100"], capture_output=True, text=True, timeout=300, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 2
    rec = json.loads(r.stdout.splitlines()[-1])
    assert rec["error"] == f"{video}: the video has 300 frames, above the limit of 100; cut the video first"


def test_an_unexpected_error_on_one_video_is_reported_and_the_batch_goes_on(tmp_path, monkeypatch, capsys):
    """The extractor caught ValueError / OSError only: anything else on one video stopped the batch, and every
    later video was reported as "stopped". Run in this process with the first video's extraction failing."""
    import stf.pose.extract as ex

    videos = [need_data("action-videos", "kinetics_clips", "ta_chi.mp4"), tmp_path / "second.mp4"]
    done = {"world": np.zeros((1, 33, 3), np.float32), "image": np.zeros((1, 33, 4), np.float32),
            "present": np.ones(1, bool), "info": np.array("{}")}

    def fake(video, **kw):
        if str(video) == str(videos[0]):
            raise RuntimeError("a MediaPipe graph error")
        return done

    monkeypatch.setattr(ex, "extract", fake)
    assert ex.main([*map(str, videos), "--out", str(tmp_path / "out")]) == 2
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first == {"video": str(videos[0]), "error": f"{videos[0]}: RuntimeError: a MediaPipe graph error"}
    assert second["video"] == str(videos[1]) and second["frames"] == 1
    assert (tmp_path / "out" / "second.pose.npz").is_file()


def test_a_browser_recorded_webm_gets_its_real_frame_rate_and_is_not_refused_as_too_long(tmp_path):
    """A WebM without frame durations states its timebase (1000 fps) to OpenCV, and a frame count derived
    from it: the pose file recorded 1000 fps, and the up-front frame-limit check refused a 40-frame clip as
    some 1,300 frames long. Made from a real clip (tests/webm_util.py)."""
    import cv2

    from tests.webm_util import browser_like_webm

    need_pose_environment()
    fps, _, browser = browser_like_webm(need_data("action-videos", "kinetics_clips", "ta_chi.mp4"), tmp_path)
    cap = cv2.VideoCapture(str(browser))
    stated_fps, stated_count = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
    cap.release()
    assert stated_fps > 240 and stated_count > 1000, (stated_fps, stated_count)  # the problem, on this file
    r = subprocess.run([str(pose_python()), "-m", "stf.pose.extract", str(browser), "--out", str(tmp_path / "out"),
                        "--max-frames", "1000"], cwd=REPO, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, (r.stdout, r.stderr[-1500:])
    with np.load(tmp_path / "out" / "browser.pose.npz") as z:
        info, frames = json.loads(str(z["info"])), len(z["present"])
    assert frames == 40 and abs(info["fps"] - fps) < 0.05 * fps, (frames, info["fps"], fps)
    assert "timestamps" in info["fps_note"]
