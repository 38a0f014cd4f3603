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
                deterministic, probe_size
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 65, "passes_per_epoch": 1, "batch_size": 16, "lr": 0.1, "momentum": 0.9, "nesterov": True,
    "weight_decay": 1e-4, "warmup_epochs": 5, "lr_steps": [50], "lr_gamma": 0.1, "eval_every": 5,
    "eval_batch_size": 64, "num_workers": 0, "amp": True, "threads": None, "deterministic": False,
    "probe_size": 8, "max_samples": None,
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
    try:
        with open(path) as f:
            cfg = yaml.safe_load(f) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from e
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: a config must be a mapping")
    base = cfg.pop("base", None)
    if base:
        cfg = deep_merge(_load(path.parent / base, seen | {path}), cfg)
    return cfg


def set_key(cfg: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    d = cfg
    for p in parts[:-1]:
        d = d.setdefault(p, {})
        if not isinstance(d, dict):
            raise ConfigError(f"override {dotted}: {p} is not a section")
    d[parts[-1]] = value


def normalise(cfg: dict) -> dict:
    """Fill defaults and check the sections exist."""
    cfg = copy.deepcopy(cfg)
    cfg.setdefault("seed", 0)
    cfg.setdefault("stream", "joint")
    if "data" not in cfg or "spec" not in cfg["data"]:
        raise ConfigError("config needs data.spec (a converted directory or FORMAT:PATH)")
    data = cfg["data"]
    data.setdefault("train_split", "all")
    data.setdefault("eval_split", None)
    data.setdefault("persons", None)
    cfg.setdefault("transforms", {})
    cfg["transforms"].setdefault("train", [])
    cfg["transforms"].setdefault("test", [])
    cfg.setdefault("model", {})
    cfg.setdefault("loss", {})
    unknown = set(cfg.get("train", {})) - set(TRAIN_DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown train config keys: {', '.join(sorted(unknown))}")
    cfg["train"] = {**TRAIN_DEFAULTS, **cfg.get("train", {})}
    return cfg


def dump(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)
