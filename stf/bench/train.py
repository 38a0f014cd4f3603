"""``python -m stf bench train``: cost of an STF training step relative to a backbone step.

Full-size network of a config (default: STF on NW-UCLA, 52 frames, batch 16), real NW-UCLA
batches, the same thread count for every variant. Variants are timed interleaved (one step of each
in turn) so machine load affects them alike; the median of ``--steps`` (≥ 20) after ``--warmup``
(5) discarded steps is reported. STF steps are measured with the focus losses on (after the
warm-up: before it an STF step *is* a backbone step).

Also: the focus of one sample (all six modules for the top-1 class + module 6 for the top-2 class)
relative to one eval forward of that sample, on the network with BatchNorm folded (as the explain API,
the app and evaluation run it) and on the network as trained.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from ..utils import count_arg

REPO = Path(__file__).resolve().parents[2]


def _batch(cfg: dict, n: int):
    from ..train import Run

    run = Run(cfg, torch.device("cpu"))
    run.train_set.set_epoch(0)
    items = [run.train_set[i] for i in range(n)]
    x = torch.stack([it["x"] for it in items])
    y = torch.tensor([it["label"] for it in items])
    return run, x, y


def main(argv: list[str]) -> int:
    from ..config import load_config
    from ..model import LossConfig, STF, fold_batchnorm, stf_step_losses
    from ..model.focus import compute_focus, module_cams
    from ..utils import resolve_device

    p = argparse.ArgumentParser(prog="python -m stf bench train")
    p.add_argument("--config", default=str(REPO / "configs" / "stf_ucla_xview_joint_cpu.yaml"))
    p.add_argument("--batch-size", type=count_arg(1), default=None)
    p.add_argument("--steps", type=count_arg(1), default=20)
    p.add_argument("--warmup", type=count_arg(0), default=5)
    p.add_argument("--threads", type=count_arg(1), default=None)
    p.add_argument("--focus-steps", type=count_arg(20), default=200,
                   help="timed repetitions of the one-sample focus (each ~40 ms on CPU; median reported)")
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    cfg = load_config(a.config)
    bs = a.batch_size or cfg["train"]["batch_size"]
    run, x, y = _batch(cfg, bs)
    x, y = x.to(dev), y.to(dev)
    torch.manual_seed(0)
    model = STF(run.model_cfg).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    stf_cfg = run.loss_cfg
    if not stf_cfg.any_focus_loss:
        stf_cfg = LossConfig()
    d = stf_cfg.to_dict()
    variants = {
        "backbone": (LossConfig(**{**d, "lambda_e": 0, "lambda_c": 0, "lambda_d": 0, "lambda_g": 0}), False),
        "stf (default: first-order, L_e on half the batch)": (stf_cfg, True),
        "stf without L_e (focus pass + L_c, L_d, L_G only)": (LossConfig(**{**d, "lambda_e": 0}), True),
        "stf exact focus": (LossConfig(**{**d, "focus_variant": "exact"}), True),
        "stf first-order, L_e mask_only": (LossConfig(**{**d, "le_grad": "mask_only"}), True),
    }
    # the training mean pose, as training passes it (L_e's masked pass needs it with ``erase: mean_pose``)
    mean_pose = run.mean_pose().to(dev) if any(lc.erase == "mean_pose" for lc, _ in variants.values()) else None
    amp = dev.type == "cuda" and cfg["train"]["amp"]
    times: dict[str, list[float]] = {k: [] for k in variants}

    def step(lc, on):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        res = stf_step_losses(model, x, y, lc, focus_on=on, mean_pose=mean_pose, autocast=amp)
        opt.zero_grad(set_to_none=True)
        res.total.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    for i in range(a.warmup + a.steps):
        for name, (lc, on) in variants.items():
            dt = step(lc, on)
            if i >= a.warmup:
                times[name].append(dt)
    base = statistics.median(times["backbone"])
    dev_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"train step, batch {bs}, {x.shape[2]} frames, {x.shape[3]} joints, {dev_name}; "
          f"median of {a.steps} after {a.warmup} discarded, variants interleaved")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:50s} {1000 * med:8.1f} ms   {med / base:5.2f}x backbone")

    # focus of one sample vs one eval forward of the same network: as the explain API, the app and
    # evaluation run it (BatchNorm folded) and, for reference, the network as trained
    model.eval()
    forms = {"BatchNorm folded (explain API, app, eval)": fold_batchnorm(model), "as trained (BatchNorm layers)": model}
    x1 = x[:1]
    f_t = {k: [] for k in forms}
    fw_t = {k: [] for k in forms}
    for i in range(a.warmup + a.focus_steps):
        for name, net in forms.items():  # interleaved, as the steps above
            t0 = time.perf_counter()
            with torch.no_grad():
                net(x1)
            t1 = time.perf_counter()
            foc, out = compute_focus(net, x1)  # forward + all six modules for top-1
            top2 = out.logits.topk(2, dim=1).indices[:, 1]
            module_cams(net, out, top2, [net.num_modules - 1], differentiable=False)  # module 6 for top-2, closed form
            t2 = time.perf_counter()
            if i >= a.warmup:
                fw_t[name].append(t1 - t0)
                f_t[name].append(t2 - t1)
    print(f"focus of one sample (6 modules top-1 + module 6 top-2, incl. its forward) vs one eval forward "
          f"(median of {a.focus_steps} after {a.warmup}):")
    for name in forms:
        fw, fo = statistics.median(fw_t[name]), statistics.median(f_t[name])
        print(f"  {name:42s} {1000 * fo:6.1f} ms = {fo / fw:.2f}x one eval forward ({1000 * fw:.1f} ms)")
    return 0
