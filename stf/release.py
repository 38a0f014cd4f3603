"""Ship a trained run: ``python -m stf release RUN_DIR --name NAME [--data DATA --split SPLIT]``.

Copies ``RUN_DIR/last.pt`` without optimizer state to ``assets/NAME.pt`` and writes its evaluation
bundle to ``assets/NAME.eval/`` (the app finds a bundle next to its checkpoint by this name).
"""
from __future__ import annotations

from pathlib import Path

from .checkpoint import strip_for_release
from .evaluate import evaluate, load_bundle

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def release(run_dir: str | Path, name: str, data: str, split: str, assets: Path = ASSETS) -> tuple[Path, Path]:
    ckpt = assets / f"{name}.pt"
    strip_for_release(Path(run_dir) / "last.pt", ckpt)
    bundle = evaluate(ckpt, data, split, assets / f"{name}.eval", device="cpu")
    return ckpt, bundle


def release_from_cli(a) -> int:
    ckpt, bundle = release(a.run, a.name, a.data, a.split)
    m = load_bundle(bundle).metrics
    print(f"{ckpt} ({ckpt.stat().st_size / 2 ** 20:.1f} MiB); {m['num_samples']} samples ({a.split}): "
          f"top-1 {100 * m['top1']:.2f}% -> {bundle}")
    return 0
