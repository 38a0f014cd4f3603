"""Spatio-temporal focus: Grad-CAM on every STF-GCN module (our re-implementation).

For module output ``F_k`` of shape ``(N*M, C_k, T_k, V)`` and the pre-softmax class score ``y^c``::

    w_k^c = mean_{t,v} dy^c / dF_k          S_k^c = ReLU(sum_ch w_k^c[ch] * F_k[ch])   (N*M, T_k, V)

``normalise`` rescales jointly over the persons of a sample (min-max over (M, T_k, V)); padded
persons are 0. The last module needs no backward pass: with global average pooling and a linear
head, ``dy^c/dF_6[n, m] = W[c] * mask[n, m] / (sum(mask[n]) * T_6 * V)``, constant over (t, v)
(times the head dropout's multiplier when dropout is active in training).

Variants: ``first_order`` (default in training: the gradient weights are detached, S stays
differentiable through F) and ``exact`` (``create_graph=True``: gradients flow through w too).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ArgumentError
from .stf import STF, STFOutput

#: Focus variants: gradients treated as constants (default), or differentiated through (``create_graph``).
VARIANTS = ("first_order", "exact")


def gradcam(feature: torch.Tensor, grad: torch.Tensor, positive_weights: bool = False) -> torch.Tensor:
    """``(N', C, T, V)`` feature and gradient -> raw Grad-CAM ``(N', T, V)`` (ReLU, not normalised)."""
    w = grad.mean(dim=(2, 3), keepdim=True)
    if positive_weights:
        w = w.clamp(min=0)
    return F.relu((w * feature).sum(1))


def check_classes(classes, n: int, k: int, what: str = "focus class", check_range: bool = True,
                  device: torch.device | None = None, dtypes=(torch.int64, torch.int32)) -> None:
    """Raise :class:`ArgumentError` unless ``classes`` is an integer tensor ``(n,)`` with values in ``[0, k)``.

    ``check_range`` False skips the value check (it reads the tensor, which syncs a GPU).
    """
    whats = what + ("es" if what.endswith("s") else "s")
    if not torch.is_tensor(classes):
        raise ArgumentError(f"{whats} must be an integer tensor of shape (N,) = ({n},), got "
                            f"{type(classes).__name__} (e.g. torch.full(({n},), c))")
    if classes.dtype not in dtypes:
        raise ArgumentError(f"{whats} must be a tensor of {' or '.join(str(d).removeprefix('torch.') for d in dtypes)}"
                            f", got {str(classes.dtype).removeprefix('torch.')}")
    if tuple(classes.shape) != (n,):
        raise ArgumentError(f"{whats} must have shape (N,) = ({n},), one per sample, got {tuple(classes.shape)}")
    if device is not None and classes.device != device:
        raise ArgumentError(f"{whats} are on {classes.device}, the model's output on {device}: move them first")
    if check_range:
        bad = (classes < 0) | (classes >= k)
        if bool(bad.any()):
            raise ArgumentError(f"{what} {int(classes[bad][0])} out of range: the model has classes 0-{k - 1}")


def last_module_cam(model: STF, out: STFOutput, classes: torch.Tensor, head_grad: bool = True,
                    positive_weights: bool = False) -> torch.Tensor:
    """Closed-form Grad-CAM of the last module for ``classes`` ``(N,)`` -> ``(N*M, T_6, V)``.

    Equals :func:`gradcam` with autograd gradients, including the positive scale
    ``mask / (sum(mask) * T_6 * V)`` and, in training with head dropout, the dropout multiplier
    (``out.head_mask``). ``head_grad`` False detaches the classifier weights (what first-order autograd
    would do with ``dy/dF_6 = W[c] * scale``); True keeps them on the graph.
    """
    check_classes(classes, out.person_mask.shape[0], model.fc.weight.shape[0], device=out.logits.device,
                  check_range=classes.device.type == "cpu" if torch.is_tensor(classes) else True)
    weight = model.fc.weight if head_grad else model.fc.weight.detach()
    f6 = out.features[-1].to(weight.dtype)  # (fp32 under autocast: the focus is never half precision)
    n, m = out.person_mask.shape
    _, _, t6, v = f6.shape
    w = weight[classes]  # (N, C)
    if positive_weights:  # as gradcam clamps the mean gradient (the positive scale below keeps the sign)
        w = w.clamp(min=0)
    if out.head_mask is not None:
        w = w * out.head_mask
    scale = out.person_mask.to(f6.dtype) / (out.person_mask.sum(1, keepdim=True).to(f6.dtype) * t6 * v)  # (N, M)
    w = (w.unsqueeze(1) * scale.unsqueeze(-1)).reshape(n * m, -1)  # (N*M, C)
    return F.relu(torch.einsum("nctv,nc->ntv", f6, w))


#: Scale of the class score before autograd when module outputs are float16 (autocast on CUDA): the
#: gradients of a per-sample score averaged over (t, v) are ~1e-5, where float16 is subnormal.
HALF_SCORE_SCALE = 1024.0


def _feature_grads(out: STFOutput, classes: torch.Tensor, modules: list[int], create_graph: bool) -> list[torch.Tensor]:
    """``d(sum_n y_n^{c_n}) / dF_k`` for the modules asked, as the module outputs' dtype holds them.

    Under float16 autocast the score is scaled first (and the gradients unscaled in float32), as a
    gradient scaler does; where the scaled pass overflows, it is repeated unscaled.
    """
    feats = [out.features[k] for k in modules]
    score = out.logits.gather(1, classes.view(-1, 1)).sum()
    if any(f.dtype == torch.float16 for f in feats):
        grads = torch.autograd.grad(score * HALF_SCORE_SCALE, feats, retain_graph=True, create_graph=create_graph)
        if all(torch.isfinite(g).all() for g in grads):
            return [g.float() / HALF_SCORE_SCALE for g in grads]
    return list(torch.autograd.grad(score, feats, retain_graph=True, create_graph=create_graph))


def module_cams(model: STF, out: STFOutput, classes: torch.Tensor, modules: list[int] | None = None,
                variant: str = "first_order", closed_form_last: bool = True,
                positive_weights: bool = False, differentiable: bool = True,
                head_grad: bool = True) -> dict[int, torch.Tensor]:
    """Raw Grad-CAM maps of ``modules`` (0-based) for ``classes`` ``(N,)`` -> {k: (N*M, T_k, V)}.

    One autograd call covers all requested modules except the last (closed form). The graph of
    ``out`` is retained so the caller can backpropagate losses built on the maps (``differentiable``,
    the losses' case) or ask for another class's maps (the maps themselves are then plain tensors).
    ``head_grad`` (``first_order`` only; ``exact`` always keeps them): the closed form's classifier
    weights stay on the graph (see :func:`last_module_cam`).
    """
    if variant not in VARIANTS:
        raise ArgumentError(f"unknown focus variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    nmod = len(out.features)
    if modules is not None and (not isinstance(modules, (list, tuple, range)) or not all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in modules)):
        raise ArgumentError(f"focus modules must be a list of module indices (0-{nmod - 1}), got {modules!r}")
    if modules is not None and not all(0 <= k < nmod for k in modules):
        raise ArgumentError(f"focus modules {list(modules)} out of range: the model has modules 0-{nmod - 1}")
    # (the value check reads the classes: only where that does not sync a GPU)
    check_classes(classes, out.logits.shape[0], out.logits.shape[1], device=out.logits.device,
                  check_range=classes.device.type == "cpu" if torch.is_tensor(classes) else True)
    k_last = len(out.features) - 1
    modules = list(range(len(out.features))) if modules is None else list(modules)
    maps: dict[int, torch.Tensor] = {}
    on_graph = differentiable and torch.is_grad_enabled()
    need = [k for k in modules if not (k == k_last and closed_form_last)]
    if need:
        dtype = model.fc.weight.dtype  # the focus is computed in the weights' precision (fp32 under autocast)
        grads = _feature_grads(out, classes, need, create_graph=(variant == "exact"))
        with torch.set_grad_enabled(on_graph):
            for k, g in zip(need, grads):
                g = (g if variant == "exact" else g.detach()).to(dtype)
                maps[k] = gradcam(out.features[k].to(dtype), g, positive_weights)
    if k_last in modules and closed_form_last:
        with torch.set_grad_enabled(on_graph):
            maps[k_last] = last_module_cam(model, out, classes, head_grad=head_grad or variant == "exact",
                                           positive_weights=positive_weights)
    return maps


def normalise(cam: torch.Tensor, person_mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Min-max over (M, T, V) of each sample: ``(N*M, T, V)`` -> ``(N, M, T, V)`` in [0, 1]; padded persons 0."""
    n, m = person_mask.shape
    s = cam.view(n, m, *cam.shape[1:])
    pm = person_mask.view(n, m, 1, 1)
    big = torch.finfo(s.dtype).max
    lo = torch.where(pm, s, torch.full_like(s, big)).amin(dim=(1, 2, 3), keepdim=True)
    hi = torch.where(pm, s, torch.full_like(s, -big)).amax(dim=(1, 2, 3), keepdim=True)
    return torch.where(pm, (s - lo) / (hi - lo + eps), torch.zeros_like(s))


def upsample_time(s: torch.Tensor, stride: int, length: int) -> torch.Tensor:
    """Place module frame i at input frame ``i * stride`` and interpolate linearly: ``(..., T_k, V) -> (..., length, V)``.

    (Every temporal convolution of the network is symmetrically padded, so output frame i is
    centred on input frame ``i * stride``.)
    """
    tk = s.shape[-2]
    if stride == 1 and tk == length:
        return s
    pos = torch.arange(length, device=s.device, dtype=s.dtype) / stride
    pos = pos.clamp(max=tk - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=tk - 1)
    frac = (pos - lo.to(s.dtype)).view(-1, 1)
    return s.index_select(-2, lo) * (1 - frac) + s.index_select(-2, hi) * frac


def to_original_frames(s: np.ndarray, frame_index: np.ndarray, num_frames: int) -> np.ndarray:
    """Map a focus over model frames ``(..., T_in, V)`` back to the sequence's ``num_frames`` frames.

    ``frame_index`` ``(T_in,)`` is the pipeline's source-frame index (-1 for padding). Frames sampled
    several times get the mean; frames never sampled are interpolated from their sampled neighbours.
    Returns ``(..., num_frames, V)``.
    """
    s = np.asarray(s, dtype=np.float64)
    valid = frame_index >= 0
    out_shape = s.shape[:-2] + (num_frames, s.shape[-1])
    if not valid.any():
        return np.zeros(out_shape, np.float32)
    vals = np.moveaxis(s[..., valid, :], -2, 0)  # (T_valid, ..., V)
    uniq, inv = np.unique(frame_index[valid], return_inverse=True)
    sums = np.zeros((len(uniq),) + vals.shape[1:])
    np.add.at(sums, inv, vals)
    means = sums / np.bincount(inv).reshape((-1,) + (1,) * (vals.ndim - 1))
    pos = np.interp(np.arange(num_frames), uniq, np.arange(len(uniq), dtype=np.float64))
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(uniq) - 1)
    frac = (pos - lo).reshape((-1,) + (1,) * (vals.ndim - 1))
    res = means[lo] * (1 - frac) + means[hi] * frac  # (num_frames, ..., V)
    return np.moveaxis(res, 0, -2).astype(np.float32)


@dataclass
class FocusResult:
    """Focus of one class per sample.

    * ``raw``: {module k: ``(N*M, T_k, V)``} Grad-CAM before normalisation.
    * ``maps``: {module k: ``(N, M, T_k, V)``} normalised to [0, 1] per sample.
    * ``classes``: ``(N,)`` the class each map explains.
    """

    raw: dict[int, torch.Tensor]
    maps: dict[int, torch.Tensor]
    classes: torch.Tensor

    def on_input(self, k: int, stride: int, length: int) -> torch.Tensor:
        """Module k's normalised focus on the input frames: ``(N, M, length, V)``."""
        return upsample_time(self.maps[k], stride, length)


def compute_focus(model: STF, x: torch.Tensor, classes: torch.Tensor | None = None, modules=None,
                  variant: str = "first_order", out: STFOutput | None = None,
                  differentiable: bool = False) -> tuple[FocusResult, STFOutput]:
    """Focus of ``classes`` (default: top-1) for ``x (N, C, T, V, M)``, in fp32 with autocast off.

    Works in whatever mode the model is in (the app and tests use eval mode). Returns the focus and
    the forward output (so callers can reuse the logits, or ask for another class's focus). The maps
    are plain tensors unless ``differentiable`` (then they stay on the graph of ``out``, as the
    losses' maps do).
    """
    if not torch.is_tensor(x):
        from ..errors import DataError
        raise DataError(None, f"model expects a torch tensor (N, C, T, V, M), got {type(x).__name__}")
    if out is not None and (x.dim() < 1 or out.logits.shape[0] != x.shape[0]):
        raise ArgumentError(f"out (a forward pass of {out.logits.shape[0]} samples) is not the forward pass of "
                            f"x {tuple(x.shape)}")
    with torch.autocast(device_type=x.device.type, enabled=False):
        with torch.enable_grad():
            if out is None:
                out = model(x.to(model.fc.weight.dtype))  # fp32 (fp64 for a float64 model), never autocast's
            if classes is None:
                classes = out.logits.argmax(1)
            else:  # (training passes its labels; checking their values there on a GPU would sync it)
                check_classes(classes, out.logits.shape[0], out.logits.shape[1], device=out.logits.device,
                              check_range=not model.training or classes.device.type == "cpu")
            raw = module_cams(model, out, classes, modules, variant=variant, differentiable=differentiable)
    with torch.set_grad_enabled(differentiable):
        maps = {k: normalise(v, out.person_mask) for k, v in raw.items()}
    return FocusResult(raw=raw, maps=maps, classes=classes), out
