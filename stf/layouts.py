"""Skeleton layouts as data: joint names, bones, root / origin joints, partitioned adjacency.

A :class:`Layout` is plain data. Everything that depends on the skeleton (graph convolution,
bone stream, centring, drawing) reads it from here, so a new layout needs only a new entry
(:func:`register`).

Conventions (0-based joint indices everywhere in code):

* ``bones`` is a list of ``(child, parent)`` pairs forming a tree rooted at ``root``.
* ``origin`` is the joint (or the mean of several joints) subtracted when centring a sequence.
* ``adjacency()`` returns ``A`` of shape ``(3, V, V)``: partitions self / inward / outward with
  ``A[s, i, j]`` = weight of joint ``i`` in the update of joint ``j`` (a graph convolution is
  ``out[..., j] = sum_i x[..., i] * A[s, i, j]``). ``self`` is the identity; ``inward`` lets a
  parent gather from its children (information flows toward the root), ``outward`` lets a child
  gather from its parent. Each of the two directed partitions is normalised so that every column
  that has an edge sums to 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .errors import LayoutError


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]  # (child, parent), 0-based
    root: int
    origin: tuple[int, ...]  # centre = mean of these joints
    # left/right pairs, used by drawings (colour) and by flip augmentation
    symmetric: tuple[tuple[int, int], ...] = field(default=())

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def parents(self) -> np.ndarray:
        """(V,) int array: parent of each joint; the root is its own parent."""
        par = np.arange(self.num_joints)
        for c, p in self.bones:
            par[c] = p
        return par

    def adjacency(self) -> np.ndarray:
        """(3, V, V) float32 partitioned adjacency (self, inward, outward); see the module doc."""
        return _adjacency(self)

    def joint_index(self, name: str) -> int:
        try:
            return self.joints.index(name)
        except ValueError:
            raise LayoutError(f"layout {self.name!r} has no joint named {name!r}") from None

    def validate(self) -> None:
        """Check the bone list forms one tree over all joints rooted at ``root``."""
        v = self.num_joints
        for j, name in enumerate(self.joints):
            if name in self.joints[:j]:
                raise LayoutError(f"layout {self.name}: joint name {name!r} is used twice")
        if not 0 <= self.root < v:
            raise LayoutError(f"layout {self.name}: root {self.root} is outside 0..{v - 1}")
        for what, pairs in (("bone", self.bones), ("symmetric pair", self.symmetric)):
            for pair in pairs:
                if not all(0 <= int(k) < v for k in pair):
                    raise LayoutError(f"layout {self.name}: {what} {tuple(pair)} names a joint outside 0..{v - 1}")
        if not self.origin:
            raise LayoutError(f"layout {self.name}: no origin joint (origin is the mean of one or more joints)")
        children = [c for c, _ in self.bones]
        if len(set(children)) != len(children):
            raise LayoutError(f"layout {self.name}: a joint has two parents")
        if self.root in children:
            raise LayoutError(f"layout {self.name}: the root {self.root} has a parent")
        if len(self.bones) != v - 1:
            raise LayoutError(f"layout {self.name}: {len(self.bones)} bones for {v} joints (a tree has V-1)")
        par = self.parents()
        for j in range(v):
            seen, k = set(), j
            while k != self.root:
                if k in seen:
                    raise LayoutError(f"layout {self.name}: cycle through joint {j}")
                seen.add(k)
                k = int(par[k])
        for o in self.origin:
            if not 0 <= o < v:
                raise LayoutError(f"layout {self.name}: origin joint {o} out of range")


def _normalise_columns(a: np.ndarray) -> np.ndarray:
    col = a.sum(axis=0, keepdims=True)
    return np.where(col > 0, a / np.where(col > 0, col, 1.0), 0.0)


@lru_cache(maxsize=None)
def _adjacency_cached(name: str) -> np.ndarray:
    lay = LAYOUTS[name]
    v = lay.num_joints
    eye = np.eye(v)
    inward = np.zeros((v, v))
    for c, p in lay.bones:
        inward[c, p] = 1.0  # child's feature flows into the parent's update
    outward = inward.T.copy()
    a = np.stack([eye, _normalise_columns(inward), _normalise_columns(outward)]).astype(np.float32)
    a.setflags(write=False)
    return a


def _adjacency(lay: Layout) -> np.ndarray:
    if LAYOUTS.get(lay.name) is lay:
        return _adjacency_cached(lay.name).copy()
    # an unregistered layout: compute directly
    v = lay.num_joints
    inward = np.zeros((v, v))
    for c, p in lay.bones:
        inward[c, p] = 1.0
    return np.stack([np.eye(v), _normalise_columns(inward), _normalise_columns(inward.T)]).astype(np.float32)


def _one_based(pairs) -> tuple[tuple[int, int], ...]:
    return tuple((a - 1, b - 1) for a, b in pairs)


# --- NTU RGB+D (Kinect v2), 25 joints -------------------------------------------------------
NTU25 = Layout(
    name="ntu25",
    description="NTU RGB+D 60/120, Kinect v2, 25 joints (x, y, z in metres, camera space)",
    joints=(
        "spine_base", "spine_mid", "neck", "head",
        "shoulder_left", "elbow_left", "wrist_left", "hand_left",
        "shoulder_right", "elbow_right", "wrist_right", "hand_right",
        "hip_left", "knee_left", "ankle_left", "foot_left",
        "hip_right", "knee_right", "ankle_right", "foot_right",
        "spine_shoulder", "hand_tip_left", "thumb_left", "hand_tip_right", "thumb_right",
    ),
    # 1-based as in the NTU docs. Hand tips and thumbs hang on the hand, as in the Kinect v2 SDK
    # (ST-GCN / CTR-GCN chain tip -> thumb -> hand instead; the difference changes two bones).
    bones=_one_based([
        (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
        (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
        (20, 19), (22, 8), (23, 8), (24, 12), (25, 12),
    ]),
    root=20,  # spine_shoulder, the graph centre used by ST-GCN / CTR-GCN
    origin=(1,),  # spine_mid, as the SGN / CTR-GCN NTU preprocessing
    symmetric=_one_based([(5, 9), (6, 10), (7, 11), (8, 12), (13, 17), (14, 18), (15, 19), (16, 20),
                          (22, 24), (23, 25)]),
)

# --- Kinect v1, 20 joints (NW-UCLA) -----------------------------------------------------------
KINECT20 = Layout(
    name="kinect20",
    description="Kinect v1, 20 joints (NW-UCLA; x, y, z in metres, camera space)",
    joints=(
        "hip_center", "spine", "shoulder_center", "head",
        "shoulder_left", "elbow_left", "wrist_left", "hand_left",
        "shoulder_right", "elbow_right", "wrist_right", "hand_right",
        "hip_left", "knee_left", "ankle_left", "foot_left",
        "hip_right", "knee_right", "ankle_right", "foot_right",
    ),
    bones=_one_based([
        (1, 2), (2, 3), (4, 3), (5, 3), (6, 5), (7, 6), (8, 7), (9, 3), (10, 9), (11, 10), (12, 11),
        (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19),
    ]),
    root=2,  # shoulder_center (CTR-GCN's NW-UCLA graph centre)
    origin=(1,),  # spine: CTR-GCN centres NW-UCLA on joint 2 (1-based) of frame 0
    symmetric=_one_based([(5, 9), (6, 10), (7, 11), (8, 12), (13, 17), (14, 18), (15, 19), (16, 20)]),
)

# --- OpenPose 18 (Kinetics-Skeleton) ---------------------------------------------------------
OPENPOSE18 = Layout(
    name="openpose18",
    description="OpenPose COCO-18 (Kinetics-Skeleton; x, y normalised to the image, score)",
    joints=(
        "nose", "neck", "shoulder_right", "elbow_right", "wrist_right", "shoulder_left",
        "elbow_left", "wrist_left", "hip_right", "knee_right", "ankle_right", "hip_left",
        "knee_left", "ankle_left", "eye_right", "eye_left", "ear_right", "ear_left",
    ),
    bones=(
        (0, 1), (2, 1), (3, 2), (4, 3), (5, 1), (6, 5), (7, 6), (8, 2), (9, 8), (10, 9),
        (11, 5), (12, 11), (13, 12), (14, 0), (15, 0), (16, 14), (17, 15),
    ),
    root=1,  # neck (ST-GCN's centre)
    origin=(1,),
    symmetric=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)),
)

# --- SBU Kinect Interaction, 15 joints -------------------------------------------------------
SBU15 = Layout(
    name="sbu15",
    description="SBU Kinect Interaction, 15 joints (normalised x, y in [0, 1], scaled depth z)",
    joints=(
        "head", "neck", "torso", "shoulder_left", "elbow_left", "hand_left",
        "shoulder_right", "elbow_right", "hand_right", "hip_left", "knee_left", "foot_left",
        "hip_right", "knee_right", "foot_right",
    ),
    bones=_one_based([
        (1, 2), (2, 3), (4, 2), (5, 4), (6, 5), (7, 2), (8, 7), (9, 8), (10, 3), (11, 10),
        (12, 11), (13, 3), (14, 13), (15, 14),
    ]),
    root=2,  # torso
    origin=(2,),
    symmetric=_one_based([(4, 7), (5, 8), (6, 9), (10, 13), (11, 14), (12, 15)]),
)

# --- COCO 17 (pyskl / PoseC3D 2D) ------------------------------------------------------------
COCO17 = Layout(
    name="coco17",
    description="COCO 17 keypoints (pyskl / mmaction2 2D pose; x, y in pixels, score)",
    joints=(
        "nose", "eye_left", "eye_right", "ear_left", "ear_right", "shoulder_left",
        "shoulder_right", "elbow_left", "elbow_right", "wrist_left", "wrist_right", "hip_left",
        "hip_right", "knee_left", "knee_right", "ankle_left", "ankle_right",
    ),
    bones=(
        (1, 0), (2, 0), (3, 1), (4, 2), (5, 0), (6, 0), (7, 5), (8, 6), (9, 7), (10, 8),
        (11, 5), (12, 6), (13, 11), (14, 12), (15, 13), (16, 14),
    ),
    root=0,  # nose (pyskl's COCO centre)
    origin=(11, 12),  # mid-hip
    symmetric=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
)

# --- MediaPipe Pose (BlazePose, 33 landmarks) -----------------------------------------------------
# What `python -m stf pose` extracts from a video (stf.pose). Names are the person's own left / right.
# There is no neck or pelvis landmark: the tree hangs the head (nose) and the right shoulder from the left
# shoulder, and the legs and trunk from the left hip, so drawings show every limb; the centre is mid-hip.
MEDIAPIPE33 = Layout(
    name="mediapipe33",
    description="MediaPipe Pose / BlazePose 33 landmarks (world x, y, z in metres, or image x, y + visibility)",
    joints=(
        "nose", "eye_inner_left", "eye_left", "eye_outer_left", "eye_inner_right", "eye_right",
        "eye_outer_right", "ear_left", "ear_right", "mouth_left", "mouth_right", "shoulder_left",
        "shoulder_right", "elbow_left", "elbow_right", "wrist_left", "wrist_right", "pinky_left",
        "pinky_right", "index_left", "index_right", "thumb_left", "thumb_right", "hip_left", "hip_right",
        "knee_left", "knee_right", "ankle_left", "ankle_right", "heel_left", "heel_right",
        "foot_index_left", "foot_index_right",
    ),
    bones=(
        (1, 0), (2, 1), (3, 2), (7, 3), (4, 0), (5, 4), (6, 5), (8, 6), (9, 0), (10, 0), (0, 11),
        (12, 11), (11, 23), (24, 23), (13, 11), (15, 13), (17, 15), (19, 15), (21, 15), (14, 12), (16, 14),
        (18, 16), (20, 16), (22, 16), (25, 23), (27, 25), (29, 27), (31, 27), (26, 24), (28, 26), (30, 28),
        (32, 28),
    ),
    root=23,
    origin=(23, 24),  # mid-hip (MediaPipe's own world origin)
    symmetric=((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
               (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32)),
)

LAYOUTS: dict[str, Layout] = {}


def register(layout: Layout) -> Layout:
    """Add a layout (validated) to the registry; returns it."""
    layout.validate()
    LAYOUTS[layout.name] = layout
    _adjacency_cached.cache_clear()
    return layout


for _lay in (NTU25, KINECT20, OPENPOSE18, SBU15, COCO17, MEDIAPIPE33):
    register(_lay)

# Common aliases people type.
_ALIASES = {"ntu": "ntu25", "nturgbd": "ntu25", "ucla": "kinect20", "nw-ucla": "kinect20",
            "kinect_v1": "kinect20", "openpose": "openpose18", "kinetics": "openpose18",
            "sbu": "sbu15", "coco": "coco17", "mediapipe": "mediapipe33", "blazepose": "mediapipe33"}

# Layouts people ask for that the project lacks, with a hint.
_KNOWN_MISSING = {
    "body25": "OpenPose BODY_25 (25 joints, 2D) is not supported; supported layouts: {}",
    "openpose25": "OpenPose BODY_25 (25 joints, 2D) is not supported; supported layouts: {}",
}


#: Environment variable naming modules that register layouts of their own (``stf.layouts.register``):
#: importable names or ``.py`` paths, separated by commas. They are imported the first time a layout
#: name is not found, so every command (convert, train, eval, the app) knows those layouts.
PLUGIN_ENV = "STF_LAYOUT_MODULES"
_plugins_loaded: set[str] = set()


def load_layout_plugins() -> list[str]:
    """Import the modules ``$STF_LAYOUT_MODULES`` names (each once); returns those imported now.

    A module that cannot be imported raises :class:`LayoutError` naming it and the variable.
    """
    import importlib
    import importlib.util
    import os
    import sys

    done = []
    for entry in (e.strip() for e in os.environ.get(PLUGIN_ENV, "").split(",")):
        if not entry or entry in _plugins_loaded:
            continue
        try:
            if entry.endswith(".py"):
                mod_name = f"stf_layout_plugin_{len(_plugins_loaded)}"
                spec = importlib.util.spec_from_file_location(mod_name, entry)
                if spec is None or spec.loader is None:
                    raise ImportError(f"not a Python file: {entry}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[mod_name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(entry)
        except LayoutError as e:
            raise LayoutError(f"{PLUGIN_ENV} module {entry!r}: {e}") from e
        except Exception as e:  # noqa: BLE001 - any failure of a user's module, reported by name
            raise LayoutError(f"{PLUGIN_ENV} names {entry!r}, which cannot be imported: "
                              f"{type(e).__name__}: {e}") from e
        _plugins_loaded.add(entry)
        done.append(entry)
    return done


def get_layout(name: str | Layout) -> Layout:
    """Look a layout up by name (or alias). Unknown names raise :class:`LayoutError` listing the known ones.

    A name not registered yet first loads the modules ``$STF_LAYOUT_MODULES`` names (see :data:`PLUGIN_ENV`).
    """
    if isinstance(name, Layout):
        return name
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)

    def find():  # a layout of one's own may have capitals in its name: exact, then case-insensitive
        if str(name).strip() in LAYOUTS:
            return LAYOUTS[str(name).strip()]
        return LAYOUTS.get(key) or next((lay for n, lay in LAYOUTS.items() if n.lower() == key), None)

    found = find()
    if found is None:
        load_layout_plugins()
        found = find()
    if found is not None:
        return found
    known = ", ".join(sorted(LAYOUTS))
    own = (f"; a layout of your own: stf.layouts.register(Layout(...)) in a module named by ${PLUGIN_ENV} "
           "(docs/data_format.md)")
    bare = key.replace("_", "").replace("-", "").replace(" ", "")
    if bare in LAYOUTS:  # "BODY_25" for a registered "body25"
        return LAYOUTS[bare]
    if bare in _KNOWN_MISSING:
        raise LayoutError(_KNOWN_MISSING[bare].format(known) + own)
    raise LayoutError(f"unknown skeleton layout {name!r}; supported layouts: {known}{own}")


def layout_for_joint_count(v: int) -> list[Layout]:
    """Layouts with ``v`` joints (used to suggest a layout in error messages)."""
    return [lay for lay in LAYOUTS.values() if lay.num_joints == v]


# --- Mappings between layouts --------------------------------------------------------------
@dataclass(frozen=True)
class LayoutMapping:
    """Map a sequence from ``source`` to ``target``: target joint j = mean of source joints ``sources[j]``.

    ``note`` documents the approximation; the app shows it when it converts an upload.
    """

    source: str
    target: str
    sources: tuple[tuple[int, ...], ...]
    note: str

    def matrix(self) -> np.ndarray:
        """(V_src, V_tgt) float32 averaging matrix: ``x_tgt = x_src @ M`` over the joint axis."""
        vs = get_layout(self.source).num_joints
        m = np.zeros((vs, len(self.sources)), dtype=np.float32)
        for j, src in enumerate(self.sources):
            for i in src:
                m[i, j] = 1.0 / len(src)
        return m

    def apply(self, data: np.ndarray) -> np.ndarray:
        """Map ``data`` of shape (..., V_src, C) to (..., V_tgt, C)."""
        vs = get_layout(self.source).num_joints
        if data.shape[-2] != vs:
            raise LayoutError(f"mapping {self.source}->{self.target} expects {vs} joints, got {data.shape[-2]}")
        m = self.matrix()
        present = (np.abs(data).sum(-1) > 0).astype(np.float32)  # (..., V_src): an all-zero joint is absent
        # mean over the present sources only: a neck from one detected shoulder is that shoulder, not half of it
        weight = np.einsum("...v,vw->...w", present, m)
        total = np.einsum("...vc,vw->...wc", data * present[..., None], m)
        out = np.where(weight[..., None] > 0, total / np.where(weight > 0, weight, 1.0)[..., None], 0.0)
        return out.astype(data.dtype, copy=False)


MAPPINGS: dict[tuple[str, str], LayoutMapping] = {}


def _add_mapping(m: LayoutMapping) -> None:
    assert len(m.sources) == get_layout(m.target).num_joints
    MAPPINGS[(m.source, m.target)] = m


# NTU (Kinect v2) -> Kinect v1: joints 5..20 are the same sensor joints. Kinect v1's hip_center,
# spine and shoulder_center become v2's spine_base, spine_mid and spine_shoulder (v1's "spine" sits
# a little lower than v2's spine_mid; v2's neck, hand tips and thumbs are dropped).
_add_mapping(LayoutMapping(
    "ntu25", "kinect20",
    ((0,), (1,), (20,), (3,)) + tuple((j,) for j in range(4, 20)),
    "Kinect v2 -> v1: spine_base->hip_center, spine_mid->spine, spine_shoulder->shoulder_center; "
    "neck, hand tips and thumbs dropped (v1 spine sits slightly lower than v2 spine_mid).",
))
# COCO 17 -> OpenPose 18: same keypoints, OpenPose adds a neck (mean of the shoulders).
_coco = COCO17.joints
_add_mapping(LayoutMapping(
    "coco17", "openpose18",
    tuple((_coco.index(n),) if n != "neck" else (_coco.index("shoulder_left"), _coco.index("shoulder_right"))
          for n in OPENPOSE18.joints),
    "COCO 17 -> OpenPose 18: keypoints reordered; neck = mean of the two shoulders.",
))
_add_mapping(LayoutMapping(
    "openpose18", "coco17",
    tuple((OPENPOSE18.joints.index(n),) for n in COCO17.joints),
    "OpenPose 18 -> COCO 17: keypoints reordered; the neck is dropped.",
))
# Kinect v1 -> SBU 15 (both Kinect v1 skeletons; SBU keeps 15 of the 20 joints)
_k = KINECT20.joints
_add_mapping(LayoutMapping(
    "kinect20", "sbu15",
    tuple((_k.index(n),) for n in ("head", "shoulder_center", "spine", "shoulder_left", "elbow_left",
                                    "hand_left", "shoulder_right", "elbow_right", "hand_right",
                                    "hip_left", "knee_left", "foot_left", "hip_right", "knee_right",
                                    "foot_right")),
    "Kinect v1 -> SBU 15: SBU's neck is v1 shoulder_center, torso is v1 spine; hips centre, wrists "
    "and ankles dropped.",
))


# MediaPipe 33 -> NTU 25 (Kinect v2): the landmarks both name are the same; the trunk joints Kinect tracks
# and BlazePose does not are means of landmarks; Kinect v1 (NW-UCLA) follows through ntu25 -> kinect20.
_mp = MEDIAPIPE33.joints
_MP_TO_NTU = {"spine_base": ("hip_left", "hip_right"),
              "spine_mid": ("shoulder_left", "shoulder_right", "hip_left", "hip_right"),
              "neck": ("shoulder_left", "shoulder_right", "nose"), "head": ("ear_left", "ear_right"),
              "hand_left": ("pinky_left", "index_left"), "hand_right": ("pinky_right", "index_right"),
              "foot_left": ("foot_index_left",), "foot_right": ("foot_index_right",),
              "spine_shoulder": ("shoulder_left", "shoulder_right"), "hand_tip_left": ("index_left",),
              "hand_tip_right": ("index_right",)}
_add_mapping(LayoutMapping(
    "mediapipe33", "ntu25",
    tuple(tuple(_mp.index(n) for n in _MP_TO_NTU.get(j, (j,))) for j in NTU25.joints),
    "MediaPipe 33 -> Kinect v2: spine_base = mid-hip, spine_shoulder = mid-shoulder, spine_mid = their "
    "midpoint, neck = mean of the shoulders and the nose, head = mid-ear, hand = mean of index and pinky "
    "knuckles, hand tip = index, foot = foot index; face landmarks and heels dropped (BlazePose hips sit "
    "lower and wider than Kinect's).",
))
_add_mapping(LayoutMapping(
    "mediapipe33", "coco17",
    tuple((_mp.index(n),) for n in COCO17.joints),
    "MediaPipe 33 -> COCO 17: the 17 COCO keypoints are MediaPipe landmarks of the same names.",
))


def get_mapping(source: str, target: str) -> LayoutMapping | None:
    """The mapping from ``source`` to ``target`` layout, composing two steps if needed; None if none exists."""
    s, t = get_layout(source).name, get_layout(target).name
    if (s, t) in MAPPINGS:
        return MAPPINGS[(s, t)]
    for (a, b), m1 in MAPPINGS.items():
        if a == s and (b, t) in MAPPINGS:
            m2 = MAPPINGS[(b, t)]
            comp = m1.matrix() @ m2.matrix()
            sources = tuple(tuple(int(i) for i in np.nonzero(comp[:, j])[0]) for j in range(comp.shape[1]))
            return LayoutMapping(s, t, sources, f"{m1.note} Then: {m2.note}")
    return None
