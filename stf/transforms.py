"""Preprocessing as small composable steps on a :class:`~stf.sample.Sample`.

The same steps run in training, evaluation and the app. Each step is a callable
``step(sample, rng) -> (sample, frame_index | None)``: ``frame_index`` is given by steps that change
the frame axis, shape ``(T_out,)``, the *input* frame each output frame came from (``-1`` for a
padded frame). :class:`Pipeline` composes steps and returns the index into the **original** frames,
which is what maps focus back onto the sequence the user sees.

Arrays are ``(M, T, V, C)`` (persons, frames, joints, channels), as in the Sample.

A pipeline is built from plain config data::

    Pipeline.from_config([{"center": {"frame": "first"}}, {"random_rotate": {"degrees": [60, 60, 0]}},
                          {"minmax": {}}, {"random_resample": {"length": 52}}], layout="kinect20")
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import ConfigError, DataError, LayoutError
from .layouts import Layout, get_layout, get_mapping
from .sample import Sample

FrameIndex = np.ndarray  # (T_out,) int64, source frame of each output frame, -1 = padding


def _present(data: np.ndarray) -> np.ndarray:
    """(M, T, V) bool: joints that hold a value (not all-zero coordinates)."""
    return np.abs(data).sum(-1) > 0


def _check_joints(s: Sample) -> Layout:
    """The sample's layout; a LayoutError naming the sample when its joint axis does not fit that layout."""
    lay = get_layout(s.layout)
    if s.data.ndim != 4 or s.data.shape[2] != lay.num_joints:
        got = s.data.shape[2] if s.data.ndim == 4 else f"shape {s.data.shape}, not"
        raise LayoutError(f"{s.sample_id or s.where()}: {got} joints, but layout {lay.name} has {lay.num_joints}")
    return lay


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_bounds(name: str, low, high) -> None:
    if not (_is_number(low) and _is_number(high)):
        raise ConfigError(f"{name}: low and high must be numbers, got {low!r}, {high!r}")


def _valid_frames(s: Sample) -> np.ndarray:
    """Indices of the frames that hold at least one person (all frames if none is marked)."""
    idx = np.flatnonzero(s.frame_mask) if s.frame_mask is not None else np.arange(s.num_frames)
    return idx if idx.size else np.arange(s.num_frames)


# --- spatial steps (frame axis unchanged) -----------------------------------------------------
@dataclass
class Center:
    """Subtract the layout's origin joint (mean of ``layout.origin``) of person 0.

    ``frame="first"``: the origin of person 0's first valid frame that holds it, subtracted from every
    frame (CTR-GCN's NW-UCLA and SGN's NTU preprocessing); ``frame="each"``: per frame (a frame where
    person 0's origin is missing is left as it is). The origin is the mean of the origin joints that are
    present (a missing one does not pull it towards 0). When person 0 holds no origin joint in any frame,
    the first person who does is the reference. Absent joints stay zero.
    """

    frame: str = "first"

    def __post_init__(self):
        if self.frame not in ("first", "each"):
            raise ConfigError(f"center: frame must be 'first' or 'each', got {self.frame!r}")

    def __call__(self, s: Sample, rng: np.random.Generator):
        lay = get_layout(s.layout)
        d = s.data.copy()
        pres = _present(d)  # (M, T, V)
        if s.channels == "xy+score":  # never shift the confidence channel
            coords = d[..., :2]
        else:
            coords = d
        joints = list(lay.origin)
        opres = pres[:, :, joints]  # (M, T, O)
        have = opres.any(axis=2)  # (M, T): frames where the person holds an origin joint
        if not have.any():  # no origin joint anywhere: nothing to subtract
            return s.with_data(d, frame_mask=s.frame_mask, person_mask=s.person_mask), None
        ref = 0 if have[0].any() else int(np.flatnonzero(have.any(axis=1))[0])
        w = opres[ref][..., None].astype(coords.dtype)  # (T, O, 1)
        origin = (coords[ref][:, joints] * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1)  # (T, C')
        if self.frame == "first":
            frames = have[ref] & np.asarray(s.frame_mask, bool) if s.frame_mask is not None else have[ref]
            f0 = int(np.flatnonzero(frames if frames.any() else have[ref])[0])
            origin = np.broadcast_to(origin[f0], origin.shape)
        elif self.frame != "each":
            raise ConfigError(f"center: frame must be 'first' or 'each', got {self.frame!r}")
        coords -= origin[None, :, None, :]
        coords *= pres[..., None]
        return s.with_data(d, frame_mask=s.frame_mask, person_mask=s.person_mask), None


@dataclass
class AlignView:
    """Rotate 3-D sequences to a canonical view (NTU preprocessing).

    Using the first valid frame of person 0: the ``up`` bone (e.g. spine_base -> spine_mid) becomes
    the +y axis and the shoulder line (right -> left), made orthogonal to it, the +x axis (the CTR-GCN
    NTU preprocessing aligns the same two bones). Needs xyz data.
    """

    up: tuple[str, str] | None = None
    across: tuple[str, str] = ("shoulder_right", "shoulder_left")

    _UP = {"ntu25": ("spine_base", "spine_mid"), "kinect20": ("hip_center", "spine"),
           "sbu15": ("torso", "neck")}

    def __call__(self, s: Sample, rng: np.random.Generator):
        if s.channels != "xyz":
            raise DataError(s.where(), f"align_view needs 3-D 'xyz' data, got {s.channels!r}")
        lay = get_layout(s.layout)
        up = self.up or self._UP.get(lay.name)
        if up is None:
            raise ConfigError(f"align_view: no 'up' bone known for layout {lay.name}; give up=[a, b]")
        f0 = int(_valid_frames(s)[0])
        p = s.data[0, f0]
        y = p[lay.joint_index(up[1])] - p[lay.joint_index(up[0])]
        x = p[lay.joint_index(self.across[1])] - p[lay.joint_index(self.across[0])]
        if np.linalg.norm(y) < 1e-8 or np.linalg.norm(x) < 1e-8:
            return s, None  # degenerate frame: leave the view as it is
        y = y / np.linalg.norm(y)
        x = x - (x @ y) * y
        if np.linalg.norm(x) < 1e-8:
            return s, None
        x = x / np.linalg.norm(x)
        z = np.cross(x, y)
        rot = np.stack([x, y, z]).astype(np.float32)  # rows: new axes in old coordinates
        pres = _present(s.data)
        d = (s.data @ rot.T) * pres[..., None]
        return s.with_data(d.astype(np.float32), frame_mask=s.frame_mask, person_mask=s.person_mask), None


def rotation_matrix(ax: float, ay: float, az: float) -> np.ndarray:
    """(3, 3) rotation about x, then y, then z (radians)."""
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return (rz @ ry @ rx).astype(np.float32)


@dataclass
class RandomRotate:
    """Rotate by angles drawn uniformly in ``±degrees`` about (x, y, z); 2-D data rotates about z only."""

    degrees: tuple[float, float, float] = (60.0, 60.0, 0.0)

    def __post_init__(self):
        d = self.degrees
        if not isinstance(d, (tuple, list)) or len(d) != 3 or not all(_is_number(x) for x in d):
            raise ConfigError(f"random_rotate: degrees must be 3 numbers (x, y, z), got {d!r}")

    def __call__(self, s: Sample, rng: np.random.Generator):
        a = [math.radians(rng.uniform(-d, d)) if d else 0.0 for d in self.degrees]
        pres = _present(s.data)
        d = s.data.copy()
        if s.channels == "xyz":
            d = d @ rotation_matrix(*a).T
        else:
            r = rotation_matrix(0.0, 0.0, a[2])[:2, :2]
            d[..., :2] = d[..., :2] @ r.T
        d *= pres[..., None]
        return s.with_data(d.astype(np.float32), frame_mask=s.frame_mask, person_mask=s.person_mask), None


@dataclass
class RandomScale:
    """Multiply coordinates by a factor drawn uniformly in ``[low, high]`` (per axis if ``per_axis``)."""

    low: float = 0.5
    high: float = 1.5
    per_axis: bool = False

    def __post_init__(self):
        _check_bounds("random_scale", self.low, self.high)

    def __call__(self, s: Sample, rng: np.random.Generator):
        nc = 2 if s.channels == "xy+score" else s.data.shape[-1]
        f = rng.uniform(self.low, self.high, size=nc if self.per_axis else 1).astype(np.float32)
        d = s.data.copy()
        d[..., :nc] *= f
        return s.with_data(d, frame_mask=s.frame_mask, person_mask=s.person_mask), None


@dataclass
class MinMax:
    """Per-sample min-max of each coordinate axis to ``[low, high]`` over present joints; absent stay 0."""

    low: float = -1.0
    high: float = 1.0

    def __post_init__(self):
        _check_bounds("minmax", self.low, self.high)

    def __call__(self, s: Sample, rng: np.random.Generator):
        nc = 2 if s.channels == "xy+score" else s.data.shape[-1]
        pres = _present(s.data)
        d = s.data.copy()
        vals = d[..., :nc][pres]  # (P, nc)
        if vals.size == 0:
            return s, None
        lo, hi = vals.min(0), vals.max(0)
        # an axis flat next to the others (a 2-D pose on a plane) stays put; relative, so that the
        # coordinates' unit (metres, millimetres, 1e-9 of either) does not change the result
        spans = hi - lo
        span = np.where(spans > 1e-6 * max(float(spans.max()), 1e-30), spans, 1.0)
        d[..., :nc] = ((d[..., :nc] - lo) / span) * (self.high - self.low) + self.low
        d *= pres[..., None]
        return s.with_data(d.astype(np.float32), frame_mask=s.frame_mask, person_mask=s.person_mask), None


# --- temporal steps (return a frame index) ----------------------------------------------------
def take_frames(s: Sample, index: np.ndarray) -> Sample:
    """Sample with frames ``index`` of ``s`` (``-1`` -> a zero frame)."""
    safe = np.clip(index, 0, s.num_frames - 1)
    d = s.data[:, safe].copy()
    d[:, index < 0] = 0
    fm = s.frame_mask[safe] & (index >= 0)
    return s.with_data(d, frame_mask=fm, person_mask=s.person_mask)


class _FrameCount:
    """A step that makes ``length`` frames: an integer >= 1, checked when the step (the pipeline) is built."""

    def __post_init__(self):
        from .config import Rule

        rule = Rule(int, 1)
        if not rule.ok(self.length):
            raise ConfigError(f"transform {type(self).__name__}: length must be {rule.describe()}, "
                              f"got {self.length!r}")


@dataclass
class UniformResample(_FrameCount):
    """``length`` evenly spaced valid frames (np.linspace over the valid span, floored): the test-time step."""

    length: int

    def __call__(self, s: Sample, rng: np.random.Generator):
        valid = _valid_frames(s)
        pos = np.linspace(0, len(valid) - 1, self.length).astype(np.int64)
        idx = valid[pos]
        return take_frames(s, idx), idx


@dataclass
class RandomResample(_FrameCount):
    """``length`` valid frames drawn with replacement, then sorted (CTR-GCN's NW-UCLA training step)."""

    length: int

    def __call__(self, s: Sample, rng: np.random.Generator):
        valid = _valid_frames(s)
        idx = np.sort(valid[rng.integers(0, len(valid), size=self.length)])
        return take_frames(s, idx), idx


@dataclass
class CropResize(_FrameCount):
    """Crop a window of ``p`` × valid length and resample it to ``length`` frames (NTU recipe).

    Training draws ``p`` in ``p_interval`` and the window start at random; with a single value
    ``p_interval=[0.95]`` the window is centred (the test-time form). Nearest-frame resampling,
    so each output frame has one source frame.
    """

    length: int
    p_interval: tuple[float, ...] = (0.5, 1.0)

    def __post_init__(self):
        super().__post_init__()
        p = self.p_interval
        if not isinstance(p, (tuple, list)) or len(p) not in (1, 2) or not all(_is_number(x) and 0 < x <= 1 for x in p):
            raise ConfigError(f"crop_resize: p_interval must be 1 or 2 numbers in (0, 1] (a window's share of the "
                              f"valid frames), got {p!r}")

    def __call__(self, s: Sample, rng: np.random.Generator):
        valid = _valid_frames(s)
        n = len(valid)
        if len(self.p_interval) == 1:
            p = self.p_interval[0]
            w = max(1, min(n, int(round(n * p))))
            start = (n - w) // 2
        else:
            p = rng.uniform(*self.p_interval[:2])
            w = max(1, min(n, int(round(n * p))))
            start = int(rng.integers(0, n - w + 1))
        pos = start + np.floor(np.linspace(0, w, self.length, endpoint=False) + 0.5 * w / self.length)
        pos = np.clip(pos.astype(np.int64), start, start + w - 1)
        idx = valid[pos]
        return take_frames(s, idx), idx


@dataclass
class Pad(_FrameCount):
    """Pad (``mode='zero'``: zero frames; ``'loop'``: repeat the sequence) or cut to ``length`` frames."""

    length: int
    mode: str = "zero"

    def __post_init__(self):
        super().__post_init__()
        if self.mode not in ("zero", "loop"):
            raise ConfigError(f"pad: mode must be 'zero' or 'loop', got {self.mode!r}")

    def __call__(self, s: Sample, rng: np.random.Generator):
        t = s.num_frames
        if t >= self.length:
            idx = np.arange(self.length)
        elif self.mode == "loop":
            idx = np.arange(self.length) % t
        elif self.mode == "zero":
            idx = np.concatenate([np.arange(t), -np.ones(self.length - t, dtype=np.int64)])
        else:
            raise ConfigError(f"pad: mode must be 'zero' or 'loop', got {self.mode!r}")
        return take_frames(s, idx), idx


# --- streams ----------------------------------------------------------------------------------
def bone(data: np.ndarray, layout: Layout | str) -> np.ndarray:
    """Bone stream: joint minus its parent, ``(M, T, V, C) -> (M, T, V, C)``; the root's bone is 0.

    The confidence channel of ``xy+score`` data is left untouched by the caller (see :class:`ToBone`).
    """
    lay = get_layout(layout)
    if data.ndim != 4 or data.shape[2] != lay.num_joints:
        raise LayoutError(f"bone: {data.shape[2] if data.ndim == 4 else data.shape} joints, "
                          f"but layout {lay.name} has {lay.num_joints}")
    return data - data[:, :, lay.parents()]


def motion(data: np.ndarray) -> np.ndarray:
    """Motion stream: ``x[t+1] - x[t]``, last frame 0, ``(M, T, V, C) -> (M, T, V, C)``."""
    out = np.zeros_like(data)
    out[:, :-1] = data[:, 1:] - data[:, :-1]
    return out


@dataclass
class ToBone:
    def __call__(self, s: Sample, rng: np.random.Generator):
        _check_joints(s)
        d = s.data.copy()
        nc = 2 if s.channels == "xy+score" else d.shape[-1]
        pres = _present(s.data)
        d[..., :nc] = bone(s.data[..., :nc], s.layout) * pres[..., None]
        return s.with_data(d, frame_mask=s.frame_mask, person_mask=s.person_mask), None


@dataclass
class ToMotion:
    def __call__(self, s: Sample, rng: np.random.Generator):
        d = s.data.copy()
        nc = 2 if s.channels == "xy+score" else d.shape[-1]
        d[..., :nc] = motion(s.data[..., :nc])
        return s.with_data(d, frame_mask=s.frame_mask, person_mask=s.person_mask), None


def stream_steps(stream: str) -> list[Callable]:
    """The final steps that make a stream: joint | bone | joint_motion | bone_motion."""
    table = {"joint": [], "bone": [ToBone()], "joint_motion": [ToMotion()], "bone_motion": [ToBone(), ToMotion()]}
    if stream not in table:
        raise ConfigError(f"unknown stream {stream!r}; expected one of {sorted(table)}")
    return table[stream]


# --- persons ----------------------------------------------------------------------------------
@dataclass
class SelectPersons:
    """Keep ``count`` persons: the most active first (sum of joint variance over time), zero-padded.

    Frames that only dropped persons were in leave the frame mask (they hold nobody now)."""

    count: int

    def __post_init__(self):
        from .config import Rule

        rule = Rule(int, 1)
        if not rule.ok(self.count):
            raise ConfigError(f"select_persons: count must be {rule.describe()}, got {self.count!r}")

    def kept(self, s: Sample) -> np.ndarray:
        """Indices (sorted) of the persons kept from ``s``: the ``count`` most active; a person its
        ``person_mask`` marks absent, or with no joint present, ranks last."""
        d = s.data
        present = _present(d)
        marked = np.ones(d.shape[0], bool) if s.person_mask is None else np.asarray(s.person_mask, bool)
        act = np.array([np.var(d[m][present[m]], axis=0).sum() if marked[m] and present[m].any() else -1.0
                        for m in range(d.shape[0])])
        return np.sort(np.argsort(-act, kind="stable")[: self.count])

    def __call__(self, s: Sample, rng: np.random.Generator):
        d = s.data
        frame_mask = s.frame_mask
        if d.shape[0] > self.count:
            d = d[self.kept(s)]
            # a frame only dropped persons were in holds nobody now
            held = _present(d).any(axis=(0, 2))  # (T,)
            frame_mask = held if frame_mask is None else np.asarray(frame_mask, bool) & held
        elif d.shape[0] < self.count:
            d = np.concatenate([d, np.zeros((self.count - d.shape[0],) + d.shape[1:], np.float32)])
        else:
            return s, None
        return s.with_data(np.ascontiguousarray(d), frame_mask=frame_mask), None


# --- layouts ----------------------------------------------------------------------------------
@dataclass
class MapLayout:
    """Convert a sample of another layout to ``target`` with :func:`stf.layouts.get_mapping`.

    For cross-data-set evaluation and training (e.g. NTU's Kinect v2 skeletons given to a Kinect v1
    model); a sample already in ``target`` passes unchanged, one with no mapping is a LayoutError.
    """

    target: str

    def __post_init__(self):
        get_layout(self.target)  # an unknown layout name fails when the pipeline is built

    def __call__(self, s: Sample, rng: np.random.Generator):
        src, dst = _check_joints(s).name, get_layout(self.target).name
        if src == dst:
            return s, None
        mapping = get_mapping(src, dst)
        if mapping is None:
            lay = get_layout(dst)
            raise LayoutError(f"sample {s.sample_id or s.where()} has layout {src!r} and no mapping to the layout "
                              f"this model needs: {lay.name!r} ({lay.num_joints} joints: {lay.description})")
        return s.with_data(mapping.apply(s.data), layout=dst), None


# --- composition ------------------------------------------------------------------------------
STEPS: dict[str, type] = {
    "center": Center, "align_view": AlignView, "random_rotate": RandomRotate, "random_scale": RandomScale,
    "minmax": MinMax, "uniform_resample": UniformResample, "random_resample": RandomResample,
    "crop_resize": CropResize, "pad": Pad, "to_bone": ToBone, "to_motion": ToMotion,
    "select_persons": SelectPersons, "map_layout": MapLayout,
}


class Pipeline:
    """Steps applied in order; returns the sample and its frames' indices into the original sequence."""

    def __init__(self, steps: list[Callable]):
        self.steps = list(steps)

    @classmethod
    def from_config(cls, spec: list[dict[str, Any]], stream: str = "joint", persons: int | None = None) -> "Pipeline":
        """Build from ``[{step_name: {param: value}}, ...]`` then append the ``stream`` steps."""
        steps: list[Callable] = [SelectPersons(persons)] if persons else []
        for item in spec or []:
            if not isinstance(item, dict) or len(item) != 1:
                raise ConfigError(f"transform entry must be {{name: params}}, got {item!r}")
            (name, params), = item.items()
            if name not in STEPS:
                raise ConfigError(f"unknown transform {name!r}; known: {', '.join(sorted(STEPS))}")
            params = params or {}
            if not isinstance(params, dict):
                raise ConfigError(f"transform {name}: parameters must be a mapping {{param: value}}, "
                                  f"got {params!r}")
            try:
                steps.append(STEPS[name](**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}))
            except TypeError as e:
                raise ConfigError(f"transform {name}: {e}") from e
        return cls(steps + stream_steps(stream))

    def random_steps(self) -> list[str]:
        """The steps that draw from the generator (augmentation), by their config names: a test pipeline
        holds none (no test-time augmentation)."""
        names = {cls: name for name, cls in STEPS.items()}
        return [names.get(type(st), type(st).__name__) for st in self.steps
                if (isinstance(st, RandomRotate) and any(st.degrees)) or isinstance(st, RandomResample)
                or (isinstance(st, RandomScale) and st.low != st.high)
                or (isinstance(st, CropResize) and len(st.p_interval) != 1)]

    def __call__(self, s: Sample, rng: np.random.Generator | None = None) -> tuple[Sample, FrameIndex]:
        rng = rng if rng is not None else np.random.default_rng(0)
        s.check_finite()  # (a sample edited after validation) one NaN would spread over it all (min-max), silently
        index = np.arange(s.num_frames, dtype=np.int64)
        for step in self.steps:
            s, idx = step(s, rng)
            if idx is not None:
                index = np.where(idx >= 0, index[np.clip(idx, 0, len(index) - 1)], -1)
        return s, index
