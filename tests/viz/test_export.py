"""Exports: focus CSV, WebM (VP9) / MP4 videos that decode again, PNG through Kaleido."""
from __future__ import annotations

import csv
import io
import os
import shutil

import numpy as np
import plotly.graph_objects as go
import pytest

from stf.viz import export


def test_focus_csv(two_person, tmp_path):
    _, focus = two_person
    valid = np.zeros(50, bool)
    valid[:4] = True
    text = export.focus_csv(focus, "kinect20", tmp_path / "f.csv", valid_frames=valid, frame_ids=np.arange(50) + 100)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["frame", "joint_id", "joint_name", "person", "value"]
    assert len(rows) == 1 + 4 * 2 * 20
    assert rows[1][:4] == ["100", "0", "hip_center", "0"] and float(rows[1][4]) == pytest.approx(focus[0, 0, 0], 1e-5)
    assert rows[21][:4] == ["100", "0", "hip_center", "1"]
    assert (tmp_path / "f.csv").read_text() == text


def test_vp9_is_available():
    codecs = export.available_codecs()
    assert codecs["vp9"], f"this OpenCV build cannot write VP9 WebM: {codecs}"
    assert codecs["mp4v"]


@pytest.mark.parametrize("codec,suffix", [("vp9", ".webm"), ("mp4v", ".mp4")])
def test_video_decodes(two_person, tmp_path, codec, suffix):
    data, focus = two_person
    info = export.write_video(data, "kinect20", tmp_path / f"v{suffix}", focus, codec=codec, size=(160, 120),
                              max_frames=12, title="test")
    assert info.frames == 12 == export.count_frames(info.path) and info.size == (160, 120)
    b = export.video_bytes(data[:1, :5], "kinect20", focus[:1, :5], codec=codec, size=(96, 96))
    assert len(b) > 100


def test_render_frames_colours_joints(two_person):
    data, focus = two_person
    img = export.render_frames(data, "kinect20", focus, size=(200, 200), frames=[0, 7])
    assert img.shape == (2, 200, 200, 3) and img.dtype == np.uint8
    assert (img[0] != 255).any()
    blank = export.render_frames(np.zeros((1, 3, 20, 3)), "kinect20", None, size=(64, 64), frames=[0])
    assert blank.shape == (1, 64, 64, 3)


def _browser() -> bool:
    return bool(os.environ.get("BROWSER_PATH") or any(shutil.which(b) for b in
                                                     ("chromium", "chromium-browser", "google-chrome", "chrome")))


@pytest.mark.skipif(not _browser(), reason="no Chromium for Kaleido (CI installs Debian's chromium)")
def test_png(tmp_path):
    fig = go.Figure(go.Heatmap(z=[[0, 1], [1, 0]]))
    png = export.figure_png(fig, tmp_path / "f.png", width=200, height=150)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "f.png").read_bytes() == png


def test_png_without_browser_is_a_clear_error(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("Kaleido requires Google Chrome to be installed.")

    fig = go.Figure()
    monkeypatch.setattr(go.Figure, "to_image", boom)
    with pytest.raises(export.ExportError, match="chromium"):
        export.figure_png(fig)


# --- the overlay's frame rate on a WebM that states its timebase (1000 fps) ------------------------------

@pytest.fixture(scope="module")
def webm_from_a_real_video(tmp_path_factory):
    """40 frames of a real Kinetics clip as WebM, plain and rewritten like a browser recording."""
    from tests.conftest import need_data
    from tests.webm_util import browser_like_webm

    return browser_like_webm(need_data("action-videos", "kinetics_clips", "ta_chi.mp4"),
                             tmp_path_factory.mktemp("webm"))


def _overlay(video, out, **kw):
    points = np.full((40, 17, 2), 100.0)  # coco17 joints anywhere on the frame: only the timing matters here
    return export.write_overlay_video(video, points, "coco17", out, codec="vp8", width=160, **kw)


def test_overlay_of_a_video_stating_its_timebase_keeps_its_real_frame_rate(webm_from_a_real_video, tmp_path):
    """A WebM without a frame duration and with irregular timestamps (as browsers record) states 1000 fps
    (its timebase) to OpenCV: the overlay was written at 1000 fps and played 33x too fast; the rate now comes
    from the frames' timestamps, and the info says so."""
    import cv2

    fps, plain, browser = webm_from_a_real_video
    cap = cv2.VideoCapture(str(browser))
    stated = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert stated > 240, stated  # the problem, on this file: 1000, the WebM timebase
    info = _overlay(browser, tmp_path / "o.webm")
    assert info.frames == 40 and abs(info.fps - fps) < 0.05 * fps, (info.fps, fps)
    assert info.note and f"{stated:g} fps" in info.note and "timestamps" in info.note
    cap = cv2.VideoCapture(str(info.path))
    assert abs(cap.get(cv2.CAP_PROP_FPS) - fps) < 0.05 * fps  # the written overlay plays at the clip's rate
    cap.release()
    # a plausible stated rate is kept, without a note; an explicit fps wins
    cap = cv2.VideoCapture(str(plain))
    plain_fps = cap.get(cv2.CAP_PROP_FPS)  # 29.97: WebM keeps it rounded
    cap.release()
    info = _overlay(plain, tmp_path / "p.webm")
    assert info.fps == plain_fps and info.note is None
    info = _overlay(browser, tmp_path / "q.webm", fps=12.0)
    assert info.fps == 12.0 and info.note is None
