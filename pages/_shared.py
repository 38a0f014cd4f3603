"""Streamlit helpers shared by the pages: caches, the model / sample picker, error guard, exports.

Only widgets and caching here: models, data, focus and figures come from :mod:`stf`.
"""
from __future__ import annotations

import hashlib
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from stf.app_support import discovery as disc
from stf.errors import ConfigError
from stf.paths import display, safe_path
from stf.runs import one_line


# -- errors ----------------------------------------------------------------------------------------
#: the most frames a skeleton video export draws (evenly spaced beyond)
VIDEO_MAX_FRAMES = 300


@contextmanager
def guard(what: str | None = None):
    """Show any error of the block as a one-line ``st.error`` (Streamlit's rerun / stop pass through)."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - every error becomes a message, never a traceback
        st.error(f"{what}: {one_line(e)}" if what else one_line(e), icon=":material/error:")


def error(e: BaseException | str, what: str | None = None) -> None:
    msg = e if isinstance(e, str) else one_line(e)
    st.error(f"{what}: {msg}" if what else msg, icon=":material/error:")


# -- caches ----------------------------------------------------------------------------------------
def _mtime(path: str | Path) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _explainer(path: str, mtime: float):
    from stf.explain import Explainer

    return Explainer(path)


def explainer(path: str | Path):
    p = safe_path(path)
    return _explainer(str(p), _mtime(p))


@st.cache_resource(show_spinner="Opening the data set (converted once, then cached)…", max_entries=8)
def _store(spec: str):
    from stf.data import open_dataset

    return open_dataset(spec)


def store(spec: str):
    """The data set ``spec`` (a converted directory or FORMAT:PATH), only from under the allowed roots."""
    from stf.data.resolve import source_path

    fmt, path = disc.parse_spec(spec)
    safe_path(path if fmt is None else source_path(path))
    return _store(spec)


@st.cache_resource(show_spinner=False, max_entries=16)
def _bundle(path: str, mtime: float):
    from stf.evaluate import load_bundle

    return load_bundle(path)


def bundle(path: str | Path):
    p = safe_path(path)
    return _bundle(str(p), _mtime(p / "metrics.json"))


def _roots() -> tuple[str, ...]:
    """The configured folders: part of every discovery cache key (tests and users may change them)."""
    from stf.data.resolve import cache_dir, data_root
    from stf.paths import assets_dir, runs_dir

    return (str(assets_dir()), str(runs_dir()), str(data_root()), str(cache_dir()))


@st.cache_data(ttl=10, show_spinner=False)
def _checkpoints(roots) -> list[disc.ModelRef]:
    return disc.find_checkpoints()


def checkpoints() -> list[disc.ModelRef]:
    return _checkpoints(_roots())


@st.cache_data(ttl=5, show_spinner=False)
def _bundles_for(path: str, mtime: float, roots) -> list[disc.BundleRef]:
    return disc.bundles_for(path)


def bundles_for(path: str, mtime: float) -> list[disc.BundleRef]:
    return _bundles_for(path, mtime, _roots())


@st.cache_data(ttl=10, show_spinner=False)
def _datasets(roots) -> list[disc.DataChoice]:
    return disc.find_datasets()


def datasets() -> list[disc.DataChoice]:
    return _datasets(_roots())


def warn_registry(area=st) -> None:
    """A warning, not an error, when the run registry cannot be read: its runs' bundles are left out."""
    msg = disc.registry_problem()
    if msg:
        area.warning(f"Bundles of evaluation runs are left out: {msg}", icon=":material/warning:")


@st.cache_data(ttl=5, show_spinner=False)
def _all_bundles(roots) -> list[disc.BundleRef]:
    return disc.all_bundles()


def all_bundles() -> list[disc.BundleRef]:
    return _all_bundles(_roots())


@st.cache_data(ttl=5, show_spinner=False)
def _history_sources(roots) -> list[Path]:
    from stf.history import find_histories

    return find_histories()


def history_sources() -> list[Path]:
    """Shipped checkpoints, then run folders with a ``log.jsonl`` (newest first), then other checkpoints."""
    return _history_sources(_roots())


def refresh_history_sources() -> None:
    _history_sources.clear()


@st.cache_resource(show_spinner="Reading the training log…", max_entries=32)
def _history(path: str, mtime: float):
    from stf.history import load_history

    return load_history(path)


def history(path: str | Path):
    """The :class:`stf.history.TrainingHistory` of a run folder or checkpoint; re-read when its log changes."""
    from stf.history import LOG_NAME

    p = safe_path(path)
    return _history(str(p), _mtime(p / LOG_NAME if p.is_dir() else p))


@st.cache_resource(show_spinner="Computing the focus…", max_entries=64)
def _explanation(ckpt: str, mtime: float, key: str, _sample, target: int | None):
    return _explainer(ckpt, mtime).explain(_sample, target)


def explanation(ckpt: str | Path, key: str, sample, target: int | None = None):
    """The cached explanation of ``sample`` (identified by ``key``) with checkpoint ``ckpt``."""
    p = safe_path(ckpt)
    return _explanation(str(p), _mtime(p), key, sample, target)


def explained_sample(hint: bool = False):
    """The sidebar's sample and its explanation, or stop the page (with a hint or the error as a message)."""
    sel = pick_sample()
    if sel is None or sel.sample is None:
        if hint and sel is None:
            st.caption("Choose a model and a sample in the sidebar.")
        st.stop()
    try:
        with timed("explain"):
            e = explanation(sel.model, sel.key, sel.sample)
    except Exception as err:  # noqa: BLE001 - shown as a one-line message
        error(err, "Cannot explain this sample")
        st.stop()
    return sel, e


@st.cache_resource(show_spinner="Reading the upload…", max_entries=8)
def _upload(digest: str, name: str, _data: bytes, fmt: str | None, layout: str | None):
    from stf.app_support.upload import read_upload

    return read_upload(name, _data, fmt, layout)


# -- videos (stf.app_support.video) -------------------------------------------------------------------
@st.cache_data(ttl=300, show_spinner="Checking the pose environment…")
def _pose_environment_problem(configured: str) -> str | None:
    from stf.pose.runner import PoseUnavailable, check_pose_environment

    try:
        check_pose_environment()
    except PoseUnavailable as e:
        return str(e)
    return None


def pose_environment_problem() -> str | None:
    """None when the pose extractor can run, else the one-line reason (and how to set it up)."""
    return _pose_environment_problem(os.environ.get("STF_POSE_PYTHON", ""))


@st.cache_data(ttl=10, show_spinner=False)
def _videos(roots) -> list[Path]:
    from stf.app_support.video import find_videos

    return find_videos()


def videos() -> list[Path]:
    """Video files under the data root (looked up again after 10 s: a large data root is walked once)."""
    return _videos(_roots())


@st.cache_resource(show_spinner=False, max_entries=16)
def _video_pose(digest: str, mirrored: bool, _video):
    from stf.app_support.video import extract_pose

    return extract_pose(_video, mirrored)


#: the most failed extractions a session remembers (one per video and mirroring)
POSE_FAILURES_KEPT = 16


def video_pose(video, mirrored: bool):
    """The stored video's pose (extracted once per video and ``mirrored``; a subprocess in the pose environment).

    A failed extraction is not cached by Streamlit (it raised): it is remembered in the session, per video
    (its digest: the upload's content hash) and ``mirrored``, and raised again on later reruns without
    running the extractor (seconds) again; another upload, or the other mirroring, is tried."""
    key = (video.digest, bool(mirrored))
    failed = st.session_state.setdefault("video_pose_failed", {})
    if key in failed:
        raise failed[key].with_traceback(None)
    try:
        p = _video_pose(video.digest, bool(mirrored), video)
        if not p.path.is_file():  # the cache folder was emptied since
            _video_pose.clear()
            p = _video_pose(video.digest, bool(mirrored), video)
    except Exception as e:  # Streamlit's stop / rerun are BaseExceptions: they pass
        failed[key] = e
        while len(failed) > POSE_FAILURES_KEPT:
            failed.pop(next(iter(failed)))
        raise
    return p


@st.cache_resource(show_spinner=False, max_entries=16)
def _video_analysis(ckpt: str, mtime: float, digest: str, pose: str, target: int | None, _video, _pose):
    from stf.app_support.video import analyse

    return analyse(_explainer(ckpt, mtime), _video, _pose, target)


def video_analysis(ckpt: str | Path, video, pose, target: int | None = None):
    """The cached :class:`stf.explain.video.VideoAnalysis` of a stored video with checkpoint ``ckpt``."""
    p = safe_path(ckpt)
    return _video_analysis(str(p), _mtime(p), video.digest, str(pose.path), target, video, pose)


# -- the model and sample picker ---------------------------------------------------------------------
@dataclass
class Selection:
    """What the sidebar picked: a model and one sample (from a data set or an upload)."""

    model: str  # resolved checkpoint path
    explainer: Any
    source: str  # "data set" | "upload"
    sample: Any = None  # stf.sample.Sample
    key: str = ""  # cache key of the sample
    spec: str | None = None
    split: str | None = None
    store: Any = None
    bundle_ref: disc.BundleRef | None = None
    bundle: Any = None
    table: Any = None  # sample table (pandas) of the split
    notes: list[str] = field(default_factory=list)
    data_class_names: list[str] | None = None  # the class list the sample's label indexes (None: the model's)


def widget_index(key: str, options: list, default) -> int:
    """Drop a remembered value that is no longer an option; return the index of ``default`` (the widget's
    default, so a value bound to the URL and the default agree). A value handed over by another page
    (``st.session_state["goto"]``, e.g. the confusion explorer's "Explore") replaces both."""
    goto = st.session_state.get("goto") or {}
    if key in goto:
        wanted = goto.pop(key)
        if wanted in options:
            st.session_state.pop(key, None)
            return options.index(wanted)
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    return options.index(default) if default in options else 0


def pick_model() -> tuple[str, Any] | None:
    models = checkpoints()
    if not models:
        st.sidebar.error("No model found. Put a checkpoint under assets/ (the shipped one) or build the tiny "
                         "one: `python -m stf tiny-checkpoint --out runs/tiny`.")
        return None
    paths = [str(m.path) for m in models]
    labels = {str(m.path): m.label for m in models}
    idx = widget_index("model", paths, paths[0])
    path = st.sidebar.selectbox("Model", paths, index=idx, format_func=lambda p: labels.get(p, display(p)), key="model",
                                bind="query-params", persist_state="session")
    try:
        ex = explainer(path)
    except Exception as e:  # noqa: BLE001
        error(e, "Cannot load this model")
        return None
    st.sidebar.caption(f"layout {ex.layout}, {len(ex.class_names)} classes, {ex.persons} person(s), "
                       f"epoch {ex.ckpt.get('epoch')}")
    return path, ex


def pick_sample(allow_upload: bool = True, filters: bool = True) -> Selection | None:
    """The sidebar: model, then a data-set sample (with filters) or an uploaded file. None when nothing is
    chosen yet (a message says why)."""
    picked = pick_model()
    if picked is None:
        return None
    path, ex = picked
    status = disc.data_root_status()
    choices = datasets()
    sources = ["data set", "upload"] if allow_upload else ["data set"]
    if not choices and allow_upload:
        sources = ["upload"]
    if status:
        st.sidebar.info(status, icon=":material/info:")
    if len(sources) > 1:
        src = st.sidebar.radio("Sample from", sources, index=1 if status else 0, horizontal=True, key="source",
                               persist_state="session")
    else:
        src = sources[0]
    if src == "upload":
        return _pick_upload(path, ex)
    if not choices:
        st.sidebar.warning("No data set found under STF_DATA_ROOT or in the cache.")
        return None
    return _pick_from_dataset(path, ex, choices, filters)


def _pick_from_dataset(path: str, ex, choices: list[disc.DataChoice], filters: bool) -> Selection | None:
    refs = bundles_for(path, _mtime(path))
    warn_registry(st.sidebar)
    specs = [c.spec for c in choices]
    labels = {c.spec: c.label for c in choices}
    default_spec = next((r.data for r in refs if r.data in specs), specs[0])
    idx = widget_index("data", specs, default_spec)
    spec = st.sidebar.selectbox("Data set", specs, index=idx, format_func=lambda s: labels.get(s, s), key="data",
                                bind="query-params", persist_state="session")
    try:
        ds = store(spec)
    except Exception as e:  # noqa: BLE001
        error(e, "Cannot open this data set")
        return None
    splits = ds.split_names() + ["all"]
    # splits named by an expression (stf.data.splits) appear once a model has an evaluation on one
    splits += sorted({r.split for r in refs if r.data == spec and r.split and r.split not in splits})
    default_split = next((r.split for r in refs if r.data == spec and r.split in splits), splits[0])
    idx = widget_index("split", splits, default_split)
    split = st.sidebar.selectbox("Split", splits, index=idx, key="split", bind="query-params",
                                 persist_state="session")
    ref = disc.bundle_for_data(refs, spec, split, ds.path)
    b = None
    if ref is not None:
        try:
            b = bundle(ref.path)
            st.sidebar.caption(f"Predictions from the evaluation {display(ref.path)}"
                               + ("" if ref.top1 is None else f" (top-1 {100 * ref.top1:.1f}%)"))
        except Exception as e:  # noqa: BLE001
            error(e, "Cannot read the evaluation bundle")
    else:
        _offer_evaluation(path, spec, split)
    table = disc.sample_table(ds, split, b)
    if filters:
        table = _filter_widgets(table, ds.class_names, b is not None)
    if table.empty:
        st.sidebar.warning("No sample matches the filters.")
        return Selection(model=path, explainer=ex, source="data set", data_class_names=list(ds.class_names),
                         spec=spec, split=split, store=ds,
                         bundle_ref=ref, bundle=b, table=table)
    ids = table["id"].tolist()
    info = {r.id: r for r in table.itertuples()}

    def fmt(sid: str) -> str:
        r = info.get(sid)
        if r is None or r.pred is None:
            return f"{sid} — {r.true if r is not None else ''}"
        mark = "" if r.correct is None else "✓" if r.correct else "✗"
        return f"{sid} — {r.true} → {r.pred} {mark} ({100 * r.confidence:.0f}%)"

    idx = widget_index("sample", ids, ids[0])
    sid = st.sidebar.selectbox(f"Sample ({len(ids)})", ids, index=idx, format_func=fmt, key="sample",
                               bind="query-params", persist_state="session")
    sample = ds.get(ds.position(sid))
    return Selection(model=path, explainer=ex, source="data set", data_class_names=list(ds.class_names),
                     sample=sample, key=f"{ds.path}#{sid}", spec=spec,
                     split=split, store=ds, bundle_ref=ref, bundle=b, table=table)


def _filter_widgets(table, class_names: list[str], have_preds: bool):
    with st.sidebar.expander("Filter samples", expanded=False):
        true = st.multiselect("True class", class_names, key="f_true", persist_state="session")
        if have_preds:
            pred = st.multiselect("Predicted class", class_names, key="f_pred", persist_state="session")
            corr = st.radio("Prediction", ["all", "correct", "incorrect"], horizontal=True, key="f_correct",
                            persist_state="session")
            conf = st.slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.05, key="f_conf", persist_state="session")
        else:
            pred, corr, conf = (), "all", (0.0, 1.0)
            st.caption("Predicted class, correctness and confidence need an evaluation of this split.")
    return disc.filter_samples(table, true=true, pred=pred, correctness=corr, confidence=tuple(conf))


def _offer_evaluation(path: str, spec: str, split: str) -> None:
    st.sidebar.info("No evaluation of this model on this split yet: predictions, filters by prediction and "
                    "confidence need one.", icon=":material/info:")
    if st.sidebar.button("Start an evaluation run", key="start_eval", icon=":material/play_arrow:"):
        with guard("Cannot queue the run"):
            rid = submit_run(path, spec, split)
            st.sidebar.success(f"Queued run {rid}; follow it on the Evaluation runs page.")


def submit_run(checkpoint: str, spec: str, split: str) -> int:
    """Queue an evaluation run and make sure a worker is alive (unless STF_APP_START_WORKER=0)."""
    from stf import runs

    safe_path(checkpoint)
    with runs.Registry() as reg:
        rid = reg.submit(checkpoint, spec, split)
    if os.environ.get("STF_APP_START_WORKER", "1") != "0":
        runs.start_worker()
    return rid


def _pick_upload(path: str, ex) -> Selection | None:
    from stf.app_support.upload import FORMAT_HELP, UPLOAD_TYPES, max_upload_bytes
    from stf.layouts import LAYOUTS

    try:
        limit = max_upload_bytes()
    except ConfigError as e:
        st.sidebar.error(str(e), icon=":material/error:")
        return None
    st.sidebar.caption(f"Any supported format; up to {limit / 1e6:.0f} MB. This model needs layout "
                       f"{ex.layout} ({ex.channels}); other layouts are converted where a mapping exists.")
    f = st.sidebar.file_uploader("Skeleton file", type=UPLOAD_TYPES, key="upload")
    fmts = ["auto"] + list(FORMAT_HELP)
    fmt = st.sidebar.selectbox("Format", fmts, key="upload_fmt",
                               format_func=lambda k: "detect from the file" if k == "auto" else f"{k}: {FORMAT_HELP[k]}")
    layout = None
    if fmt == "npy" or (f is not None and f.name.lower().endswith(".npy")):
        names = sorted(LAYOUTS)
        layout = st.sidebar.selectbox("Layout of the array", names,
                                      index=names.index(ex.layout) if ex.layout in names else 0, key="upload_layout")
    if f is None:
        st.info("Upload a skeleton file in the sidebar to explain it.", icon=":material/upload_file:")
        return None
    data = f.getvalue()
    digest = hashlib.sha1(data).hexdigest()
    try:
        samples, used = _upload(digest, f.name, data, None if fmt == "auto" else fmt, layout)
    except Exception as e:  # noqa: BLE001
        error(e, f"Cannot read {f.name}")
        return None
    i = 0
    if len(samples) > 1:
        i = st.sidebar.selectbox(f"Sample in the file ({len(samples)})", range(len(samples)), key="upload_index",
                                 format_func=lambda j: samples[j].sample_id or f"#{j}")
    s = samples[i]
    return Selection(model=path, explainer=ex, source="upload", sample=s, key=f"upload:{digest}:{used}:{layout}:{i}",
                     notes=[f"Uploaded {f.name}, read as {used}."], data_class_names=disc.upload_class_names(used, s))


# -- another model beside this one (explorer, video) ---------------------------------------------------------
def other_model(current: str, target_name: str, *, what: str, key: str, class_key: str):
    """The "Another model on this …" picker: None, or ``(path, same, target)`` where ``same`` is the class
    ``target_name``'s index among the other model's classes (None when it has none) and ``target`` the class
    its focus is asked for (None: its own prediction). Loading the model may raise: call it inside ``guard``."""
    others = [m for m in checkpoints() if str(m.path) != str(current)]
    if not others:
        return None
    st.subheader(f"Another model on this {what}")
    labels = {str(m.path): m.label for m in others}
    other = st.selectbox("Compare with model", ["none", *labels], key=key,
                         format_func=lambda p: "— none —" if p == "none" else labels.get(p, display(p)))
    if other == "none":
        return None
    names = explainer(other).class_names
    same = names.index(target_name) if target_name in names else None
    kinds = ["its own prediction"] if same is None else ["the same class", "its own prediction"]
    which = st.radio("Its focus of", kinds, horizontal=True, key=class_key,
                     help=f"The same class: where the other model looks for “{target_name}”.")
    return other, same, (same if which == "the same class" else None)


def other_model_metrics(e, e2, same: int | None, overlap: float | str, module: int, frames: str) -> None:
    """Its prediction, its probability of this model's class, and the focus overlap (a str: why there is none)."""
    o1, o2, o3 = st.columns(3)
    o1.metric("Its prediction", e2.top5.names[0], f"{100 * float(e2.top5.probs[0]):.1f}% confidence",
              delta_color="off")
    if same is not None:
        o2.metric(f"Its P({e.target_name})", f"{100 * float(e2.probabilities[same]):.1f}%")
    if isinstance(overlap, str):
        o3.caption(f"No overlap: {overlap}")
    else:
        o3.metric(f"Focus overlap, module {module}", f"{overlap:.2f}",
                  help=f"L_d formula on the {frames}: 0 disjoint, 1 identical.")


# -- small layout helpers ------------------------------------------------------------------------------
PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def plot(fig, key: str, name: str | None = None, **kw):
    """``st.plotly_chart`` with a PNG button in the figure's toolbar (file name ``name``)."""
    cfg = dict(PLOT_CONFIG)
    cfg["toImageButtonOptions"] = dict(cfg["toImageButtonOptions"], filename=name or key)
    return st.plotly_chart(fig, key=key, config=cfg, **kw)


def timed(label: str):
    """Context manager recording the seconds of a block into ``st.session_state['timings'][label]``."""
    @contextmanager
    def cm():
        t0 = time.perf_counter()
        yield
        st.session_state.setdefault("timings", {})[label] = time.perf_counter() - t0
    return cm()


# -- exports ---------------------------------------------------------------------------------------------------
def exports(e, k: int, person: int, sample_id: str, figs: dict) -> None:
    """Export section of a sample: figure PNG (Kaleido), focus CSV, skeleton video (WebM in the page, MP4)."""
    from stf.viz import export

    lay = e.sample.layout
    st.subheader("Export")
    st.caption("Every figure also has a PNG button in its toolbar (camera icon), drawn by the browser.")
    c1, c2, c3 = st.columns(3)
    with c1:
        st.markdown("**Focus map (CSV)**")
        st.download_button("Download CSV", lambda: export.focus_csv(e.focus.original[k], lay,
                                                                    valid_frames=e.focus.valid_frames),
                           file_name=f"{sample_id}-focus-module{k + 1}.csv", mime="text/csv", key="dl_csv",
                           on_click="ignore", icon=":material/download:")
        st.caption("frame, joint_id, joint_name, person, value (0-based ids; valid frames only).")
    with c2:
        st.markdown("**Figure (PNG)**")
        which = st.selectbox("Figure", list(figs), key="png_fig", label_visibility="collapsed")
        pkey = ("png", sample_id, k, which)
        if st.button("Render PNG", key="png_make", icon=":material/image:"):
            with guard("PNG export failed"), st.spinner("Rendering…"):
                st.session_state["png"] = (pkey, export.figure_png(figs[which], width=1000, height=700))
        got = st.session_state.get("png")
        if got and got[0] == pkey:
            st.download_button("Download PNG", got[1], file_name=f"{sample_id}-{which}-module{k + 1}.png",
                               mime="image/png", key="dl_png", on_click="ignore", icon=":material/download:")
    with c3:
        st.markdown("**Skeleton video**")
        vkey = ("video", sample_id, k, id(e))
        if st.button("Make video", key="video_make", icon=":material/movie:"):
            with guard("Video export failed"), st.spinner("Drawing the frames…"):
                # at most VIDEO_MAX_FRAMES evenly spaced frames (every NTU / Kinetics clip fits); VP8 for the
                # page: 5x faster to write than VP9 (2000 frames took 58 s in VP9)
                kw = dict(channels=e.sample.channels, valid_frames=e.focus.valid_frames, max_frames=VIDEO_MAX_FRAMES,
                          title=f"{sample_id}: {e.target_name}, module {k + 1}")
                webm = export.video_bytes(e.sample.data, lay, e.focus.original[k], codec="vp8", **kw)
                mp4 = export.video_bytes(e.sample.data, lay, e.focus.original[k], codec="mp4v", **kw)
                st.session_state["video"] = (vkey, webm, mp4)
        if int(e.focus.valid_frames.sum()) > VIDEO_MAX_FRAMES:
            st.caption(f"The video shows {VIDEO_MAX_FRAMES} evenly spaced frames of the "
                       f"{int(e.focus.valid_frames.sum())}.")
        got = st.session_state.get("video")
        if got and got[0] == vkey:
            st.video(got[1], format="video/webm", loop=True)
            st.download_button("Download MP4", got[2], file_name=f"{sample_id}-focus-module{k + 1}.mp4",
                               mime="video/mp4", key="dl_mp4", on_click="ignore", icon=":material/download:")
            st.download_button("Download WebM", got[1], file_name=f"{sample_id}-focus-module{k + 1}.webm",
                               mime="video/webm", key="dl_webm", on_click="ignore", icon=":material/download:")
        else:
            st.caption("WebM (VP8) plays here; MP4 (mp4v) is offered as a download for desktop players.")
