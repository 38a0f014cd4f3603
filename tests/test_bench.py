"""``python -m stf bench infer|train``: flags honoured, with tiny settings (never a full benchmark)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import need_data

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt"


def test_bench_infer_relative_checkpoint_is_the_callers(tmp_path, monkeypatch, capsys):
    """The children run in the repository: a relative --checkpoint is resolved against the caller's folder."""
    from stf.bench.infer import main

    if not SHIPPED.is_file():
        pytest.skip("no shipped checkpoint")
    shutil.copy(SHIPPED, tmp_path / "mine.pt")
    monkeypatch.chdir(tmp_path)
    assert main(["--checkpoint", "mine.pt", "--batch", "1", "--steps", "1", "--warmup", "0", "--form", "folded"]) == 0
    out = capsys.readouterr().out
    assert f"checkpoint {tmp_path / 'mine.pt'}" in out and "samples/s" in out


def test_bench_train_config_with_mean_pose_erasure(tmp_path, capsys):
    """``loss.erase: mean_pose`` needs the training mean pose in L_e's masked pass, as training passes it."""
    from stf.bench.train import main

    need_data("nw-ucla")
    cfg = tmp_path / "tiny_mean_pose.yaml"
    cfg.write_text(f"base: {REPO / 'configs' / 'stf_ucla_xview_joint_tiny.yaml'}\nloss: {{erase: mean_pose}}\n")
    threads = torch.get_num_threads()
    try:
        assert main(["--config", str(cfg), "--batch-size", "2", "--steps", "1", "--warmup", "0", "--threads", "1",
                     "--focus-steps", "20"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "train step, batch 2" in out and "stf exact focus" in out and "x one eval forward" in out
