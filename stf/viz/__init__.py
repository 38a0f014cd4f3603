"""Plotly figures (and exports) from the explain API's arrays; no Streamlit here, testable without a browser.

Every function takes numpy arrays or tensors and returns a ``plotly.graph_objects.Figure``. Shapes:
``data (M, T, V, C)`` a sample's coordinates, ``focus (M, T, V)`` on the same frames (values in [0, 1] by
default), ``matrix (V, V)`` with ``matrix[i, j]`` = weight of source joint i in the update of joint j.
Joint ids are 0-based everywhere; axes show ``"<id> <name>"``.

* :mod:`~stf.viz.skeleton`: ``skeleton_animation(data, layout, focus=None, *, channels, valid_frames,
  person_mask, max_frames=60, fps=15, ...)`` (3-D, y up, play/pause, frame slider, one trace pair
  ``bones p`` / ``joints p`` per person, one frame per shown frame named by its index);
  ``focus_volume(data, layout, focus, *, num_skeletons=10, ...)``; ``joint_layout(layout, pose=None)``.
* :mod:`~stf.viz.heatmaps`: ``focus_heatmap(values (T, V) | (M, T, V), layout, *, person, frame_ids,
  valid_frames, zmin, zmax, zmid, colorscale)``, ``focus_grid(maps, layout, *, titles)``,
  ``joint_bars(values (V,) | (M, V), layout)``, ``frame_bars(values (T,) | (M, T), *, frame_ids, valid_frames)``.
* :mod:`~stf.viz.adjacency`: ``adjacency_heatmap(matrix, layout)``, ``adjacency_graph(matrix, layout, pose=None,
  *, threshold=0.1)``, ``adjacency_panel(matrix, layout, pose=None, *, threshold=0.1)``, ``graph_edges``.
* :mod:`~stf.viz.confusion`: ``confusion_figure(confusion (K, K), class_names, *, normalise="row" | None)``
  (cells carry ``customdata = [true, pred, count, rate]`` for clicks), ``row_normalise``,
  ``per_class_comparison_figure(class_names, acc_a (K,), acc_b (K,), counts (K,), *, label_a, label_b)``.
* :mod:`~stf.viz.curves`: ``curves_figure(report | {method: {kind: Curve}})`` (AUC in the legend).
* :mod:`~stf.viz.training`: ``training_curves_figure(histories)`` (losses, top-1, lr, focus cosine over
  epochs, one dash style per run), ``focus_cosine_figure(history)`` (modules × epochs).
* :mod:`~stf.viz.export`: ``figure_png(fig, path=None)``, ``focus_csv(focus, layout, path=None)``,
  ``render_frames``, ``write_video(data, layout, path, focus=None, *, codec="vp9" | "mp4v" | "vp8")``,
  ``video_bytes``, ``count_frames``, ``available_codecs``, ``ExportError``.

Budget: keep the figures light (the app has ≤ 1 s from choosing a sample to focus + figure JSON):
``skeleton_animation`` shows at most ``max_frames`` frames (60 by default) and ``focus_volume`` 10 skeletons.
"""
from ._common import class_labels, plain_text
from .adjacency import adjacency_graph, adjacency_heatmap, adjacency_panel, graph_edges
from .confusion import confusion_figure, per_class_comparison_figure, row_normalise
from .curves import curves_figure
from .heatmaps import focus_grid, focus_heatmap, frame_bars, joint_bars
from .skeleton import focus_volume, joint_layout, skeleton_animation
from .training import focus_cosine_figure, training_curves_figure

__all__ = ["skeleton_animation", "focus_volume", "joint_layout", "focus_heatmap", "focus_grid", "joint_bars",
           "frame_bars", "adjacency_heatmap", "adjacency_graph", "adjacency_panel", "graph_edges",
           "confusion_figure", "per_class_comparison_figure", "row_normalise", "curves_figure",
           "training_curves_figure", "focus_cosine_figure", "class_labels", "plain_text"]
