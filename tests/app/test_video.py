"""The Video page's Streamlit-free helpers (stf.app_support.video) on real videos: store, extract once, explain."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from stf.app_support import video as vid
from stf.app_support.upload import UploadError
from stf.errors import DataError
from stf.explain import Explainer
from stf.explain.video import analyse_video
from tests.conftest import REPO, need_data, need_pose_environment

SHIPPED = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt"
THROW = "S004C003P003R001A007_rgb.avi"


@pytest.fixture(scope="module")
def throw_bytes() -> bytes:
    return need_data("action-videos", "ntu_rgb", THROW).read_bytes()


def test_prepare_video_stores_the_bytes_once_under_the_cache(throw_bytes):
    a = vid.prepare_video(THROW, throw_bytes)
    assert a.path.read_bytes() == throw_bytes and a.path.is_relative_to(vid.video_cache())
    mtime = a.path.stat().st_mtime_ns
    b = vid.prepare_video("copy of " + THROW, throw_bytes)  # the same bytes under another name
    assert b.digest == a.digest and b.folder == a.folder
    assert a.path.stat().st_mtime_ns == mtime  # not written again
    assert b.name == "copy of " + THROW and b.path.name == "copy_of_" + THROW  # stored under a safe name


def test_prepare_video_refusals_are_one_line_messages(monkeypatch, throw_bytes):
    with pytest.raises(UploadError, match="is empty"):
        vid.prepare_video("a.mp4", b"")
    with pytest.raises(UploadError, match=r"\.exe is not a video type here"):
        vid.prepare_video("a.exe", b"MZ")
    monkeypatch.setenv("STF_MAX_VIDEO_BYTES", "1000")
    with pytest.raises(UploadError, match=r"3\.7 MB, above the limit of 0\.0 MB \(STF_MAX_VIDEO_BYTES\)"):
        vid.prepare_video(THROW, throw_bytes)


def test_videos_under_the_data_root_and_which_are_stored_mirrored():
    root = need_data("action-videos")
    found = vid.find_videos()
    assert {p.name for p in found} >= {THROW, "skateboarding.mp4", "ta_chi.mp4"}
    assert len([p for p in found if p.is_relative_to(root)]) == 12  # 8 NTU RGB + 4 Kinetics clips
    assert vid.stored_mirrored(THROW) and vid.stored_mirrored("S001C001P001R001A001.mp4")
    assert not vid.stored_mirrored("skateboarding.mp4") and not vid.stored_mirrored("S001C001_rgb.avi")
    s = vid.stored_video(root / "kinetics_clips" / "ta_chi.mp4")
    assert s.name == "ta_chi.mp4" and s.digest == vid.stored_video(s.path).digest
    with pytest.raises(DataError, match="no such video file"):
        vid.stored_video(root / "nope.mp4")


def test_an_uploaded_video_is_extracted_once_and_explained_as_the_cli_does(throw_bytes):
    need_pose_environment()
    v = vid.prepare_video(THROW, throw_bytes)
    pose = vid.extract_pose(v, mirrored=True)
    assert pose.frames == pose.with_person == 77 and pose.seconds > 0
    again = vid.extract_pose(v, mirrored=True)
    assert again.path == pose.path and again.seconds is None  # found, not extracted again
    assert vid.extract_pose(v, mirrored=False).path != pose.path  # the other mirroring is a separate file
    ex = Explainer(SHIPPED)
    a = vid.analyse(ex, v, pose)
    direct = analyse_video(ex, v.path, pose.path)
    assert a.explanation.top5.names == direct.explanation.top5.names
    assert a.explanation.top5.names[0] == "throw"  # measured 83.3 % (README)
    assert a.points.shape == (77, 20, 2) and a.present.all() and a.layout == "kinect20"
    np.testing.assert_allclose(a.focus(5), direct.focus(5), atol=1e-6)
    rec = a.record(5)
    assert rec["frames_with_person"] == 77 and rec["module"] == 6 and rec["mirrored"] is True
    # another class explained: the focus changes, the prediction does not
    other = ex.class_names.index("pick up with one hand")
    b = vid.analyse(ex, v, pose, target=other)
    assert b.explanation.target_name == "pick up with one hand" and b.explanation.top5.names[0] == "throw"
    assert not np.allclose(b.focus(5), a.focus(5))


def test_a_damaged_pose_file_in_the_cache_is_extracted_again(throw_bytes):
    need_pose_environment()
    v = vid.prepare_video(THROW, throw_bytes)
    pose = vid.extract_pose(v, mirrored=True)
    pose.path.write_bytes(pose.path.read_bytes()[:300])
    fresh = vid.extract_pose(v, mirrored=True)
    assert fresh.seconds is not None and fresh.with_person == 77


def test_a_truncated_video_is_refused_naming_the_users_file(throw_bytes):
    need_pose_environment()
    v = vid.prepare_video("cut.avi", throw_bytes[:2000])
    with pytest.raises(DataError) as err:
        vid.extract_pose(v)
    assert str(err.value).startswith("cut.avi: ") and str(v.path) not in str(err.value)


def test_a_video_with_nobody_in_it_says_so(tmp_path):
    """The first 20 frames of a real NTU clip, cropped to a corner of the room where nobody stands."""
    need_pose_environment()
    src = cv2.VideoCapture(str(need_data("action-videos", "ntu_rgb", THROW)))
    out = tmp_path / "empty_room.avi"
    wr = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    for _ in range(20):
        ok, frame = src.read()
        assert ok
        wr.write(np.ascontiguousarray(frame[:240, -320:]))
    wr.release()
    src.release()
    v = vid.prepare_video("empty_room.avi", out.read_bytes())
    pose = vid.extract_pose(v)
    assert pose.frames == 20 and pose.with_person == 0
    again = vid.extract_pose(v)  # found from the first run: not extracted again (minutes on a long video)
    assert again.path == pose.path and again.seconds is None and (again.frames, again.with_person) == (20, 0)
    msg = r"^empty_room\.avi: nobody was found in any of the 20 frames of empty_room\.avi$"
    with pytest.raises(DataError, match=msg):
        vid.analyse(Explainer(SHIPPED), v, pose)


def test_hidden_files_are_not_listed_as_videos(tmp_path):
    """macOS leaves ``._<name>`` AppleDouble files next to copied videos (and the cache's half-written
    ``.<name>.part-*`` files are hidden too): they are not videos to pick."""
    import shutil

    clip = need_data("action-videos", "kinetics_clips", "ta_chi.mp4")
    shutil.copy(clip, tmp_path / "ta_chi.mp4")
    (tmp_path / "._ta_chi.mp4").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 4000)
    assert vid.find_videos(tmp_path) == [tmp_path / "ta_chi.mp4"]
