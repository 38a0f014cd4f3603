"""Deletion and insertion curves: is an attribution map faithful to the model?

A map ``(M, T, V)`` on the model's input frames ranks the *cells* (person, frame, joint; all coordinates
of a joint at once). Only valid cells are ranked (:func:`valid_cells`): those of a person in a frame that is
not padding and in which that person is present (some joint of theirs nonzero). A person who enters late,
leaves early or flickers in and out thus has no cells in the frames they are absent from: removing zeros
there would change nothing.

* **Deletion**: remove the top-ranked cells in ``steps`` equal steps (fraction 0, 1/steps, ..., 1) and
  record the probability of the explained class; a faithful map makes it drop fast (low AUC).
* **Insertion**: start from the fully removed input and restore the top-ranked cells first; a faithful
  map makes it rise fast (high AUC).

Removal (``mode``, :func:`removal_reference`): ``zero`` (coordinates set to 0), ``mean_pose`` (the
checkpoint's training mean pose ``(C, V)``, in the model's input coordinates), ``interpolate`` (each removed
joint linearly interpolated in time between the nearest frames where that joint of that person is kept,
held constant beyond the last kept frame, 0 when no frame of it is kept; only frames where that person is
present count as kept, and frames where they are absent stay zero).

AUC: trapezoid rule of probability vs fraction of cells, in [0, 1]. Methods are compared by
``score = insertion AUC - deletion AUC`` (higher = more faithful); a seeded random ranking is the baseline
any method should beat. Every input of every curve is evaluated in batched forward passes
(``batch_size``) under ``torch.inference_mode`` in eval mode.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..config import Rule
from ..errors import ArgumentError, ConfigError
from ..model.stf import STF
from .attributions import _count
from .focus import class_index

MODES = ("zero", "mean_pose", "interpolate")
RANDOM = "random"  # the name of the seeded random ranking among a report's maps


@dataclass
class Curve:
    """One curve: ``fractions (steps+1,)`` of cells removed (deletion) / restored (insertion), in [0, 1]
    increasing; ``probs (steps+1,)`` the class probability; ``auc`` in [0, 1]."""

    method: str
    kind: str  # deletion | insertion
    fractions: np.ndarray
    probs: np.ndarray
    auc: float


@dataclass
class FaithfulnessReport:
    """Curves for several maps of one sample and class.

    ``curves[name] = {"deletion": Curve, "insertion": Curve}``; ``scores[name]`` = insertion AUC minus
    deletion AUC; ``random`` is included when asked for (seeded). ``rows()`` gives a table.
    """

    target: int
    mode: str
    steps: int
    seed: int | None
    curves: dict[str, dict[str, Curve]]
    seconds: float = 0.0
    forward_passes: int = 0

    @property
    def scores(self) -> dict[str, float]:
        return {n: c["insertion"].auc - c["deletion"].auc for n, c in self.curves.items()}

    def rows(self) -> list[dict]:
        return [{"method": n, "deletion_auc": c["deletion"].auc, "insertion_auc": c["insertion"].auc,
                 "score": c["insertion"].auc - c["deletion"].auc} for n, c in self.curves.items()]


def auc(fractions: np.ndarray, values: np.ndarray) -> float:
    """Trapezoid area under ``values`` over ``fractions`` (in [0, 1])."""
    f = np.asarray(fractions, np.float64)
    v = np.asarray(values, np.float64)
    return float(np.clip(np.sum((f[1:] - f[:-1]) * (v[1:] + v[:-1]) / 2.0), 0.0, 1.0))


def valid_cells(x: torch.Tensor, frame_index: np.ndarray | None = None) -> np.ndarray:
    """``(M, T, V)`` bool: the cells of ``x (1, C, T, V, M)`` that may be ranked.

    Cell ``(m, t, v)`` is valid when person ``m`` is present in frame ``t`` (some coordinate of some joint of
    theirs is nonzero there; every joint of a present person counts, detected or not) and frame ``t`` is not
    padding: ``frame_index (T,)`` (original frame of each model frame) is >= 0 there; without it every
    frame counts. The mask is constant over ``V``. When no person is present in any non-padding frame
    (an all-zero input), every person counts as present in every non-padding frame.
    """
    if x.dim() != 5 or x.shape[0] != 1:
        raise ArgumentError(f"x must be a (1, C, T, V, M) tensor, got shape {tuple(x.shape)}")
    _, _, t, v, m = x.shape
    present = (x.detach()[0].abs().sum(dim=(0, 2)) > 0).cpu().numpy().T  # (M, T): person m in frame t
    if frame_index is not None:
        frames = np.asarray(frame_index).reshape(-1) >= 0  # (T,)
        if frames.shape != (t,):
            raise ArgumentError(f"frame_index has {frames.shape[0]} entries, expected one per frame ({t})")
    else:
        frames = np.ones(t, bool)
    cells = present & frames[None, :]  # (M, T)
    if not cells.any():  # nobody anywhere: rank every person's non-padding frames, as before
        cells = np.broadcast_to(frames[None, :], (m, t))
    return np.repeat(cells[:, :, None], v, axis=2)


def random_ranking(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A random map of ``shape`` (uniform in [0, 1)) from ``np.random.default_rng(seed)``: same seed, same map."""
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def removal_reference(x: torch.Tensor, mode: str = "zero", mean_pose: torch.Tensor | None = None) -> torch.Tensor:
    """Fully removed input for ``zero`` / ``mean_pose`` (shape of ``x (1, C, T, V, M)``).

    ``interpolate`` depends on which cells are kept; see :func:`interpolate_removed`.
    """
    if mode == "zero":
        return torch.zeros_like(x)
    if mode == "mean_pose":
        if mean_pose is None:
            raise ConfigError("removal 'mean_pose' needs the checkpoint's mean_pose; this checkpoint has none")
        mp = torch.as_tensor(mean_pose, dtype=x.dtype, device=x.device).view(1, x.shape[1], 1, x.shape[3], 1)
        return mp.expand_as(x).clone()
    if mode == "interpolate":
        raise ConfigError("removal 'interpolate' has no fixed reference; use interpolate_removed")
    raise ConfigError(f"unknown removal mode {mode!r}; expected one of {MODES}")


def _frames_ok(frames_ok: np.ndarray, m: int, t: int) -> np.ndarray:
    """``frames_ok`` as ``(M, T)`` bool: a ``(T,)`` array (the same frames for every person) is broadcast."""
    ok = np.asarray(frames_ok, bool)
    if ok.shape not in ((t,), (m, t)):
        raise ArgumentError(f"frames_ok must have shape (T,) = ({t},) or (M, T) = ({m}, {t}), got {ok.shape}")
    return np.broadcast_to(ok, (m, t))


def interpolate_removed(x: np.ndarray, removed: np.ndarray, frames_ok: np.ndarray) -> np.ndarray:
    """Replace removed cells by linear interpolation in time from kept cells of the same joint and person.

    ``x``: ``(C, T, V, M)``; ``removed``: ``(B, M, T, V)`` bool; ``frames_ok``: ``(M, T)`` bool, the frames
    where each person is present and that are not padding (a ``(T,)`` array applies to every person). A
    cell whose frame is not ok for its person is neither a source nor replaced: it keeps its value of
    ``x`` (zero where the person is absent). Returns ``(B, C, T, V, M)`` float32.
    """
    c, t, v, m = x.shape
    ok = _frames_ok(frames_ok, m, t)[None, :, :, None]  # (1, M, T, 1)
    b = removed.shape[0]
    keep = (~removed) & ok  # (B, M, T, V)
    ar = np.arange(t)[None, None, :, None]
    prev = np.maximum.accumulate(np.where(keep, ar, -1), axis=2)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(keep, ar, t), axis=2), axis=2), axis=2)
    has_p, has_n = prev >= 0, nxt < t
    p = np.clip(prev, 0, t - 1)
    n = np.clip(nxt, 0, t - 1)
    xm = np.broadcast_to(x.transpose(3, 1, 2, 0)[None], (b, m, t, v, c))  # (B, M, T, V, C)
    bi = np.arange(b)[:, None, None, None]
    mi = np.arange(m)[None, :, None, None]
    vi = np.arange(v)[None, None, None, :]
    xp = xm[bi, mi, p, vi]  # (B, M, T, V, C)
    xn = xm[bi, mi, n, vi]
    span = np.maximum(n - p, 1)
    w = np.where(has_p & has_n, (ar - p) / span, 0.0)[..., None]
    val = np.where((has_p & has_n)[..., None], xp * (1 - w) + xn * w,
                   np.where(has_p[..., None], xp, np.where(has_n[..., None], xn, 0.0)))
    rem = (removed & ok)[..., None]
    out = np.where(rem, val, xm)  # (B, M, T, V, C)
    return np.ascontiguousarray(out.transpose(0, 4, 2, 3, 1)).astype(np.float32)


def _order(attr: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Flat indices of the valid cells, highest value first (ties: lower flat index first)."""
    flat = np.asarray(attr, np.float64).reshape(-1)
    idx = np.flatnonzero(valid.reshape(-1))
    vals = np.nan_to_num(flat[idx], nan=-np.inf)
    return idx[np.argsort(-vals, kind="stable")]


def _step_masks(order: np.ndarray, shape: tuple[int, ...], steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(steps+1, M, T, V)`` bool masks of the top cells at each fraction, and the fractions."""
    n = len(order)
    counts = np.round(np.linspace(0, 1, steps + 1) * n).astype(np.int64)
    rank = np.full(int(np.prod(shape)), n, np.int64)
    rank[order] = np.arange(n)
    masks = rank[None, :] < counts[:, None]
    return masks.reshape((steps + 1,) + tuple(shape)), counts / max(n, 1)


def _inputs(x: torch.Tensor, masks: np.ndarray, kind: str, mode: str, ref: torch.Tensor | None,
            valid: np.ndarray) -> torch.Tensor:
    """The batch of inputs for ``masks (B, M, T, V)`` (top cells) of ``x (1, C, T, V, M)``: ``(B, C, T, V, M)``;
    only ``valid (M, T, V)`` cells change, and in ``interpolate`` mode only they are sources."""
    removed = (masks if kind == "deletion" else ~masks) & valid[None]
    if mode == "interpolate":  # valid.any over V: (M, T), the frames each person is present in
        return torch.from_numpy(interpolate_removed(x[0].cpu().numpy(), removed, valid.any(axis=2))).to(x.device)
    r = torch.from_numpy(removed).to(x.device)  # (B, M, T, V)
    r = r.permute(0, 2, 3, 1).unsqueeze(1).to(x.dtype)  # (B, 1, T, V, M)
    return x * (1 - r) + ref * r


def _probs(model: STF, batch: torch.Tensor, target: int, batch_size: int) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for i in range(0, batch.shape[0], batch_size):
            lg = model(batch[i:i + batch_size]).logits.float()
            out.append(torch.softmax(lg, 1)[:, target])
    return torch.cat(out).cpu().numpy()


def faithfulness_report(model: STF, x: torch.Tensor, maps: dict[str, np.ndarray], target: int, steps: int = 20,
                        mode: str = "zero", mean_pose: torch.Tensor | None = None,
                        frame_index: np.ndarray | None = None, kinds: tuple[str, ...] = ("deletion", "insertion"),
                        random_seed: int | None = 0, batch_size: int = 16) -> FaithfulnessReport:
    """Deletion / insertion curves of every map in ``maps`` (name -> ``(M, T, V)``) for ``x (1, C, T, V, M)``.

    ``random_seed`` not None adds a ``"random"`` ranking (seeded). All curves' inputs are built first and
    evaluated together in batches of ``batch_size`` (16 was fastest for the full-size model on 1-2 CPU threads);
    the intact and the fully removed input, shared by all curves, are evaluated once.
    """
    target = class_index(target, model.cfg.num_classes, "target")
    if mode not in MODES:
        raise ConfigError(f"unknown removal mode {mode!r}; expected one of {MODES}")
    for kd in kinds:
        if kd not in ("deletion", "insertion"):
            raise ConfigError(f"unknown curve kind {kd!r}; expected deletion | insertion")
    steps, batch_size = _count(steps, "steps"), _count(batch_size, "batch_size")
    if not Rule(int, 0, nullable=True).ok(int(random_seed) if isinstance(random_seed, np.integer) else random_seed):
        raise ArgumentError(f"random_seed must be None or an integer >= 0, got {random_seed!r}")
    if not isinstance(maps, Mapping):
        raise ArgumentError(f"maps must be a mapping of name -> (M, T, V) map, got {type(maps).__name__}")
    if random_seed is not None and RANDOM in maps:
        raise ArgumentError(f"map name {RANDOM!r} is the seeded random baseline's; give the map another name "
                            "(or random_seed=None to pass your own random ranking)")
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    x = x.detach().float()
    shape = (x.shape[4], x.shape[2], x.shape[3])  # (M, T, V)
    valid = valid_cells(x, frame_index)
    maps = dict(maps)
    if random_seed is not None:
        maps[RANDOM] = random_ranking(shape, random_seed)
    ref = None if mode == "interpolate" else removal_reference(x, mode, mean_pose)
    # every curve starts / ends at the intact input and at the fully removed one: evaluate those two once
    empty = _inputs(x, valid[None], "deletion", mode, ref, valid)
    batches, spans = [x, empty], {}
    pos = 2
    for name, a in maps.items():
        a = np.asarray(a, np.float32)
        if a.shape != shape:
            raise ConfigError(f"map {name!r} has shape {a.shape}, expected (M, T, V) = {shape}")
        if not np.isfinite(a).all():  # NaN ranks in index order: a curve of nothing, reported as a result
            bad = np.argwhere(~np.isfinite(a))[0]
            raise ArgumentError(f"map {name!r} holds a non-finite value (NaN or inf) at person {bad[0]}, "
                                f"frame {bad[1]}, joint {bad[2]}")
        masks, fr = _step_masks(_order(a, valid), shape, steps)
        for kd in kinds:
            if steps > 1:
                batches.append(_inputs(x, masks[1:-1], kd, mode, ref, valid))
            spans[(name, kd)] = (pos, pos + steps - 1, fr)
            pos += steps - 1
    probs = _probs(model, torch.cat(batches), int(target), batch_size).astype(np.float64)
    p_full, p_empty = probs[0], probs[1]
    curves: dict[str, dict[str, Curve]] = {}
    for (name, kd), (a, b, fr) in spans.items():
        ends = (p_full, p_empty) if kd == "deletion" else (p_empty, p_full)
        p = np.concatenate([[ends[0]], probs[a:b], [ends[1]]])
        curves.setdefault(name, {})[kd] = Curve(method=name, kind=kd, fractions=fr.astype(np.float64), probs=p,
                                                auc=auc(fr, p))
    model.train(was_training)
    return FaithfulnessReport(target=int(target), mode=mode, steps=int(steps), seed=random_seed, curves=curves,
                              seconds=time.perf_counter() - t0, forward_passes=pos)


def deletion_curve(model: STF, x: torch.Tensor, attr: np.ndarray, target: int, steps: int = 20, mode: str = "zero",
                   mean_pose: torch.Tensor | None = None, frame_index: np.ndarray | None = None,
                   name: str = "map") -> Curve:
    """The deletion curve of one map ``attr (M, T, V)``."""
    rep = faithfulness_report(model, x, {name: attr}, target, steps, mode, mean_pose, frame_index,
                              kinds=("deletion",), random_seed=None)
    return rep.curves[name]["deletion"]


def insertion_curve(model: STF, x: torch.Tensor, attr: np.ndarray, target: int, steps: int = 20,
                    mode: str = "zero", mean_pose: torch.Tensor | None = None, frame_index: np.ndarray | None = None,
                    name: str = "map") -> Curve:
    """The insertion curve of one map ``attr (M, T, V)``."""
    rep = faithfulness_report(model, x, {name: attr}, target, steps, mode, mean_pose, frame_index,
                              kinds=("insertion",), random_seed=None)
    return rep.curves[name]["insertion"]


__all__ = ["Curve", "FaithfulnessReport", "auc", "valid_cells", "random_ranking", "removal_reference",
           "interpolate_removed", "faithfulness_report", "deletion_curve", "insertion_curve"]
