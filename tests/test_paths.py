"""Path safety: only files under the allowed roots, symlinks and ``..`` resolved first."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from stf.paths import UnsafePathError, allowed_roots, display, safe_path


@pytest.fixture
def roots(tmp_path, monkeypatch):
    for name in ("assets", "runs", "data", "cache", "outside"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("STF_ASSETS_DIR", str(tmp_path / "assets"))
    monkeypatch.setenv("STF_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("STF_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("STF_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "outside" / "secret.pt").write_bytes(b"x")
    (tmp_path / "runs" / "model.pt").write_bytes(b"x")
    return tmp_path


def test_files_under_each_root_are_allowed(roots):
    assert set(allowed_roots()) == {"assets", "runs", "data", "cache"}
    for name in ("assets", "runs", "data", "cache"):
        f = roots / name / "f.bin"
        f.write_bytes(b"x")
        assert safe_path(f) == f.resolve()
    assert display(roots / "runs" / "model.pt") == "runs/model.pt"


def test_dotdot_escape_is_refused(roots):
    sneaky = roots / "runs" / ".." / "outside" / "secret.pt"
    assert sneaky.exists()
    with pytest.raises(UnsafePathError, match="outside the allowed folders"):
        safe_path(sneaky)
    with pytest.raises(UnsafePathError):
        safe_path("/etc/passwd")


def test_symlink_escape_is_refused(roots):
    link = roots / "runs" / "escape.pt"
    link.symlink_to(roots / "outside" / "secret.pt")
    with pytest.raises(UnsafePathError, match="outside the allowed folders"):
        safe_path(link)
    dlink = roots / "assets" / "elsewhere"
    dlink.symlink_to(roots / "outside", target_is_directory=True)
    with pytest.raises(UnsafePathError):
        safe_path(dlink / "secret.pt")


def test_symlink_inside_the_roots_is_fine(roots):
    link = roots / "assets" / "alias.pt"
    link.symlink_to(roots / "runs" / "model.pt")
    assert safe_path(link) == (roots / "runs" / "model.pt").resolve()


def test_missing_file_and_symlink_loop(roots):
    with pytest.raises(UnsafePathError, match="no such file"):
        safe_path(roots / "runs" / "nope.pt")
    loop = roots / "runs" / "loop"
    os.symlink(loop, loop)
    with pytest.raises(UnsafePathError):
        safe_path(loop)


def test_unset_data_root_is_not_a_root(roots, monkeypatch):
    monkeypatch.delenv("STF_DATA_ROOT")
    f = roots / "data" / "x"
    f.write_bytes(b"x")
    assert "data" not in allowed_roots()
    with pytest.raises(UnsafePathError):
        safe_path(f)
    assert Path(display(f)) == f
