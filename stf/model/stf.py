"""The STF network (our re-implementation): six STF-GCN modules with the STF adjacency.

Input ``x``: ``(N, C, T, V, M)`` (batch, channels, frames, joints, persons). Persons are folded into
the batch (``N' = N * M``) for the graph convolutions and averaged (over *present* persons) before
the classifier. ``forward`` returns an :class:`STFOutput` holding the logits together with every
module's output feature map (the tensors the spatio-temporal focus is computed on) and the three
adjacency parts of every module, so nothing per-call is stored on modules.

STF adjacency of module k and graph partition s (self / inward / outward):
``G_{k,s}(x) = A_s + B_{k,s} + alpha_k * C_{k,s}(x)`` with ``A`` the fixed normalised skeleton graph,
``B`` a free ``V x V`` parameter and ``C(x)`` an instance-dependent, column-softmax-normalised
embedding similarity. ``G[i, j]`` = weight of joint ``i`` in the update of joint ``j``.

The *backbone* is this same network trained with the focus losses off (see :mod:`stf.model.losses`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Rule, check_int_list, check_values
from ..errors import ArgumentError, ConfigError
from ..layouts import get_layout

MODEL_RULES = {"num_classes": Rule(int, 1), "in_channels": Rule(int, 1), "persons": Rule(int, 1),
               "use_learned_adjacency": Rule(bool), "use_instance_adjacency": Rule(bool),
               "instance_gate_init": Rule(float), "embed_ratio": Rule(int, 1), "dropout": Rule(float, 0, 1, hi_open=True)}


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network (stored in checkpoints)."""

    num_classes: int
    layout: str
    in_channels: int = 3
    persons: int = 1
    channels: tuple[int, ...] = (64, 64, 128, 128, 256, 256)
    strides: tuple[int, ...] = (1, 1, 2, 1, 2, 1)
    temporal: str = "multiscale"  # multiscale | conv9
    use_learned_adjacency: bool = True  # B_k
    use_instance_adjacency: bool = True  # C_k(x)
    instance_gate_init: float = 1.0  # alpha_k
    embed_ratio: int = 4  # embedding width of C_k(x) = out_channels // embed_ratio
    dropout: float = 0.0

    def __post_init__(self):
        self._check_values(asdict(self))
        self.channels = tuple(self.channels)
        self.strides = tuple(self.strides)
        if len(self.channels) != len(self.strides):
            raise ConfigError("model.channels and model.strides must have the same length")
        if not self.channels:
            raise ConfigError("model.channels must name at least one module (the focus is computed on module "
                              "outputs)")
        if self.temporal not in ("multiscale", "conv9"):
            raise ConfigError(f"model.temporal must be 'multiscale' or 'conv9', got {self.temporal!r}")
        if self.temporal == "multiscale" and min(self.channels) < 4:
            raise ConfigError(f"model.channels must all be >= 4 with model.temporal 'multiscale' (its four "
                              f"branches split each module's channels), got {list(self.channels)}")
        get_layout(self.layout)

    @staticmethod
    def _check_values(d: dict[str, Any]) -> None:
        check_values("model", d, MODEL_RULES)
        for key in ("channels", "strides"):
            if key in d:
                check_int_list(f"model.{key}", d[key], 1)

    @classmethod
    def _check_keys(cls, d: dict[str, Any]) -> None:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown model config keys: {', '.join(sorted(unknown))}")

    @classmethod
    def check_section(cls, d: dict[str, Any]) -> None:
        """Check a config's ``model`` section before the data set is opened (the data fills the rest)."""
        cls._check_keys(d)
        cls._check_values(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        cls._check_keys(d)
        return cls(**d)  # __post_init__ checks the values

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"], d["strides"] = list(self.channels), list(self.strides)
        return d

    def cumulative_strides(self) -> list[int]:
        """Temporal stride of each module's output relative to the input frames."""
        out, s = [], 1
        for st in self.strides:
            s *= st
            out.append(s)
        return out


@dataclass
class STFOutput:
    """What :meth:`STF.forward` returns.

    * ``logits``: ``(N, K)``.
    * ``features``: list of one tensor per module (6 in the default plan) ``(N*M, C_k, T_k, V)``,
      ``T_k = ceil(T / cumulative stride_k)``, module outputs (focus is computed on them).
    * ``adjacency``: list of one dict per module ``{"A": (S, V, V), "B": (S, V, V) | None, "C": (N*M, S, V, V) | None,
      "alpha": scalar tensor | None}``.
    * ``person_mask``: ``(N, M)`` bool, persons whose input is not all zero.
    * ``pooled``: ``(N, C_6)`` features before the classifier.
    * ``head_mask``: ``(N, C_6)`` the head dropout's multiplier of ``pooled`` (0 or 1/(1-p)) when dropout
      is active (training with ``dropout > 0``), else None; the closed-form focus of the last module uses it.
    """

    logits: torch.Tensor
    features: list[torch.Tensor]
    adjacency: list[dict[str, torch.Tensor | None]]
    person_mask: torch.Tensor
    pooled: torch.Tensor = field(repr=False)
    head_mask: torch.Tensor | None = field(default=None, repr=False)


class STFAdjacency(nn.Module):
    """The three parts of one module's adjacency. ``forward(x (N', C_in, T, V))`` -> dict of parts."""

    def __init__(self, a: torch.Tensor, in_channels: int, embed: int, learned: bool, instance: bool,
                 gate_init: float):
        super().__init__()
        s, v, _ = a.shape
        self.register_buffer("A", a.clone())
        self.B = nn.Parameter(torch.zeros(s, v, v)) if learned else None
        if instance:
            self.embed = embed
            self.theta = nn.Linear(in_channels, s * embed)
            self.phi = nn.Linear(in_channels, s * embed)
            self.alpha = nn.Parameter(torch.tensor(float(gate_init)))
        else:
            self.theta = self.phi = self.alpha = None

    def instance_term(self, x: torch.Tensor) -> torch.Tensor:
        """C(x): ``(N', S, V, V)``, softmax over the source joint i (dim -2) of embedded similarity."""
        n, _, _, v = x.shape
        s = self.A.shape[0]
        xm = x.mean(2).transpose(1, 2)  # (N', V, C_in): a 1x1 conv commutes with the time mean
        th = self.theta(xm).view(n, v, s, self.embed).permute(0, 2, 1, 3)  # (N', S, V, d)
        ph = self.phi(xm).view(n, v, s, self.embed).permute(0, 2, 1, 3)
        logits = th @ ph.transpose(-1, -2) / math.sqrt(self.embed)  # (N', S, V_i, V_j)
        return torch.softmax(logits, dim=-2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | None]:
        return {"A": self.A, "B": self.B, "C": self.instance_term(x) if self.theta is not None else None,
                "alpha": self.alpha}


def combine_adjacency(parts: dict[str, torch.Tensor | None]) -> torch.Tensor:
    """``A + B + alpha * C``: ``(S, V, V)`` or ``(N', S, V, V)`` when C is present."""
    g = parts["A"]
    if parts["B"] is not None:
        g = g + parts["B"]
    if parts["C"] is not None:
        g = g + parts["alpha"] * parts["C"]
    return g


class SpatialGraphConv(nn.Module):
    """Graph convolution over the S partitions: ``(N', C_in, T, V) -> (N', C_out, T, V)``."""

    def __init__(self, in_channels: int, out_channels: int, partitions: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels * partitions, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels)
        if in_channels != out_channels:
            self.down = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
        else:
            self.down = nn.Identity()

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        if g.dim() == 3:
            agg = torch.einsum("nctv,svw->nsctw", x, g)
        else:
            agg = torch.einsum("nctv,nsvw->nsctw", x, g)
        y = self.bn(self.proj(agg.reshape(n, -1, t, v)))
        return F.relu(y + self.down(x))


class MultiScaleTemporalConv(nn.Module):
    """Temporal convolution with four branches (dilation 1 and 2 with kernel 5, max-pool, 1x1).

    ``(N', C_in, T, V) -> (N', C_out, ceil(T / stride), V)``; output frame i is centred on input
    frame ``i * stride`` in every branch (symmetric padding).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, kernel: int = 5, dilations=(1, 2)):
        super().__init__()
        nb = len(dilations) + 2
        bc = out_channels // nb
        widths = [bc] * (nb - 1) + [out_channels - bc * (nb - 1)]
        self.branches = nn.ModuleList()
        for d, w in zip(dilations, widths):
            pad = (kernel - 1) * d // 2
            self.branches.append(nn.Sequential(
                nn.Conv2d(in_channels, w, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                nn.Conv2d(w, w, (kernel, 1), stride=(stride, 1), padding=(pad, 0), dilation=(d, 1)),
                nn.BatchNorm2d(w)))
        w = widths[len(dilations)]
        self.branches.append(nn.Sequential(
            nn.Conv2d(in_channels, w, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.MaxPool2d((3, 1), stride=(stride, 1), padding=(1, 0)), nn.BatchNorm2d(w)))
        w = widths[-1]
        self.branches.append(nn.Sequential(nn.Conv2d(in_channels, w, 1, stride=(stride, 1)), nn.BatchNorm2d(w)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


class Conv9TemporalConv(nn.Sequential):
    """A single 9x1 temporal convolution + BN (ST-GCN's unit): ``(N', C, T, V) -> (N', C, ceil(T/s), V)``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__(nn.Conv2d(in_channels, out_channels, (9, 1), stride=(stride, 1), padding=(4, 0)),
                         nn.BatchNorm2d(out_channels))


class STFGCNUnit(nn.Module):
    """One STF-GCN module: STF adjacency -> graph conv -> temporal conv -> residual -> ReLU.

    ``forward(x (N', C_in, T, V)) -> (y (N', C_out, ceil(T / stride), V), adjacency parts)``.
    """

    def __init__(self, a: torch.Tensor, in_channels: int, out_channels: int, stride: int, cfg: ModelConfig,
                 residual: bool = True):
        super().__init__()
        self.adjacency = STFAdjacency(a, in_channels, max(4, out_channels // cfg.embed_ratio),
                                      cfg.use_learned_adjacency, cfg.use_instance_adjacency,
                                      cfg.instance_gate_init)
        self.gcn = SpatialGraphConv(in_channels, out_channels, a.shape[0])
        tcn = MultiScaleTemporalConv if cfg.temporal == "multiscale" else Conv9TemporalConv
        self.tcn = tcn(out_channels, out_channels, stride)
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=(stride, 1)),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor):
        parts = self.adjacency(x)
        y = self.tcn(self.gcn(x, combine_adjacency(parts)))
        if self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y), parts


def person_mask_of(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, T, V, M) -> (N, M)`` bool: persons with any non-zero input; never all False per sample."""
    mask = x.detach().abs().sum(dim=(1, 2, 3)) > 0
    empty = ~mask.any(1, keepdim=True)
    return mask | empty


class STF(nn.Module):
    """The STF network. ``forward(x (N, C, T, V, M)) -> STFOutput``; ``logits(x) -> (N, K)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        lay = get_layout(cfg.layout)
        a = torch.from_numpy(lay.adjacency())
        v = lay.num_joints
        self.data_bn = nn.BatchNorm1d(cfg.persons * v * cfg.in_channels)
        units, cin = [], cfg.in_channels
        for k, (cout, st) in enumerate(zip(cfg.channels, cfg.strides)):
            units.append(STFGCNUnit(a, cin, cout, st, cfg, residual=k > 0))
            cin = cout
        self.units = nn.ModuleList(units)
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.fc = nn.Linear(cin, cfg.num_classes)
        nn.init.normal_(self.fc.weight, 0, math.sqrt(2.0 / cfg.num_classes))

    @property
    def num_modules(self) -> int:
        return len(self.units)

    def train(self, mode: bool = True) -> "STF":
        if mode and getattr(self, "folded_batchnorm", 0):
            raise ArgumentError("this STF has its BatchNorm folded into its convolutions (stf.model.fusion), "
                                "which is for inference only; rebuild it from the checkpoint to train")
        return super().train(mode)

    def check_input(self, x: torch.Tensor) -> None:
        from ..errors import DataError

        if not torch.is_tensor(x):
            raise DataError(None, f"model expects a torch tensor (N, C, T, V, M), got {type(x).__name__}")
        n_exp = (self.cfg.in_channels, None, get_layout(self.cfg.layout).num_joints, self.cfg.persons)
        if x.dim() != 5 or any(e is not None and e != a for e, a in zip(n_exp, x.shape[1:])):
            raise DataError(None, f"model expects input (N, C={n_exp[0]}, T, V={n_exp[2]}, M={n_exp[3]}) "
                                  f"for layout {self.cfg.layout}, got {tuple(x.shape)}")
        if x.shape[0] < 1 or x.shape[2] < 1:
            raise DataError(None, f"model input {tuple(x.shape)} is empty (N and T must be >= 1)")
        total = math.prod(self.cfg.strides)
        if x.shape[2] < total:
            raise DataError(None, f"model input has {x.shape[2]} frames, fewer than the network's total temporal "
                                  f"stride {total} (strides {list(self.cfg.strides)}): resample it to >= {total} "
                                  f"frames")
        want = self.fc.weight.dtype
        if x.dtype != want:
            raise DataError(None, f"model input is {str(x.dtype).removeprefix('torch.')}, the model's weights "
                                  f"{str(want).removeprefix('torch.')}: convert it first (e.g. x.to({want}))")
        dev = self.fc.weight.device
        if x.device != dev:
            raise DataError(None, f"model input is on {x.device}, the model on {dev}: move it first "
                                  f"(e.g. x.to('{dev}'))")
        if not bool(torch.isfinite(x).all()):
            bad = ~torch.isfinite(x)
            raise DataError(None, f"model input {tuple(x.shape)} holds {int(bad.sum())} non-finite values "
                                  f"(NaN or inf), first at index {tuple(int(i) for i in bad.nonzero()[0])}")

    def forward(self, x: torch.Tensor) -> STFOutput:
        self.check_input(x)
        n, c, t, v, m = x.shape
        pmask = person_mask_of(x)
        h = x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t)
        h = self.data_bn(h)
        h = h.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        feats, adjs = [], []
        for unit in self.units:
            h, parts = unit(h)
            feats.append(h)
            adjs.append(parts)
        pooled = self.pool(h, pmask)
        head_mask = None
        if isinstance(self.drop, nn.Dropout) and self.training:
            head_mask = self.drop(torch.ones_like(pooled))  # kept as a tensor: the last module's closed form needs it
            pooled_in = pooled * head_mask
        else:
            pooled_in = pooled
        logits = self.fc(pooled_in)
        return STFOutput(logits=logits, features=feats, adjacency=adjs, person_mask=pmask, pooled=pooled,
                         head_mask=head_mask)

    @staticmethod
    def pool(h: torch.Tensor, pmask: torch.Tensor) -> torch.Tensor:
        """``(N*M, C, T, V)`` -> ``(N, C)``: mean over frames and joints, then over present persons."""
        n, m = pmask.shape
        per = h.mean(dim=(2, 3)).view(n, m, -1)
        w = pmask.to(per.dtype).unsqueeze(-1)
        return (per * w).sum(1) / w.sum(1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x).logits


class LogitsOnly(nn.Module):
    """Wrap an STF so ``forward`` returns only ``(N, K)`` logits (for Captum and tracing)."""

    def __init__(self, model: STF):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).logits
