"""Ship a trained run: ``python -m stf release RUN_DIR --name NAME [--data DATA --split SPLIT]``.

Copies ``RUN_DIR/last.pt`` without optimizer state to ``assets/NAME.pt`` and writes its evaluation
bundle to ``assets/NAME.eval/`` (the app finds a bundle next to its checkpoint by this name). By default
the bundle is of the run's own data set (``data.spec``) and the test part of its training protocol
(``data.train_split`` ``P/train`` -> ``P/test``).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from .checkpoint import load_checkpoint, strip_for_release
from .errors import ConfigError
from .evaluate import evaluate, load_bundle, percent

ASSETS = Path(__file__).resolve().parent.parent / "assets"


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
TRAIN_PART = re.compile(r"\s*(?P<proto>[A-Za-z0-9][A-Za-z0-9._-]*)/train\s*")


def run_target(run_dir: str | Path) -> tuple[str, str]:
    """The data set and test split a run is evaluated on by default: its ``data.spec`` and the test part of
    its training split (``xview/train`` -> ``xview/test``)."""
    path = Path(run_dir) / "last.pt"
    data = (load_checkpoint(path).get("config") or {}).get("data") or {}
    spec, train_split = data.get("spec"), data.get("train_split")
    m = TRAIN_PART.fullmatch(train_split) if isinstance(train_split, str) else None
    if not isinstance(spec, str) or m is None:
        raise ConfigError(f"{path}: its training split {train_split!r} has no test part to default to; "
                          "pass --data and --split")
    return spec, f"{m['proto']}/test"


def release(run_dir: str | Path, name: str, data: str | None = None, split: str | None = None,
            assets: Path = ASSETS, force: bool = False) -> tuple[Path, Path]:
    """Write ``assets/NAME.pt`` and ``assets/NAME.eval``; an existing release is kept unless ``force``.

    ``data`` / ``split`` left None come from the run (:func:`run_target`)."""
    if not NAME.fullmatch(name):
        raise ConfigError(f"release name {name!r} must be a plain file name (letters, digits, '.', '_', '-'; "
                          "no '/'), e.g. stf_ucla_xview_joint_cpu_seed0")
    ckpt = assets / f"{name}.pt"
    taken = [p for p in (ckpt, assets / f"{name}.eval") if p.exists()]
    if taken and not force:
        raise ConfigError(f"{taken[0]} already exists; pass --force to replace the release {name!r}")
    if data is None or split is None:
        own_data, own_split = run_target(run_dir)
        data, split = data or own_data, split or own_split
    assets.mkdir(parents=True, exist_ok=True)
    bundle = assets / f"{name}.eval"
    # both are made in a scratch folder and moved in only when both succeeded: a failed release (a split
    # that selects nothing, data of another layout) leaves an existing release as it was
    tmp = Path(tempfile.mkdtemp(prefix=f".release-{name}-", dir=assets))
    try:
        strip_for_release(Path(run_dir) / "last.pt", tmp / ckpt.name)
        evaluate(tmp / ckpt.name, data, split, tmp / bundle.name, device="cpu", recorded_as=ckpt)
        _swap_in(tmp, [ckpt, bundle])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ckpt, bundle


def _swap_in(tmp: Path, targets: list[Path]) -> None:
    """Move ``tmp/<name>`` onto each target; stopped part-way, the targets are put back as they were (an old
    release whole, or nothing), never a new checkpoint beside the old bundle or an old one without its own."""
    aside = {t: tmp / f"replaced-{t.name}" for t in targets}
    moved: list[Path] = []
    try:
        for t in targets:
            if t.exists():
                os.replace(t, aside[t])
        for t in targets:
            os.replace(tmp / t.name, t)
            moved.append(t)
    except BaseException:
        for t in moved:  # the new parts that got in go back out
            shutil.rmtree(t) if t.is_dir() else t.unlink()
        for t in targets:
            if aside[t].exists():
                os.replace(aside[t], t)
        raise


def release_from_cli(a) -> int:
    ckpt, bundle = release(a.run, a.name, a.data, a.split, assets=Path(a.assets) if a.assets else ASSETS,
                           force=a.force)
    m = load_bundle(bundle).metrics
    print(f"{ckpt} ({ckpt.stat().st_size / 2 ** 20:.1f} MiB); {m['num_samples']} samples ({m['data']['split']}): "
          f"top-1 {percent(m['top1'])} -> {bundle}")
    return 0
