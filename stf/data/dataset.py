"""A torch Dataset over the project's store, with the preprocessing pipeline.

Every random choice of item ``i`` in epoch ``e`` (pass ``p``) comes from
``np.random.default_rng([seed, e, p, i])``,
so a run resumed at an epoch boundary sees exactly the augmentations of an uninterrupted run, with
no generator state to save, and worker processes need no seeding.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..sample import Sample
from ..transforms import Pipeline
from .store import SkeletonStore


def sample_to_tensor(s: Sample) -> torch.Tensor:
    """``Sample.data (M, T, V, C)`` -> model input ``(C, T, V, M)`` float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(s.data.transpose(3, 1, 2, 0)))


class SkeletonDataset(Dataset):
    """Items are dicts: ``x (C, T, V, M)``, ``label`` (int), ``index`` (position in the store),
    ``frame_index (T,)`` (source frame of each model frame, -1 = padding)."""

    def __init__(self, store: SkeletonStore, indices, pipeline: Pipeline, seed: int = 0):
        self.store = store
        self.indices = np.asarray(indices, dtype=np.int64)
        self.pipeline = pipeline
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        """``i`` may exceed ``len`` (several passes per epoch): pass ``i // len`` draws its own augmentation."""
        n = len(self.indices)
        pos = int(self.indices[i % n])
        rng = np.random.default_rng([self.seed, self.epoch, i // n, pos])
        s, frame_index = self.pipeline(self.store.get(pos), rng)
        label = -1 if s.label is None else int(s.label)
        return {"x": sample_to_tensor(s), "label": label, "index": pos,
                "frame_index": torch.from_numpy(frame_index)}


def epoch_order(n: int, seed: int, epoch: int, passes: int = 1) -> np.ndarray:
    """The shuffled item order of one epoch: ``passes`` permutations, pass p's items offset by ``p * n``."""
    rng = np.random.default_rng([seed, epoch, 7919])
    return np.concatenate([rng.permutation(n) + p * n for p in range(passes)])
