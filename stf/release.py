"""Ship a trained run: ``python -m stf release RUN_DIR --name NAME [--data DATA --split SPLIT]``.

Copies ``RUN_DIR/last.pt`` without optimizer state to ``assets/NAME.pt`` and writes its evaluation
bundle to ``assets/NAME.eval/`` (the app finds a bundle next to its checkpoint by this name).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from .checkpoint import strip_for_release
from .errors import ConfigError
from .evaluate import evaluate, load_bundle, percent

ASSETS = Path(__file__).resolve().parent.parent / "assets"


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def release(run_dir: str | Path, name: str, data: str, split: str, assets: Path = ASSETS,
            force: bool = False) -> tuple[Path, Path]:
    """Write ``assets/NAME.pt`` and ``assets/NAME.eval``; an existing release is kept unless ``force``."""
    if not NAME.fullmatch(name):
        raise ConfigError(f"release name {name!r} must be a plain file name (letters, digits, '.', '_', '-'; "
                          "no '/'), e.g. stf_ucla_xview_joint_cpu_seed0")
    ckpt = assets / f"{name}.pt"
    taken = [p for p in (ckpt, assets / f"{name}.eval") if p.exists()]
    if taken and not force:
        raise ConfigError(f"{taken[0]} already exists; pass --force to replace the release {name!r}")
    assets.mkdir(parents=True, exist_ok=True)
    bundle = assets / f"{name}.eval"
    # both are made in a scratch folder and moved in only when both succeeded: a failed release (a split
    # that selects nothing, data of another layout) leaves an existing release as it was
    tmp = Path(tempfile.mkdtemp(prefix=f".release-{name}-", dir=assets))
    try:
        strip_for_release(Path(run_dir) / "last.pt", tmp / ckpt.name)
        evaluate(tmp / ckpt.name, data, split, tmp / bundle.name, device="cpu", recorded_as=ckpt)
        old = tmp / "replaced.eval"
        if bundle.exists():
            os.replace(bundle, old)
        os.replace(tmp / ckpt.name, ckpt)
        os.replace(tmp / bundle.name, bundle)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ckpt, bundle


def release_from_cli(a) -> int:
    ckpt, bundle = release(a.run, a.name, a.data, a.split, assets=Path(a.assets) if a.assets else ASSETS,
                           force=a.force)
    m = load_bundle(bundle).metrics
    print(f"{ckpt} ({ckpt.stat().st_size / 2 ** 20:.1f} MiB); {m['num_samples']} samples ({a.split}): "
          f"top-1 {percent(m['top1'])} -> {bundle}")
    return 0
