"""``python -m stf bench infer``: inference samples/s and peak memory at batch 1 and 64.

Both forms of the network by default: BatchNorm folded (as evaluation, the explain API and the app
run it) and as trained.

Each batch size runs in a fresh subprocess so peak memory is that configuration's alone: on CPU
the peak resident set size (``ru_maxrss``) minus the resident size after the model was built; on
CUDA ``torch.cuda.max_memory_allocated``. Uses the shipped checkpoint when there is one, else an
untrained network of the default config (same cost).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from ..utils import count_arg

REPO = Path(__file__).resolve().parents[2]


def _model(checkpoint: str | None, dev, fold: bool):
    from ..checkpoint import model_from_checkpoint
    from ..config import load_config
    from ..data.resolve import open_dataset
    from ..model import STF, ModelConfig, fold_batchnorm

    if checkpoint:
        m = model_from_checkpoint(checkpoint, dev, fold_bn=fold)
        return m, f"checkpoint {checkpoint}", 52
    cfg = load_config(REPO / "configs" / "stf_ucla_xview_joint_cpu.yaml")
    store = open_dataset(cfg["data"]["spec"])
    mc = ModelConfig.from_dict({**cfg["model"], "num_classes": store.num_classes, "layout": store.layout,
                                "persons": 1})
    m = STF(mc).to(dev).eval()
    return (fold_batchnorm(m) if fold else m), "untrained network of stf_ucla_xview_joint_cpu.yaml", 52


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (resource.getpagesize() // 1024)


def _one(batch: int, checkpoint: str | None, device: str, steps: int, warmup: int, fold: bool) -> dict:
    from ..utils import resolve_device

    dev = resolve_device(device)
    model, what, frames = _model(checkpoint, dev, fold)
    from ..layouts import get_layout

    v, m = get_layout(model.cfg.layout).num_joints, model.cfg.persons
    x = torch.randn(batch, model.cfg.in_channels, frames, v, m, device=dev)
    base_rss = _rss_kb()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    ts = []
    with torch.inference_mode():
        for i in range(warmup + steps):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if i >= warmup:
                ts.append(time.perf_counter() - t0)
    med = statistics.median(ts)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) / 2 ** 20
        kind = "GPU max allocated"
    else:
        peak = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024
        kind = "peak RSS above the loaded model"
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    return {"batch": batch, "ms_per_batch": 1000 * med, "samples_per_s": batch / med, "peak_mib": peak,
            "memory_kind": kind, "model": what, "device": name, "frames": frames,
            "form": "BatchNorm folded" if fold else "as trained"}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m stf bench infer")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=count_arg(1), nargs="+", default=[1, 64])
    p.add_argument("--steps", type=count_arg(1), default=20)
    p.add_argument("--warmup", type=count_arg(0), default=5)
    p.add_argument("--form", choices=("folded", "trained", "both"), default="both",
                   help="the network with BatchNorm folded (as evaluation and the app run it), as trained, or both")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.checkpoint is None:
        shipped = sorted((REPO / "assets").glob("*.pt"))
        a.checkpoint = str(shipped[0]) if shipped else None
    elif not a.child:
        a.checkpoint = str(Path(a.checkpoint).expanduser().resolve())  # the children run in the repository
    if a.child:
        print(json.dumps(_one(a.batch[0], a.checkpoint, a.device, a.steps, a.warmup, a.form == "folded")))
        return 0
    forms = ("folded", "trained") if a.form == "both" else (a.form,)
    for b in a.batch:
        for form in forms:
            cmd = [sys.executable, "-m", "stf", "bench", "infer", "--child", "--batch", str(b), "--device", a.device,
                   "--steps", str(a.steps), "--warmup", str(a.warmup), "--form", form]
            if a.checkpoint:
                cmd += ["--checkpoint", a.checkpoint]
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            if r.returncode != 0:
                print(r.stderr.strip().splitlines()[-1] if r.stderr else "bench child failed", file=sys.stderr)
                return r.returncode if r.returncode > 0 else 1  # the child's status: 2 for an error it explained
            res = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"batch {res['batch']:3d}, {res['form']:16s}: {res['samples_per_s']:8.1f} samples/s "
                  f"({res['ms_per_batch']:.1f} ms/batch), {res['memory_kind']} {res['peak_mib']:.1f} MiB  "
                  f"[{res['device']}, {res['frames']} frames, {res['model']}]")
    return 0
