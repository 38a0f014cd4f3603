"""Run configs: plain YAML, named ``<model>_<dataset>_<split>_<stream>_<schedule>.yaml``.

A config may start with ``base: other.yaml`` (relative to itself) and override any key; mappings
merge recursively, everything else replaces. Sections::

    name, seed
    data:       spec (directory or FORMAT:PATH), train_split, eval_split (or null), persons, frames
    stream:     joint | bone | joint_motion | bone_motion
    transforms: train: [steps], test: [steps]          (see stf.transforms)
    model:      stf.model.ModelConfig fields (num_classes / layout / in_channels come from the data)
    loss:       stf.model.LossConfig fields (all lambda_* = 0 is the backbone)
    train:      epochs, passes_per_epoch, batch_size, lr, momentum, nesterov, weight_decay,
                warmup_epochs, lr_steps, lr_gamma, eval_every, num_workers, amp, threads,
                deterministic, probe_size, fraction (a class-stratified share of the training
                split, for scarce-data runs), max_samples (a class-balanced count)
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

#: The keys a config may have at its top level (``base`` is followed and removed when it is read).
TOP_KEYS = {"name", "seed", "stream", "device", "data", "transforms", "model", "loss", "train"}
SECTIONS = ("data", "transforms", "model", "loss", "train")
DATA_KEYS = {"spec", "train_split", "eval_split", "persons"}

TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 65, "passes_per_epoch": 1, "batch_size": 16, "lr": 0.1, "momentum": 0.9, "nesterov": True,
    "weight_decay": 1e-4, "warmup_epochs": 5, "lr_steps": [50], "lr_gamma": 0.1, "eval_every": 5,
    "eval_batch_size": 64, "num_workers": 0, "amp": True, "threads": None, "deterministic": False,
    "probe_size": 8, "max_samples": None, "fraction": None, "accumulate": 1,
}


@dataclass(frozen=True)
class Rule:
    """The type and range one config value must have (checked before anything runs)."""

    kind: type  # int | float | bool
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    nullable: bool = False

    def describe(self) -> str:
        what = {int: "an integer", float: "a number", bool: "true or false"}[self.kind]
        if self.lo is not None and self.hi is not None:
            what += f" in {'(' if self.lo_open else '['}{self.lo}, {self.hi}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            what += f" {'>' if self.lo_open else '>='} {self.lo}"
        elif self.hi is not None:
            what += f" {'<' if self.hi_open else '<='} {self.hi}"
        return what + (" or null" if self.nullable else "")

    def ok(self, v: Any) -> bool:
        if v is None:
            return self.nullable
        if self.kind is bool:
            return isinstance(v, bool)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (self.kind is int and not isinstance(v, int)):
            return False
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo)):
            return False
        return not (self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi)))


def check_values(section: str, values: dict[str, Any], rules: dict[str, Rule]) -> None:
    """Raise :class:`ConfigError` naming ``section.key`` for the first value that breaks its rule."""
    for key, rule in rules.items():
        if key in values and not rule.ok(values[key]):
            raise ConfigError(f"{section}.{key} must be {rule.describe()}, got {values[key]!r}")


def check_int_list(where: str, values: Any, lo: int) -> None:
    if not isinstance(values, (list, tuple)) or not all(Rule(int, lo).ok(v) for v in values):
        raise ConfigError(f"{where} must be a list of integers >= {lo}, got {values!r}")


TRAIN_RULES: dict[str, Rule] = {
    "epochs": Rule(int, 1), "passes_per_epoch": Rule(int, 1), "batch_size": Rule(int, 1),
    "lr": Rule(float, 0, lo_open=True), "momentum": Rule(float, 0, 1, hi_open=True), "nesterov": Rule(bool),
    "weight_decay": Rule(float, 0), "warmup_epochs": Rule(int, 0), "lr_gamma": Rule(float, 0, lo_open=True),
    "eval_every": Rule(int, 1), "eval_batch_size": Rule(int, 1), "num_workers": Rule(int, 0), "amp": Rule(bool),
    "threads": Rule(int, 1, nullable=True), "deterministic": Rule(bool), "probe_size": Rule(int, 1),
    "max_samples": Rule(int, 1, nullable=True), "fraction": Rule(float, 0, 1, lo_open=True, nullable=True),
    "accumulate": Rule(int, 1),
}


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_config(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Load a YAML config (following ``base:``), apply ``key.sub=value`` overrides, fill defaults."""
    cfg = _load(Path(path), set())
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must be KEY=VALUE")
        set_key(cfg, key, yaml.safe_load(raw))
    cfg.setdefault("name", Path(path).stem)
    return normalise(cfg)


def _load(path: Path, seen: set) -> dict:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: 'base' chain loops")
    if path.exists() and not path.is_file():  # a folder, or a FIFO that open() would wait on for ever
        raise ConfigError(f"{path}: cannot read config: not a regular file")
    try:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a config: not UTF-8 text (byte {e.start})") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(e).split())}") from e
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: a config must be a mapping")
    base = cfg.pop("base", None)
    if base:
        cfg = deep_merge(_load(path.parent / base, seen | {path}), cfg)
    return cfg


def set_key(cfg: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    if not all(p.strip() for p in parts):
        raise ConfigError(f"override {dotted!r}={value!r}: the key has an empty part (expected e.g. train.epochs=5)")
    d = cfg
    for p in parts[:-1]:
        d = d.setdefault(p, {})
        if not isinstance(d, dict):
            raise ConfigError(f"override {dotted}: {p} is not a section")
    d[parts[-1]] = value


def _check_keys(what: str, section: dict, allowed) -> None:
    unknown = set(section) - set(allowed)
    if unknown:
        raise ConfigError(f"unknown {what} keys: {', '.join(sorted(map(str, unknown)))} "
                          f"(known: {', '.join(sorted(allowed))})")


def normalise(cfg: dict) -> dict:
    """Fill defaults and check the sections exist."""
    cfg = copy.deepcopy(cfg)
    _check_keys("config", cfg, TOP_KEYS)
    for sec in SECTIONS:
        if sec in cfg and not isinstance(cfg[sec], dict):
            raise ConfigError(f"{sec} must be a mapping of keys to values, got {cfg[sec]!r}")
    cfg.setdefault("seed", 0)
    cfg.setdefault("stream", "joint")
    if "data" not in cfg or "spec" not in cfg["data"]:
        raise ConfigError("config needs data.spec (a converted directory or FORMAT:PATH)")
    data = cfg["data"]
    _check_keys("data config", data, DATA_KEYS)
    data.setdefault("train_split", "all")
    data.setdefault("eval_split", None)
    data.setdefault("persons", None)
    for key in ("spec", "train_split", "eval_split"):
        if not (isinstance(data[key], str) and data[key].strip()) and not (key == "eval_split" and data[key] is None):
            raise ConfigError(f"data.{key} must be a non-empty string{' or null' * (key == 'eval_split')}, "
                              f"got {data[key]!r}")
    check_values("data", data, {"persons": Rule(int, 1, nullable=True)})
    cfg.setdefault("transforms", {})
    cfg["transforms"].setdefault("train", [])
    cfg["transforms"].setdefault("test", [])
    for key, steps in cfg["transforms"].items():
        if key not in ("train", "test") or not isinstance(steps, list):
            raise ConfigError(f"transforms.{key}: expected transforms.train and transforms.test, each a list of "
                              f"steps, got {key}: {steps!r}")
    from .transforms import Pipeline  # (imported here: transforms imports nothing of config, but is heavier)

    if aug := Pipeline.from_config(cfg["transforms"]["test"]).random_steps():
        raise ConfigError(f"transforms.test holds random step {', '.join(aug)}: test preprocessing is deterministic "
                          "(no test-time augmentation; crop_resize takes one p_interval value there)")
    cfg.setdefault("model", {})
    cfg.setdefault("loss", {})
    _check_keys("train config", cfg.get("train", {}), TRAIN_DEFAULTS)
    cfg["train"] = {**TRAIN_DEFAULTS, **cfg.get("train", {})}
    check_values("train", cfg["train"], TRAIN_RULES)
    check_int_list("train.lr_steps", cfg["train"]["lr_steps"], 0)
    if not isinstance(cfg["seed"], int) or isinstance(cfg["seed"], bool) or not 0 <= cfg["seed"] < 2 ** 32:
        raise ConfigError(f"seed must be an integer in [0, 2**32 - 1], got {cfg['seed']!r}")
    return cfg


def dump(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)
