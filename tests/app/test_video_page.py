"""The Video page driven with AppTest on a real NTU RGB+D clip: what it shows is what stf computes directly."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stf.app_support import video as vid
from stf.explain import Explainer
from tests.app.conftest import no_exception
from tests.app.test_pages import arr, chart, metric
from tests.conftest import need_data, need_pose_environment

THROW = "S004C003P003R001A007_rgb.avi"


@pytest.fixture(scope="module")
def throw_bytes() -> bytes:
    return need_data("action-videos", "ntu_rgb", THROW).read_bytes()


def _open_with_upload(app, name: str, data: bytes):
    at = app.run()
    at.switch_page("pages/video.py").run()
    no_exception(at)
    at.sidebar.file_uploader(key="video_upload").set_value((name, data, "video/x-msvideo")).run()
    no_exception(at)
    return at


def test_an_uploaded_video_is_explained_and_drawn_frame_by_frame(app, app_env, throw_bytes):
    need_pose_environment()
    at = _open_with_upload(app, THROW, throw_bytes)
    assert not at.error, [e.value for e in at.error]
    assert at.sidebar.checkbox[0].value is True  # an NTU clip: stored mirrored
    # the same analysis computed here, without the app
    ex = Explainer(Path(app_env["STF_ASSETS_DIR"]) / "tiny.pt")
    v = vid.prepare_video(THROW, throw_bytes)
    a = vid.analyse(ex, v, vid.extract_pose(v, mirrored=True))
    e = a.explanation
    assert metric(at, "Prediction") == e.top5.names[0]
    assert metric(at, "Frames with a person") == "77 / 77"
    assert metric(at, "True class") == "throw"  # from the NTU name; NW-UCLA has a class of that name
    assert at.dataframe[0].value["class"].tolist() == e.top5.names
    per_frame = e.focus.frame_summary(5)[a.person]
    assert at.slider[0].value == int(np.argmax(per_frame))  # opens on the frame focused on most
    assert len(at.get("image")) == 1
    heat = chart(at, "video_heatmap")
    np.testing.assert_allclose(arr(heat["data"][0]["z"]), e.focus.original[5][a.person].T, atol=1e-5)
    # another frame, module and class: the heatmap follows the class and module
    at.slider[0].set_value(3).run()
    at.radio(key="video_module").set_value(2).run()
    other = next(c for c in ex.class_names if c != e.top5.names[0])
    at.selectbox(key=f"video_target:{v.digest}").set_value(other).run()
    no_exception(at)
    b = vid.analyse(ex, v, vid.extract_pose(v, mirrored=True), target=ex.class_names.index(other))
    np.testing.assert_allclose(arr(chart(at, "video_heatmap")["data"][0]["z"]),
                               b.explanation.focus.original[1][b.person].T, atol=1e-5)
    assert at.subheader[1].value == f"Focus of “{other}”, module 2, on the video"
    # downloads: the pose file as extracted, and the prediction record
    dl = {d.label: d for d in at.get("download_button")}
    assert {"Skeleton (.pose.npz)", "Focus (CSV)", "Prediction (JSON)"} <= set(dl)
    # the whole overlay video on demand
    at.button(key="video_make").click().run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("video")) == 1


def test_another_model_on_the_same_video(app, app_env, throw_bytes):
    """The same checkpoint copied under the runs folder: its prediction is the same and its focus overlaps 1.00."""
    import os
    import shutil

    need_pose_environment()
    twin = Path(os.environ["STF_RUNS_DIR"]) / "twin" / "last.pt"
    twin.parent.mkdir(parents=True)
    shutil.copy(Path(app_env["STF_ASSETS_DIR"]) / "tiny.pt", twin)
    at = _open_with_upload(app, THROW, throw_bytes)
    sb = at.selectbox(key="video_other")
    assert sb.options == ["— none —", "runs/twin/last.pt"]
    sb.set_value(str(twin.resolve())).run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert metric(at, "Its prediction") == metric(at, "Prediction")
    assert metric(at, "Focus overlap, module 6") == "1.00"
    assert len(at.get("image")) == 3  # the frame, and both models' frames side by side


def test_a_video_under_the_data_root_can_be_picked(app):
    need_pose_environment()
    at = app.run()
    at.switch_page("pages/video.py").run()
    at.sidebar.radio(key="video_source").set_value("data root").run()
    sb = at.sidebar.selectbox(key="video_path")
    assert len(sb.options) == 12
    assert "ta_chi.mp4 — kinetics_clips" in sb.options  # name — folder
    sb.set_value(str(need_data("action-videos", "kinetics_clips", "ta_chi.mp4"))).run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert at.sidebar.checkbox[0].value is False  # a Kinetics clip is not mirrored
    frames = metric(at, "Frames with a person")
    assert frames.endswith("/ 300") and int(frames.split(" / ")[0]) > 200


def test_bad_videos_are_messages_and_never_tracebacks(app, throw_bytes, monkeypatch):
    need_pose_environment()
    at = _open_with_upload(app, "cut.avi", throw_bytes[:2000])
    assert any(e.value.startswith("Cannot extract a skeleton from cut.avi: cut.avi: ") for e in at.error), \
        [e.value for e in at.error]
    # (other file types never reach the page: the uploader itself takes only vid.VIDEO_TYPES)
    monkeypatch.setenv("STF_MAX_VIDEO_BYTES", "1000")
    at.sidebar.file_uploader(key="video_upload").set_value((THROW, throw_bytes, "video/x-msvideo")).run()
    no_exception(at)
    assert any("above the limit" in e.value for e in at.error), [e.value for e in at.error]


def test_a_failed_extraction_is_shown_again_without_running_the_extractor_again(app, throw_bytes, monkeypatch,
                                                                                tmp_path):
    """A failed extraction raised out of the Streamlit cache, so every rerun of the page (any widget) ran the
    pose subprocess (seconds) again on the same bad upload; it is now remembered per upload, and another
    upload is tried."""
    import stf.pose.runner as runner

    need_pose_environment()
    calls = []
    real = runner.extract_poses

    def counting(videos, *a, **kw):
        calls.append([Path(v).name for v in videos])
        return real(videos, *a, **kw)

    monkeypatch.setattr(runner, "extract_poses", counting)
    cut = tmp_path / "cut.avi"  # a real clip cut after its first 2000 bytes: the header, no frame
    cut.write_bytes(throw_bytes[:2000])
    at = _open_with_upload(app, cut.name, cut.read_bytes())
    first = [e.value for e in at.error]
    assert any(m.startswith("Cannot extract a skeleton from cut.avi: cut.avi: ") for m in first), first
    assert calls == [["cut.avi"]]
    for _ in range(2):  # reruns: the same message, the extractor not run again
        at.run()
        no_exception(at)
        assert [e.value for e in at.error] == first
    assert len(calls) == 1, calls
    other = throw_bytes[:3000]  # another damaged upload is tried
    at.sidebar.file_uploader(key="video_upload").set_value(("cut2.avi", other, "video/x-msvideo")).run()
    no_exception(at)
    assert any(e.value.startswith("Cannot extract a skeleton from cut2.avi: ") for e in at.error), \
        [e.value for e in at.error]
    assert calls == [["cut.avi"], ["cut2.avi"]]


def test_without_a_pose_environment_the_page_says_how_to_make_one(app, throw_bytes, monkeypatch, tmp_path):
    monkeypatch.setenv("STF_POSE_PYTHON", str(tmp_path / "no-such-python"))
    at = _open_with_upload(app, THROW, throw_bytes)
    assert not at.error, [e.value for e in at.error]
    msg = " ".join(w.value for w in at.warning)
    assert "Pose extraction is not available" in msg and "requirements-pose.txt" in msg
    assert "python -m stf pose" in msg
    assert not at.get("image")

