"""Confusion matrix figure (rows = true class, columns = predicted, as in evaluation bundles).

Clickable cells are up to the app: every cell carries ``customdata = [true index, predicted index, count,
row rate]``, so a Plotly selection / click event gives the pair directly.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..errors import ArgumentError
from ._common import class_labels, to_np


def row_normalise(confusion) -> np.ndarray:
    """Each row divided by its sum (rows without samples stay 0)."""
    c = np.asarray(to_np(confusion), np.float64)
    s = c.sum(1, keepdims=True)
    return np.where(s > 0, c / np.where(s > 0, s, 1.0), 0.0)


def confusion_figure(confusion, class_names: list[str], *, normalise: str | None = "row", title: str | None = None,
                     show_counts: bool | None = None, colorscale: str = "Blues", height: int | None = None
                     ) -> go.Figure:
    """Heatmap of ``confusion (K, K)`` counts.

    ``normalise="row"``: colour = share of the true class's samples (recall per row), text = counts;
    ``normalise=None``: colour and text = counts. ``show_counts`` (default: K <= 30) writes the counts in
    the cells. ``y`` = true class (first class on top), ``x`` = predicted class.
    """
    raw = np.asarray(to_np(confusion))
    if raw.dtype == bool or not np.issubdtype(raw.dtype, np.number):
        raise ArgumentError(f"confusion must hold sample counts, got dtype {raw.dtype}")
    # counts only: a float matrix (e.g. already row-normalised shares) was cut to integers, mostly 0
    if not np.isfinite(raw).all() or (raw < 0).any() or (raw != np.round(raw)).any():
        raise ArgumentError("confusion must hold non-negative whole sample counts (pass the counts, not shares: "
                            "normalise='row' computes the shares)")
    c = raw.astype(np.int64)
    k = c.shape[0] if c.ndim else 0
    if c.shape != (k, k) or len(class_names) != k:
        raise ValueError(f"confusion {c.shape} does not match {len(class_names)} class names")
    rate = row_normalise(c)
    z = rate if normalise == "row" else c.astype(np.float64)
    if normalise not in ("row", None):
        raise ValueError(f"normalise must be 'row' or None, got {normalise!r}")
    ti, pj = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    custom = np.stack([ti, pj, c, rate], axis=-1)
    show = k <= 30 if show_counts is None else show_counts
    names = class_labels(class_names)
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, customdata=custom, colorscale=colorscale, zmin=0,
        zmax=1.0 if normalise == "row" else None,
        text=c if show else None, texttemplate="%{text}" if show else None,
        colorbar=dict(title=dict(text="share of row" if normalise == "row" else "count")),
        hovertemplate="true: %{y}<br>predicted: %{x}<br>count %{customdata[2]}<br>share of row "
                      "%{customdata[3]:.1%}<extra></extra>"))
    side = height or int(min(1100, max(420, 28 * k + 200)))
    fig.update_layout(title=title, height=side, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      xaxis=dict(title="predicted class", tickangle=-60, side="bottom"),
                      yaxis=dict(title="true class", autorange="reversed"), clickmode="event+select")
    return fig


def per_class_comparison_figure(class_names: list[str], acc_a, acc_b, counts, *, label_a: str = "A",
                                label_b: str = "B", height: int | None = None) -> go.Figure:
    """Per-class top-1 of two models side by side: ``acc_a``, ``acc_b`` ``(K,)`` in [0, 1] (NaN: no sample),
    ``counts (K,)`` samples per class. One horizontal bar pair per class (first class on top); the
    hover gives both accuracies, their difference and the class's sample count."""
    a, b = (np.asarray(to_np(v), np.float64) for v in (acc_a, acc_b))
    n = np.asarray(to_np(counts), np.int64)
    k = len(class_names)
    if a.shape != (k,) or b.shape != (k,) or n.shape != (k,):
        raise ValueError(f"per-class values {a.shape}, {b.shape}, {n.shape} do not match {k} class names")
    names = class_labels(class_names)
    custom = np.stack([n, 100 * (b - a)], axis=-1)
    fig = go.Figure()
    for vals, label, colour in ((a, label_a, "#1f77b4"), (b, label_b, "#ff7f0e")):
        fig.add_bar(y=names, x=100 * vals, name=label, orientation="h", marker_color=colour, customdata=custom,
                    hovertemplate=f"{label}<br>%{{y}}: %{{x:.1f}} %<br>{label_b} − {label_a}: "
                                  "%{customdata[1]:+.1f} points<br>%{customdata[0]} samples<extra></extra>")
    fig.update_layout(barmode="group", height=height or int(min(1100, max(300, 34 * k + 120))),
                      margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.02, yanchor="bottom"),
                      xaxis=dict(title="top-1 % of the class's samples", range=[0, 100]),
                      yaxis=dict(autorange="reversed"))
    return fig
