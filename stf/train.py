"""Training: ``python -m stf train --config CONFIG [--resume] [--out DIR]``.

One process on CPU or one GPU (AMP on CUDA, focus in fp32), or several GPUs through torch DDP
(launch with ``torchrun --nproc_per_node=K -m stf train ...``). A run directory holds::

    config.yaml   the full config as run        run.json   seed, code version, device, threads (per start/resume)
    last.pt       checkpoint after the last completed epoch (written atomically every epoch)
    log.jsonl     one line per epoch: every loss term, lr, accuracy, throughput, focus cosine

``train.batch_size`` is the batch of one forward pass; ``train.accumulate = k`` makes every optimizer
step the mean gradient of ``k`` such batches (an effective batch of ``k * batch_size`` in the memory of
one). BatchNorm and the focus losses (L_e's masked share of the batch included) still work on one batch
at a time.

``--resume`` continues from ``last.pt``: model, optimizer, counters and RNG states are restored,
and all data randomness derives from (seed, epoch, item), so a resumed run equals an
uninterrupted one (bit for bit on CPU with ``train.deterministic`` and a fixed thread count).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import code_version
from .checkpoint import SCHEMA, SCHEMA_VERSION, check_compatible, load_checkpoint, save_checkpoint, state_mismatch
from .config import dump
from .data.dataset import SkeletonDataset, epoch_order
from .data.resolve import open_dataset
from .errors import ConfigError, TrainingError
from .model.focus import compute_focus
from .model.losses import LossConfig, frozen_bn_stats, stf_step_losses
from .model.stf import STF, ModelConfig
from .sample import CHANNELS
from .transforms import Pipeline
from .utils import atomic_write_bytes, atomic_write_json, resolve_device


def lr_at(epoch_pos: float, t: dict[str, Any]) -> float:
    """Learning rate at fractional epoch ``epoch_pos``: linear warm-up, then step decay."""
    base = t["lr"]
    if t["warmup_epochs"] and epoch_pos < t["warmup_epochs"]:
        return base * (epoch_pos + 1e-3) / t["warmup_epochs"] if epoch_pos > 0 else base / (10 * t["warmup_epochs"])
    return base * t["lr_gamma"] ** sum(epoch_pos >= s for s in t["lr_steps"])


def balanced_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Positions of ``n`` items taking classes in turn (a class-balanced subset), deterministic."""
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    out, r = [], 0
    while len(out) < n and any(r < len(b) for b in by_class):
        out += [b[r] for b in by_class if r < len(b)]
        r += 1
    return np.sort(np.asarray(out[:n], dtype=np.int64))


def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted positions of ``fraction`` of each class's items (at least one per class), deterministic.

    The scarce-data protocol: every class keeps its share of the training split, so a 10 % run sees
    the class balance of the full split. ``labels`` ``(N,)``; returns ``(n,)`` int64 positions into it.
    """
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        out.append(members[:max(1, int(round(fraction * len(members))))])
    return np.sort(np.concatenate(out)).astype(np.int64) if out else np.zeros(0, np.int64)


def accumulation_sizes(n_batches: int, k: int) -> list[int]:
    """Per batch of an epoch, the number of batches in its optimizer step (``train.accumulate = k``).

    A step accumulates the gradients of ``k`` consecutive batches, each loss divided by the step's
    batch count (so a step's gradient is the mean over its batches). The epoch's last step may hold
    fewer: steps never span two epochs, so a checkpoint never holds half a step.
    """
    return [min(k, n_batches - (i // k) * k) for i in range(n_batches)]


def fault_hook_from_env() -> Callable[[str, int], None] | None:
    """``STF_FAULT=kill_at_step:N`` or ``kill_before_rename:E`` -> a hook that SIGKILLs this process (tests)."""
    spec = os.environ.get("STF_FAULT", "")
    if not spec:
        return None
    kind, _, val = spec.partition(":")
    target = int(val)

    def hook(event: str, counter: int) -> None:
        if (kind == "kill_at_step" and event == "step" and counter == target) or \
           (kind == "kill_before_rename" and event == "before_rename" and counter == target):
            os.kill(os.getpid(), signal.SIGKILL)
    return hook


class Run:
    """Everything a training run builds from its config (data, pipelines, model)."""

    def __init__(self, cfg: dict[str, Any], device: torch.device):
        self.cfg = cfg
        self.device = device
        d = cfg["data"]
        self.loss_cfg = LossConfig.from_dict(cfg["loss"])  # every section is checked before the data opens
        ModelConfig.check_section(cfg["model"])
        self.store = open_dataset(d["spec"])
        self.persons = int(d["persons"] or self.store.max_persons)
        self.train_idx = self.store.split_indices(d["train_split"])
        t = cfg["train"]
        if t["fraction"] is not None and t["fraction"] < 1:
            self.train_idx = self.train_idx[stratified_subset(self.store.labels[self.train_idx], t["fraction"],
                                                              cfg["seed"])]
        if t["max_samples"]:
            sub = balanced_subset(self.store.labels[self.train_idx], int(t["max_samples"]), cfg["seed"])
            self.train_idx = self.train_idx[sub]
        self.eval_idx = self.store.split_indices(d["eval_split"]) if d["eval_split"] else None
        present = np.unique(self.store.labels[self.train_idx])
        present = present[present >= 0]
        if len(present) < 2:
            names = ", ".join(repr(self.store.class_names[c]) for c in present) or "none"
            raise ConfigError(f"the training split {d['train_split']!r} of {d['spec']} holds samples of "
                              f"{len(present)} class ({names}): a classifier needs at least 2 classes to learn from")
        self.train_pipe = Pipeline.from_config(cfg["transforms"]["train"], cfg["stream"], self.persons)
        self.test_pipe = Pipeline.from_config(cfg["transforms"]["test"], cfg["stream"], self.persons)
        mc = dict(cfg["model"])
        mc.update(num_classes=self.store.num_classes, layout=self.store.layout,
                  in_channels=CHANNELS[self.store.channels], persons=self.persons)
        self.model_cfg = ModelConfig.from_dict(mc)
        self.train_set = SkeletonDataset(self.store, self.train_idx, self.train_pipe, cfg["seed"])
        self.test_set = SkeletonDataset(self.store, self.train_idx, self.test_pipe, cfg["seed"])

    def mean_pose(self) -> torch.Tensor:
        """``(C, V)`` mean of the preprocessed (test pipeline) training inputs over frames and persons."""
        tot, cnt = None, 0.0
        for i in range(len(self.test_set)):
            x = self.test_set[i]["x"]  # (C, T, V, M)
            pres = (x.abs().sum(0) > 0).float()  # (T, V, M)
            s = (x * pres).sum(dim=(1, 3))
            tot = s if tot is None else tot + s
            cnt = cnt + pres.sum(dim=(0, 2))
        return tot / cnt.clamp_min(1.0)


def rank_order(order: np.ndarray, batch_size: int, rank: int, world: int) -> np.ndarray:
    """This process's share of an epoch's sample order: whole batches of ``batch_size``, the same number
    on every process (DDP's collectives need equal step counts), interleaved by rank. With one process
    it is ``order`` less its partial last batch."""
    whole = len(order) // (batch_size * world) * (batch_size * world)
    return order[:whole][rank::world]


def _loader(dataset, order: np.ndarray, batch_size: int, workers: int, drop_last: bool):
    batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches = batches[:-1]
    return torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                                       persistent_workers=False)


@torch.no_grad()
def predict(model: STF, dataset: SkeletonDataset, device, batch_size: int = 64, workers: int = 0,
            progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits ``(N, K)``, labels ``(N,)`` and store positions ``(N,)`` over ``dataset`` in order (eval mode)."""
    was = model.training
    model.eval()
    out_l, out_y, out_i = [], [], []
    loader = _loader(dataset, np.arange(len(dataset)), batch_size, workers, drop_last=False)
    it = loader
    if progress:
        from tqdm import tqdm
        it = tqdm(loader, desc="eval", file=sys.stderr, mininterval=2)
    for b in it:
        out_l.append(model(b["x"].to(device)).logits.float().cpu())
        out_y.append(b["label"])
        out_i.append(b["index"])
    model.train(was)
    return torch.cat(out_l).numpy(), torch.cat(out_y).numpy(), torch.cat(out_i).numpy()


def focus_cosine(model: STF, x: torch.Tensor) -> list[float]:
    """Per module, the mean cosine between train-mode (batch-coupled) and eval-mode focus on a probe batch.

    ``x``: ``(N, C, T, V, M)``. Returns one value per module (module 1 first).
    """
    was = model.training
    model.eval()
    f_eval, out = compute_focus(model, x)
    classes = out.logits.argmax(1).detach()
    model.train()
    with frozen_bn_stats(model):
        f_train, _ = compute_focus(model, x, classes)
    model.train(was)
    return [float(F.cosine_similarity(f_eval.maps[k].flatten(1), f_train.maps[k].flatten(1), dim=1,
                                      eps=1e-8).mean().detach()) for k in sorted(f_eval.maps)]


def build_optimizer(model: torch.nn.Module, t: dict[str, Any]) -> torch.optim.SGD:
    """SGD per the ``train`` section; no weight decay on biases and BatchNorm (1-d parameters but the gates)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.dim() <= 1 and "alpha" not in name else decay).append(p)
    return torch.optim.SGD([{"params": decay, "weight_decay": t["weight_decay"]},
                            {"params": no_decay, "weight_decay": 0.0}],
                           lr=t["lr"], momentum=t["momentum"], nesterov=t["nesterov"])


def _rng_state() -> dict[str, Any]:
    st = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _ddp_info() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def _run_record(previous: Path | None, seed: int, segment: dict[str, Any], log=None) -> dict[str, Any]:
    """``run.json``: the seed, how the run started (top level) and every start or resume (``segments``).

    A resumed run keeps the record of its earlier segments, so a run that continued under another
    code version or machine says so. ``previous`` is the run's existing ``run.json`` (None: a fresh run).
    One that cannot be read is kept aside as ``run.json.damaged`` (never overwritten) and the new record
    says so, with ``log`` told why.
    """
    segments: list[dict[str, Any]] = []
    if previous is not None and previous.is_file():
        try:
            old = json.loads(previous.read_text(encoding="utf-8"))
            problem = None if isinstance(old, dict) and isinstance(old.get("segments", []), list) \
                else "not a run record"
        except (OSError, ValueError) as e:  # ValueError covers JSON and UTF-8 decoding
            old, problem = None, f"unreadable: {e}"
        if problem is None:
            segments = list(old.get("segments") or [{k: v for k, v in old.items() if k != "seed"}])
        else:
            aside = previous.with_name("run.json.damaged")
            n = 1
            while aside.exists():
                n += 1
                aside = previous.with_name(f"run.json.damaged-{n}")
            try:
                previous.rename(aside)
            except OSError as e:
                raise ConfigError(f"{previous}: {problem}, and it cannot be kept aside as {aside.name} "
                                  f"({e.strerror or e})") from e
            segment = {**segment, "earlier_record": f"{aside.name} ({problem})"}
            if log:
                log(f"warning: {previous} is {problem}; kept as {aside.name}, and the record of earlier starts "
                    "begins again with this resume")
    segments.append(segment)
    first = {k: v for k, v in segments[0].items() if k != "start_epoch"}
    return {"seed": seed, **first, "segments": segments}


def _terms(terms: dict[str, float]) -> str:
    return ", ".join(f"L_{k} {v:.4g}" for k, v in terms.items())


def _diverged(what: str, ckpt_path: Path, start_epoch: int) -> str:
    """The message of a run stopped because it diverged: what happened, and what is kept on disk."""
    kept = (f"{ckpt_path} (its last finished epoch) is kept" if ckpt_path.exists() or start_epoch
            else "no checkpoint was written")
    return f"{what}; training stopped, {kept}; lower train.lr (or check the data for extreme values)"


def _logged_epochs(path: Path) -> int:
    """Epoch lines in a run's ``log.jsonl`` (0 when there is none)."""
    try:
        return sum(1 for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip())
    except OSError:
        return 0


def _check_run_dir(out: Path, resume: bool) -> None:
    if (out / "last.pt").exists() and not resume:
        raise ConfigError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    logged = _logged_epochs(out / "log.jsonl")
    if logged and not (out / "last.pt").exists():
        epochs = f"{logged} epoch" + "s" * (logged != 1)
        raise ConfigError(f"{out} holds a run's log.jsonl ({epochs}) but no last.pt, so it cannot be resumed; "
                          "choose another --out (nothing in it was changed)")


def train(cfg: dict[str, Any], out_dir: str | Path, resume: bool = False, device: str | None = None,
          progress: bool | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Train per ``cfg`` into ``out_dir``; returns the run directory (``last.pt`` is the final model).

    A directory that already holds a run is continued only with ``resume``; one whose ``last.pt`` is
    gone but whose ``log.jsonl`` is not is refused either way (starting over would overwrite that log).
    """
    out = Path(out_dir)
    _check_run_dir(out, resume)
    rank, world, local_rank = _ddp_info()
    t = cfg["train"]
    if int(t["batch_size"]) % world:
        raise ConfigError(f"train.batch_size {t['batch_size']} is not a multiple of the {world} processes: every "
                          "process takes batch_size / processes samples a batch; pick a batch size they divide")
    dev = resolve_device(device or cfg.get("device") or "auto")
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        if dev.type == "cuda":
            dev = torch.device("cuda", local_rank)
            torch.cuda.set_device(dev)
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    if rank != 0:
        log = lambda s: None  # noqa: E731
    if t["threads"]:
        torch.set_num_threads(int(t["threads"]))
    if t["deterministic"]:
        torch.use_deterministic_algorithms(True)
    seed = int(cfg["seed"])
    torch.manual_seed(seed)
    np.random.seed(seed)
    run = Run(cfg, dev)
    per_rank = len(run.train_idx) * int(t["passes_per_epoch"]) // world
    if per_rank < int(t["batch_size"]) // world:
        raise ConfigError(f"the training split {cfg['data']['train_split']!r} holds {len(run.train_idx)} samples, "
                          f"fewer than train.batch_size {t['batch_size']} per pass: an epoch would take no step "
                          "(a partial last batch is dropped); lower the batch size or use a larger split")
    model = STF(run.model_cfg).to(dev)
    ddp_model = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev] if dev.type == "cuda" else None)
    opt = build_optimizer(model, t)
    amp = bool(t["amp"]) and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    mean_pose = run.mean_pose().to(dev)
    probe = torch.stack([run.test_set[i]["x"] for i in range(min(t["probe_size"], len(run.test_set)))]).to(dev)
    fault = fault_hook_from_env()

    start_epoch, global_step, history = 0, 0, []
    ckpt_path = out / "last.pt"
    if resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path, map_location=dev)
        if ck.get("config", {}).get("model") != cfg["model"] or ck.get("config", {}).get("loss") != cfg["loss"]:
            raise ConfigError(f"{ckpt_path}: the run was started with another model/loss config; "
                              "use a fresh --out to change it")
        check_compatible(ck, run.store.layout, run.store.channels, run.store.num_classes,
                         where=f"data set {cfg['data']['spec']}")
        if not isinstance(ck.get("optimizer"), dict):
            raise ConfigError(f"{ckpt_path}: holds no optimizer state (a released checkpoint?), so the run cannot "
                              "be resumed; train into a fresh --out")
        problem = state_mismatch(model.state_dict(), ck["model"])
        if problem:
            raise ConfigError(f"{ckpt_path}: its weights do not fit the network this config and data build "
                              f"({problem}); use a fresh --out")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        _set_rng_state(ck["rng"])
        start_epoch, global_step, history = ck["epoch"], ck["global_step"], list(ck["history"])
        log(f"resumed {ckpt_path} at epoch {start_epoch}")
    elif resume:
        log(f"--resume: no checkpoint in {out}, starting fresh")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(".last.pt.tmp-*"):  # left by a process killed between write and rename
            stale.unlink()
        atomic_write_bytes(out / "config.yaml", dump(cfg).encode())
        segment = {"code_version": code_version(), "device": str(dev), "world_size": world,
                   "threads": torch.get_num_threads(), "torch": torch.__version__,
                   "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "start_epoch": start_epoch}
        atomic_write_json(out / "run.json", _run_record(out / "run.json" if start_epoch else None, seed, segment, log))

    bs = int(t["batch_size"]) // world
    accumulate = int(t["accumulate"])
    show = progress if progress is not None else sys.stderr.isatty()
    for epoch in range(start_epoch, int(t["epochs"])):
        run.train_set.set_epoch(epoch)
        order = epoch_order(len(run.train_set), seed, epoch, int(t["passes_per_epoch"]))
        order = rank_order(order, bs, rank, world)
        loader = _loader(run.train_set, order, bs, int(t["num_workers"]), drop_last=True)
        n_batches = len(loader)
        focus_on = epoch >= run.loss_cfg.warmup_epochs and run.loss_cfg.any_focus_loss
        model.train()
        sums: dict[str, float] = {}
        correct = seen = 0
        t0 = time.time()
        it = loader
        if show and rank == 0:
            from tqdm import tqdm
            it = tqdm(loader, desc=f"epoch {epoch + 1}/{t['epochs']}", file=sys.stderr, mininterval=1, leave=False)
        group = accumulation_sizes(n_batches, accumulate)
        for b_i, batch in enumerate(it):
            if b_i % accumulate == 0:
                opt.zero_grad(set_to_none=True)
            steps_now = b_i % accumulate == group[b_i] - 1  # the last batch of this optimizer step
            x, y = batch["x"].to(dev, non_blocking=True), batch["label"].to(dev)
            # under DDP, gradients are reduced across ranks only on a step's last batch
            sync = contextlib.nullcontext() if steps_now or world == 1 else ddp_model.no_sync()
            with sync:
                res = stf_step_losses(model, x, y, run.loss_cfg, focus_on, mean_pose, amp, forward=ddp_model)
                if world == 1 and not amp and not all(map(math.isfinite, res.terms.values())):
                    # (under AMP the gradient scaler skips such steps; under DDP the weights are checked
                    # after the epoch, on every rank alike)
                    raise TrainingError(_diverged(f"epoch {epoch + 1}, batch {b_i + 1}: the loss is not finite "
                                                  f"({_terms(res.terms)})", ckpt_path, start_epoch))
                scaler.scale(res.total / group[b_i]).backward()
            if steps_now:
                lr = lr_at(epoch + b_i / max(n_batches, 1), t)
                for g in opt.param_groups:
                    g["lr"] = lr
                scaler.step(opt)
                scaler.update()
                global_step += 1
                if fault:
                    fault("step", global_step)
            for k, v in res.terms.items():
                sums[k] = sums.get(k, 0.0) + v
            correct += int((res.out.logits.argmax(1) == y).sum())
            seen += len(y)
        dt = time.time() - t0
        bad = next((n for n, p in model.named_parameters() if not torch.isfinite(p).all()), None)
        if bad is not None:
            raise TrainingError(_diverged(f"epoch {epoch + 1}: the weights are no longer finite ({bad})",
                                          ckpt_path, start_epoch))
        entry = {"epoch": epoch + 1, "lr": lr_at(epoch + 1 - 1e-9, t), "focus_losses_on": focus_on,
                 **{f"loss_{k}": v / max(n_batches, 1) for k, v in sums.items()},
                 "train_top1": correct / max(seen, 1),  # rank 0's share under DDP
                 "samples_per_s": seen * world / dt if dt > 0 else None,
                 "epoch_s": round(dt, 2)}
        per_module = focus_cosine(model, probe)
        entry["focus_cosine_train_eval"] = sum(per_module) / len(per_module)
        entry["focus_cosine_per_module"] = [round(c, 4) for c in per_module]
        last = epoch + 1 == int(t["epochs"])
        if run.eval_idx is not None and rank == 0 and ((epoch + 1) % int(t["eval_every"]) == 0 or last):
            ev = SkeletonDataset(run.store, run.eval_idx, run.test_pipe, seed)
            logits, labels, _ = predict(model, ev, dev, int(t["eval_batch_size"]))
            entry["eval_top1"] = float((logits.argmax(1) == labels).mean())
            entry["eval_split"] = cfg["data"]["eval_split"]
        history.append(entry)
        log(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in entry.items()}))
        if rank == 0:
            ck = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "config": cfg,
                  "model_config": run.model_cfg.to_dict(), "loss_config": run.loss_cfg.to_dict(),
                  "layout": run.store.layout, "channels": run.store.channels, "stream": cfg["stream"],
                  "persons": run.persons, "class_names": list(run.store.class_names), "seed": seed,
                  "code_version": code_version(), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  "epoch": epoch + 1, "global_step": global_step, "model": model.state_dict(),
                  "optimizer": opt.state_dict(), "scaler": scaler.state_dict() if amp else None,
                  "rng": _rng_state(), "mean_pose": mean_pose.cpu(), "history": history,
                  "train_ids": [run.store.ids[i] for i in run.train_idx]}
            save_checkpoint(ck, ckpt_path, (lambda ev: fault(ev, epoch + 1)) if fault else None)
            atomic_write_bytes(out / "log.jsonl", "".join(json.dumps(h) + "\n" for h in history).encode())
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # every rank returns only after rank 0 wrote the last checkpoint
        dist.destroy_process_group()
    return out


def train_from_cli(a) -> int:
    from .config import load_config

    overrides = list(a.set)
    if a.seed is not None:
        overrides.append(f"seed={a.seed}")
    cfg = load_config(a.config, overrides)
    out = Path(a.out) if a.out else Path(os.environ.get("STF_RUNS_DIR", "runs")) / f"{cfg['name']}-seed{cfg['seed']}"
    run = train(cfg, out, resume=a.resume, device=a.device)
    if _ddp_info()[0] != 0:
        return 0
    ck = load_checkpoint(run / "last.pt")
    last = ck["history"][-1] if ck["history"] else {}
    print(f"trained {ck['epoch']} epochs -> {run / 'last.pt'}" +
          (f"; {last['eval_split']} top-1 {100 * last['eval_top1']:.2f}%" if "eval_top1" in last else ""))
    return 0
