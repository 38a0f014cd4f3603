"""AppTest fixtures: a shipped-model layout (assets/tiny.pt + assets/tiny.eval/) on a small real store."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.app._data import small_store
from tests.conftest import REPO

APP = str(REPO / "app.py")
TIMEOUT = 120  # seconds per AppTest run: the machine is shared with training runs


@pytest.fixture(scope="session")
def app_env(tmp_path_factory, tiny_checkpoint, ucla_store) -> dict[str, str]:
    """Environment of a fresh clone with a shipped model: STF_ASSETS_DIR holds ``tiny.pt`` and its bundle
    ``tiny.eval/`` (evaluated on a 16-sample store in the cache dir); STF_RUNS_DIR is empty."""
    from stf.evaluate import evaluate

    root = tmp_path_factory.mktemp("appenv")
    assets, runs = root / "assets", root / "runs"
    assets.mkdir()
    runs.mkdir()
    shutil.copy(tiny_checkpoint, assets / "tiny.pt")
    small = small_store(ucla_store, Path(os.environ["STF_CACHE_DIR"]) / "ucla-small", per_split=16)
    evaluate(assets / "tiny.pt", str(small.path), "xview/test", assets / "tiny.eval", device="cpu")
    return {"STF_ASSETS_DIR": str(assets), "STF_RUNS_DIR": str(runs), "STF_APP_START_WORKER": "0",
            "SMALL_STORE": str(small.path)}


@pytest.fixture
def app(app_env, monkeypatch, tmp_path):
    """A fresh AppTest of app.py in the app environment (not yet run), with its own empty runs folder."""
    from streamlit.testing.v1 import AppTest

    for k, v in app_env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("STF_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(REPO)
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
