"""Video: a model on a video of one's own (or one under the data root) -> the skeleton MediaPipe finds in it,
the prediction, and the focus drawn on the video's own frames."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import streamlit as st

from pages import _shared as ui
from stf.app_support import discovery as disc
from stf.app_support import video as vid
from stf.errors import ConfigError
from stf.paths import display, safe_path

st.title("Video")
st.caption("The skeleton comes from MediaPipe Pose (33 landmarks, run in its own environment) and is converted "
           "to the model's layout; the focus is drawn on the video's frames.")

picked = ui.pick_model()
if picked is None:
    st.stop()
path, ex = picked

# -- the video ------------------------------------------------------------------------------------------
found = ui.videos()
sources = ["upload", "data root"] if found else ["upload"]
src = st.sidebar.radio("Video from", sources, horizontal=True, key="video_source", persist_state="session") \
    if len(sources) > 1 else "upload"
video = None
if src == "upload":
    try:
        video_limit = vid.max_video_bytes()
    except ConfigError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    st.sidebar.caption(f"{', '.join(vid.VIDEO_TYPES)}; up to {video_limit / 1e6:.0f} MB. MediaPipe Pose "
                       "finds one person per frame; frames without one are left out of the focus.")
    f = st.sidebar.file_uploader("Video file", type=vid.VIDEO_TYPES, key="video_upload")
    if f is None:
        st.info("Upload a video in the sidebar (or pick one under the data root) to explain it.",
                icon=":material/movie:")
        st.stop()
    try:
        video = vid.prepare_video(f.name, f.getvalue())
    except Exception as e:  # noqa: BLE001 - a one-line message
        ui.error(e, f"Cannot take {f.name}")
        st.stop()
else:
    paths = [str(p) for p in found]
    idx = ui.widget_index("video_path", paths, paths[0])
    chosen = st.sidebar.selectbox(f"Video ({len(paths)})", paths, index=idx, key="video_path", persist_state="session",
                                  format_func=lambda p: f"{Path(p).name} — {Path(p).parent.name}",
                                  help="Every video file under STF_DATA_ROOT (name — its folder).")
    try:
        video = vid.stored_video(safe_path(chosen))
    except Exception as e:  # noqa: BLE001
        ui.error(e, "Cannot open this video")
        st.stop()

mirror_key = f"video_mirrored:{video.digest}"
mirrored = st.sidebar.checkbox("The video is stored mirrored", value=vid.stored_mirrored(video.name), key=mirror_key,
                               help="NTU RGB+D's RGB clips are (ticked for them by default): without it the "
                                    "skeleton's left and right are exchanged.")

problem = ui.pose_environment_problem()
if problem:
    st.warning(f"Pose extraction is not available: {problem}. Without it, extract elsewhere with "
               "`python -m stf pose VIDEO --out DIR` and upload the .pose.npz on the Sample explorer page.",
               icon=":material/warning:")
    st.stop()

try:
    with ui.timed("pose"), st.spinner(f"Finding the person in every frame of {video.name} (MediaPipe)…"):
        pose = ui.video_pose(video, mirrored)
except Exception as e:  # noqa: BLE001
    ui.error(e, f"Cannot extract a skeleton from {video.name}")
    st.stop()

names = ex.class_names
target_key = f"video_target:{video.digest}"
target = st.session_state.get(target_key)
if target is not None and target not in ["prediction", *names]:  # chosen with another model
    del st.session_state[target_key]
    target = None
try:
    with ui.timed("explain"), st.spinner("Computing the focus…"):
        a = ui.video_analysis(path, video, pose, None if target in (None, "prediction") else names.index(target))
except Exception as e:  # noqa: BLE001
    ui.error(e, f"Cannot explain {video.name}")
    st.stop()

from stf import viz  # noqa: E402 - after the cheap early exits
from stf.viz import export  # noqa: E402

e = a.explanation
k_last = len(e.focus.module) - 1
for note in e.notes:
    st.info(note, icon=":material/info:")

# -- prediction --------------------------------------------------------------------------------------------
c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
c1.metric("Prediction", e.top5.names[0], f"{100 * float(e.top5.probs[0]):.1f}% confidence", delta_color="off")
true, _ = disc.true_class(e.label, disc.upload_class_names("mediapipe", e.sample), names)
c2.metric("True class", true or "unknown",
          help="Known from the file name when the video is named as NTU RGB+D names its clips.")
c3.metric("Frames with a person", f"{int(a.present.sum())} / {len(a.present)}")
c4.metric("Skeleton extraction", "earlier run" if pose.seconds is None else f"{pose.seconds:.1f} s",
          help="MediaPipe Pose on the CPU; kept for this video (and this mirroring) afterwards.")
st.caption(f"{video.name} · model {display(path)}: layout {ex.layout}, {len(names)} classes, "
           f"epoch {ex.ckpt.get('epoch')}")

left, right = st.columns([1, 2])
with left:
    st.subheader("Top-5")
    st.dataframe({"class": e.top5.names, "probability": [float(p) for p in e.top5.probs]}, hide_index=True,
                  key="video_top5", column_config={"probability": st.column_config.ProgressColumn(
                      "probability", min_value=0.0, max_value=1.0, format="percent")})
    options = ["prediction", *names]
    st.selectbox("Focus of the class", options, key=target_key,
                 format_func=lambda c: f"the prediction ({e.top5.names[0]})" if c == "prediction" else c,
                 help="Where the model looks for this class (the overlay, heatmap and bars below).")
    module = st.radio("Module (STF-GCN-k)", list(range(1, k_last + 2)), index=k_last, horizontal=True,
                      key="video_module", persist_state="session",
                      help="Focus of the class on the output of module k, mapped to the video's frames.")
    k = module - 1
focus = a.focus(k)  # (T, V) on the video's frames
per_frame = e.focus.frame_summary(k)[a.person]  # (T,)
with right:
    st.subheader(f"Focus of “{e.target_name}”, module {module}, on the video")
    best = int(np.argmax(per_frame)) if a.present.any() else 0
    t = 0
    if len(a.present) > 1:  # a slider needs two values
        t = st.slider("Frame", 0, len(a.present) - 1, value=best, key=f"video_frame:{video.digest}",
                      help="Opens on the frame the model focuses on most (mean over joints).")
    with ui.guard("Cannot draw this frame"):
        img = export.overlay_frame(a.video, a.points, ex.layout, t, focus, present_frames=a.present, width=960,
                                   title=a.title(k))
        st.image(img, channels="BGR", width="stretch", caption="joints coloured and sized by the focus (Plasma)")

c1, c2 = st.columns(2)
with c1:
    ui.plot(viz.focus_heatmap(e.focus.original[k], ex.layout, person=a.person, valid_frames=e.focus.frames_of()[a.person],
                              title="frames × joints", height=460), key="video_heatmap",
            name=f"{video.path.stem}-heatmap-m{module}")
with c2:
    ui.plot(viz.joint_bars(e.focus.joint_summary(k), ex.layout,
                           title="per joint (mean over frames)", height=460), key="video_joints",
            name=f"{video.path.stem}-joints-m{module}")
ui.plot(viz.frame_bars(e.focus.frame_summary(k), valid_frames=e.focus.valid_frames, title="per frame (mean over joints)",
                       height=260), key="video_frames", name=f"{video.path.stem}-frames-m{module}")

# -- another model on this video (e.g. the shipped backbone: where does it look instead?) -------------------
with ui.guard("Cannot explain this video with the other model"):
    picked = ui.other_model(path, e.target_name, what="video", key="video_other", class_key="video_other_class")
    if picked is not None:
        from stf.explain import compare_models

        other, same, other_target = picked
        b = ui.video_analysis(other, video, pose, other_target)
        e2 = b.explanation
        try:
            overlap = compare_models(e.focus, e2.focus).overlaps[k]
        except Exception as err:  # noqa: BLE001 - another layout or person count: shown side by side only
            overlap = str(err)
        ui.other_model_metrics(e, e2, same, overlap, module, "video's frames")
        i1, i2 = st.columns(2)
        i1.image(export.overlay_frame(a.video, a.points, ex.layout, t, focus, present_frames=a.present,
                                      width=640, title=f"this model: {e.target_name}"), channels="BGR", width="stretch")
        k2 = min(k, len(e2.focus.module) - 1)
        i2.image(export.overlay_frame(b.video, b.points, b.layout, t, b.focus(k2), present_frames=b.present,
                                      width=640, title=f"{display(other)}: {e2.target_name}"),
                 channels="BGR", width="stretch")
        st.caption(f"Frame {t}, module {module} of both.")

if st.toggle("The extracted skeleton in 3-D", key="video_3d"):
    s = e.sample
    ui.plot(viz.skeleton_animation(s.data, ex.layout, e.focus.original[k], channels=s.channels,
                                   valid_frames=e.focus.valid_frames, person_mask=e.focus.person_mask, height=520),
            key="video_skeleton", name=f"{video.path.stem}-skeleton-m{module}")

# -- downloads --------------------------------------------------------------------------------------------
st.subheader("Export")
d1, d2, d3, d4 = st.columns(4)
stem = video.path.stem
d1.download_button("Skeleton (.pose.npz)", pose.path.read_bytes, file_name=f"{stem}.pose.npz",
                   mime="application/octet-stream", key="video_dl_pose", on_click="ignore",
                   icon=":material/download:", help="Upload it on the Sample explorer page, or `--data mediapipe:DIR`.")
d2.download_button("Focus (CSV)", lambda: export.focus_csv(focus, ex.layout, valid_frames=a.present),
                   file_name=f"{stem}-focus-module{module}.csv", mime="text/csv", key="video_dl_csv",
                   on_click="ignore", icon=":material/download:")
d3.download_button("Prediction (JSON)", lambda: json.dumps(a.record(k, display(path)), indent=2) + "\n",
                   file_name=f"{stem}-prediction.json", mime="application/json", key="video_dl_json",
                   on_click="ignore", icon=":material/download:")
with d4:
    vkey = (video.digest, str(path), e.target_name, k, mirrored)
    if st.button("Make the overlay video", key="video_make", icon=":material/movie:",
                 help="WebM (VP8), 640 pixels wide: a few seconds per 100 frames here."):
        with ui.guard("Video export failed"), st.spinner("Drawing and encoding every frame…"):
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                info = export.write_overlay_video(a.video, a.points, ex.layout, Path(tmp) / "overlay.webm", focus,
                                                  codec="vp8", width=640, present_frames=a.present,
                                                  title=a.title(k))
                st.session_state["video_overlay"] = (vkey, info.path.read_bytes())
got = st.session_state.get("video_overlay")
if got and got[0] == vkey:
    st.video(got[1], format="video/webm", loop=True)
    st.download_button("Download the overlay (WebM)", got[1], file_name=f"{stem}-focus-module{module}.webm",
                       mime="video/webm", key="video_dl_webm", on_click="ignore", icon=":material/download:")
