"""Shared fixtures. Tests that need the real data find it through STF_DATA_ROOT.

With ``CI=true`` a test that needs data and finds none *fails*; elsewhere it skips.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _data_root() -> Path | None:
    v = os.environ.get("STF_DATA_ROOT", "").strip()
    if v:
        return Path(v)
    guess = REPO.parent / "shared" / "data"
    return guess if guess.is_dir() else None


def need_data(*parts: str) -> Path:
    """Path under the data root; fail under CI, skip elsewhere, when it is missing."""
    root = _data_root()
    p = root.joinpath(*parts) if root else None
    if p is None or not p.exists():
        msg = f"real data not found: {'/'.join(parts)} under STF_DATA_ROOT={root}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return p


@pytest.fixture(scope="session")
def data_root() -> Path:
    return need_data()


@pytest.fixture(autouse=True, scope="session")
def _isolated_env(tmp_path_factory):
    """Point the cache and runs dirs at temporary folders; make STF_DATA_ROOT absolute when guessed."""
    mp = pytest.MonkeyPatch()
    if not os.environ.get("STF_CACHE_DIR"):
        mp.setenv("STF_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    root = _data_root()
    if root is not None:
        mp.setenv("STF_DATA_ROOT", str(root.resolve()))
    yield
    mp.undo()


def pytest_collection_modifyitems(config, items):
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="CUDA untested: no GPU available")
        for it in items:
            if "cuda" in it.keywords:
                it.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny real checkpoint (tiny config, 48 real NW-UCLA view-1/2 samples, 2 epochs; ~5 s on CPU)."""
    need_data("nw-ucla")
    from stf.checkpoint import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "run")


@pytest.fixture(scope="session")
def ucla_store():
    """The NW-UCLA store (converted once into the test cache)."""
    need_data("nw-ucla")
    from stf.data import open_dataset

    return open_dataset("ucla:nw-ucla")


def need_pose_environment() -> None:
    """The pose environment (requirements-pose.txt); fail under CI, skip elsewhere, when it is missing."""
    from stf.pose.runner import PoseUnavailable, check_pose_environment

    try:
        check_pose_environment()
    except PoseUnavailable as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(e))
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def ntu_poses(tmp_path_factory) -> dict[str, Path]:
    """Poses extracted with MediaPipe from two real NTU RGB+D videos (stored mirrored, so ``--mirrored``):
    A001 "drink water" (its Kinect skeleton is in the NTU samples) and A007 "throw". ``{action: .pose.npz}``."""
    videos = need_data("action-videos", "ntu_rgb")
    need_pose_environment()
    from stf.pose.runner import extract_poses

    out = tmp_path_factory.mktemp("poses")
    names = {"A001": "S001C001P001R001A001_rgb.avi", "A007": "S004C003P003R001A007_rgb.avi"}
    res = extract_poses([videos / n for n in names.values()], out, mirrored=True)
    return {k: r.pose for k, r in zip(names, res)} | {"dir": out}
