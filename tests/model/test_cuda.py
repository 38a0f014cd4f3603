"""CUDA checks; run whenever a GPU is available (skipped otherwise: "CUDA untested: no GPU available")."""
import numpy as np
import pytest
import torch

from stf.checkpoint import model_from_checkpoint
from stf.model import STF, LossConfig, ModelConfig, compute_focus, stf_step_losses

pytestmark = pytest.mark.cuda


def test_amp_training_step_with_every_focus_loss():
    torch.manual_seed(0)
    m = STF(ModelConfig(num_classes=10, layout="kinect20")).cuda().train()
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cuda")
    x = torch.randn(16, 3, 52, 20, 1, device="cuda")
    y = torch.randint(0, 10, (16,), device="cuda")
    res = stf_step_losses(m, x, y, LossConfig(), focus_on=True, autocast=True)
    assert set(res.terms) == {"cls", "e", "c", "d", "g"} and all(np.isfinite(list(res.terms.values())))
    scaler.scale(res.total).backward()
    scaler.step(opt)
    scaler.update()
    assert all(torch.isfinite(p).all() for p in m.parameters())


def test_fp32_focus_matches_cpu(tiny_checkpoint, ucla_store):
    from stf.data.dataset import SkeletonDataset
    from stf.checkpoint import load_checkpoint
    from stf.evaluate import eval_pipeline

    ck = load_checkpoint(tiny_checkpoint)
    ds = SkeletonDataset(ucla_store, ucla_store.split_indices("xview/test")[:8], eval_pipeline(ck))
    x = torch.stack([ds[i]["x"] for i in range(len(ds))])
    f_cpu, _ = compute_focus(model_from_checkpoint(ck, "cpu"), x)
    f_gpu, _ = compute_focus(model_from_checkpoint(ck, "cuda"), x.cuda())
    for k in f_cpu.maps:
        assert torch.allclose(f_cpu.maps[k], f_gpu.maps[k].cpu(), atol=1e-3), k


def test_cpu_cuda_evaluation_parity(tiny_checkpoint, tmp_path):
    from stf.evaluate import evaluate, load_bundle
    from stf.data.resolve import open_dataset

    store = open_dataset("ucla:nw-ucla")
    ids = store.splits["xview"]["test"][:64]
    a = load_bundle(evaluate(tiny_checkpoint, "ucla:nw-ucla", "xview/test", tmp_path / "cpu", device="cpu"))
    b = load_bundle(evaluate(tiny_checkpoint, "ucla:nw-ucla", "xview/test", tmp_path / "gpu", device="cuda"))
    pos_a = {s: i for i, s in enumerate(a.ids.tolist())}
    pos_b = {s: i for i, s in enumerate(b.ids.tolist())}
    la = a.logits[[pos_a[s] for s in ids]]
    lb = b.logits[[pos_b[s] for s in ids]]
    assert (la.argmax(1) == lb.argmax(1)).all()
    np.testing.assert_allclose(la, lb, atol=1e-3, rtol=1e-3)
