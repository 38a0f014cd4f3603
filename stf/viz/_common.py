"""Helpers shared by the figure functions: layouts, coordinates, frame subsampling, colours."""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, LayoutError
from ..layouts import Layout, get_layout

FOCUS_COLORSCALE = "Plasma"  # low focus dark purple, high focus yellow; the OpenCV video uses COLORMAP_PLASMA
PERSON_BONE_COLORS = ("#555555", "#1f77b4")


def as_layout(layout: str | Layout) -> Layout:
    return get_layout(layout)


def joint_labels(layout: str | Layout) -> list[str]:
    """``"<id> <name>"`` for every joint (0-based ids, as everywhere in the code)."""
    lay = as_layout(layout)
    return [f"{j} {n}" for j, n in enumerate(lay.joints)]


def present(data: np.ndarray) -> np.ndarray:
    """``(..., V, C)`` -> ``(..., V)`` bool: joints holding a value (not all-zero coordinates)."""
    return np.abs(np.asarray(data)).sum(-1) > 0


#: 3-D layouts whose x, y are image coordinates (x right, y *down*, z depth), not Kinect camera space (x to the
#: sensor's left, y up): SBU's normalised x, y in [0, 1]. Drawn turned 180° about the depth axis (x and y negated),
#: which is camera space, so they stand upright and are seen as the sensor saw them, like every other layout.
IMAGE_XY_LAYOUTS = frozenset({"sbu15"})


def coords3(data: np.ndarray, channels: str | None = None, layout: str | Layout | None = None
            ) -> tuple[np.ndarray, bool]:
    """``(M, T, V, C)`` -> ``(M, T, V, 3)`` float64 x, y, z with absent joints NaN, and whether the data is 3-D.

    2-D data (``xy`` or ``xy+score``, or C == 2) gets z = 0 and y negated (image coordinates grow downwards).
    3-D data of a layout in :data:`IMAGE_XY_LAYOUTS` (given ``layout``) gets x and y negated (y up).
    """
    d = np.asarray(data, np.float64)
    three_d = channels == "xyz" if channels is not None else d.shape[-1] == 3
    pres = present(d[..., :3] if three_d else d[..., :2])
    if three_d:
        out = d[..., :3].copy()
        if layout is not None and as_layout(layout).name in IMAGE_XY_LAYOUTS:
            out[..., :2] *= -1.0
    else:
        out = np.zeros(d.shape[:-1] + (3,))
        out[..., 0] = d[..., 0]
        out[..., 1] = -d[..., 1]
    out[~pres] = np.nan
    return out, three_d


def pick_frames(num_frames: int, max_frames: int | None, valid: np.ndarray | None = None) -> np.ndarray:
    """At most ``max_frames`` evenly spaced frame indices (valid frames only when ``valid`` is given)."""
    idx = np.arange(num_frames) if valid is None else np.flatnonzero(np.asarray(valid, bool))
    if idx.size == 0:
        idx = np.arange(num_frames)
    if max_frames is None or idx.size <= max_frames:
        return idx
    pos = np.unique(np.round(np.linspace(0, idx.size - 1, max(1, int(max_frames)))).astype(np.int64))
    return idx[pos]


def bone_lines(points: np.ndarray, layout: Layout) -> np.ndarray:
    """``(V, 3)`` joint positions -> ``(3 * num_bones, 3)`` segment array separated by NaN rows (one trace)."""
    b = np.asarray(layout.bones, np.int64)
    seg = np.full((len(b), 3, points.shape[-1]), np.nan)
    seg[:, 0] = points[b[:, 0]]
    seg[:, 1] = points[b[:, 1]]
    return seg.reshape(-1, points.shape[-1])


def bounds(xyz: np.ndarray, pad: float = 0.05) -> list[tuple[float, float]]:
    """Per-axis (lo, hi) of the finite values of ``(..., 3)``, padded by ``pad`` of the span."""
    flat = xyz.reshape(-1, xyz.shape[-1])
    ok = np.isfinite(flat).all(1)
    if not ok.any():
        return [(-1.0, 1.0)] * flat.shape[1]
    lo, hi = flat[ok].min(0), flat[ok].max(0)
    span = np.maximum(hi - lo, 1e-6)
    return [(float(a - pad * s), float(b + pad * s)) for a, b, s in zip(lo, hi, span)]


def default_pose(layout: str | Layout) -> np.ndarray:
    """A 2-D drawing position ``(V, 2)`` for every joint when no pose is given: a tidy tree from the root.

    The root is on top; children hang below their parent; leaves are spread left to right in joint order.
    """
    lay = as_layout(layout)
    v = lay.num_joints
    children: dict[int, list[int]] = {j: [] for j in range(v)}
    for c, p in lay.bones:
        children[p].append(c)
    pos = np.zeros((v, 2))
    counter = [0.0]

    def place(j: int, depth: int) -> float:
        if not children[j]:
            x = counter[0]
            counter[0] += 1.0
        else:
            xs = [place(c, depth + 1) for c in sorted(children[j])]
            x = float(np.mean(xs))
        pos[j] = (x, -depth)
        return x

    place(lay.root, 0)
    return pos


def pose_2d(pose, layout: str | Layout) -> np.ndarray:
    """Drawing positions ``(V, 2)``: a ``(V, 3)`` pose is seen from the sensor (x mirrored, y up; SBU's image x, y
    only get y turned up), a ``(V, 2)``
    pose is taken as is, None gives :func:`default_pose`."""
    if pose is None:
        return default_pose(layout)
    p = np.asarray(to_np(pose), np.float64)
    if p.shape[1] == 3 and as_layout(layout).name in IMAGE_XY_LAYOUTS:  # image x, y: as the sensor saw it, y up
        return np.c_[p[:, 0], -p[:, 1]]
    return np.c_[-p[:, 0], p[:, 1]] if p.shape[1] == 3 else p[:, :2].copy()


def to_np(a) -> np.ndarray:
    """Tensor or array -> numpy (detached, cpu)."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def check_skeleton(data, layout: str | Layout) -> np.ndarray:
    """``data`` (an array, or a :class:`~stf.sample.Sample`) as a ``(M, T, V, C)`` array that fits ``layout``:
    an ArgumentError for another shape or an empty one, a LayoutError for another joint count (bones would
    join the wrong joints)."""
    d = to_np(getattr(data, "data", data))
    if d.ndim != 4 or d.shape[0] < 1 or d.shape[1] < 1 or d.shape[3] < 2:
        raise ArgumentError(f"skeleton data must be (persons >= 1, frames >= 1, joints, channels >= 2), "
                            f"got shape {tuple(d.shape)}")
    lay = as_layout(layout)
    if d.shape[2] != lay.num_joints:
        raise LayoutError(f"data has {d.shape[2]} joints, layout {lay.name} has {lay.num_joints}")
    return d


def check_map(values, shape: tuple[int, ...] | None = None, what: str = "focus") -> np.ndarray:
    """``values`` as float64, of ``shape`` when given, and finite: an ArgumentError otherwise (a NaN would be
    drawn as the lowest value in one figure and left blank in another)."""
    a = np.asarray(to_np(values), np.float64)
    if shape is not None and a.shape != tuple(shape):
        raise ArgumentError(f"{what} has shape {a.shape}, the data needs (M, T, V) = {tuple(shape)}")
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ArgumentError(f"{what} holds a non-finite value (NaN or inf) at {tuple(int(i) for i in bad)}")
    return a


def check_frames(values, n: int, what: str) -> np.ndarray:
    """A per-frame array (``valid_frames``, ``frame_ids``) of length ``n``; an ArgumentError otherwise."""
    a = np.asarray(values)
    if a.shape != (n,):
        raise ArgumentError(f"{what} has shape {a.shape}, expected one entry per frame ({n},)")
    return a


def check_joints(values, layout: str | Layout, ndims: tuple[int, ...], what: str = "map") -> np.ndarray:
    """``values`` as a finite float64 array of one of ``ndims`` dimensions whose last axis holds one entry per
    joint of ``layout``: an ArgumentError for another shape or a NaN, a LayoutError for another joint count
    (the ``"<id> <name>"`` labels would name the wrong joints)."""
    a = check_map(values, what=what)
    if a.ndim not in ndims or a.shape[-1] < 1:
        raise ArgumentError(f"{what} must have {' or '.join(str(n) for n in ndims)} dimensions with joints last, "
                            f"got shape {a.shape}")
    lay = as_layout(layout)
    if a.shape[-1] != lay.num_joints:
        raise LayoutError(f"{what} has {a.shape[-1]} joints, layout {lay.name} has {lay.num_joints}")
    return a


def check_matrix(matrix, layout: str | Layout, what: str = "matrix") -> np.ndarray:
    """A finite ``(V, V)`` joint-by-joint matrix for ``layout`` as float64 (ArgumentError / LayoutError)."""
    a = check_map(matrix, what=what)
    lay = as_layout(layout)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ArgumentError(f"{what} must be a square (V, V) matrix, got shape {a.shape}")
    if a.shape[0] != lay.num_joints:
        raise LayoutError(f"{what} is {a.shape[0]} x {a.shape[1]}, layout {lay.name} has {lay.num_joints} joints")
    return a


def check_names(names, n: int, what: str) -> list[str] | None:
    """Optional per-item labels (titles, person names): None or exactly ``n`` of them."""
    if names is None:
        return None
    names = list(names)
    if len(names) != n:
        raise ArgumentError(f"{len(names)} {what} for {n} item(s): give one per item")
    return names


def check_person(person, m: int) -> int:
    if isinstance(person, (bool, np.bool_)) or not isinstance(person, (int, np.integer)) or not 0 <= person < m:
        raise ArgumentError(f"person {person!r} out of range: the map has persons 0-{m - 1}")
    return int(person)


def plain_text(text) -> str:
    """``text`` shown as written by Plotly, which reads ``<b>``, ``<br>``, ``<a href>`` and ``&...;`` in
    labels and titles as markup (a class named ``a<br>b`` split its row label)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def class_labels(class_names, max_len: int = 40) -> list[str]:
    """Axis labels ``"<id> <name>"`` of classes, as plain text, names cut to ``max_len`` characters with "…"
    (a 120-character name shrank the confusion matrix to a corner); the ids keep them unique."""
    out = []
    for i, n in enumerate(class_names):
        n = str(n)
        out.append(f"{i} {plain_text(n if len(n) <= max_len else n[:max_len - 1] + '…')}")
    return out
