"""Small real data for the app and runs tests: a subset of NW-UCLA written as a store (fast to evaluate)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from stf.data import SkeletonStore, write_store


def small_store(src: SkeletonStore, dest: Path, per_split: int = 12, split: str = "xview/test") -> SkeletonStore:
    """``per_split`` samples evenly spread over ``split`` of ``src`` (so several classes) as a store at ``dest``
    with that one split."""
    if (dest / "index.json").exists():
        return SkeletonStore(dest)
    proto, _, part = split.partition("/")
    all_idx = src.split_indices(split)
    idx = all_idx[np.unique(np.linspace(0, len(all_idx) - 1, per_split).round().astype(int))]  # across classes
    samples = [src.get(int(i)) for i in idx]
    return write_store(dest, samples, name=f"{src.name}-small", source_format=src.index["source_format"],
                       source=str(src.path), layout=src.layout, channels=src.channels,
                       class_names=list(src.class_names), max_persons=src.max_persons,
                       splits={proto: {part: [s.sample_id for s in samples]}})
