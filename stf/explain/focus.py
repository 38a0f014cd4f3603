"""Focus maps of one sample, the top-1 vs top-2 comparison and the exploration-loss preview.

All arrays are numpy float32 for one sample (the batch axis dropped). ``M`` = the model's persons,
``T`` = model input frames, ``T_orig`` = the sample's original frames, ``T_k`` = frames of module k.

Projection onto the input (our re-implementation, see ``stf_method.md`` §2.2): module-k frame i sits at
input frame ``i * cumulative_stride_k`` and is linearly interpolated in between
(:func:`stf.model.focus.upsample_time`); then :func:`stf.model.focus.to_original_frames` maps the
model frames back through the pipeline's ``frame_index`` (mean over model frames that came from one
source frame, interpolation for source frames never sampled).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ArgumentError
from ..model.focus import FocusResult, compute_focus, to_original_frames, upsample_time
from ..model.losses import erase, exploration_mask
from ..model.stf import STF, STFOutput
from ..transforms import _present


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy()


@dataclass
class FocusMaps:
    """Focus of one class on every module (lists indexed by module k = 0..5).

    * ``raw[k]``: ``(M, T_k, V)`` Grad-CAM before normalisation (what Captum's LayerGradCam gives).
    * ``module[k]``: ``(M, T_k, V)`` min-max normalised to [0, 1] jointly over the persons; padded persons 0.
    * ``input[k]``: ``(M, T, V)`` ``module[k]`` on the model's input frames.
    * ``original[k]``: ``(M, T_orig, V)`` ``module[k]`` on the sample's original frames, exactly 0 in the frames
      a person is not in (``present`` given, as the Explainer does: :func:`mask_absent`).
    * ``valid_frames``: ``(T_orig,)`` bool, original frames that hold a person.
    * ``person_mask``: ``(M,)`` bool, persons present in the model input.
    * ``present``: ``(M, T_orig)`` bool, the frames each person is in (None: every valid frame, for everyone).
    """

    target: int
    raw: list[np.ndarray]
    module: list[np.ndarray]
    input: list[np.ndarray]
    original: list[np.ndarray]
    valid_frames: np.ndarray
    person_mask: np.ndarray
    strides: list[int]
    present: np.ndarray | None = None

    def frames_of(self) -> np.ndarray:
        """``(M, T_orig)`` bool: the frames of each person that summaries and heatmaps count."""
        vf = np.broadcast_to(self.valid_frames[None], (self.original[0].shape[0], len(self.valid_frames)))
        return vf & self.present if self.present is not None else vf.copy()

    @property
    def num_modules(self) -> int:
        return len(self.module)

    def _module(self, k: int) -> int:
        return module_index(k, self.num_modules)

    def joint_summary(self, k: int = -1) -> np.ndarray:
        """``(M, V)``: module k's focus on the original frames averaged over the frames each person is in
        (a person absent from half the frames is not averaged with zeros there; an absent person is 0)."""
        o = self.original[self._module(k)]
        fr = self.frames_of()
        n = fr.sum(axis=1, keepdims=True)
        return ((o * fr[:, :, None]).sum(axis=1) / np.maximum(n, 1)).astype(np.float32)

    def frame_summary(self, k: int = -1) -> np.ndarray:
        """``(M, T_orig)``: module k's focus averaged over the joints; frames a person is not in are 0."""
        return (self.original[self._module(k)].mean(axis=2) * self.frames_of()).astype(np.float32)


def person_frames(data: np.ndarray) -> np.ndarray:
    """``(M, T, V, C)`` Sample data -> ``(M, T)`` bool: the frames each person is in, i.e. where some joint
    holds a value (not all-zero coordinates, :func:`stf.transforms._present`). A padded person is False in
    every frame; a person entering late or a flickering detection is False in the frames it is missing from."""
    data = np.asarray(data)
    if data.ndim != 4:
        raise ArgumentError(f"person_frames expects Sample data (M, T, V, C), got shape {data.shape}")
    return _present(data).any(axis=2)


def mask_absent(maps: np.ndarray, present: np.ndarray | None) -> np.ndarray:
    """``maps (M, T_orig, V)`` on the original frames with exactly 0 wherever ``present (M, T_orig)`` is False.

    The one place every map returned on the original frames (``FocusMaps.original``,
    ``Attribution.original``, ``ExplorationPreview.mask_original``) drops a person's frames they are not in:
    resampling to the model / module frames and back spreads values into them. ``present`` None: unchanged.
    Returns float32.
    """
    maps = np.asarray(maps, np.float32)
    if present is None:
        return maps
    present = np.asarray(present, bool)
    if maps.ndim < 2 or present.shape != maps.shape[:2]:
        raise ArgumentError(f"present of shape {present.shape} for maps of shape {maps.shape}: it must be "
                            "(persons, original frames) of the maps")
    return np.where(present.reshape(present.shape + (1,) * (maps.ndim - 2)), maps, np.float32(0)).astype(np.float32)


def module_index(k: Any, n: int) -> int:
    """A module index ``k`` of ``n`` modules (0-based; -1 .. -n count from the last) -> ``k`` in ``[0, n)``;
    an ArgumentError for a non-integer (a bool, 2.0) or an index out of range."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise ArgumentError(f"module must be an integer index, got {k!r}")
    if not -n <= k < n:
        raise ArgumentError(f"module {k!r} out of range: modules are 0-{n - 1} (or -1 to -{n} from the last)")
    return int(k) % n


def class_index(target: Any, num_classes: int, what: str = "class") -> int:
    """``target`` as a class index in ``[0, num_classes)``; an ArgumentError for anything else.

    Negative indices are refused (they would silently explain a class counted from the end), and so
    are bools and non-integral numbers (2.7 is not class 2).
    """
    ok = isinstance(target, (int, np.integer)) and not isinstance(target, (bool, np.bool_))
    if not ok and isinstance(target, (float, np.floating)) and float(target).is_integer():
        target, ok = int(target), True
    if not ok:
        raise ArgumentError(f"{what} must be an integer class index, got {target!r}")
    if not 0 <= int(target) < num_classes:
        raise ArgumentError(f"{what} {int(target)} out of range: the model has {num_classes} classes "
                            f"(0-{num_classes - 1})")
    return int(target)


def focus_maps(model: STF, x: torch.Tensor, target: int, frame_index: np.ndarray, num_frames: int,
               valid_frames: np.ndarray, out: STFOutput | None = None,
               variant: str = "first_order", present: np.ndarray | None = None
               ) -> tuple[FocusMaps, FocusResult, STFOutput]:
    """Focus of ``target`` on all modules for ``x (1, C, T, V, M)``; ``out`` reuses a forward pass.

    ``present (M, T_orig)`` bool (optional, :func:`person_frames` of the displayed sample's data): where each
    person is in the original frames; ``original`` is exactly 0 elsewhere (:func:`mask_absent`: the network's
    focus can reach a frame a person is not in, through its temporal receptive field and the resampling, but
    there is nothing there to show). ``raw``, ``module`` and ``input`` are left as the network computed them.

    Returns the :class:`FocusMaps`, the underlying :class:`~stf.model.focus.FocusResult` (tensors) and
    the forward output. ``out`` must have been computed with gradients enabled.
    """
    target = class_index(target, model.cfg.num_classes, "target")
    res, out = compute_focus(model, x, torch.tensor([target], device=x.device), out=out, variant=variant)
    strides = model.cfg.cumulative_strides()
    t_in = x.shape[2]
    raw, mod, inp, orig = [], [], [], []
    for k in range(model.num_modules):
        raw.append(_np(res.raw[k]))  # (M, T_k, V) since N = 1
        m = res.maps[k][0]  # (M, T_k, V)
        mod.append(_np(m))
        up = _np(upsample_time(m.detach(), strides[k], t_in))
        inp.append(up)
        o = to_original_frames(up, frame_index, num_frames)
        orig.append(mask_absent(o, present))
    fm = FocusMaps(target=int(target), raw=raw, module=mod, input=inp, original=orig,
                   valid_frames=np.asarray(valid_frames, bool), person_mask=_np(out.person_mask[0]).astype(bool),
                   strides=list(strides), present=None if present is None else np.asarray(present, bool))
    return fm, res, out


def overlap(a, b, person_mask=None) -> float:
    """The L_d overlap ``2 Σ min(a, b) / Σ (a + b)`` of two non-negative maps of one sample, in [0, 1].

    0 for disjoint focus, exactly 1 for identical (non-zero) maps, 0 when both are all zero.
    ``person_mask (M,)`` (optional) restricts the sums to present persons (maps shaped ``(M, ...)``).
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:  # broadcasting one map against another is never meant
        raise ArgumentError(f"overlap of maps of shapes {a.shape} and {b.shape}: they must have one shape")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ArgumentError("overlap of a map holding NaN or inf")
    if (a < 0).any() or (b < 0).any():
        raise ArgumentError("overlap is defined for non-negative maps (a focus map, or |attribution|)")
    if person_mask is not None:
        pm = np.asarray(person_mask, bool)
        if a.ndim < 1 or pm.shape != (a.shape[0],):
            raise ArgumentError(f"person_mask of shape {pm.shape} for maps of shape {a.shape} (one entry per person)")
        a, b = a[pm], b[pm]
    total = float((a + b).sum())
    if total <= 0:
        return 0.0
    return float(np.clip(2.0 * np.minimum(a, b).sum() / total, 0.0, 1.0))


@dataclass
class FocusComparison:
    """Top-1 vs top-2 predicted class: their focus on every module and the overlap (L_d formula).

    ``overlaps[k]`` is :func:`overlap` of the two normalised module-k maps (module resolution, present
    persons); ``overlap_last`` = ``overlaps[-1]`` is what L_d penalises; ``overlap_mean`` the mean over modules.
    """

    top1: int
    top2: int
    top1_name: str
    top2_name: str
    focus_top1: FocusMaps
    focus_top2: FocusMaps
    overlaps: list[float]

    @property
    def overlap_last(self) -> float:
        return self.overlaps[-1]

    @property
    def overlap_mean(self) -> float:
        return float(np.mean(self.overlaps))


def compare(f1: FocusMaps, f2: FocusMaps, names: list[str]) -> FocusComparison:
    ov = [overlap(a, b, f1.person_mask) for a, b in zip(f1.module, f2.module)]
    return FocusComparison(top1=f1.target, top2=f2.target, top1_name=names[f1.target], top2_name=names[f2.target],
                           focus_top1=f1, focus_top2=f2, overlaps=ov)


@dataclass
class ModelFocusComparison:
    """Two models' focus on one sample, compared on the sample's original frames.

    ``focus_a`` / ``focus_b``: each model's :class:`FocusMaps` (``original[k]`` ``(M, T_orig, V)``);
    ``overlaps[k]``: :func:`overlap` of the two module-k maps over the frames valid for both and the
    persons present for both (0 disjoint, 1 identical). Module k of each model is compared even when
    their strides differ: both maps are on the same original frames.
    """

    focus_a: FocusMaps
    focus_b: FocusMaps
    overlaps: list[float]

    @property
    def overlap_last(self) -> float:
        return self.overlaps[-1]


def compare_models(fa: FocusMaps, fb: FocusMaps) -> ModelFocusComparison:
    """Compare the focus of two models on the same sample (maps of the same layout, persons and frames)."""
    if fa.num_modules != fb.num_modules:
        raise ArgumentError(f"the two models have {fa.num_modules} and {fb.num_modules} modules: "
                            "their focus cannot be compared module by module")
    for k, (a, b) in enumerate(zip(fa.original, fb.original)):
        if a.shape != b.shape:
            raise ArgumentError(f"module {k + 1}: the two focus maps are {a.shape} and {b.shape} (persons, frames, "
                                "joints): the models see the sample in another layout or with other persons")
    vf = fa.valid_frames & fb.valid_frames
    pm = fa.person_mask & fb.person_mask
    ov = [overlap(a[:, vf], b[:, vf], pm) for a, b in zip(fa.original, fb.original)]
    return ModelFocusComparison(focus_a=fa, focus_b=fb, overlaps=ov)


@dataclass
class ExplorationPreview:
    """What the exploration loss L_e sees for this sample (our re-implementation, §2.3).

    * ``mask``: ``(M, T, V)`` soft mask ``sigmoid(omega * (S6^{c1} upsampled - sigma))`` on the model frames,
      values in (0, 1) (what ``erase`` used, padded persons included); ``mask_original``: ``(M, T_orig, V)`` the
      same on the original frames, 0 in the frames a person is not in (when ``present`` is given).
    * ``input`` / ``masked_input``: ``(M, T, V, C)`` the model input before / after ``erase`` (mode ``erase``).
    * ``target``: the top-1 class c1; ``prob_before`` / ``prob_after``: its probability on the input /
      on the masked input; ``pred_after``: the top-1 class on the masked input; ``probs_after (K,)``.
    * ``sigma``, ``omega``, ``erase``: from the checkpoint's loss config.
    """

    target: int
    mask: np.ndarray
    mask_original: np.ndarray
    input: np.ndarray
    masked_input: np.ndarray
    prob_before: float
    prob_after: float
    pred_after: int
    probs_after: np.ndarray
    sigma: float
    omega: float
    erase: str


def exploration_preview(model: STF, x: torch.Tensor, s6: torch.Tensor, target: int, prob_before: float,
                        frame_index: np.ndarray, num_frames: int, sigma: float, omega: float, erase_mode: str,
                        mean_pose: torch.Tensor | None, present: np.ndarray | None = None) -> ExplorationPreview:
    """Preview of L_e. ``s6``: ``(1, M, T_6, V)`` normalised last-module focus of ``target``; ``x (1, C, T, V, M)``;
    ``present (M, T_orig)`` bool (optional): the frames each person is in (``mask_original`` is 0 elsewhere)."""
    stride = model.cfg.cumulative_strides()[-1]
    with torch.no_grad():
        mask = exploration_mask(s6.detach(), stride, x.shape[2], sigma, omega)  # (1, M, T, V)
        mode = erase_mode if (erase_mode != "mean_pose" or mean_pose is not None) else "zero"
        x_star = erase(x.detach(), mask, mode, mean_pose)
        probs = torch.softmax(model(x_star).logits.float(), 1)[0]
    m = _np(mask[0])
    return ExplorationPreview(
        target=int(target), mask=m, mask_original=mask_absent(to_original_frames(m, frame_index, num_frames), present),
        input=_np(x[0].permute(3, 1, 2, 0)), masked_input=_np(x_star[0].permute(3, 1, 2, 0)),
        prob_before=float(prob_before), prob_after=float(probs[target]), pred_after=int(probs.argmax()),
        probs_after=_np(probs), sigma=float(sigma), omega=float(omega), erase=mode)


__all__ = ["FocusMaps", "focus_maps", "overlap", "FocusComparison", "compare", "ModelFocusComparison",
           "compare_models", "ExplorationPreview", "exploration_preview", "person_frames", "mask_absent"]
