"""Adjacency figures: a ``(V, V)`` matrix as a heatmap labelled with joint names, beside a skeleton drawing
whose edge widths show the weights (every pair above a threshold, not only bones).

Convention: ``matrix[i, j]`` = weight of joint i (source, y axis) in the update of joint j (target, x axis).
Use :meth:`stf.explain.ModuleAdjacency.matrix` for display-normalised matrices and
:meth:`~stf.explain.ModuleAdjacency.value_range` for their colour range.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..layouts import Layout
from ._common import as_layout, bone_lines, check_matrix, joint_labels, plain_text, pose_2d, to_np

SIGNED_SCALE = "RdBu_r"
POSITIVE_SCALE = "Blues"


def _title(title: str | None) -> str | None:
    """Titles are plain text (they carry class names, which Plotly would read as markup)."""
    return plain_text(title) if title else None


def _pose(pose, lay) -> np.ndarray:
    """Drawing positions ``(V, 2)`` of ``pose`` for ``lay``; an ArgumentError / LayoutError for another shape."""
    from ..errors import ArgumentError, LayoutError

    if pose is not None:
        a = np.asarray(to_np(pose))
        if a.ndim != 2 or a.shape[1] not in (2, 3):
            raise ArgumentError(f"pose must be (V, 2) or (V, 3), got shape {a.shape}")
        if a.shape[0] != lay.num_joints:
            raise LayoutError(f"pose has {a.shape[0]} joints, layout {lay.name} has {lay.num_joints}")
    return pose_2d(pose, lay)


def _heatmap_trace(m: np.ndarray, labels: list[str], zmin, zmax, zmid, colorscale, showscale=True) -> go.Heatmap:
    return go.Heatmap(z=m, x=labels, y=labels, zmin=zmin, zmax=zmax, zmid=zmid, colorscale=colorscale,
                      showscale=showscale, colorbar=dict(len=0.8),
                      hovertemplate="source i: %{y}<br>target j: %{x}<br>weight %{z:.3f}<extra></extra>")


def _range(m: np.ndarray, zmin, zmax, zmid, colorscale):
    signed = bool((m < 0).any())
    if colorscale is None:
        colorscale = SIGNED_SCALE if signed or zmid is not None else POSITIVE_SCALE
    if signed and zmid is None and zmin is None:
        zmid = 0.0
    return zmin, zmax, zmid, colorscale


def adjacency_heatmap(matrix, layout: str | Layout, *, title: str | None = None, zmin: float | None = None,
                      zmax: float | None = None, zmid: float | None = None, colorscale: str | None = None,
                      height: int = 520) -> go.Figure:
    """Heatmap of ``matrix (V, V)``: y = source joint i, x = target joint j, both ``"<id> <name>"``.

    Signed matrices get a diverging scale centred on 0 unless told otherwise.
    """
    lay = as_layout(layout)
    m = check_matrix(matrix, lay)
    zmin, zmax, zmid, colorscale = _range(m, zmin, zmax, zmid, colorscale)
    fig = go.Figure(_heatmap_trace(m, joint_labels(lay), zmin, zmax, zmid, colorscale))
    fig.update_layout(title=_title(title), height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      xaxis=dict(title="target joint j (updated)", tickangle=-60),
                      yaxis=dict(title="source joint i", autorange="reversed", scaleanchor="x"))
    return fig


def graph_edges(matrix, threshold: float = 0.1, max_edges: int = 80, include_self: bool = False
                ) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, w)`` with ``|w| > threshold`` (strongest first, at most ``max_edges``).

    Both directions of a pair are merged into one undirected edge carrying the larger ``|w|``.
    """
    m = np.asarray(to_np(matrix), np.float64)
    v = m.shape[0]
    best: dict[tuple[int, int], float] = {}
    ii, jj = np.nonzero(np.abs(m) > threshold)
    for i, j in zip(ii.tolist(), jj.tolist()):
        if i == j and not include_self:
            continue
        key = (min(i, j), max(i, j))
        w = float(m[i, j])
        if key not in best or abs(w) > abs(best[key]):
            best[key] = w
    edges = sorted(((a, b, w) for (a, b), w in best.items()), key=lambda e: -abs(e[2]))
    return edges[:max_edges] if v else []


def _graph_traces(m: np.ndarray, lay, pose: np.ndarray, threshold: float, max_width: float, max_edges: int):
    traces = []
    seg = bone_lines(np.c_[pose, np.zeros(len(pose))], lay)
    traces.append(go.Scatter(x=seg[:, 0], y=seg[:, 1], mode="lines", line=dict(color="#dddddd", width=6),
                             hoverinfo="skip", showlegend=False, name="bones"))
    edges = graph_edges(m, threshold, max_edges)
    wmax = max([abs(w) for _, _, w in edges], default=1.0) or 1.0
    mids_x, mids_y, mids_t = [], [], []
    for i, j, w in edges:
        traces.append(go.Scatter(x=[pose[i, 0], pose[j, 0]], y=[pose[i, 1], pose[j, 1]], mode="lines",
                                 line=dict(color="#d62728" if w >= 0 else "#1f77b4",
                                           width=max(0.5, max_width * abs(w) / wmax)),
                                 opacity=0.75, hoverinfo="skip", showlegend=False, name=f"edge {i}-{j}"))
        mids_x.append((pose[i, 0] + pose[j, 0]) / 2)
        mids_y.append((pose[i, 1] + pose[j, 1]) / 2)
        mids_t.append(f"{lay.joints[i]} ↔ {lay.joints[j]}<br>w[{i},{j}] = {m[i, j]:.3f}, w[{j},{i}] = {m[j, i]:.3f}")
    traces.append(go.Scatter(x=mids_x, y=mids_y, mode="markers", marker=dict(size=6, opacity=0.0), text=mids_t,
                             hoverinfo="text", showlegend=False, name="edge weights"))
    diag = np.abs(np.diag(m))
    dmax = diag.max() if diag.size and diag.max() > 0 else 1.0
    traces.append(go.Scatter(x=pose[:, 0], y=pose[:, 1], mode="markers+text", text=[str(j) for j in range(len(pose))],
                             textposition="middle right", hovertext=[f"{lab}<br>self weight {m[j, j]:.3f}"
                                                                      for j, lab in enumerate(joint_labels(lay))],
                             hoverinfo="text", marker=dict(size=6 + 10 * diag / dmax, color="#333333"),
                             showlegend=False, name="joints"))
    return traces, edges


def adjacency_graph(matrix, layout: str | Layout, pose=None, *, threshold: float = 0.1, max_width: float = 10.0,
                    max_edges: int = 80, title: str | None = None, height: int = 520) -> go.Figure:
    """Skeleton drawing: every joint pair with ``|weight| > threshold`` as a line of width ∝ ``|weight|``
    (red positive, blue negative), bones in light grey underneath, joint size ∝ self weight.

    ``pose``: ``(V, 2)`` positions, or a ``(V, 3)`` pose drawn as seen from the sensor (x mirrored, y up; e.g. a
    frame of the sample, or ``mean_pose.T``), default the tree drawing of :func:`stf.viz._common.default_pose`. Traces: ``bones``,
    one ``edge i-j`` per edge, ``edge weights`` (hover), ``joints``.
    """
    lay = as_layout(layout)
    m = check_matrix(matrix, lay)
    p = _pose(pose, lay)
    traces, _ = _graph_traces(m, lay, p, threshold, max_width, max_edges)
    fig = go.Figure(traces)
    fig.update_layout(title=_title(title), height=height, plot_bgcolor="white",
                      xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def adjacency_panel(matrix, layout: str | Layout, pose=None, *, threshold: float = 0.1, title: str | None = None,
                    zmin: float | None = None, zmax: float | None = None, zmid: float | None = None,
                    colorscale: str | None = None, max_edges: int = 80, height: int = 520) -> go.Figure:
    """Heatmap (left) beside the skeleton graph (right) of one ``(V, V)`` matrix."""
    lay = as_layout(layout)
    m = check_matrix(matrix, lay)
    zmin, zmax, zmid, colorscale = _range(m, zmin, zmax, zmid, colorscale)
    p = _pose(pose, lay)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.14,
                        subplot_titles=("matrix (source i → target j)", f"pairs with |w| > {threshold:g}"))
    fig.add_trace(_heatmap_trace(m, joint_labels(lay), zmin, zmax, zmid, colorscale), row=1, col=1)
    traces, _ = _graph_traces(m, lay, p, threshold, 10.0, max_edges)
    for tr in traces:
        fig.add_trace(tr, row=1, col=2)
    fig.update_traces(colorbar=dict(x=0.56, len=0.8, thickness=12), selector=dict(type="heatmap"))
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    fig.update_xaxes(tickangle=-60, row=1, col=1)
    fig.update_xaxes(visible=False, row=1, col=2)
    fig.update_yaxes(visible=False, scaleanchor="x2", row=1, col=2)
    fig.update_layout(title=_title(title), height=height, plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=60 if title else 40, b=10))
    return fig
