"""Skeleton figures: the 3-D animation coloured by focus, the focus volume, the joint layout drawing.

Inputs are numpy arrays (or tensors): ``data (M, T, V, C)`` as in :class:`stf.sample.Sample` (the sample's
own coordinates, original frames; a ``Sample`` itself may be given, and then its ``channels`` are used: an
array with C = 3 and no ``channels`` is taken as x, y, z, not as x, y and a score) and ``focus (M, T, V)`` on the same frames (e.g.
``Explanation.focus.original[k]``), values in [cmin, cmax] (default [0, 1]). Joints whose coordinates are all
zero (absent) are not drawn. 3-D data is shown with **y up** (Kinect camera space) seen from the sensor's side
(SBU's image-like x, y, which grow right and down, are turned to camera space first);
2-D data (``xy``, ``xy+score``) with image y pointing down.

Figure contract (tests rely on it): per drawn person ``p`` (in order) two traces: ``bones p`` (lines) and
``joints p`` (markers, ``marker.color`` = the focus values of the frame shown rounded to 1e-4, ``marker.size``
grows with focus, hover = ``"<id> <name>"`` and the value); the animation has one ``go.Frame`` per shown frame, named
by its original frame index, updating the same traces (frames carry only what changes: coordinates, marker colour
and size).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..errors import ArgumentError
from ..layouts import Layout
from ._common import (FOCUS_COLORSCALE, IMAGE_XY_LAYOUTS, PERSON_BONE_COLORS, as_layout, bone_lines, bounds,
                      check_frames, check_map, check_skeleton, coords3, joint_labels, pick_frames, pose_2d, present,
                      to_np)


def _sizes(f: np.ndarray, cmin: float, cmax: float, size_range: tuple[float, float]) -> np.ndarray:
    u = np.clip((np.nan_to_num(f) - cmin) / max(cmax - cmin, 1e-12), 0.0, 1.0)
    return size_range[0] + (size_range[1] - size_range[0]) * u


def _persons(data: np.ndarray, person_mask) -> list[int]:
    if person_mask is not None:
        pm = np.asarray(to_np(person_mask))
        if pm.shape != (data.shape[0],):
            raise ArgumentError(f"person_mask has shape {pm.shape}, expected one entry per person ({data.shape[0]},)")
        ps = [m for m in range(data.shape[0]) if bool(pm[m])]
    else:
        ps = [m for m in range(data.shape[0]) if present(data[m]).any()]
    return ps or [0]


def _scene(xyz: np.ndarray, three_d: bool, xtitle: str = "x", ytitle: str = "y (up)") -> dict:
    (x0, x1), (y0, y1), (z0, z1) = bounds(xyz)
    if not three_d:
        z0, z1 = -0.5, 0.5
    spans = np.array([x1 - x0, y1 - y0, max(z1 - z0, 1e-6)])
    ratio = spans / spans.max()
    ratio = np.maximum(ratio, 0.15)
    eye = dict(x=0.25, y=0.25, z=-1.4) if three_d else dict(x=0.0, y=0.0, z=1.6)
    return dict(
        xaxis=dict(title=xtitle, range=[x0, x1]), yaxis=dict(title=ytitle, range=[y0, y1]),
        zaxis=dict(title="z (depth)" if three_d else "", range=[z0, z1], visible=three_d),
        aspectmode="manual", aspectratio=dict(x=float(ratio[0]), y=float(ratio[1]), z=float(ratio[2])),
        camera=dict(up=dict(x=0, y=1, z=0), eye=eye))


def _titles(lay: Layout, three_d: bool) -> tuple[str, str]:
    """Axis titles x, y: the values drawn are the data's, except image-like 3-D layouts (turned, x and y negated)."""
    return ("−x", "−y (up)") if three_d and lay.name in IMAGE_XY_LAYOUTS else ("x", "y (up)")


def _l(a, nd: int = 4) -> list:
    """Array -> list of rounded floats with None for NaN (Plotly validates lists far faster than arrays)."""
    return [None if v != v else v for v in np.round(np.asarray(a, np.float64), nd).tolist()]


def _frame_traces(xyz, focus, t, persons, lay, labels, cmin, cmax, colorscale, size_range, first: bool):
    """Traces of frame ``t``: full trace dicts when ``first``, else only what changes (coordinates, colours)."""
    traces = []
    for i, m in enumerate(persons):
        pts = xyz[m, t]
        seg = bone_lines(pts, lay)
        bones = dict(type="scatter3d", x=_l(seg[:, 0]), y=_l(seg[:, 1]), z=_l(seg[:, 2]))
        joints = dict(type="scatter3d", x=_l(pts[:, 0]), y=_l(pts[:, 1]), z=_l(pts[:, 2]))
        f = None
        if focus is not None:
            f = np.nan_to_num(focus[m, t].astype(np.float64))
            joints["marker"] = dict(color=_l(f), size=_l(_sizes(f, cmin, cmax, size_range), 2))
        if first:
            bones.update(mode="lines", name=f"bones {m + 1}", hoverinfo="skip", showlegend=False,
                         line=dict(color=PERSON_BONE_COLORS[i % len(PERSON_BONE_COLORS)], width=4))
            marker = dict(size=size_range[0] + 0.25 * (size_range[1] - size_range[0]), color="#444444")
            if f is not None:
                marker = dict(joints["marker"], cmin=cmin, cmax=cmax, colorscale=colorscale, showscale=i == 0)
                if i == 0:
                    marker["colorbar"] = dict(title=dict(text="focus"), len=0.6)
            joints.update(mode="markers", name=f"joints {m + 1}", text=labels, marker=marker, showlegend=False,
                          hovertemplate="%{text}" + ("<br>focus %{marker.color:.3f}" if f is not None else "")
                                        + f"<extra>person {m + 1}</extra>")
        traces += [bones, joints]
    return traces


def _anim_controls(names: list[str], labels: list[str], duration_ms: float) -> tuple[list, list]:
    play = dict(label="▶ play", method="animate",
                args=[None, {"frame": {"duration": duration_ms, "redraw": True}, "fromcurrent": True,
                             "transition": {"duration": 0}, "mode": "immediate"}])
    pause = dict(label="❚❚ pause", method="animate",
                 args=[[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate",
                                "transition": {"duration": 0}}])
    menus = [dict(type="buttons", direction="left", x=0.0, y=0.0, xanchor="left", yanchor="top",
                  pad=dict(t=40, r=10), showactive=False, buttons=[play, pause])]
    steps = [dict(label=lab, method="animate",
                  args=[[n], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate",
                              "transition": {"duration": 0}}]) for n, lab in zip(names, labels)]
    sliders = [dict(active=0, x=0.26, len=0.72, y=0.0, yanchor="top", pad=dict(t=30),
                    currentvalue=dict(prefix="frame "), steps=steps)]
    return menus, sliders


def skeleton_animation(data, layout: str | Layout, focus=None, *, channels: str | None = None,
                       valid_frames=None, person_mask=None, max_frames: int | None = 60, fps: float = 15.0,
                       title: str | None = None, cmin: float = 0.0, cmax: float = 1.0,
                       colorscale: str = FOCUS_COLORSCALE, size_range: tuple[float, float] = (5.0, 14.0),
                       height: int = 560) -> go.Figure:
    """3-D skeleton animation coloured and sized by ``focus``.

    ``data (M, T, V, C)``; ``focus (M, T, V)`` or None; ``valid_frames (T,)`` bool (default: frames with a
    joint) restricts the shown frames; at most ``max_frames`` evenly spaced frames are shown (None = all);
    ``person_mask (M,)`` chooses the drawn persons (default: the present ones). ``fps`` is the playback
    rate of the original sequence (frame duration scales with the subsampling).
    """
    lay = as_layout(layout)
    channels = channels or getattr(data, "channels", None)  # a Sample says what its channels are
    data = check_skeleton(data, lay)
    xyz, three_d = coords3(data, channels, lay)
    m_, t_, v_ = xyz.shape[:3]
    if focus is not None:
        focus = check_map(focus, (m_, t_, v_))
    if valid_frames is not None:
        valid_frames = check_frames(valid_frames, t_, "valid_frames")
    if valid_frames is None:
        valid_frames = present(data).any(axis=(0, 2))
    sel = pick_frames(t_, max_frames, valid_frames)
    persons = _persons(data, person_mask)
    labels = joint_labels(lay)
    names = [str(int(t)) for t in sel]
    frames = [dict(name=n, data=_frame_traces(xyz, focus, int(t), persons, lay, labels, cmin, cmax, colorscale,
                                              size_range, first=False),
                   traces=list(range(2 * len(persons))))
              for n, t in zip(names, sel)]
    step = (sel[-1] - sel[0]) / max(len(sel) - 1, 1) if len(sel) > 1 else 1.0
    menus, sliders = _anim_controls(names, names, duration_ms=1000.0 * max(step, 1.0) / max(fps, 1e-3))
    fig = go.Figure(
        data=_frame_traces(xyz, focus, int(sel[0]), persons, lay, labels, cmin, cmax, colorscale, size_range,
                           first=True),
        frames=frames)
    fig.update_layout(title=title, height=height, margin=dict(l=0, r=0, t=40 if title else 10, b=70),
                      scene=_scene(xyz[persons], three_d, *_titles(lay, three_d)), updatemenus=menus, sliders=sliders,
                      uirevision="skeleton")
    return fig


def focus_volume(data, layout: str | Layout, focus, *, channels: str | None = None, valid_frames=None,
                 person_mask=None, num_skeletons: int = 10, spacing: float | None = None, title: str | None = None,
                 cmin: float = 0.0, cmax: float = 1.0, colorscale: str = FOCUS_COLORSCALE,
                 size_range: tuple[float, float] = (3.0, 10.0), height: int = 460) -> go.Figure:
    """The focus volume: ``num_skeletons`` evenly spaced frames drawn side by side along a time axis (scene x),
    joints coloured and sized by ``focus (M, T, V)``. ``spacing`` (data units) defaults to 1.15 x the widest
    skeleton. Traces: per person ``bones p`` and ``joints p`` covering all shown frames (NaN-separated)."""
    lay = as_layout(layout)
    channels = channels or getattr(data, "channels", None)  # a Sample says what its channels are
    data = check_skeleton(data, lay)
    xyz, three_d = coords3(data, channels, lay)
    m_, t_, v_ = xyz.shape[:3]
    focus = check_map(focus, (m_, t_, v_))
    if valid_frames is not None:
        valid_frames = check_frames(valid_frames, t_, "valid_frames")
    if valid_frames is None:
        valid_frames = present(data).any(axis=(0, 2))
    sel = pick_frames(t_, num_skeletons, valid_frames)
    persons = _persons(data, person_mask)
    sub = xyz[persons][:, sel]  # (P, S, V, 3)
    widths = np.nanmax(sub[..., 0], axis=(0, 2)) - np.nanmin(sub[..., 0], axis=(0, 2)) if np.isfinite(sub).any() \
        else np.ones(len(sel))
    width = float(np.nanmax(widths)) if np.isfinite(widths).any() else 1.0
    spacing = float(spacing) if spacing else 1.15 * max(width, 1e-3)
    centre = np.nanmean(sub[..., 0], axis=(0, 2)) if np.isfinite(sub).any() else np.zeros(len(sel))
    centre = np.nan_to_num(centre)
    offsets = np.arange(len(sel)) * spacing
    labels = joint_labels(lay)
    traces = []
    for i, m in enumerate(persons):
        segs, pts, cols, txt = [], [], [], []
        for s, t in enumerate(sel):
            p = xyz[m, t].copy()
            # 3-D: mirror x and look from +z (same picture as the sensor's view, time left to right)
            p[:, 0] = (centre[s] - p[:, 0] if three_d else p[:, 0] - centre[s]) + offsets[s]
            segs.append(bone_lines(p, lay))
            pts.append(p)
            cols.append(focus[m, t])
            txt.extend(f"{lab}, frame {t}" for lab in labels)
        seg = np.concatenate(segs)
        pt = np.concatenate(pts)
        col = np.nan_to_num(np.concatenate(cols))
        traces.append(go.Scatter3d(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2], mode="lines", name=f"bones {m + 1}",
                                   hoverinfo="skip", showlegend=False,
                                   line=dict(color=PERSON_BONE_COLORS[i % len(PERSON_BONE_COLORS)], width=3)))
        traces.append(go.Scatter3d(
            x=pt[:, 0], y=pt[:, 1], z=pt[:, 2], mode="markers", name=f"joints {m + 1}", text=txt, showlegend=False,
            hovertemplate="%{text}<br>focus %{marker.color:.3f}" + f"<extra>person {m + 1}</extra>",
            marker=dict(color=col, size=_sizes(col, cmin, cmax, size_range), cmin=cmin, cmax=cmax,
                        colorscale=colorscale, showscale=i == 0,
                        colorbar=dict(title=dict(text="focus"), len=0.6) if i == 0 else None)))
    fig = go.Figure(data=traces)
    allp = np.concatenate([np.asarray(t.x, float) for t in traces[1::2]])
    xr = (float(np.nanmin(allp)) - 0.1 * spacing, float(np.nanmax(allp)) + 0.1 * spacing) if np.isfinite(allp).any() \
        else (-1.0, 1.0)
    (_, _), (y0, y1), (z0, z1) = bounds(sub)
    if not three_d:
        z0, z1 = -0.5, 0.5
    spans = np.array([xr[1] - xr[0], y1 - y0, max(z1 - z0, 1e-6)])
    ratio = spans / spans.max()
    ratio = np.maximum(ratio * (0.3 / max(ratio[1], 1e-6) if ratio[1] < 0.3 else 1.0), 0.08)  # keep skeletons tall
    ratio = ratio / ratio.max()
    fig.update_layout(
        title=title, height=height, margin=dict(l=0, r=0, t=40 if title else 10, b=0),
        scene=dict(xaxis=dict(title="frame (time →)", range=list(xr), tickvals=offsets.tolist(),
                              ticktext=[str(int(t)) for t in sel]),
                   yaxis=dict(title=_titles(lay, three_d)[1], range=[y0, y1]),
                   zaxis=dict(title="z (depth)" if three_d else "", range=[z0, z1], visible=three_d),
                   aspectmode="manual", aspectratio=dict(x=float(ratio[0]), y=float(ratio[1]), z=float(ratio[2])),
                   camera=dict(up=dict(x=0, y=1, z=0), eye=dict(x=-0.3, y=0.6, z=1.6) if three_d
                               else dict(x=0.0, y=0.0, z=2.0))))
    return fig


def joint_layout(layout: str | Layout, pose=None, *, title: str | None = None, height: int = 480) -> go.Figure:
    """The joint layout with ids (2-D): bones as lines, joints labelled ``id`` (hover: id and name).

    ``pose`` ``(V, 2)``, or ``(V, 3)`` seen from the sensor (x mirrored, y up), or None for a tree drawing
    (:func:`~stf.viz._common.default_pose`).
    """
    lay = as_layout(layout)
    p = pose_2d(pose, lay)
    seg = bone_lines(np.c_[p, np.zeros(len(p))], lay)
    fig = go.Figure([
        go.Scatter(x=seg[:, 0], y=seg[:, 1], mode="lines", line=dict(color="#888888", width=3), hoverinfo="skip",
                   showlegend=False, name="bones"),
        go.Scatter(x=p[:, 0], y=p[:, 1], mode="markers+text", text=[str(j) for j in range(lay.num_joints)],
                   textposition="middle right", hovertext=joint_labels(lay), hoverinfo="text",
                   marker=dict(size=10, color="#1f77b4"), showlegend=False, name="joints")])
    fig.update_layout(title=title or f"{lay.name}: {lay.num_joints} joints", height=height,
                      xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
                      margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white")
    return fig
