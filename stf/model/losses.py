"""The STF losses (our re-implementation; see docs and ``../shared/reference/stf_method.md`` §2.3).

Shapes: normalised focus ``S`` is ``(N, M, T_k, V)`` in [0, 1]; person masks ``(N, M)`` bool;
instance adjacency ``C`` is ``(N*M, P, V, V)`` (P graph partitions, normalised over dim -2).

* ``L_e`` exploration: mask the input where the model focuses, minimise the top-1 probability on it.
* ``L_c`` coherence: module-5 focus must fall inside module-6's focus mask.
* ``L_d`` divergence: top-1 and top-2 focus of module 6 must not overlap (0 disjoint, 1 identical).
* ``L_G`` adjacency: C_k(x) must match the co-focus target R_k (KL divergence per target joint).

:func:`stf_step_losses` runs one training step's forward passes and returns every term.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Rule, check_values
from ..errors import ArgumentError, ConfigError
from .focus import check_classes, module_cams, normalise, upsample_time
from .stf import STF, STFOutput

EPS = 1e-6


LOSS_RULES = {**{f"lambda_{t}": Rule(float, 0) for t in "ecdg"}, "warmup_epochs": Rule(int, 0),
              "sigma": Rule(float, 0, 1), "omega": Rule(float, 0, lo_open=True), "theta": Rule(float, 0, 1),
              "le_fraction": Rule(float, 0, 1, lo_open=True), "focus_head_grad": Rule(bool)}


@dataclass
class LossConfig:
    """Weights and switches of the focus losses. All weights 0 = the backbone."""

    lambda_e: float = 0.1
    lambda_c: float = 0.1
    lambda_d: float = 0.1
    lambda_g: float = 0.1
    warmup_epochs: int = 5  # epochs of L_cls alone before the focus losses switch on
    sigma: float = 0.5  # L_e mask threshold
    omega: float = 10.0  # L_e mask sharpness
    theta: float = 0.8  # L_c target share
    le_fraction: float = 0.5  # share of the batch masked for L_e
    le_grad: str = "both"  # both | mask_only
    erase: str = "zero"  # zero | mean_pose | interpolate  (zero: X* = X - M*X)
    focus_variant: str = "first_order"  # first_order | exact
    focus_class: str = "pred"  # pred | gt
    divergence_pair: str = "top2"  # top2 | gt_confuser
    grad_weights: str = "mean"  # mean | positive_mean
    ld_mask: str = "none"  # none | target
    # first_order: module 6's closed-form focus keeps the classifier weights on the graph (the focus
    # losses also reach W through it; every shipped result was trained so); false detaches them
    focus_head_grad: bool = True

    def __post_init__(self):
        choices = {"le_grad": ("both", "mask_only"), "erase": ("zero", "mean_pose", "interpolate"),
                   "focus_variant": ("first_order", "exact"), "focus_class": ("pred", "gt"),
                   "divergence_pair": ("top2", "gt_confuser"), "grad_weights": ("mean", "positive_mean"),
                   "ld_mask": ("none", "target")}
        for k, allowed in choices.items():
            if getattr(self, k) not in allowed:
                raise ConfigError(f"loss.{k} must be one of {allowed}, got {getattr(self, k)!r}")
        check_values("loss", asdict(self), LOSS_RULES)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LossConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown loss config keys: {', '.join(sorted(unknown))}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def any_focus_loss(self) -> bool:
        return any(w > 0 for w in (self.lambda_e, self.lambda_c, self.lambda_d, self.lambda_g))


# --- the four focus losses on given maps ------------------------------------------------------
def exploration_mask(s6: torch.Tensor, stride: int, length: int, sigma: float, omega: float) -> torch.Tensor:
    """Soft mask on the input frames: ``sigmoid(omega * (S6 upsampled - sigma))``, ``(N, M, length, V)``."""
    return torch.sigmoid(omega * (upsample_time(s6, stride, length) - sigma))


def erase(x: torch.Tensor, mask: torch.Tensor, mode: str = "zero", mean_pose: torch.Tensor | None = None) -> torch.Tensor:
    """Erase ``x (N, C, T, V, M)`` where ``mask (N, M, T, V)`` is 1.

    ``zero``: ``X - M*X``; ``mean_pose``: blend toward ``mean_pose (C, V)`` (the training mean pose);
    ``interpolate``: blend toward the mean of the neighbouring frames.
    """
    if not (torch.is_tensor(x) and torch.is_tensor(mask) and x.dim() == 5 and mask.dim() == 4):
        raise ArgumentError(f"erase expects x (N, C, T, V, M) and mask (N, M, T, V) tensors, got "
                            f"{getattr(x, 'shape', type(x).__name__)} and {getattr(mask, 'shape', type(mask).__name__)}")
    n, _, t, v, persons = x.shape
    if tuple(mask.shape) != (n, persons, t, v):
        raise ArgumentError(f"erase: mask {tuple(mask.shape)} does not fit x {tuple(x.shape)}: expected "
                            f"(N, M, T, V) = {(n, persons, t, v)}")
    m = mask.permute(0, 2, 3, 1).unsqueeze(1)  # (N, 1, T, V, M)
    if mode == "zero":
        return x - m * x
    if mode == "mean_pose":
        if mean_pose is None:
            raise ConfigError("erase='mean_pose' needs the training mean pose")
        if not torch.is_tensor(mean_pose) or tuple(mean_pose.shape) != (x.shape[1], x.shape[3]):
            raise ArgumentError(f"erase: mean_pose must be a (C, V) = {(x.shape[1], x.shape[3])} tensor, got "
                                f"{getattr(mean_pose, 'shape', type(mean_pose).__name__)}")
        target = mean_pose.view(1, x.shape[1], 1, x.shape[3], 1).to(x.dtype)
    elif mode == "interpolate":
        pad = torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)
        target = 0.5 * (pad[:, :, :-2] + pad[:, :, 2:])
    else:
        raise ConfigError(f"unknown erase mode {mode!r}")
    return x + m * (target - x)


def coherence_loss(s5: torch.Tensor, mask6: torch.Tensor, theta: float, person_mask: torch.Tensor) -> torch.Tensor:
    """``relu(theta - sum(S5 * M6) / (sum S5 + eps))`` per sample, averaged. Inputs ``(N, M, T, V)``."""
    pm = person_mask.to(s5.dtype).view(*person_mask.shape, 1, 1)
    share = (s5 * mask6 * pm).sum(dim=(1, 2, 3)) / ((s5 * pm).sum(dim=(1, 2, 3)) + EPS)
    return F.relu(theta - share).mean()


def divergence_loss(s_a: torch.Tensor, s_b: torch.Tensor, person_mask: torch.Tensor,
                    weight: torch.Tensor | None = None) -> torch.Tensor:
    """``2 sum min(Sa, Sb) / (sum(Sa + Sb) + eps)`` per sample, averaged: 0 disjoint, 1 identical focus.

    ``weight`` (optional, ``(N, M, T, V)``) restricts the overlap to a region (``ld_mask: target``).
    """
    pm = person_mask.to(s_a.dtype).view(*person_mask.shape, 1, 1)
    w = pm if weight is None else pm * weight
    inter = (torch.minimum(s_a, s_b) * w).sum(dim=(1, 2, 3))
    total = ((s_a + s_b) * w).sum(dim=(1, 2, 3))
    return (2 * inter / (total + EPS)).mean()


def cofocus_target(s: torch.Tensor) -> torch.Tensor:
    """Co-focus ``R[i, j] ∝ sum_t S[t, i] S[t, j]``, normalised over i, no gradient: ``(B, T, V) -> (B, V, V)``."""
    s = s.detach()
    r = s.transpose(1, 2) @ s + EPS  # (B, V, V)
    return r / r.sum(dim=1, keepdim=True)


def adjacency_loss(c: torch.Tensor, s: torch.Tensor, person_mask: torch.Tensor) -> torch.Tensor:
    """``mean_j KL(R[:, j] || C[:, j])`` averaged over partitions and present persons.

    ``c``: ``(N*M, P, V, V)`` normalised over dim -2; ``s``: ``(N, M, T, V)`` normalised focus.
    """
    n, m = person_mask.shape
    r = cofocus_target(s.reshape(n * m, *s.shape[2:])).unsqueeze(1)  # (N*M, 1, V, V)
    kl = (r * (torch.log(r) - torch.log(c.clamp_min(EPS)))).sum(dim=-2).mean(dim=-1)  # (N*M, P)
    w = person_mask.reshape(-1).to(kl.dtype)
    return (kl.mean(-1) * w).sum() / w.sum().clamp_min(1.0)


# --- one training step -----------------------------------------------------------------------
@contextlib.contextmanager
def frozen_bn_stats(model: nn.Module):
    """Inside: BatchNorm layers normalise with batch statistics but do not update running stats."""
    bns = [mod for mod in model.modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
    saved = [b.track_running_stats for b in bns]
    try:
        for b in bns:
            b.track_running_stats = False
        yield
    finally:
        for b, s in zip(bns, saved):
            b.track_running_stats = s


@contextlib.contextmanager
def parameters_detached(model: nn.Module):
    """Inside: parameters do not require grad (``le_grad: mask_only``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@dataclass
class StepLosses:
    total: torch.Tensor
    terms: dict[str, float]  # every term's value (for the log)
    out: STFOutput


def _top2(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    top = logits.detach().topk(2, dim=1).indices
    return top[:, 0], top[:, 1]


def stf_step_losses(model: STF, x: torch.Tensor, y: torch.Tensor, cfg: LossConfig, focus_on: bool,
                    mean_pose: torch.Tensor | None = None, autocast: bool = False,
                    forward: nn.Module | None = None) -> StepLosses:
    """Forward ``x (N, C, T, V, M)`` with labels ``y (N,)``; return the total loss and every term.

    ``forward`` runs the main pass (a DistributedDataParallel wrapper of ``model`` under DDP; its
    gradient hooks also reduce the masked pass's contribution, which autograd sums into the same
    parameter gradients before they fire).

    ``focus_on`` False (warm-up, or the backbone) gives ``L_cls`` alone at backbone cost. The focus
    and focus losses run in fp32 with autocast off, whatever ``autocast`` says for the forward.
    """
    model.check_input(x)  # (before the labels, so that their expected shape comes from a valid input)
    # labels checked before cross-entropy (which, on a GPU, fails an out-of-range label with a device assert)
    check_classes(y, x.shape[0], model.cfg.num_classes, what="label", device=x.device, dtypes=(torch.int64,))
    if focus_on and cfg.any_focus_loss:
        if model.cfg.num_classes < 2:
            raise ConfigError(f"the focus losses need at least 2 classes (L_d and the top-2 focus), the model has "
                              f"{model.cfg.num_classes}; set every loss.lambda_* to 0")
        if cfg.lambda_c > 0 and model.num_modules < 2:
            raise ConfigError(f"loss.lambda_c > 0 (L_c, the last two modules' focus) needs at least 2 modules, "
                              f"the model has {model.num_modules}")
    dev = x.device.type
    with torch.autocast(device_type=dev, enabled=autocast):
        out = (forward or model)(x)
    logits = out.logits.float()
    l_cls = F.cross_entropy(logits, y)
    terms = {"cls": float(l_cls.detach())}
    if not (focus_on and cfg.any_focus_loss) or not math.isfinite(terms["cls"]):
        # (a non-finite L_cls: the focus maps would be too, and the masked pass's input with them; the caller
        # sees the term and stops, or the gradient scaler skips the step)
        return StepLosses(l_cls, terms, out)

    with torch.autocast(device_type=dev, enabled=False):
        pred1, pred2 = _top2(logits)
        c1 = y if cfg.focus_class == "gt" else pred1
        if cfg.divergence_pair == "gt_confuser":
            masked = logits.detach().clone()
            masked.scatter_(1, y.view(-1, 1), float("-inf"))
            c_a, c_b = y, masked.argmax(1)
        else:
            c_a, c_b = pred1, pred2
        # fp32 logits; the module outputs stay as autocast made them (autograd differentiates those; the
        # maps are computed in fp32 from them)
        out32 = STFOutput(logits=logits, features=out.features, adjacency=out.adjacency, person_mask=out.person_mask,
                          pooled=out.pooled, head_mask=None if out.head_mask is None else out.head_mask.float())
        k_last = model.num_modules - 1
        need_all = cfg.lambda_g > 0
        mods = list(range(model.num_modules)) if need_all else ([k_last - 1] if cfg.lambda_c > 0 else []) + [k_last]
        pos = cfg.grad_weights == "positive_mean"
        hg = cfg.focus_head_grad
        raw1 = module_cams(model, out32, c1, mods, cfg.focus_variant, positive_weights=pos, head_grad=hg)
        s1 = {k: normalise(v, out.person_mask) for k, v in raw1.items()}
        strides = model.cfg.cumulative_strides()
        total = l_cls

        if cfg.lambda_d > 0:
            def last_map(classes):
                raw = module_cams(model, out32, classes, [k_last], cfg.focus_variant, positive_weights=pos,
                                  head_grad=hg)
                return normalise(raw[k_last], out.person_mask)

            sa = s1[k_last] if cfg.divergence_pair == "top2" and c1 is pred1 else last_map(c_a)
            sb = last_map(c_b)
            weight = None
            if cfg.ld_mask == "target":
                weight = exploration_mask(s1[k_last], 1, s1[k_last].shape[2], cfg.sigma, cfg.omega).detach()
            l_d = divergence_loss(sa, sb, out.person_mask, weight)
            total = total + cfg.lambda_d * l_d
            terms["d"] = float(l_d.detach())

        if cfg.lambda_c > 0:
            # M6 on module 5's frames (module 6 may be strided: its frame i sits on module 5's frame i * s)
            s5 = s1[k_last - 1]
            rel = strides[k_last] // strides[k_last - 1]
            mask6 = exploration_mask(s1[k_last], rel, s5.shape[2], cfg.sigma, cfg.omega)
            l_c = coherence_loss(s5, mask6, cfg.theta, out.person_mask)
            total = total + cfg.lambda_c * l_c
            terms["c"] = float(l_c.detach())

        if cfg.lambda_g > 0:
            lg = []
            for k in range(model.num_modules):
                c = out.adjacency[k]["C"]
                if c is not None:
                    lg.append(adjacency_loss(c.float(), s1[k], out.person_mask))
            if lg:
                l_g = torch.stack(lg).mean()
                total = total + cfg.lambda_g * l_g
                terms["g"] = float(l_g.detach())

    if cfg.lambda_e > 0:
        n_e = max(1, int(round(x.shape[0] * cfg.le_fraction)))
        mask_in = exploration_mask(s1[k_last][:n_e], strides[k_last], x.shape[2], cfg.sigma, cfg.omega)
        x_star = erase(x[:n_e].float(), mask_in, cfg.erase, mean_pose)
        ctx = parameters_detached(model) if cfg.le_grad == "mask_only" else contextlib.nullcontext()
        with frozen_bn_stats(model), ctx, torch.autocast(device_type=dev, enabled=autocast):
            logits_star = model(x_star).logits
        p = torch.softmax(logits_star.float(), dim=1).gather(1, c1[:n_e].view(-1, 1))
        l_e = p.mean()
        total = total + cfg.lambda_e * l_e
        terms["e"] = float(l_e.detach())
    return StepLosses(total, terms, out)
