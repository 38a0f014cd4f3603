"""Two evaluation bundles of one test split, compared sample by sample (matched by id, never by position).

The question a reader of an STF-vs-backbone table asks next: *which* samples does one model get right
and the other not, in which classes, and is the difference more than chance (exact McNemar test on the
discordant samples)? :func:`compare_bundles` answers it with arrays; the app's confusion explorer shows
it and opens any of the samples.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataError
from .evaluate import Bundle
from .report import mcnemar_exact


@dataclass
class BundleComparison:
    """Bundle A against bundle B over the ``N`` labelled samples both hold (sorted by id)."""

    ids: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) int64
    pred_a: np.ndarray  # (N,) int64
    pred_b: np.ndarray  # (N,) int64
    class_names: list[str]  # K
    per_class_a: np.ndarray  # (K,) float: top-1 of A per true class over the shared samples, NaN for none
    per_class_b: np.ndarray  # (K,) float
    per_class_n: np.ndarray  # (K,) int: shared samples per true class
    left_out: int  # samples of either bundle not in both (or unlabelled)

    @property
    def right_a(self) -> np.ndarray:
        return self.pred_a == self.labels

    @property
    def right_b(self) -> np.ndarray:
        return self.pred_b == self.labels

    @property
    def only_a(self) -> np.ndarray:
        """``(N,)`` bool: right under A, wrong under B."""
        return self.right_a & ~self.right_b

    @property
    def only_b(self) -> np.ndarray:
        return self.right_b & ~self.right_a

    @property
    def top1_a(self) -> float:
        return float(self.right_a.mean())

    @property
    def top1_b(self) -> float:
        return float(self.right_b.mean())

    @property
    def p_value(self) -> float:
        """Two-sided exact McNemar p over the discordant samples."""
        return mcnemar_exact(int(self.only_a.sum()), int(self.only_b.sum()))

    def select(self, which: str) -> np.ndarray:
        """Positions (into ``ids``) of ``which``: ``only_a`` | ``only_b`` | ``both_wrong`` | ``disagree``
        (the two predictions differ, whoever is right)."""
        masks = {"only_a": self.only_a, "only_b": self.only_b,
                 "both_wrong": ~self.right_a & ~self.right_b, "disagree": self.pred_a != self.pred_b}
        if which not in masks:
            raise ValueError(f"which must be one of {sorted(masks)}, got {which!r}")
        return np.flatnonzero(masks[which])


def compare_bundles(a: Bundle, b: Bundle) -> BundleComparison:
    """Match ``a`` and ``b`` by sample id and compare their predictions.

    Refused with a :class:`DataError` naming the bundle: different class lists (the predictions would
    not mean the same classes), an id labelled differently in the two (not the same data), or no
    labelled sample in common.
    """
    if list(a.class_names) != list(b.class_names):
        raise DataError(b.path, f"its classes differ from {a.path.name}'s ({len(b.class_names)} vs "
                                f"{len(a.class_names)}, or another order): the predictions cannot be compared")
    pos_b = {str(i): k for k, i in enumerate(b.ids.tolist())}
    shared = sorted(str(i) for i in a.ids.tolist() if str(i) in pos_b)
    pos_a = {str(i): k for k, i in enumerate(a.ids.tolist())}
    ia = np.array([pos_a[i] for i in shared], dtype=np.int64)
    ib = np.array([pos_b[i] for i in shared], dtype=np.int64)
    la, lb = a.labels[ia], b.labels[ib]
    bad = np.flatnonzero((la != lb) & (la >= 0) & (lb >= 0))
    if len(bad):
        raise DataError(b.path, f"sample {shared[bad[0]]!r} is labelled {int(lb[bad[0]])} here and "
                                f"{int(la[bad[0]])} in {a.path.name}: not the same data")
    keep = (la >= 0) & (lb >= 0)
    if not keep.any():
        raise DataError(b.path, f"shares no labelled sample with {a.path.name}: nothing to compare")
    ia, ib, labels = ia[keep], ib[keep], la[keep]
    pa, pb = a.preds[ia], b.preds[ib]
    k = len(a.class_names)
    n = np.bincount(labels, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_a = np.bincount(labels, weights=(pa == labels), minlength=k) / n
        acc_b = np.bincount(labels, weights=(pb == labels), minlength=k) / n
    return BundleComparison(ids=np.asarray(shared, dtype=object)[keep].astype(str), labels=labels, pred_a=pa,
                            pred_b=pb, class_names=list(a.class_names), per_class_a=acc_a, per_class_b=acc_b,
                            per_class_n=n, left_out=len(a.ids) + len(b.ids) - 2 * int(keep.sum()))
