"""Evaluation runs: queue an evaluation of a checkpoint on a data set split; follow the queue.

The runs live in an SQLite registry ($STF_RUNS_DIR/runs.sqlite) executed by `python -m stf runs worker`, a
separate process the page starts when none is alive, so reloading the page or restarting the app loses nothing.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st

from pages import _shared as ui
from stf import runs
from stf.app_support import discovery as disc
from stf.paths import display

st.title("Evaluation runs")
st.caption("Evaluate a checkpoint on a data set split. Runs are queued in "
           f"`{display(runs.default_db())}` and executed one at a time by a background worker "
           "(`python -m stf runs worker`); bundles are written to `runs/evals/<id>/`.")

with ui.guard("Cannot start a run"):
    models = ui.checkpoints()
    choices = ui.datasets()
    if not models:
        st.warning("No checkpoint found under assets/ or the runs folder.")
    elif not choices:
        st.warning(disc.data_root_status(upload=False) or "No data set found under STF_DATA_ROOT or in the cache.")
    else:
        with st.form("new_run", border=True):
            st.subheader("New run")
            c1, c2, c3 = st.columns([2, 2, 1])
            ck = c1.selectbox("Checkpoint", [str(m.path) for m in models], key="run_ckpt",
                              format_func=lambda p: next((m.label for m in models if str(m.path) == p), p))
            spec = c2.selectbox("Data set", [c.spec for c in choices], key="run_data",
                                format_func=lambda s: next((c.label for c in choices if c.spec == s), s))
            split = c3.text_input("Split", value="all", key="run_split",
                                  help="protocol/part, e.g. xview/test; a condition such as 'view=3 & frames>=30'; "
                                       "'all' for every sample")
            go = st.form_submit_button("Queue evaluation", icon=":material/play_arrow:", type="primary",
                                       key="run_submit")
        if go:
            with ui.guard("Cannot queue the run"):
                from stf.evaluate import check_evaluable

                ds = ui.store(spec)  # refuse now what the worker would fail on: another layout, other classes
                check_evaluable(ui.explainer(ck).ckpt, ds, f"data set {disc.spec_label(spec)}",
                                map_hint="runs evaluate data of the model's own layout; `python -m stf eval "
                                         "--map-layout` converts it")
                if split.strip() not in ("", "all"):
                    ds.split_indices(split.strip())  # the split exists (one-line error otherwise)
                rid = ui.submit_run(ck, spec, split.strip() or "all")
                st.success(f"Queued run {rid}.", icon=":material/schedule:")


def _fmt_t(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""


def _runs_table():
    _notice()
    alive = runs.worker_alive()
    with runs.Registry() as reg:
        rows = reg.list(limit=200)
        if not alive and not reg.readonly and any(r.status == "running" and not runs.pid_alive(r.worker_pid)
                                                  for r in rows):
            reg.recover(all_running=False)  # its worker was killed: interrupted, not "running" for ever
            rows = reg.list(limit=200)
        readonly = reg.readonly
    if readonly:
        st.warning(f"`{display(reg.path)}` is read-only: its runs are shown, none can be queued or executed.")
    pending = any(r.status in ("queued", "running") for r in rows)
    if pending and not alive and not readonly and os.environ.get("STF_APP_START_WORKER", "1") != "0":
        with ui.guard("Cannot start a worker"):  # the table is still shown
            runs.start_worker()
        alive = runs.worker_alive()
    st.caption(("A worker is running." if alive else "No worker is running (one starts when a run is queued).")
               + f" {sum(r.status == 'queued' for r in rows)} queued, "
                 f"{sum(r.status == 'running' for r in rows)} running.")
    if not rows:
        st.info("No run yet.")
        return False
    data = [{"id": r.id, "status": r.status, "progress": r.progress,
             "samples": f"{r.done}/{r.total}" if r.total else "",
             "checkpoint": display(r.checkpoint), "data": disc.spec_label(r.data), "split": r.split,
             "created": _fmt_t(r.created), "seconds": None if r.elapsed is None else round(r.elapsed, 1),
             "error": r.error or "", "bundle": display(r.bundle) if r.bundle else ""} for r in rows]
    st.dataframe(data, hide_index=True, key="runs_table",
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0,
                                                                             max_value=1.0, format="percent")})
    for r in rows:
        if r.status == "failed":
            st.error(f"Run {r.id} failed: {r.error}", icon=":material/error:")
    done = [r for r in rows if r.status == "done" and r.bundle]
    if done:
        st.subheader("Finished runs")
        for r in done[:20]:
            c1, c2, c3 = st.columns([4, 1, 1])
            c1.markdown(f"**Run {r.id}**: {display(r.checkpoint)} on `{disc.spec_label(r.data)}` [{r.split}]")
            if not (Path(r.bundle) / "metrics.json").is_file():
                c2.caption("bundle removed")
                continue
            if c2.button("Confusion explorer", key=f"open_{r.id}", icon=":material/grid_on:"):
                st.session_state["bundle_path"] = r.bundle
                st.switch_page("pages/confusion.py")
            with ui.guard():
                c3.download_button("Bundle (zip)", lambda b=r.bundle: disc.bundle_zip(b), file_name=f"eval-run-{r.id}.zip",
                                   mime="application/zip", key=f"zip_{r.id}", on_click="ignore",
                                   icon=":material/download:")
    queued = [r for r in rows if r.status == "queued"]
    if queued:
        c1, c2 = st.columns([3, 1])
        rid = c1.selectbox("Cancel a queued run", [r.id for r in queued], key="cancel_id")
        # the run shown when the button was drawn: by the click, a worker may have taken it and the list changed
        c2.button("Cancel", key="cancel", on_click=_cancel, args=(rid,))
    return pending


def _cancel(rid: int) -> None:
    try:
        with runs.Registry() as reg:
            removed = reg.cancel(rid)
    except Exception as e:  # noqa: BLE001 - a callback's error would be a traceback
        notice = ("error", f"Cannot cancel run {rid}: {runs.one_line(e)}")
    else:
        notice = ("success", f"Cancelled run {rid}.") if removed else \
            ("warning", f"Run {rid} was not cancelled: it is no longer queued (a worker has taken it; a running run "
                        "cannot be cancelled).")
    st.session_state["runs_notice"] = (*notice, time.time())


def _notice() -> None:
    """The outcome of the last Cancel, for 10 s (the live table redraws every 2 s)."""
    kind, msg, t = st.session_state.get("runs_notice") or (None, None, 0.0)
    if time.time() - t < 10:
        {"success": st.success, "warning": st.warning}.get(kind, st.error)(msg)


@st.fragment(run_every=2.0)
def live_table():
    """Refreshed every 2 s while runs are queued or running; a full rerun when the last one ends."""
    with ui.guard("Cannot read the run registry"):
        if not _runs_table():
            st.rerun()


def _pending() -> bool:
    with runs.Registry() as reg:
        return bool(reg.list(status="queued", limit=1) or reg.list(status="running", limit=1))


st.subheader("Runs")
with ui.guard("Cannot read the run registry"):
    if _pending():
        live_table()
    else:
        _runs_table()
        st.button("Refresh", key="refresh", icon=":material/refresh:")
