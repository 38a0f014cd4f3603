"""Fixtures of the explain tests: one Explainer over the tiny checkpoint, one explained NW-UCLA sample."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def explainer(tiny_checkpoint):
    from stf.explain import Explainer

    return Explainer(tiny_checkpoint)


@pytest.fixture(scope="session")
def ucla_sample(ucla_store):
    # a test-view sample with more frames than the tiny model's 20 input frames
    idx = ucla_store.split_indices("xview/test")
    pos = next(int(i) for i in idx if ucla_store.lengths[i] > 30)
    return ucla_store.get(pos)


@pytest.fixture(scope="session")
def explanation(explainer, ucla_sample):
    torch.manual_seed(0)
    return explainer.explain(ucla_sample)
