"""Training curves: the per-epoch log of shipped models (from their checkpoints) and of runs under the runs
folder (their log.jsonl, re-read whenever it changes, so a training in progress can be followed)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _shared as ui
from stf.paths import display

st.title("Training curves")
st.caption("Every loss term, top-1, learning rate and the cosine between train-mode and eval-mode focus on a fixed "
           "probe batch, per epoch. Shipped models carry their log in the checkpoint; runs under the runs folder "
           "are read from their log.jsonl, written after every epoch. The dotted line marks where a run's focus "
           "losses switch on (after the warm-up); a backbone has L_cls only.")

if st.button("Reload", key="train_reload", icon=":material/refresh:",
             help="Look for new runs and re-read the logs (a log is also re-read whenever the page runs)."):
    ui.refresh_history_sources()
sources = [str(p) for p in ui.history_sources()]
if not sources:
    st.info("No checkpoint or training run found. Train one with `python -m stf train --config CONFIG`; "
            "its folder under the runs folder appears here.", icon=":material/info:")
    st.stop()
default = [p for p in sources[:2]]
chosen = st.multiselect("Runs", sources, default=default, format_func=display, key="train_runs",
                        help="Shipped checkpoints first, then run folders (newest first).")
if not chosen:
    st.info("Choose one or more runs.", icon=":material/info:")
    st.stop()

histories = []
for p in chosen:
    try:
        h = ui.history(p)
    except Exception as err:  # noqa: BLE001 - one unreadable run does not hide the others
        ui.error(err, f"Cannot read {display(p)}")
        continue
    if not h.entries:
        st.warning(f"{display(p)}: no epoch logged yet.", icon=":material/hourglass_empty:")
        continue
    histories.append(h)
if not histories:
    st.stop()

from stf import viz  # noqa: E402

for h in histories:
    bad = h.non_finite()
    if bad:
        st.warning(f"{h.name}: non-finite values from epoch {bad[0][0]} on "
                   f"({', '.join(sorted({k for _, k in bad}))}): the run diverged.", icon=":material/warning:")
running = [h for h in histories if not h.finished]
if running:
    st.info("; ".join(f"{h.name}: {len(h.entries)} of {h.planned_epochs or '?'} epochs logged" for h in running)
            + " (in progress, or stopped: `--resume` continues it). Reload to see new epochs.",
            icon=":material/hourglass_top:")

ui.plot(viz.training_curves_figure(histories), key="train_curves", name="training_curves")

st.subheader("Summary")
summary = pd.DataFrame([h.summary() for h in histories]).dropna(axis=1, how="all")  # e.g. no evaluation split
st.dataframe(summary, hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.3f" if c.startswith("L_") or c == "focus cosine"
                                                             else "%.1f")
                            for c in summary.columns if c not in ("run", "epochs", "eval split")})
rows = [r for h in histories for r in h.rows()]
st.download_button("Per-epoch log (CSV)", pd.DataFrame(rows).to_csv(index=False).encode(), "training_log.csv",
                   "text/csv", key="train_csv", icon=":material/download:")

with_modules = [h for h in histories if h.per_module_cosine().size]
if with_modules:
    st.subheader("Focus cosine per module")
    st.caption("How far the focus the losses shape in training (train mode: BatchNorm batch statistics) is from "
               "the focus shown for one sample (eval mode), per module: 1 = the same map.")
    names = [h.name for h in with_modules]
    pick = st.selectbox("Run", range(len(names)), format_func=lambda i: names[i], key="train_cos_run") \
        if len(names) > 1 else 0
    ui.plot(viz.focus_cosine_figure(with_modules[pick]), key="train_cos", name="focus_cosine")
missing = [h.name for h in histories if not h.per_module_cosine().size]
if missing:
    st.caption(f"No per-module cosine in the log of {', '.join(missing)} (written by an older version).")
