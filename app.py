"""STF explainability app: ``streamlit run app.py``.

Pages (``pages/``): sample explorer, adjacency, confusion explorer, attributions, video, training curves,
evaluation runs. The pages lay out widgets and call :mod:`stf` (explain, viz, runs, app_support, history); they compute no
tensors themselves.

Environment: ``STF_DATA_ROOT`` (the data sets), ``STF_RUNS_DIR`` (default ``./runs``: checkpoints, run
registry, evaluation bundles), ``STF_CACHE_DIR`` (converted data sets), ``STF_MAX_UPLOAD_BYTES``,
``STF_TORCH_THREADS`` (default 1: the app shares a small CPU; one thread avoids oversubscription).
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `streamlit run /elsewhere/app.py` still finds the stf package
    sys.path.insert(0, str(ROOT))


@st.cache_resource(show_spinner=False)
def _configure_torch() -> str | None:
    """Torch's thread count from STF_TORCH_THREADS (default 1); a message when that value is unusable."""
    import torch

    from stf.errors import ConfigError
    from stf.utils import env_number

    try:
        n, problem = env_number("STF_TORCH_THREADS", 1, int, 1), None
    except ConfigError as e:
        n, problem = 1, f"{e}; using 1 thread"
    torch.set_num_threads(n)
    return problem


thread_problem = _configure_torch()
st.set_page_config(page_title="STF explainability", page_icon=":material/accessibility_new:", layout="wide")
if thread_problem:
    st.warning(thread_problem, icon=":material/warning:")

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
