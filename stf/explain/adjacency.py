"""The STF adjacency of every module, split into its parts, and the co-focus target, ready for display.

Convention (as the network): ``G[i, j]`` = weight of joint ``i`` in the update of joint ``j``; partitions
``S`` = self / inward / outward. Per module k::

    G_k = A + B_k + alpha_k * C_k(x)

* ``A`` ``(S, V, V)``: the fixed skeleton graph, each column with an edge sums to 1.
* ``B`` ``(S, V, V)``: the learned free part (any sign), or None when the model has none.
* ``C`` ``(M, S, V, V)``: the instance-dependent part for this sample, softmax over i (columns sum to 1),
  or None; ``alpha`` its gate (float) or None.
* ``G`` ``(M, S, V, V)``: the sum actually used by the graph convolution.
* ``R`` ``(M, V, V)``: the co-focus target of module k, ``R[i, j] ∝ Σ_t Ŝ_k[t, i] Ŝ_k[t, j]`` with the
  normalised focus of the explained class, normalised over i (columns sum to 1). R does not depend on the
  partition: the same target serves every partition of module k (as in L_Gk). A padded person (no focus) has
  R = 0, not the uniform ``1 / V`` the formula's epsilon gives.

Display normalisation (:meth:`ModuleAdjacency.display`), chosen so each picture reads the same way:

* ``A``, ``C``, ``R``: shown as they are: already column-normalised (each column a distribution over the
  source joints i), values in [0, 1].
* ``B``: :func:`scale_signed` per matrix (``B / max |B|``), values in [-1, 1]; show with a diverging scale.
* ``G``: :func:`normalise_columns` with absolute values: ``G[:, j] / Σ_i |G[i, j]|``: the share of each
  source joint in the update of joint j, sign kept, values in [-1, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ArgumentError
from ..model.losses import cofocus_target
from ..model.stf import STFOutput

PARTITIONS = ("self", "inward", "outward")
PARTS = ("A", "B", "C", "G", "R")


def normalise_columns(m: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Divide every column (axis -2 summed) by the sum of its absolute values; zero columns stay 0."""
    m = np.asarray(m, np.float32)
    s = np.abs(m).sum(axis=-2, keepdims=True)
    return np.where(s > eps, m / np.maximum(s, eps), 0.0).astype(np.float32)


def scale_signed(m: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Divide every ``(V, V)`` matrix (last two axes) by its largest absolute value: values in [-1, 1]."""
    m = np.asarray(m, np.float32)
    s = np.abs(m).max(axis=(-2, -1), keepdims=True)
    return np.where(s > eps, m / np.maximum(s, eps), 0.0).astype(np.float32)


def _index(i, n: int, what: str) -> int:
    """``i`` as an index in ``[0, n)``; an ArgumentError for a bool, a non-integer, a negative or too large one."""
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) or not 0 <= i < n:
        names = f" ({', '.join(PARTITIONS)})" if what == "partition" and n == len(PARTITIONS) else ""
        raise ArgumentError(f"{what} {i!r} out of range: 0-{n - 1}{names}")
    return int(i)


@dataclass
class ModuleAdjacency:
    """Adjacency parts of module ``k`` for one sample (see the module docstring for shapes and meaning)."""

    k: int
    A: np.ndarray
    B: np.ndarray | None
    C: np.ndarray | None
    alpha: float | None
    G: np.ndarray
    R: np.ndarray | None
    person_mask: np.ndarray
    partitions: tuple[str, ...] = PARTITIONS

    def raw(self, part: str) -> np.ndarray | None:
        """The part as stored: ``A``/``B`` ``(S, V, V)``, ``C``/``G`` ``(M, S, V, V)``, ``R`` ``(M, V, V)``."""
        if part not in PARTS:
            raise KeyError(f"unknown adjacency part {part!r}; expected one of {PARTS}")
        return getattr(self, part)

    def display(self, part: str) -> np.ndarray | None:
        """The part normalised for display (same shape as :meth:`raw`); None when the model lacks it."""
        m = self.raw(part)
        if m is None:
            return None
        if part == "B":
            return scale_signed(m)
        if part == "G":
            return normalise_columns(m)
        return np.asarray(m, np.float32)

    def matrix(self, part: str, partition: int | None = None, person: int = 0, normalised: bool = True
               ) -> np.ndarray | None:
        """One ``(V, V)`` matrix: ``partition`` index (None: sum over partitions; ignored for R), ``person`` for
        C, G, R.

        With ``normalised`` the chosen matrix is displayed as :meth:`display` says; summing partitions
        happens on the raw values first.
        """
        m = self.raw(part)
        if m is None:
            return None
        if part in ("C", "G", "R"):
            m = m[_index(person, m.shape[0], "person")]  # -1 picked the last person without a word
        if part != "R":
            m = m.sum(0) if partition is None else m[_index(partition, m.shape[0], "partition")]
        if not normalised:
            return np.asarray(m, np.float32)
        if part == "B":
            return scale_signed(m)
        # G: signed column shares; A / C summed over partitions: columns re-normalised; R: already is
        return normalise_columns(m)

    @staticmethod
    def value_range(part: str) -> tuple[float, float, float | None]:
        """``(zmin, zmax, zmid)`` of :meth:`display` values (zmid set for signed parts)."""
        return (-1.0, 1.0, 0.0) if part in ("B", "G") else (0.0, 1.0, None)


def adjacency_parts(out: STFOutput, focus_module: list[torch.Tensor] | list[np.ndarray] | None = None
                    ) -> list[ModuleAdjacency]:
    """Adjacency of every module of a one-sample forward ``out``; ``focus_module[k]`` ``(M, T_k, V)``
    (normalised focus, for R) or None (then ``R`` is None); ``R`` of a padded person is 0."""
    pm = out.person_mask[0].detach().cpu().numpy().astype(bool)
    res = []
    for k, parts in enumerate(out.adjacency):
        a = parts["A"].detach().cpu().float().numpy()
        b = None if parts["B"] is None else parts["B"].detach().cpu().float().numpy()
        c = None if parts["C"] is None else parts["C"].detach().cpu().float().numpy()  # (M, S, V, V) for N = 1
        alpha = None if parts["alpha"] is None else float(parts["alpha"].detach())
        m = len(pm)
        g = np.broadcast_to(a, (m,) + a.shape).astype(np.float32)
        if b is not None:
            g = g + b[None]
        if c is not None:
            g = g + alpha * c
        r = None
        if focus_module is not None:
            s = torch.as_tensor(np.asarray(focus_module[k], np.float32))  # (M, T_k, V)
            r = cofocus_target(s).numpy()
            r[~pm] = 0  # no focus, no co-focus: the epsilon alone made it uniform
        res.append(ModuleAdjacency(k=k, A=a, B=b, C=c, alpha=alpha, G=np.ascontiguousarray(g, np.float32), R=r,
                                   person_mask=pm))
    return res
