"""Frames x joints heatmaps and per-joint / per-frame bar charts of a focus or attribution map.

``focus_heatmap`` draws one person's ``(T, V)`` map with frames on x and ``"<id> <name>"`` joints on y
(``z[j, t]`` = value of joint j at frame t, i.e. the map transposed). ``focus_grid`` draws several maps
(e.g. the six modules at module resolution, or top-1 vs top-2) side by side with a shared colour scale.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..layouts import Layout
from ..errors import ArgumentError, LayoutError
from ._common import (FOCUS_COLORSCALE, as_layout, check_frames, check_joints, check_map, check_names, check_person,
                      joint_labels, plain_text, to_np)


def _title(title: str | None) -> str | None:
    return plain_text(title) if title else None


def _person_map(values, person: int) -> np.ndarray:
    a = np.asarray(to_np(values), np.float64)
    if a.ndim == 3:
        a = a[check_person(person, a.shape[0])]
    if a.ndim != 2:
        raise ArgumentError(f"expected (T, V) or (M, T, V), got shape {a.shape}")
    return check_map(a, what="map")


def focus_heatmap(values, layout: str | Layout, *, person: int = 0, frame_ids=None, valid_frames=None,
                  title: str | None = None, zmin: float | None = 0.0, zmax: float | None = 1.0,
                  zmid: float | None = None, colorscale: str = FOCUS_COLORSCALE, colorbar_title: str = "focus",
                  height: int = 420) -> go.Figure:
    """Heatmap of ``values (T, V)`` or ``(M, T, V)`` (``person`` picks one): x = frame, y = joint.

    ``frame_ids (T,)`` labels the frames (default 0..T-1); ``valid_frames (T,)`` bool blanks invalid frames
    (NaN). Signed maps: pass ``zmin=None, zmax=None, zmid=0, colorscale="RdBu_r"``.
    """
    lay = as_layout(layout)
    a = _person_map(values, person).copy()
    t, v = a.shape
    if v != lay.num_joints:
        raise LayoutError(f"map has {v} joints, layout {lay.name} has {lay.num_joints}")
    if valid_frames is not None:
        a[~check_frames(valid_frames, t, "valid_frames").astype(bool)] = np.nan
    x = np.arange(t) if frame_ids is None else check_frames(frame_ids, t, "frame_ids")
    fig = go.Figure(go.Heatmap(z=a.T, x=x, y=joint_labels(lay), zmin=zmin, zmax=zmax, zmid=zmid,
                               colorscale=colorscale, colorbar=dict(title=dict(text=colorbar_title)),
                               hovertemplate="frame %{x}<br>joint %{y}<br>value %{z:.3f}<extra></extra>"))
    fig.update_layout(title=_title(title), height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=40),
                      xaxis_title="frame", yaxis=dict(title="joint", autorange="reversed"))
    return fig


def focus_grid(maps: list, layout: str | Layout, *, titles: list[str] | None = None, person: int = 0,
               cols: int = 3, zmin: float = 0.0, zmax: float = 1.0, colorscale: str = FOCUS_COLORSCALE,
               height_per_row: int = 300) -> go.Figure:
    """Several ``(T_i, V)`` / ``(M, T_i, V)`` maps (frames may differ, e.g. per module) in a grid, one scale."""
    lay = as_layout(layout)
    n = len(maps)
    if n == 0:
        raise ArgumentError("focus_grid needs at least one map")
    titles = check_names(titles, n, "titles")
    # every map checked before drawing: a map of another layout would be labelled with this layout's joints
    arrays = []
    for i, mp in enumerate(maps):
        a = _person_map(mp, person)
        if a.shape[1] != lay.num_joints:
            raise LayoutError(f"map {i} has {a.shape[1]} joints, layout {lay.name} has {lay.num_joints}")
        arrays.append(a)
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[plain_text(t) for t in titles] if titles else None,
                        horizontal_spacing=0.06, vertical_spacing=0.12)
    labels = joint_labels(lay)
    for i, a in enumerate(arrays):
        fig.add_trace(go.Heatmap(z=a.T, x=np.arange(a.shape[0]), y=labels, zmin=zmin, zmax=zmax,
                                 colorscale=colorscale, showscale=i == 0, coloraxis=None,
                                 hovertemplate="frame %{x}<br>joint %{y}<br>value %{z:.3f}<extra></extra>"),
                      row=i // cols + 1, col=i % cols + 1)
        fig.update_yaxes(autorange="reversed", showticklabels=i % cols == 0, row=i // cols + 1, col=i % cols + 1)
    fig.update_layout(height=height_per_row * rows, margin=dict(l=10, r=10, t=40, b=20))
    return fig


def joint_bars(values, layout: str | Layout, *, person_names: list[str] | None = None, title: str | None = None,
               value_title: str = "mean focus", height: int = 420) -> go.Figure:
    """Horizontal bars of ``values (V,)`` or ``(M, V)`` (one bar series per person) per joint."""
    lay = as_layout(layout)
    a = check_joints(values, lay, (1, 2), "values")
    a = a[None] if a.ndim == 1 else a
    person_names = check_names(person_names, a.shape[0], "person_names")
    labels = joint_labels(lay)
    fig = go.Figure([go.Bar(x=a[m], y=labels, orientation="h",
                            name=person_names[m] if person_names else f"person {m + 1}",
                            hovertemplate="%{y}<br>%{x:.3f}<extra></extra>") for m in range(a.shape[0])])
    fig.update_layout(title=_title(title), height=height, barmode="group", showlegend=a.shape[0] > 1,
                      xaxis_title=value_title, yaxis=dict(autorange="reversed"),
                      margin=dict(l=10, r=10, t=40 if title else 10, b=40))
    return fig


def frame_bars(values, *, frame_ids=None, valid_frames=None, person_names: list[str] | None = None,
               title: str | None = None, value_title: str = "mean focus", height: int = 300) -> go.Figure:
    """Bars of ``values (T,)`` or ``(M, T)`` per frame; invalid frames (``valid_frames`` False) are left out."""
    a = check_map(values, what="values")
    if a.ndim not in (1, 2) or a.shape[-1] < 1:
        raise ArgumentError(f"expected values (T,) or (M, T), got shape {a.shape}")
    a = a[None] if a.ndim == 1 else a
    person_names = check_names(person_names, a.shape[0], "person_names")
    x = np.arange(a.shape[1]) if frame_ids is None else check_frames(frame_ids, a.shape[1], "frame_ids")
    keep = np.ones(a.shape[1], bool) if valid_frames is None else \
        check_frames(valid_frames, a.shape[1], "valid_frames").astype(bool)
    fig = go.Figure([go.Bar(x=x[keep], y=a[m][keep], name=person_names[m] if person_names else f"person {m + 1}",
                            hovertemplate="frame %{x}<br>%{y:.3f}<extra></extra>") for m in range(a.shape[0])])
    fig.update_layout(title=_title(title), height=height, barmode="group", showlegend=a.shape[0] > 1, bargap=0.05,
                      xaxis_title="frame", yaxis_title=value_title,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=40))
    return fig
