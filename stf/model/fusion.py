"""Inference form of an STF network: every BatchNorm that follows a convolution folded into it.

In eval mode a BatchNorm is a fixed per-channel affine map, so ``BN(conv(x))`` is one convolution with
rescaled weights and a shifted bias (``torch.nn.utils.fusion.fuse_conv_bn_eval``). The folded network
computes the same function (to float rounding, ~1e-5 on logits in float32) with 47 of the 54 BatchNorm
layers of the default plan gone from the forward pass and from the backward pass the focus needs. Module
outputs (the tensors the focus is computed on) and the adjacency parts are computed as before, so focus,
Captum attributions and the adjacency pages are unchanged.

Folded: conv -> BN pairs inside every ``nn.Sequential`` (temporal branches, residual and ``down``
paths) and ``SpatialGraphConv.proj`` -> ``bn``. Left as they are: ``data_bn`` (per joint, before any
convolution) and the BN after the max-pool branch (no convolution right before it).

A folded network is for inference only: :meth:`STF.train` refuses it, since training it would train
a different parameterisation than the checkpoint's.
"""
from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..errors import ArgumentError
from .stf import STF, SpatialGraphConv


def _fold_sequential(seq: nn.Sequential) -> int:
    names = list(seq._modules)
    folded = 0
    for a, b in zip(names, names[1:]):
        conv, bn = seq._modules[a], seq._modules[b]
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            seq._modules[a] = fuse_conv_bn_eval(conv, bn)
            seq._modules[b] = nn.Identity()
            folded += 1
    return folded


def fold_batchnorm(model: STF) -> STF:
    """A copy of ``model`` in eval mode with conv -> BatchNorm pairs folded (the original is untouched).

    Same input and output as :meth:`STF.forward` (``(N, C, T, V, M)`` -> :class:`STFOutput`). The copy
    carries ``folded_batchnorm`` (the number of pairs folded) and cannot be put in training mode.
    """
    if not isinstance(model, STF):
        raise ArgumentError(f"fold_batchnorm expects an STF network, got {type(model).__name__}")
    if getattr(model, "folded_batchnorm", 0):
        return model
    folded = copy.deepcopy(model).eval()
    n = 0
    for mod in list(folded.modules()):
        if isinstance(mod, nn.Sequential):
            n += _fold_sequential(mod)
        elif isinstance(mod, SpatialGraphConv) and isinstance(mod.bn, nn.BatchNorm2d):
            mod.proj = fuse_conv_bn_eval(mod.proj, mod.bn)
            mod.bn = nn.Identity()
            n += 1
    folded.folded_batchnorm = n
    return folded
