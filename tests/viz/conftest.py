"""Synthetic arrays for the figure tests (no model needed)."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def two_person():
    """(2, 50, 20, 3) kinect20-shaped data (person 2 absent after frame 30) and a focus (2, 50, 20) in [0, 1]."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(2, 50, 20, 3)).astype(np.float32)
    data[..., 2] += 3.0
    data[1, 30:] = 0
    focus = rng.random((2, 50, 20)).astype(np.float32)
    return data, focus
