"""Captum attributions of one sample, each reduced to persons x frames x joints.

Every method explains the pre-softmax score of class ``target`` through :class:`stf.model.LogitsOnly`
on the model input ``x (1, C, T, V, M)`` and returns an :class:`Attribution` whose ``input`` map is
``(M, T, V)`` on the model's frames and ``original`` ``(M, T_orig, V)`` on the sample's frames (when a
``frame_index`` is given; exactly 0 in the frames a person is not in when ``present (M, T_orig)`` is given,
as :meth:`stf.explain.Explainer.attribute` does). Channel reduction (:func:`reduce_cells`):

* Integrated Gradients: ``sum`` over the coordinates (signed; the per-cell sum keeps IG's completeness:
  the cells add up to ``y(x) - y(baseline)``).
* Saliency: ``sum`` of absolute gradients (Captum's ``abs=True``), non-negative.
* Occlusion: ``mean`` over the coordinates (every coordinate of a cell gets the same value; it is the mean
  drop of the score over the windows that cover the cell; positive = the cell supports the class).

Baselines (IG and Occlusion, :func:`baseline_tensor`): ``zeros``; ``mean_pose`` (the checkpoint's training
mean pose ``(C, V)``, placed only where the input holds a person, zeros elsewhere); ``first_frame`` (each
person's first valid model frame held over all frames, zeros at padding).

:func:`layer_gradcam` runs Captum's ``LayerGradCam`` on the output of STF-GCN module k. The units return a
``(features, adjacency parts)`` tuple, which Captum's layer hooks cannot clone, so the layer hooked is an
``nn.Identity`` tap on the unit's feature output (:class:`TappedSTF`, sharing the model's parameters): its
output is exactly ``model.units[k]``'s feature map ``F_k``.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ArgumentError, ConfigError
from ..model.focus import to_original_frames
from ..model.stf import STF, LogitsOnly
from .focus import class_index, mask_absent, module_index

ATTRIBUTION_METHODS = ("integrated_gradients", "saliency", "occlusion")
BASELINES = ("zeros", "mean_pose", "first_frame")


@dataclass
class Attribution:
    """One attribution map.

    * ``method``, ``target`` (class index), ``params`` (the arguments used), ``seconds`` (wall time).
    * ``input``: ``(M, T, V)`` float32 on the model's input frames (sign per the method, module docstring).
    * ``original``: ``(M, T_orig, V)`` on the sample's original frames, or None without a frame index; 0 in the
      frames a person is not in (a padded person, one entering late, a missed detection) when the caller gave
      their ``present`` frames (the Explainer does). ``input`` and ``full`` keep the method's values.
    * ``full``: ``(C, T, V, M)`` the attribution before the channel reduction.
    """

    method: str
    target: int
    input: np.ndarray
    original: np.ndarray | None
    full: np.ndarray = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def reduce_cells(attr: torch.Tensor | np.ndarray, how: str = "sum") -> np.ndarray:
    """``(1, C, T, V, M)`` or ``(C, T, V, M)`` attribution -> ``(M, T, V)`` float32.

    ``how``: ``sum`` (signed sum over C), ``abs`` (sum of absolute values), ``mean`` (mean over C).
    """
    a = attr.detach().cpu().double().numpy() if isinstance(attr, torch.Tensor) else np.asarray(attr, np.float64)
    if a.ndim == 5:
        a = a[0]
    if how == "sum":
        r = a.sum(0)
    elif how == "abs":
        r = np.abs(a).sum(0)
    elif how == "mean":
        r = a.mean(0)
    else:
        raise ConfigError(f"unknown reduction {how!r}; expected sum | abs | mean")
    return np.ascontiguousarray(r.transpose(2, 0, 1)).astype(np.float32)  # (T, V, M) -> (M, T, V)


def presence(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, T, V, M)`` -> ``(N, 1, T, V, M)`` float: 1 where a joint holds a value."""
    return (x.abs().sum(1, keepdim=True) > 0).to(x.dtype)


def baseline_tensor(x: torch.Tensor, kind: str = "zeros", mean_pose: torch.Tensor | None = None) -> torch.Tensor:
    """A baseline shaped like ``x (N, C, T, V, M)``; ``kind`` in :data:`BASELINES` (module docstring)."""
    if kind == "zeros":
        return torch.zeros_like(x)
    pres = presence(x)
    if kind == "mean_pose":
        if mean_pose is None:
            raise ConfigError("baseline 'mean_pose' needs the checkpoint's mean_pose; this checkpoint has none")
        mp = torch.as_tensor(mean_pose, dtype=x.dtype, device=x.device).view(1, x.shape[1], 1, x.shape[3], 1)
        frame_on = (pres.sum(3, keepdim=True) > 0).to(x.dtype)  # (N, 1, T, 1, M): frames holding the person
        return mp * frame_on
    if kind == "first_frame":
        frame_on = pres.sum(3, keepdim=True) > 0  # (N, 1, T, 1, M)
        first = frame_on.to(torch.int64).argmax(2)  # (N, 1, 1, M): first valid frame per person
        idx = first.unsqueeze(2).expand(x.shape[0], x.shape[1], 1, x.shape[3], x.shape[4])
        f0 = torch.gather(x, 2, idx)  # (N, C, 1, V, M)
        return f0 * frame_on.to(x.dtype)
    raise ConfigError(f"unknown baseline {kind!r}; expected one of {BASELINES}")


def _count(value: Any, name: str) -> int:
    """``value`` as an integer >= 1 (a window, a step count, a stride); an ArgumentError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ArgumentError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _finish(method: str, target: int, attr: torch.Tensor, how: str, frame_index, num_frames, params, t0,
            present: np.ndarray | None = None) -> Attribution:
    cells = reduce_cells(attr, how)
    orig = None
    if frame_index is not None:
        orig = mask_absent(to_original_frames(cells, np.asarray(frame_index), int(num_frames)), present)
    return Attribution(method=method, target=int(target), input=cells, original=orig,
                       full=attr.detach()[0].cpu().float().numpy(), params=params, seconds=time.perf_counter() - t0)


def integrated_gradients(model: STF, x: torch.Tensor, target: int, baseline: str = "zeros", n_steps: int = 32,
                         mean_pose: torch.Tensor | None = None, frame_index: np.ndarray | None = None,
                         num_frames: int | None = None, internal_batch_size: int | None = None,
                         present: np.ndarray | None = None) -> Attribution:
    """Integrated Gradients from ``baseline`` with ``n_steps`` (Gauss-Legendre) steps, evaluated in batches of
    ``internal_batch_size`` (default 16: faster than one big batch on a 1-2 core CPU). Reduction: signed sum
    over the coordinates. ``present (M, T_orig)`` bool (optional): the original frames each person is in;
    ``original`` is 0 elsewhere (the same for every method)."""
    target = class_index(target, model.cfg.num_classes, "target")
    from captum.attr import IntegratedGradients

    n_steps = _count(n_steps, "n_steps")
    t0 = time.perf_counter()
    x = x.detach().float()
    base = baseline_tensor(x, baseline, mean_pose)
    ig = IntegratedGradients(LogitsOnly(model))
    attr = ig.attribute(x, baselines=base, target=int(target), n_steps=int(n_steps),
                        internal_batch_size=min(16, int(n_steps)) if internal_batch_size is None
                        else _count(internal_batch_size, "internal_batch_size"))
    return _finish("integrated_gradients", target, attr, "sum", frame_index, num_frames,
                   {"baseline": baseline, "n_steps": int(n_steps)}, t0, present)


def saliency(model: STF, x: torch.Tensor, target: int, frame_index: np.ndarray | None = None,
             num_frames: int | None = None, present: np.ndarray | None = None) -> Attribution:
    """Saliency (absolute input gradient). Reduction: sum of absolute values over the coordinates."""
    target = class_index(target, model.cfg.num_classes, "target")
    from captum.attr import Saliency

    t0 = time.perf_counter()
    x = x.detach().float().clone().requires_grad_(True)
    attr = Saliency(LogitsOnly(model)).attribute(x, target=int(target), abs=True)
    return _finish("saliency", target, attr, "abs", frame_index, num_frames, {}, t0, present)


def occlusion(model: STF, x: torch.Tensor, target: int, joint_window: int = 1, frame_window: int = 8,
              joint_stride: int | None = None, frame_stride: int | None = None, baseline: str = "zeros",
              mean_pose: torch.Tensor | None = None, frame_index: np.ndarray | None = None,
              num_frames: int | None = None, batch_size: int = 16, present: np.ndarray | None = None
              ) -> Attribution:
    """Occlusion with windows of ``frame_window`` frames x ``joint_window`` joints x one person (all
    coordinates), sliding by ``frame_stride`` and ``joint_stride`` (default: the window, i.e. non-overlapping
    windows; the cost is one forward pass per window position, ``batch_size`` at a time), replaced by
    ``baseline``. Reduction: mean over the coordinates."""
    target = class_index(target, model.cfg.num_classes, "target")
    from captum.attr import Occlusion

    t0 = time.perf_counter()
    x = x.detach().float()
    c, t, v, _ = x.shape[1:]
    # a window longer than the sequence covers all of it; a window or stride below 1 is a mistake
    fw, jw = min(_count(frame_window, "frame_window"), t), min(_count(joint_window, "joint_window"), v)
    # a stride longer than its window would skip cells (Captum refuses it): at most the window
    fs = fw if frame_stride is None else min(_count(frame_stride, "frame_stride"), fw)
    js = jw if joint_stride is None else min(_count(joint_stride, "joint_stride"), jw)
    batch_size = _count(batch_size, "batch_size")
    base = baseline_tensor(x, baseline, mean_pose)
    with torch.no_grad():
        attr = Occlusion(LogitsOnly(model)).attribute(
            x, sliding_window_shapes=(c, fw, jw, 1), strides=(c, fs, js, 1), baselines=base, target=int(target),
            perturbations_per_eval=int(batch_size))
    return _finish("occlusion", target, attr, "mean", frame_index, num_frames,
                   {"joint_window": jw, "frame_window": fw, "joint_stride": js, "frame_stride": fs,
                    "baseline": baseline}, t0, present)


# --- LayerGradCam on a module's output ---------------------------------------------------------------
class _TapUnit(nn.Module):
    """A unit whose feature output passes through an ``nn.Identity`` (``tap``) Captum can hook."""

    def __init__(self, unit: nn.Module):
        super().__init__()
        self.unit = unit
        self.tap = nn.Identity()

    def forward(self, h):
        y, parts = self.unit(h)
        return self.tap(y), parts


class TappedSTF(nn.Module):
    """Logits-only view of an STF whose unit k's feature output is ``taps[k]`` (same parameters, no copy).

    A shallow copy of the model gets its ``units`` replaced by tapped wrappers, so ``STF.forward`` runs
    unchanged and the original model is not modified.
    """

    def __init__(self, model: STF):
        super().__init__()
        inner = copy.copy(model)
        inner._modules = dict(model._modules)
        inner.units = nn.ModuleList([_TapUnit(u) for u in model.units])
        self.inner = inner
        self.taps = [u.tap for u in inner.units]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).logits


def layer_gradcam(model: STF, x: torch.Tensor, target: int, k: int, relu: bool = True) -> torch.Tensor:
    """Captum ``LayerGradCam`` on module ``k``'s output -> ``(N*M, T_k, V)`` (ReLU'd unless ``relu=False``).

    Equals the STF focus ``FocusResult.raw[k]`` in eval mode (tested for all six modules).
    """
    target = class_index(target, model.cfg.num_classes, "target")
    k = module_index(k, model.num_modules)
    from captum.attr import LayerGradCam

    tapped = TappedSTF(model)
    lgc = LayerGradCam(tapped, tapped.taps[k])
    attr = lgc.attribute(x.detach().float(), target=int(target), relu_attributions=relu)
    return attr[:, 0].detach()
