"""Browser-test fixtures: the shipped-model environment of the AppTest tests."""
from tests.app.conftest import app_env  # noqa: F401 - the fixture, shared
