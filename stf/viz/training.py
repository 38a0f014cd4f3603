"""Training curves of one or more runs (:class:`stf.history.TrainingHistory`), for the app's Training page.

``training_curves_figure(histories)``: four panels over epochs — every loss term (log scale), train and
evaluation top-1, the learning rate, and the cosine between train-mode and eval-mode focus on the probe
batch; one colour per loss term (or per run in the other panels), one dash style per run, a dotted line
where each STF run's focus losses switch on. ``focus_cosine_figure(history)``: that cosine per module and
epoch as a heatmap.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..history import LOSS_NAMES, TrainingHistory

TERM_COLORS = {"cls": "#1f77b4", "e": "#d62728", "c": "#2ca02c", "d": "#9467bd", "g": "#ff7f0e"}
RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
PANELS = ("loss terms (log scale)", "top-1 % (train: line, evaluation: markers)", "learning rate",
          "train-vs-eval focus cosine (probe batch)")


def _finite(x: np.ndarray, y: np.ndarray) -> tuple[list, list]:
    keep = np.isfinite(y)
    return x[keep].tolist(), y[keep].tolist()


def training_curves_figure(histories: list[TrainingHistory], *, height: int = 640) -> go.Figure:
    """Four panels of the runs' per-epoch records (see the module doc); x = epoch (1-based).

    Traces are named ``L_cls`` … ``L_G`` (losses), ``train top-1`` / ``<eval split> top-1``, ``lr`` and
    ``focus cosine``; each run's traces share a legend group named and titled by the run, so one click
    hides a run. Epochs whose value is NaN or missing are left out of a curve, not drawn as 0.
    """
    if not histories:
        raise ValueError("training_curves_figure needs at least one history")
    fig = make_subplots(rows=2, cols=2, subplot_titles=PANELS, horizontal_spacing=0.08, vertical_spacing=0.14)
    many = len(histories) > 1
    for ri, h in enumerate(histories):
        ep = h.epochs.astype(np.float64)
        dash = DASHES[ri % len(DASHES)]
        run_color = RUN_COLORS[ri % len(RUN_COLORS)]
        group = dict(legendgroup=f"run {ri}", legendgrouptitle=dict(text=h.name))
        for t in h.loss_terms():
            x, y = _finite(ep, h.series(f"loss_{t}"))
            y = [max(v, 1e-6) for v in y]  # a log axis cannot show 0
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=LOSS_NAMES[t],
                                     line=dict(color=TERM_COLORS[t], dash=dash), **group,
                                     hovertemplate=f"{LOSS_NAMES[t]}<br>epoch %{{x}}<br>%{{y:.4f}}<extra>{h.name}</extra>"),
                          row=1, col=1)
        x, y = _finite(ep, 100 * h.series("train_top1"))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="train top-1", **group,
                                 line=dict(color=run_color if many else "#1f77b4", dash=dash),
                                 hovertemplate=f"train top-1<br>epoch %{{x}}<br>%{{y:.2f}} %<extra>{h.name}</extra>"),
                      row=1, col=2)
        x, y = _finite(ep, 100 * h.series("eval_top1"))
        if x:
            split = next((e.get("eval_split") for e in h.entries if "eval_split" in e), None) or "eval"
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=f"{split} top-1", **group,
                                     line=dict(color=run_color if many else "#d62728", dash="dot"),
                                     marker=dict(size=7, symbol="diamond"),
                                     hovertemplate=f"{split} top-1<br>epoch %{{x}}<br>%{{y:.2f}} %<extra>{h.name}</extra>"),
                          row=1, col=2)
        x, y = _finite(ep, h.series("lr"))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="lr", showlegend=False, **group,
                                 line=dict(color=run_color, dash=dash, shape="hv"),
                                 hovertemplate=f"lr<br>epoch %{{x}}<br>%{{y:.4g}}<extra>{h.name}</extra>"),
                      row=2, col=1)
        x, y = _finite(ep, h.series("focus_cosine_train_eval"))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="focus cosine", showlegend=False,
                                 **group, line=dict(color=run_color, dash=dash),
                                 hovertemplate=f"mean over modules<br>epoch %{{x}}<br>%{{y:.3f}}<extra>{h.name}</extra>"),
                      row=2, col=2)
        if h.focus_losses and h.warmup_epochs:
            for r, c in ((1, 1), (1, 2), (2, 1), (2, 2)):
                fig.add_vline(x=h.warmup_epochs + 0.5, line=dict(color="#888888", dash="dot", width=1),
                              row=r, col=c)
            fig.add_annotation(x=h.warmup_epochs + 0.5, y=1, yref="y domain", xref="x", text="focus losses on",
                               showarrow=False, xanchor="left", font=dict(size=10, color="#666666"), row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(range=[0, 101], row=1, col=2)
    fig.update_yaxes(range=[0, 1.02], row=2, col=2)
    for r, c in ((2, 1), (2, 2)):
        fig.update_xaxes(title_text="epoch", row=r, col=c)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=40), legend=dict(groupclick="togglegroup"),
                      hovermode="closest")
    return fig


def focus_cosine_figure(history: TrainingHistory, *, height: int = 300) -> go.Figure:
    """Heatmap of the train-vs-eval focus cosine, ``z (K, E)``: one row per module, one column per epoch."""
    z = history.per_module_cosine().T  # (K, E)
    if z.size == 0:
        raise ValueError(f"{history.name}: no per-module focus cosine logged")
    fig = go.Figure(go.Heatmap(
        z=z, x=history.epochs.tolist(), y=[f"module {k + 1}" for k in range(z.shape[0])], zmin=0, zmax=1,
        colorscale="Viridis", colorbar=dict(title="cosine"),
        hovertemplate="%{y}<br>epoch %{x}<br>cosine %{z:.3f}<extra></extra>"))
    fig.update_layout(title=f"{history.name}: train-vs-eval focus cosine per module", height=height,
                      margin=dict(l=10, r=10, t=40, b=40), xaxis_title="epoch")
    return fig
