"""``python -m stf bench app`` runs end to end on the tiny checkpoint and prints every figure."""
from __future__ import annotations


def test_bench_app_smoke(tiny_checkpoint, ucla_store, capsys):
    import torch

    from stf.bench.app import main

    threads = torch.get_num_threads()
    try:
        assert main(["--model", str(tiny_checkpoint), "--samples", "2", "--steps", "4", "--ig-steps", "4",
                     "--modes", "zero"]) == 0
    finally:
        torch.set_num_threads(threads)  # the bench sets the app's thread count for the whole process
    out = capsys.readouterr().out
    for what in ("select -> focus + animation/heatmap JSON: median", "integrated gradients", "saliency:",
                 "occlusion", "LayerGradCam", "deletion curves", f"checkpoint {tiny_checkpoint}"):
        assert what in out
