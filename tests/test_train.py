"""Training: resume after SIGKILL equals an uninterrupted run, bit for bit (CPU, deterministic)."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stf.checkpoint import load_checkpoint, model_from_checkpoint
from stf.errors import CheckpointError, ConfigError

from .conftest import REPO, need_data

TINY = ["--config", str(REPO / "configs" / "stf_ucla_xview_joint_tiny.yaml"), "--set", "train.epochs=3",
        "--set", "train.deterministic=true", "--set", "train.threads=1"]


def _train(out: Path, *extra: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("STF_FAULT", None)
    if fault:
        env["STF_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "stf", "train", *TINY, "--out", str(out), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _assert_same_state(a: dict, b: dict) -> None:
    for key in ("model",):
        assert a[key].keys() == b[key].keys()
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), f"{key}.{k} differs"
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        for name in sa[k]:
            assert torch.equal(torch.as_tensor(sa[k][name]), torch.as_tensor(sb[k][name])), f"optimizer {k}.{name}"
    assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    need_data("nw-ucla")
    out = tmp_path_factory.mktemp("train") / "full"
    r = _train(out)
    assert r.returncode == 0, r.stderr
    return load_checkpoint(out / "last.pt")


@pytest.mark.parametrize("fault", ["kill_at_step:9", "kill_before_rename:2"])
def test_resume_after_sigkill_equals_uninterrupted(uninterrupted, tmp_path, fault):
    out = tmp_path / "run"
    r = _train(out, fault=fault)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-2000:])
    ck = load_checkpoint(out / "last.pt")
    assert ck["epoch"] == 1  # killed in epoch 2 (mid-epoch, or before epoch 2's checkpoint was renamed)
    if fault.startswith("kill_before_rename"):
        assert list(out.glob(".last.pt.tmp-*")), "the killed write should have left its temporary file"
    r = _train(out, "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    assert not list(out.glob(".last.pt.tmp-*"))
    _assert_same_state(load_checkpoint(out / "last.pt"), uninterrupted)
    assert (out / "log.jsonl").read_text().count("\n") == 3
    rec = json.loads((out / "run.json").read_text())  # the first start is kept beside the resume
    assert rec["seed"] == 0 and [s["start_epoch"] for s in rec["segments"]] == [0, 1]
    assert rec["code_version"] == rec["segments"][0]["code_version"] and rec["started"] == rec["segments"][0]["started"]


def test_checkpoint_contents(uninterrupted):
    ck = uninterrupted
    assert ck["layout"] == "kinect20" and ck["channels"] == "xyz" and len(ck["class_names"]) == 10
    assert ck["seed"] == 0 and ck["code_version"] and ck["config"]["name"] == "stf_ucla_xview_joint_tiny"
    assert ck["mean_pose"].shape == (3, 20)
    h = ck["history"]
    assert [e["epoch"] for e in h] == [1, 2, 3]
    assert not h[0]["focus_losses_on"] and h[1]["focus_losses_on"]
    assert {"loss_cls", "loss_e", "loss_c", "loss_d", "loss_g", "samples_per_s", "focus_cosine_train_eval",
            "focus_cosine_per_module"} <= set(h[1])
    per = h[1]["focus_cosine_per_module"]
    assert len(per) == 6 and all(-1.0 <= c <= 1.0 for c in per)
    assert h[1]["focus_cosine_train_eval"] == pytest.approx(sum(per) / 6, abs=1e-3)
    model = model_from_checkpoint(ck)
    assert not model.training


def test_existing_run_needs_resume(tmp_path):
    need_data("nw-ucla")
    out = tmp_path / "run"
    assert _train(out, "--set", "train.epochs=1").returncode == 0
    r = _train(out, "--set", "train.epochs=1")
    assert r.returncode == 2 and "--resume" in r.stderr and "Traceback" not in r.stderr
    # its checkpoint lost, the run's log is kept: neither a fresh start nor --resume overwrites it
    (out / "last.pt").unlink()
    log = (out / "log.jsonl").read_bytes()
    for extra in ((), ("--resume",)):
        r = _train(out, "--set", "train.epochs=1", *extra)
        assert r.returncode == 2 and "log.jsonl (1 epoch) but no last.pt" in r.stderr and "Traceback" not in r.stderr
    assert (out / "log.jsonl").read_bytes() == log and not (out / "last.pt").exists()


def test_bad_checkpoints_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a loadable checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not an stf checkpoint"):
        load_checkpoint(other)
    cut = tmp_path / "cut.pt"  # a download or copy stopped half-way
    cut.write_bytes(other.read_bytes()[: other.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.pt: not a loadable checkpoint .the file is truncated"):
        load_checkpoint(cut)


def test_weights_that_do_not_fit_the_model_config_are_named(tmp_path):
    ck = load_checkpoint(REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt")
    ck["model"]["units.0.adjacency.B"] = torch.zeros(1, 1)
    with pytest.raises(CheckpointError, match=r"do not fit its model config: units.0.adjacency.B is \(1, 1\) in the "
                                              r"checkpoint but \(3, 20, 20\) in the network"):
        model_from_checkpoint(ck)
    del ck["model"]["fc.bias"]
    ck["model"]["extra.weight"] = torch.zeros(2)
    with pytest.raises(CheckpointError, match=r"1 tensor\(s\) missing \(first: fc.bias\); 1 unexpected tensor\(s\) "
                                              r"\(first: extra.weight\)"):
        model_from_checkpoint(ck)


def test_damaged_copies_of_the_shipped_checkpoint_are_refused(tmp_path):
    """Cut anywhere, or 64 bytes flipped anywhere (torch.load itself loaded those as other weights)."""
    raw = (REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt").read_bytes()
    bad = tmp_path / "bad.pt"
    for frac in (0.0005, 0.005, 0.05, 0.5, 0.999):
        bad.write_bytes(raw[: int(len(raw) * frac)])
        with pytest.raises(CheckpointError, match="bad.pt: not a loadable checkpoint .the file is truncated or corrupt"):
            load_checkpoint(bad)
    for frac in (0.01, 0.3, 0.6, 0.95):
        b = bytearray(raw)
        at = int(len(raw) * frac)
        b[at:at + 64] = bytes(x ^ 0xFF for x in b[at:at + 64])
        bad.write_bytes(bytes(b))
        with pytest.raises(CheckpointError, match=r"bad.pt: corrupt checkpoint: archive member \S+ fails its CRC-32"):
            load_checkpoint(bad)
    bad.write_bytes(raw)
    assert load_checkpoint(bad)["layout"] == "kinect20"


def test_malicious_checkpoint_does_not_run_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "evil.pt"
    torch.save({"schema": "stf-checkpoint", "x": Evil()}, bad)
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)
    assert not marker.exists()


def test_unknown_config_key_is_rejected(tmp_path):
    from stf.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {spec: ucla:nw-ucla}\ntrain: {epochz: 3}\n")
    with pytest.raises(ConfigError, match="epochz"):
        load_config(cfg)


def test_ddp_two_processes_on_cpu(tmp_path):
    """torch DDP (gloo) with two CPU processes, focus losses on, 2 batches per step (no_sync on the first):
    trains and writes one checkpoint. 39 samples: rank::world slices of 20 / 19 would give 5 / 4 batches of
    4 (3 / 2 gradient reductions an epoch: the ranks desync); each rank takes 16 (4 batches, 2 steps)."""
    need_data("nw-ucla")
    env = {k: v for k, v in os.environ.items() if k != "STF_FAULT"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "stf", "train",
                        "--config", str(REPO / "configs" / "stf_ucla_xview_joint_tiny.yaml"), "--out",
                        str(tmp_path / "ddp"), "--set", "train.threads=1", "--set", "train.accumulate=2",
                        "--set", "train.max_samples=39"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    ck = load_checkpoint(tmp_path / "ddp" / "last.pt")
    assert ck["epoch"] == 2 and ck["history"][1]["focus_losses_on"]
    assert len(ck["train_ids"]) == 39
    assert ck["global_step"] == 2 * 2  # per rank and epoch: 16 samples, batches of 4, 2 batches per step
    assert r.stdout.count("trained 2 epochs") == 1  # only rank 0 reports


def test_every_ddp_process_takes_the_same_whole_batches():
    """23 samples, 2 processes, 4 a batch: an rank::world slice gives 12 / 11 (3 / 2 batches: the ranks'
    collectives desync); the shares are 8 / 8, disjoint, and with one process only the partial batch goes."""
    from stf.train import rank_order

    order = np.random.default_rng(0).permutation(23)
    parts = [rank_order(order, 4, r, 2) for r in range(2)]
    assert [len(p) for p in parts] == [8, 8]
    assert not set(parts[0].tolist()) & set(parts[1].tolist())
    assert set(np.concatenate(parts).tolist()) == set(order[:16].tolist())
    assert np.array_equal(rank_order(order, 4, 0, 1), order[:20])


def test_a_batch_size_the_processes_do_not_divide_is_refused(tmp_path, monkeypatch):
    from stf.config import load_config
    from stf.train import train

    cfg = load_config(REPO / "configs" / "stf_ucla_xview_joint_tiny.yaml")  # batch 8
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ConfigError, match="train.batch_size 8 is not a multiple of the 3 processes"):
        train(cfg, tmp_path / "run", device="cpu")
    assert not (tmp_path / "run").exists()


def test_a_training_split_of_one_class_is_refused_before_any_work(tmp_path):
    from stf.config import load_config
    from stf.train import train

    need_data("nw-ucla")
    cfg = load_config(REPO / "configs" / "stf_ucla_xview_joint_tiny.yaml", ["data.train_split=xview/train & label=0"])
    with pytest.raises(ConfigError, match=r"holds samples of 1 class \('.+'\): a classifier needs at least 2"):
        train(cfg, tmp_path / "run", device="cpu")
    assert not (tmp_path / "run").exists()


def test_stratified_subset_keeps_each_class_share():
    from stf.train import stratified_subset

    labels = np.repeat(np.arange(4), [40, 20, 10, 1])
    pos = stratified_subset(labels, 0.1, seed=3)
    assert np.bincount(labels[pos], minlength=4).tolist() == [4, 2, 1, 1]  # at least one per class
    assert np.array_equal(pos, np.sort(pos)) and len(set(pos.tolist())) == len(pos)
    assert np.array_equal(pos, stratified_subset(labels, 0.1, seed=3))
    assert not np.array_equal(pos, stratified_subset(labels, 0.1, seed=4))
    assert len(stratified_subset(labels, 1.0, seed=0)) == len(labels)


def test_fraction_and_split_expressions_reach_the_run(ucla_store):
    from stf.config import load_config
    from stf.train import Run

    cfg = load_config(REPO / "configs" / "stf_ucla_xview_joint_cpu.yaml",
                      ["train.fraction=0.1", "data.train_split=view=1|2 & subject<=8"])
    run = Run(cfg, torch.device("cpu"))
    pool = ucla_store.split_indices("xview/train & subject<=8")
    counts = np.bincount(ucla_store.labels[pool], minlength=10)
    got = np.bincount(run.store.labels[run.train_idx], minlength=10)
    assert got.tolist() == [max(1, round(0.1 * c)) for c in counts]
    assert set(run.train_idx.tolist()) <= set(pool.tolist())
    with pytest.raises(ConfigError, match=r"train.fraction must be a number in \(0, 1\]"):
        load_config(REPO / "configs" / "stf_ucla_xview_joint_cpu.yaml", ["train.fraction=0"])


def test_a_split_smaller_than_a_batch_is_refused_before_any_work(tmp_path):
    from stf.config import load_config
    from stf.train import train

    need_data("nw-ucla")
    cfg = load_config(REPO / "configs" / "stf_ucla_xview_joint_tiny.yaml", ["train.max_samples=5"])
    with pytest.raises(ConfigError, match=r"holds 5 samples, fewer than train.batch_size 8 per pass: an epoch "
                                          r"would take no step"):
        train(cfg, tmp_path / "run", device="cpu")
    assert not (tmp_path / "run").exists()


def test_accumulation_sizes_by_hand():
    from stf.train import accumulation_sizes

    assert accumulation_sizes(6, 1) == [1] * 6
    assert accumulation_sizes(6, 3) == [3] * 6
    assert accumulation_sizes(7, 3) == [3, 3, 3, 3, 3, 3, 1]  # the epoch's last step holds the one left
    assert accumulation_sizes(5, 8) == [5] * 5
    assert accumulation_sizes(0, 2) == []


def test_accumulated_step_is_the_mean_gradient_of_its_batches(tmp_path):
    """train.accumulate=3: each optimizer step applies the mean of 3 batches' gradients, focus losses on.

    Replayed by hand: every batch's gradient taken on its own with autograd.grad (no accumulation in
    .grad), averaged, one SGD step per 3 batches, at the learning rate of the step's last batch.
    """
    from stf.config import load_config
    from stf.data.dataset import epoch_order
    from stf.model import STF, stf_step_losses
    from stf.train import Run, build_optimizer, lr_at, train

    need_data("nw-ucla")
    cfg = load_config(REPO / "configs" / "stf_ucla_xview_joint_tiny.yaml",
                      ["train.epochs=1", "train.accumulate=3", "loss.warmup_epochs=0", "train.threads=1",
                       "data.eval_split=null"])
    train(cfg, tmp_path / "run", device="cpu", progress=False, log=lambda s: None)
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    t = cfg["train"]
    assert ck["global_step"] == 2 and ck["history"][0]["focus_losses_on"]  # 48 samples / 8 = 6 batches = 2 steps

    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    run = Run(cfg, torch.device("cpu"))
    model = STF(run.model_cfg).train()
    opt = build_optimizer(model, t)
    mean_pose = run.mean_pose()
    run.train_set.set_epoch(0)
    order = epoch_order(len(run.train_set), cfg["seed"], 0, 1)
    batches = [order[i:i + t["batch_size"]] for i in range(0, len(order), t["batch_size"])]
    assert len(batches) == 6
    params = list(model.parameters())
    for first in (0, 3):
        mean = [torch.zeros_like(p) for p in params]
        for b in batches[first:first + 3]:
            items = [run.train_set[int(i)] for i in b]
            x = torch.stack([it["x"] for it in items])
            y = torch.tensor([it["label"] for it in items])
            res = stf_step_losses(model, x, y, run.loss_cfg, True, mean_pose)
            assert set(res.terms) == {"cls", "e", "c", "d", "g"}
            # the gradient of total / 3, summed: the same float operations as the mean, in the order
            # training does them (L_e masks the most-focused joints, a selection that a last-bit
            # difference in the weights can flip, so the replay must not round differently)
            for m, g in zip(mean, torch.autograd.grad(res.total / 3, params, allow_unused=True)):
                if g is not None:
                    m += g
        for p, m in zip(params, mean):
            p.grad = m
        for grp in opt.param_groups:
            grp["lr"] = lr_at(0 + (first + 2) / 6, t)
        opt.step()
    got = ck["model"]
    for name, v in model.state_dict().items():
        assert torch.equal(got[name], v), name  # the same float operations: bit for bit
    # and the steps did move the weights: a run without accumulation ends elsewhere
    cfg1 = load_config(REPO / "configs" / "stf_ucla_xview_joint_tiny.yaml",
                       ["train.epochs=1", "loss.warmup_epochs=0", "train.threads=null", "data.eval_split=null"])
    train(cfg1, tmp_path / "run1", device="cpu", progress=False, log=lambda s: None)
    ck1 = load_checkpoint(tmp_path / "run1" / "last.pt")
    assert ck1["global_step"] == 6
    assert not torch.allclose(ck1["model"]["fc.weight"], got["fc.weight"], rtol=1e-3, atol=1e-5)


def test_resume_refuses_a_checkpoint_it_cannot_continue(tmp_path):
    """A released checkpoint (no optimizer) or one for another layout in --out: a clear error, the file kept."""
    from stf.checkpoint import save_checkpoint

    need_data("nw-ucla")
    out = tmp_path / "run"
    assert _train(out, "--set", "train.epochs=1").returncode == 0
    good = load_checkpoint(out / "last.pt")
    released = {k: v for k, v in good.items() if k not in ("optimizer", "scheduler", "scaler")}
    save_checkpoint(released, out / "last.pt")
    before = (out / "last.pt").read_bytes()
    r = _train(out, "--resume")
    assert r.returncode == 2 and "holds no optimizer state (a released checkpoint?)" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and (out / "last.pt").read_bytes() == before
    save_checkpoint({**good, "layout": "ntu25", "mean_pose": None}, out / "last.pt")
    r = _train(out, "--resume")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "ntu25" in r.stderr and "kinect20" in r.stderr, r.stderr[-2000:]


@pytest.mark.parametrize("name, message", [
    ("gpu", "unknown device 'gpu': expected auto, cpu, cuda or cuda:N"),
    ("cpu:1", "unknown device 'cpu:1'"),
    ("cuda:x", "unknown device 'cuda:x'"),
])
def test_device_names_are_checked(name, message):
    from stf.utils import resolve_device

    with pytest.raises(ConfigError, match=message):
        resolve_device(name)
    assert resolve_device("CPU").type == "cpu" and resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda:0")
    else:
        with pytest.raises(ConfigError, match="CUDA device"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.parametrize("content, problem", [(b'{"seed": 0, "segm', "unreadable"), (b"[1, 2]", "not a run record"),
                                              (b"\xff\xfe", "unreadable")])
def test_a_damaged_run_record_is_kept_aside_on_resume(tmp_path, content, problem):
    from stf.train import _run_record

    rec = tmp_path / "run.json"
    rec.write_bytes(content)
    (tmp_path / "run.json.damaged").write_bytes(b"an older one")
    said = []
    new = _run_record(rec, 0, {"start_epoch": 3, "code_version": "v"}, said.append)
    assert not rec.exists() and (tmp_path / "run.json.damaged-2").read_bytes() == content
    assert (tmp_path / "run.json.damaged").read_bytes() == b"an older one"
    assert new["segments"] == [{"start_epoch": 3, "code_version": "v",
                                "earlier_record": f"run.json.damaged-2 ({problem}" + new["segments"][0]
                                ["earlier_record"].split(problem, 1)[1]}]
    assert len(said) == 1 and problem in said[0] and "kept as run.json.damaged-2" in said[0]
    good = _run_record(None, 0, {"start_epoch": 0})
    rec.write_text(json.dumps(good))
    assert _run_record(rec, 0, {"start_epoch": 2})["segments"] == [{"start_epoch": 0}, {"start_epoch": 2}]


def test_a_diverging_run_stops_with_a_clear_error_and_keeps_its_last_checkpoint(tmp_path):
    """A learning rate far too high made the loss NaN, and training went on, writing NaN weights over the
    last good last.pt every epoch (eval then refused the checkpoint). Now it stops at the first non-finite
    loss, before the step, saying so, and last.pt stays that of the last finished epoch."""
    need_data("nw-ucla")
    out = tmp_path / "run"
    r = _train(out, "--set", "train.epochs=1")
    assert r.returncode == 0, r.stderr[-2000:]
    before = load_checkpoint(out / "last.pt")
    log_before = (out / "log.jsonl").read_bytes()
    r = _train(out, "--resume", "--set", "train.epochs=2", "--set", "train.lr=1.0e+30", "--set", "train.warmup_epochs=0")
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert "epoch 2, batch 2: the loss is not finite (L_cls nan" in last or \
        "epoch 2, batch 2: the loss is not finite (L_cls inf" in last, r.stderr[-2000:]
    assert f"{out / 'last.pt'} (its last finished epoch) is kept; lower train.lr" in last
    assert "Traceback" not in r.stderr
    after = load_checkpoint(out / "last.pt")
    assert after["epoch"] == 1 and all(torch.equal(before["model"][k], after["model"][k]) for k in before["model"])
    assert (out / "log.jsonl").read_bytes() == log_before
