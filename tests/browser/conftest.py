"""Browser-test fixtures: the app as a newcomer gets it, on the shipped model and its evaluation bundle.

The AppTest tests run on the tiny checkpoint (fast); the browser test, whose screenshots are the README's,
runs on what a fresh clone ships in ``assets/`` (the real model, evaluated on all 464 view-3 samples).
"""
import pytest

from tests.app.conftest import app_env  # noqa: F401 - the fixture, shared
from tests.conftest import REPO


@pytest.fixture(scope="module")
def shipped_env(app_env):  # noqa: F811 - uses the shared fixture
    """``app_env`` with the repository's own ``assets/`` instead of the tiny model; ``BUNDLE`` is its bundle."""
    assets = REPO / "assets"
    bundles = sorted(assets.glob("*.eval"))
    assert bundles, f"no shipped evaluation bundle in {assets}"
    env = {k: v for k, v in app_env.items() if k != "STF_ASSETS_DIR"}
    env.update(STF_ASSETS_DIR=str(assets), BUNDLE=str(bundles[0]))
    return env
