"""Confusion matrix figure (rows = true class, columns = predicted, as in evaluation bundles).

Clickable cells are up to the app: every cell carries ``customdata = [true index, predicted index, count,
row rate]``, so a Plotly selection / click event gives the pair directly.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ._common import to_np


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
    c = np.asarray(to_np(confusion), np.int64)
    k = c.shape[0]
    if c.shape != (k, k) or len(class_names) != k:
        raise ValueError(f"confusion {c.shape} does not match {len(class_names)} class names")
    rate = row_normalise(c)
    z = rate if normalise == "row" else c.astype(np.float64)
    if normalise not in ("row", None):
        raise ValueError(f"normalise must be 'row' or None, got {normalise!r}")
    ti, pj = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    custom = np.stack([ti, pj, c, rate], axis=-1)
    show = k <= 30 if show_counts is None else show_counts
    names = [f"{i} {n}" for i, n in enumerate(class_names)]
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
