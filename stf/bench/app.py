"""``python -m stf bench app``: is the explain path fast enough for the app?

Measured with the model loaded once (as the app caches it), on ``--samples`` samples of ``--data``:

* **select -> figures**: from choosing a sample (``store.get``) to the focus tensors (``Explainer.explain``
  with the top-2 comparison, the L_e preview and the adjacency parts) plus the JSON of the skeleton animation
  and of the frames x joints heatmap (``fig.to_json()``); median and max over the samples (target <= 1 s);
* **faithfulness**: deletion curves (and deletion + insertion) of given maps (the module-6 focus,
  saliency, IG, occlusion, a random ranking) (target <= 5 s);
* each attribution method's time (IG, saliency, occlusion, LayerGradCam on all six modules).

Models (``--model``, repeatable): ``auto`` = the shipped checkpoint ``assets/*.pt`` when there is one,
otherwise the tiny checkpoint (built into a temporary folder, ~10 s); ``tiny``; ``full-untrained`` = an
untrained full-size network built from ``configs/stf_ucla_xview_joint_cpu.yaml`` wrapped as a checkpoint
dict (same cost as the trained model); or a checkpoint path. The output says which model each figure used.
Torch threads: ``--threads``, else ``$STF_TORCH_THREADS``, else 1, as the app (on a shared 2-core machine two
threads spin against other jobs and run several times slower).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..utils import count_arg, env_number

REPO = Path(__file__).resolve().parent.parent.parent


def full_size_untrained(store, config: str | Path | None = None, seed: int = 0, mean_pose_samples: int = 64
                        ) -> dict[str, Any]:
    """An untrained full-size checkpoint dict for ``store`` from the cpu config (cost as a trained one)."""
    from ..checkpoint import SCHEMA, SCHEMA_VERSION
    from ..config import load_config
    from ..data.dataset import sample_to_tensor
    from ..model.losses import LossConfig
    from ..model.stf import STF, ModelConfig
    from ..sample import CHANNELS
    from ..transforms import Pipeline

    cfg = load_config(config or REPO / "configs" / "stf_ucla_xview_joint_cpu.yaml")
    persons = int(cfg["data"]["persons"] or store.max_persons)
    mc = dict(cfg["model"])
    mc.update(num_classes=store.num_classes, layout=store.layout, in_channels=CHANNELS[store.channels], persons=persons)
    torch.manual_seed(seed)
    model = STF(ModelConfig.from_dict(mc)).eval()
    pipe = Pipeline.from_config(cfg["transforms"]["test"], cfg["stream"], persons)
    xs = [sample_to_tensor(pipe(store.get(i))[0]) for i in range(min(mean_pose_samples, len(store)))]
    x = torch.stack(xs)  # (N, C, T, V, M)
    pres = (x.abs().sum(1, keepdim=True) > 0).float()
    mean_pose = (x * pres).sum(dim=(0, 2, 4)) / pres.sum(dim=(0, 2, 4)).clamp_min(1.0)  # (C, V)
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "config": cfg, "model_config": model.cfg.to_dict(),
            "loss_config": LossConfig.from_dict(cfg["loss"]).to_dict(), "layout": store.layout,
            "channels": store.channels, "stream": cfg["stream"], "persons": persons,
            "class_names": list(store.class_names), "seed": seed, "epoch": 0, "model": model.state_dict(),
            "mean_pose": mean_pose}


def _resolve_models(names: list[str], store, tmp: Path) -> list[tuple[str, Any]]:
    from ..checkpoint import build_tiny_checkpoint

    out = []
    for name in names:
        if name == "auto":
            shipped = sorted((REPO / "assets").glob("*.pt"))
            if shipped:
                out.append((f"shipped checkpoint {shipped[0].relative_to(REPO)}", shipped[0]))
                continue
            name = "tiny"
            print("no shipped checkpoint in assets/*.pt: using the tiny checkpoint")
        if name == "tiny":
            t0 = time.perf_counter()
            p = build_tiny_checkpoint(tmp / "tiny")
            out.append((f"tiny checkpoint (tiny config, 2 epochs; built in {time.perf_counter() - t0:.1f} s)", p))
        elif name == "full-untrained":
            out.append(("UNTRAINED full-size model (configs/stf_ucla_xview_joint_cpu.yaml, random weights)",
                        full_size_untrained(store)))
        else:
            out.append((f"checkpoint {name}", Path(name)))
    return out


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def bench_model(label: str, ckpt, store, positions: list[int], args) -> dict[str, Any]:
    from .. import viz
    from ..checkpoint import model_from_checkpoint
    from ..explain import Explainer
    from ..explain.attributions import layer_gradcam

    t0 = time.perf_counter()
    ex = Explainer(ckpt)
    load_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model_from_checkpoint(ex.ckpt).parameters())  # as trained, BN unfolded
    print(f"\n== {label}")
    print(f"   {n_params / 1e6:.2f} M parameters, {ex.model.cfg.channels} channels, "
          f"{len(ex.class_names)} classes; loaded in {load_s:.2f} s; torch threads {torch.get_num_threads()}")
    ex.explain(store.get(positions[0]))  # warm-up (allocator, lazy imports)
    totals, parts = [], {"get": [], "explain": [], "anim_json": [], "heatmap_json": []}
    last = None
    for pos in positions:
        t0 = time.perf_counter()
        s = store.get(pos)
        t1 = time.perf_counter()
        e = ex.explain(s)
        t2 = time.perf_counter()
        k = len(e.focus.module) - 1
        fa = viz.skeleton_animation(e.sample.data, ex.layout, e.focus.original[k], channels=e.sample.channels,
                                    valid_frames=e.focus.valid_frames, person_mask=e.focus.person_mask).to_json()
        t3 = time.perf_counter()
        fh = viz.focus_heatmap(e.focus.original[k], ex.layout, valid_frames=e.focus.valid_frames).to_json()
        t4 = time.perf_counter()
        totals.append(t4 - t0)
        for key, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            parts[key].append(v)
        last = (e, len(fa) + len(fh))
        for key, v in e.seconds.items():
            parts.setdefault(f"  explain.{key}", []).append(v)
    e, nbytes = last
    frames = [store.lengths[p] for p in positions]
    print(f"   select -> focus + animation/heatmap JSON: median {_median(totals):.3f} s, max {max(totals):.3f} s "
          f"over {len(positions)} samples ({min(frames)}-{max(frames)} frames; target <= 1 s)"
          f" [{'OK' if _median(totals) <= 1.0 else 'OVER'}]")
    print("   parts (median s): " + ", ".join(f"{k.strip()} {_median(v):.3f}" for k, v in parts.items()))
    print(f"   figure JSON of the last sample: {nbytes / 1e3:.0f} kB")

    # attributions (on the last sample)
    res = {"select_median_s": _median(totals), "select_max_s": max(totals)}
    t = e.target
    attrs = {}
    a = ex.attribute(e, "integrated_gradients", baseline="zeros", n_steps=args.ig_steps)
    attrs["integrated_gradients"] = a.input
    print(f"   integrated gradients ({args.ig_steps} steps, zeros): {a.seconds:.3f} s")
    a = ex.attribute(e, "integrated_gradients", baseline="mean_pose", n_steps=args.ig_steps)
    print(f"   integrated gradients ({args.ig_steps} steps, mean pose): {a.seconds:.3f} s")
    a = ex.attribute(e, "saliency")
    attrs["saliency"] = a.input
    print(f"   saliency: {a.seconds:.3f} s")
    a = ex.attribute(e, "occlusion", joint_window=1, frame_window=8)
    attrs["occlusion"] = a.input
    print(f"   occlusion (1 joint x 8 frames, non-overlapping): {a.seconds:.3f} s")
    t0 = time.perf_counter()
    for k in range(ex.model.num_modules):
        layer_gradcam(ex.model, e.prepared.x, t, k)
    print(f"   Captum LayerGradCam, all {ex.model.num_modules} modules: {time.perf_counter() - t0:.3f} s")

    maps = {"focus_m6": e.focus.input[-1], **attrs}
    for mode in args.modes:
        rep = ex.faithfulness(e, maps, steps=args.steps, mode=mode, kinds=("deletion",))
        rep2 = ex.faithfulness(e, maps, steps=args.steps, mode=mode)
        res[f"deletion_{mode}_s"] = rep.seconds
        print(f"   deletion curves, {len(rep.curves)} maps incl. random, {args.steps} steps, removal {mode}: "
              f"{rep.seconds:.3f} s ({rep.forward_passes} inputs; target <= 5 s) "
              f"[{'OK' if rep.seconds <= 5.0 else 'OVER'}]; deletion + insertion: {rep2.seconds:.3f} s")
        print("     " + "; ".join(f"{r['method']}: del {r['deletion_auc']:.3f} ins {r['insertion_auc']:.3f}"
                                   for r in rep2.rows()))
    return res


def main(argv: list[str] | None = None) -> int:
    from ..data import open_dataset
    from ..explain.study import pick_positions

    ap = argparse.ArgumentParser(prog="python -m stf bench app", description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="ucla:nw-ucla")
    ap.add_argument("--split", default="xview/test")
    ap.add_argument("--samples", type=count_arg(1), default=8)
    ap.add_argument("--model", action="append", default=None,
                    help="auto (default) | tiny | full-untrained | PATH; repeat to compare")
    ap.add_argument("--threads", type=count_arg(1), default=None,
                    help="torch.set_num_threads (default: $STF_TORCH_THREADS or 1, as the app)")
    ap.add_argument("--steps", type=count_arg(1), default=20, help="faithfulness curve steps")
    ap.add_argument("--ig-steps", type=count_arg(1), default=32)
    ap.add_argument("--modes", nargs="+", default=["zero", "interpolate"])
    args = ap.parse_args(argv)
    threads = args.threads or env_number("STF_TORCH_THREADS", 1, int, 1)
    torch.set_num_threads(max(1, threads))
    store = open_dataset(args.data)
    idx = store.split_indices(args.split)
    positions = pick_positions(idx, args.samples)  # the faithfulness study's evenly spaced samples
    longest = int(idx[np.argmax(store.lengths[idx])])  # the largest animation of the split is always measured
    if longest not in positions:
        positions[-1] = longest
    print(f"data {args.data} split {args.split}: {len(positions)} samples; cpu threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, ck in _resolve_models(args.model or ["auto"], store, Path(tmp)):
            bench_model(label, ck, store, positions, args)
    return 0
