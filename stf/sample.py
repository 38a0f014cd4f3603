"""The one sample type every reader returns and everything downstream consumes.

A :class:`Sample` holds one skeleton sequence:

* ``data``: float32 array of shape ``(M, T, V, C)`` = persons x frames x joints x channels.
* ``channels``: what the last axis means: ``"xyz"`` (3-D camera coordinates, C = 3) or
  ``"xy+score"`` (2-D image coordinates and a detector confidence, C = 3) or ``"xy"`` (C = 2).
* ``layout``: name of a :mod:`stf.layouts` layout; V must equal its joint count.
* ``label``: 0-based class index, or ``None`` when unknown.
* ``sample_id``: a stable id (NTU ``S001C001P001R001A001``, NW-UCLA ``a01_s01_e00_v01``, ...),
  the key of logits in evaluation bundles and of stream fusion.
* ``meta``: fields parsed from the name (NTU setup / camera / performer / replication / action;
  NW-UCLA subject / view / repetition / action; SBU pair / fold ...), all plain ints or strings.
* ``frame_mask``: ``(T,)`` bool, frames that hold at least one tracked person.
* ``person_mask``: ``(M,)`` bool, persons that are present (not all-zero padding).
* ``source``: where it came from (a path), used in error messages.

``validate()`` checks shapes against the layout and finiteness and raises :class:`DataError`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import DataError
from .layouts import get_layout

CHANNELS = {"xyz": 3, "xy+score": 3, "xy": 2}


@dataclass
class Sample:
    data: np.ndarray  # (M, T, V, C) float32
    layout: str
    channels: str = "xyz"
    label: int | None = None
    sample_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    frame_mask: np.ndarray | None = None  # (T,) bool
    person_mask: np.ndarray | None = None  # (M,) bool
    source: str = ""

    def __post_init__(self) -> None:
        try:
            self.data = np.asarray(self.data, dtype=np.float32)
        except (ValueError, TypeError) as e:  # ragged nested lists, strings, objects
            raise DataError(self.where(), f"data is not a numeric (persons, frames, joints, channels) array: {e}") from e
        if self.data.ndim == 4:
            if self.person_mask is None:
                self.person_mask = np.abs(self.data).sum(axis=(1, 2, 3)) > 0  # reshape(M, -1) fails for M = 0
            if self.frame_mask is None:
                self.frame_mask = np.abs(self.data).sum(axis=(0, 2, 3)) > 0
        if self.frame_mask is not None:
            self.frame_mask = np.asarray(self.frame_mask, dtype=bool)
        if self.person_mask is not None:
            self.person_mask = np.asarray(self.person_mask, dtype=bool)

    # -- shape helpers -------------------------------------------------------------------------
    @property
    def num_persons(self) -> int:
        return int(self.data.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.data.shape[1])

    @property
    def num_joints(self) -> int:
        return int(self.data.shape[2])

    @property
    def num_valid_frames(self) -> int:
        return int(self.frame_mask.sum()) if self.frame_mask is not None else self.num_frames

    def where(self) -> str:
        return self.source or self.sample_id or "<sample>"

    def with_data(self, data: np.ndarray, **changes: Any) -> "Sample":
        """A copy with new ``data`` (masks recomputed unless given in ``changes``)."""
        changes.setdefault("frame_mask", None)
        changes.setdefault("person_mask", None)
        return replace(self, data=data, **changes)

    def to_ctvm(self) -> np.ndarray:
        """The field's (C, T, V, M) array (ST-GCN / CTR-GCN convention)."""
        return np.ascontiguousarray(self.data.transpose(3, 1, 2, 0))

    # -- validation ----------------------------------------------------------------------------
    def check_finite(self, where=None) -> None:
        """DataError naming the first NaN / inf of ``data`` (person, frame, joint)."""
        if not np.isfinite(self.data).all():
            bad = np.argwhere(~np.isfinite(self.data))[0]
            raise DataError(where if where is not None else self.where(),
                            f"non-finite value (NaN or inf) at person {bad[0]}, frame {bad[1]}, joint {bad[2]}")

    def validate(self) -> "Sample":
        """Check the sample against its layout; raise :class:`DataError` naming the problem. Returns self."""
        where = self.where()
        d = self.data
        try:
            lay = get_layout(self.layout)
        except Exception as e:  # LayoutError
            raise DataError(where, str(e)) from e
        if d.dtype != np.float32:
            raise DataError(where, f"data must be float32, got {d.dtype}")
        if d.ndim != 4:
            raise DataError(where, f"data must be (persons, frames, joints, channels), got shape {d.shape}")
        m, t, v, c = d.shape
        if m < 1:
            raise DataError(where, "no persons (zero bodies)")
        if t < 1:
            raise DataError(where, "no frames (empty sequence)")
        if v != lay.num_joints:
            raise DataError(where, f"{v} joints, but layout {lay.name} has {lay.num_joints}")
        if self.channels not in CHANNELS:
            raise DataError(where, f"unknown channels {self.channels!r}; expected one of {sorted(CHANNELS)}")
        if c != CHANNELS[self.channels]:
            raise DataError(where, f"{c} channels, but {self.channels!r} means {CHANNELS[self.channels]}")
        self.check_finite(where)
        if self.frame_mask is None or self.frame_mask.shape != (t,):
            raise DataError(where, f"frame_mask must have shape ({t},)")
        if self.person_mask is None or self.person_mask.shape != (m,):
            raise DataError(where, f"person_mask must have shape ({m},)")
        if not self.frame_mask.any():
            raise DataError(where, "no valid frame (every frame is empty)")
        if not self.person_mask.any():
            raise DataError(where, "no person present (all persons are zero)")
        if not d.any():  # masks given by the caller can claim persons the coordinates do not hold
            raise DataError(where, "no person present (all coordinates are zero)")
        if self.label is not None and (isinstance(self.label, (bool, np.bool_))
                                       or not isinstance(self.label, (int, np.integer)) or self.label < 0):
            raise DataError(where, f"label must be a non-negative int, got {self.label!r}")
        return self

    def __repr__(self) -> str:  # short: arrays are large
        return (f"Sample(id={self.sample_id!r}, layout={self.layout}, channels={self.channels}, "
                f"shape(M,T,V,C)={tuple(self.data.shape)}, label={self.label})")
