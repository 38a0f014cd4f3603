"""STF explainability app: ``streamlit run app.py``.

Pages (``pages/``): sample explorer, adjacency, confusion explorer, attributions, video, training curves,
evaluation runs. The pages lay out widgets and call :mod:`stf` (explain, viz, runs, app_support, history); they compute no
tensors themselves.

Environment: ``STF_DATA_ROOT`` (the data sets), ``STF_RUNS_DIR`` (default ``./runs``: checkpoints, run
registry, evaluation bundles), ``STF_CACHE_DIR`` (converted data sets), ``STF_MAX_UPLOAD_BYTES``,
``STF_TORCH_THREADS`` (default 1: the app shares a small CPU; one thread avoids oversubscription).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `streamlit run /elsewhere/app.py` still finds the stf package
    sys.path.insert(0, str(ROOT))


@st.cache_resource(show_spinner=False)
def _configure_torch() -> int:
    import torch

    n = int(os.environ.get("STF_TORCH_THREADS", "1") or 1)
    torch.set_num_threads(max(1, n))
    return n


_configure_torch()
st.set_page_config(page_title="STF explainability", page_icon=":material/accessibility_new:", layout="wide")

PAGES = [
    st.Page("pages/explorer.py", title="Sample explorer", icon=":material/accessibility_new:", default=True,
            url_path="explorer"),
    st.Page("pages/adjacency.py", title="Adjacency", icon=":material/hub:", url_path="adjacency"),
    st.Page("pages/confusion.py", title="Confusion explorer", icon=":material/grid_on:", url_path="confusion"),
    st.Page("pages/attributions.py", title="Attributions", icon=":material/insights:", url_path="attributions"),
    st.Page("pages/video.py", title="Video", icon=":material/movie:", url_path="video"),
    st.Page("pages/training.py", title="Training curves", icon=":material/show_chart:", url_path="training"),
    st.Page("pages/runs.py", title="Evaluation runs", icon=":material/play_circle:", url_path="runs"),
]
page = st.navigation(PAGES)
try:
    page.run()
except Exception as e:  # noqa: BLE001 - the last safety net: a one-line message, never a traceback
    from stf.runs import one_line

    st.error(f"{page.title}: {one_line(e)}", icon=":material/error:")
