"""Configs: every value is checked for type and range before a run opens data or writes anything."""
import math
import os
import subprocess
import sys

import pytest

from stf.config import Rule, load_config
from stf.errors import ConfigError
from stf.model.losses import LossConfig
from stf.model.stf import ModelConfig

from .conftest import REPO, need_data

TINY = REPO / "configs" / "stf_ucla_xview_joint_tiny.yaml"


def test_rule_hand_cases():
    assert Rule(int, 1).ok(1) and not Rule(int, 1).ok(0) and not Rule(int, 1).ok(2.0)
    assert not Rule(int, 0).ok(True)  # YAML's true is not a count
    assert Rule(float, 0).ok(0) and Rule(float, 0).ok(1e-4) and not Rule(float, 0).ok(-1e-9)
    assert not Rule(float).ok(math.nan) and not Rule(float).ok(math.inf) and not Rule(float).ok("0.1")
    half_open = Rule(float, 0, 1, hi_open=True)
    assert half_open.ok(0) and half_open.ok(0.999) and not half_open.ok(1)
    assert not Rule(float, 0, lo_open=True).ok(0)
    assert Rule(int, 1, nullable=True).ok(None) and not Rule(int, 1).ok(None)
    assert Rule(bool).ok(False) and not Rule(bool).ok(0)
    assert half_open.describe() == "a number in [0, 1)"


@pytest.mark.parametrize("override, message", [
    ("train.epochs=abc", "train.epochs must be an integer >= 1, got 'abc'"),
    ("train.batch_size=0", "train.batch_size must be an integer >= 1"),
    ("train.lr=-0.1", "train.lr must be a number > 0"),
    ("train.momentum=1", r"train.momentum must be a number in \[0, 1\)"),
    ("train.amp=1", "train.amp must be true or false"),
    ("train.threads=0", "train.threads must be an integer >= 1 or null"),
    ("train.lr_steps=[30, x]", "train.lr_steps must be a list of integers >= 0"),
    ("seed=0.5", "seed must be an integer"),
])
def test_bad_train_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(TINY, [override])


@pytest.mark.parametrize("section, key, value, message", [
    ("loss", "lambda_d", -0.1, "loss.lambda_d must be a number >= 0"),
    ("loss", "sigma", 1.5, r"loss.sigma must be a number in \[0, 1\]"),
    ("loss", "omega", 0, "loss.omega must be a number > 0"),
    ("loss", "le_fraction", 0, r"loss.le_fraction must be a number in \(0, 1\]"),
    ("loss", "warmup_epochs", 2.5, "loss.warmup_epochs must be an integer >= 0"),
    ("model", "dropout", 1.0, r"model.dropout must be a number in \[0, 1\)"),
    ("model", "channels", [64, 0], "model.channels must be a list of integers >= 1"),
    ("model", "embed_ratio", 0, "model.embed_ratio must be an integer >= 1"),
    ("model", "use_learned_adjacency", "yes", "model.use_learned_adjacency must be true or false"),
])
def test_bad_loss_and_model_values_name_the_key(section, key, value, message):
    cfg = load_config(TINY)
    cfg[section][key] = value
    with pytest.raises(ConfigError, match=message):
        LossConfig.from_dict(cfg["loss"]) if section == "loss" else ModelConfig.check_section(cfg["model"])


@pytest.mark.parametrize("override, message", [
    ("trian.epochs=5", "unknown config keys: trian"),
    ("data.eval_splt=view3", "unknown data config keys: eval_splt"),
    ("data.persons=0", "data.persons must be an integer >= 1 or null, got 0"),
    ("data.spec=3", "data.spec must be a non-empty string, got 3"),
    ("data.eval_split=[a]", r"data.eval_split must be a non-empty string or null, got \['a'\]"),
    ("transforms.train=crop", "transforms.train: expected transforms.train and transforms.test, each a list"),
    ("transforms.val=[]", "transforms.val: expected transforms.train and transforms.test"),
    ("transforms.test=[{random_rotate: {degrees: [30, 30, 0]}}]", "transforms.test holds random step random_rotate"),
    ("transforms.test=[{crop_resize: {length: 20, p_interval: [0.5, 1.0]}}]",
     "transforms.test holds random step crop_resize"),
    ("transforms.test=[{random_resample: {length: 20}}]", "transforms.test holds random step random_resample"),
    ("loss=0.5", "loss must be a mapping of keys to values, got 0.5"),
    ("seed=-1", r"seed must be an integer in \[0, 2\*\*32 - 1\], got -1"),
    ("seed=4294967296", "seed must be an integer in"),
    ("train..epochs=5", "the key has an empty part"),
])
def test_bad_structure_names_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(TINY, [override])


def test_unreadable_config_files_are_named(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: x\n\xff\xfe\x00junk")
    with pytest.raises(ConfigError, match=r"binary.yaml: not a config: not UTF-8 text \(byte 8\)"):
        load_config(binary)
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: {spec: [unclosed\n")
    with pytest.raises(ConfigError) as ei:
        load_config(broken)
    assert "broken.yaml: invalid YAML:" in str(ei.value) and "\n" not in str(ei.value)  # one line for the CLI
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path):  # reading a FIFO waited for a writer for ever
        with pytest.raises(ConfigError, match=f"{path}: cannot read config: not a regular file"):
            load_config(path)


def test_every_shipped_config_passes_its_checks():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        cfg = load_config(path)
        LossConfig.from_dict(cfg["loss"])
        ModelConfig.check_section(cfg["model"])


def test_train_cli_checks_the_config_before_opening_data(tmp_path):
    """With no data root at all the error is still the config's: it is checked first, and no run dir is made."""
    env = {k: v for k, v in os.environ.items() if k != "STF_DATA_ROOT"}
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "stf", "train", "--config", str(TINY), "--out", str(out),
                        "--set", "loss.sigma=2"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "loss.sigma must be a number in [0, 1], got 2" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


def _real_sample(dataset: str):
    """One real sample of the layout a config's data set has."""
    from stf.data import kinetics, ntu, sbu, ucla

    if dataset == "ucla":
        return ucla.read_file(need_data("nw-ucla", "all_sqe", "a06_s03_e01_v02.json"))
    if dataset == "sbu":
        return sbu.read_file(need_data("sbu-kinect-interaction", "s01s02", "01", "001", "skeleton_pos.txt"))
    if dataset.startswith("ntu"):
        return ntu.read_file(need_data("ntu-raw-skeleton-samples", "nturgb+d_skeletons",
                                       "S001C001P001R001A050.skeleton"))
    if dataset == "kinetics":
        return kinetics.read_file(need_data("kinetics-skeleton-format", "kinetics400_sample", "--33Lscn6sk.json"))
    raise AssertionError(f"no real sample for data set {dataset!r}")


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_config_runs_on_a_real_sample_of_its_layout(path):
    """Each config's train and test pipelines and its network (full width) on a real file of its data set."""
    import numpy as np
    import torch

    from stf.data.dataset import sample_to_tensor
    from stf.model import STF
    from stf.sample import CHANNELS
    from stf.transforms import Pipeline

    cfg = load_config(path)
    model_name, dataset, *_ = path.stem.split("_")
    assert cfg["name"] == path.stem and model_name in ("stf", "backbone", "stf-maskonly")
    sample = _real_sample(dataset)
    persons = cfg["data"]["persons"] or 1
    xs = []
    for part in ("train", "test"):
        pipe = Pipeline.from_config(cfg["transforms"][part], cfg["stream"], persons)
        out, index = pipe(sample, np.random.default_rng(0))
        assert np.isfinite(out.data).all() and out.data.shape[0] == persons
        assert ((index >= -1) & (index < sample.num_frames)).all()
        xs.append(sample_to_tensor(out))
    mc = dict(cfg["model"])
    mc.update(num_classes=7, layout=sample.layout, in_channels=CHANNELS[sample.channels], persons=persons)
    model = STF(ModelConfig.from_dict(mc)).eval()
    with torch.no_grad():
        logits = model(torch.stack(xs[1:])).logits
    assert logits.shape == (1, 7) and torch.isfinite(logits).all()
