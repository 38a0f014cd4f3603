"""Deletion / insertion curves with each method's AUC in the legend."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

KIND_TITLES = {"deletion": "deletion (lower AUC = more faithful)",
               "insertion": "insertion (higher AUC = more faithful)"}
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def curves_figure(report, *, title: str | None = None, kinds: tuple[str, ...] | None = None,
                  height: int = 380) -> go.Figure:
    """Curves of a :class:`stf.explain.FaithfulnessReport` (or ``{method: {kind: Curve}}``), one panel per kind.

    Legend entries read ``"<method> (AUC 0.123)"``; the random baseline is grey and dashed. x = fraction of
    cells removed / restored, y = probability of the explained class.
    """
    curves = report.curves if hasattr(report, "curves") else report
    if kinds is None:
        kinds = tuple(k for k in ("deletion", "insertion") if any(k in c for c in curves.values()))
    fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=[KIND_TITLES.get(k, k) for k in kinds],
                        horizontal_spacing=0.08)
    for ci, kind in enumerate(kinds):
        for mi, (name, per) in enumerate(curves.items()):
            if kind not in per:
                continue
            c = per[kind]
            rnd = name == "random"
            fig.add_trace(go.Scatter(
                x=c.fractions, y=c.probs, mode="lines+markers", name=f"{name} (AUC {c.auc:.3f})",
                legendgroup=kind, legendgrouptitle=dict(text=kind) if mi == 0 else None,
                line=dict(color="#999999" if rnd else _PALETTE[mi % len(_PALETTE)], dash="dash" if rnd else "solid"),
                marker=dict(size=4),
                hovertemplate=f"{name}<br>fraction %{{x:.2f}}<br>p %{{y:.3f}}<extra>{kind}</extra>"),
                row=1, col=ci + 1)
        fig.update_xaxes(title_text="fraction of cells " + ("removed" if kind == "deletion" else "restored"),
                         range=[0, 1], row=1, col=ci + 1)
        fig.update_yaxes(title_text="class probability" if ci == 0 else None, range=[0, 1.02], row=1, col=ci + 1)
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=60 if title else 40, b=40),
                      legend=dict(groupclick="toggleitem"))
    return fig
