"""The explain API: what the model predicts for one sample, where it focuses, and why (no Streamlit here).

Everything returns tensors / numpy arrays; :mod:`stf.viz` turns them into Plotly figures. Shapes use
``M`` = persons of the *model* (the checkpoint's ``persons``), ``T`` = the model's input frames (after the
checkpoint's test pipeline), ``T_orig`` = the frames of the sample as given (after layout conversion),
``T_k`` = frames at module k (``T / cumulative_stride_k``), ``V`` joints of the model's layout, ``S`` graph
partitions (self / inward / outward), ``K`` classes. Modules are numbered 0..5 in code (STF-GCN-1..6 in text).

Quick use::

    from stf.explain import Explainer
    ex = Explainer("assets/stf_ucla_xview_joint_cpu_seed0.pt")  # or a checkpoint dict; cpu by default
    e = ex.explain(sample)                           # Sample (M, T_orig, V, C) in any layout with a mapping
    e.top5.names, e.top5.probs                       # prediction
    e.focus.original[5]                              # (M, T_orig, V) module-6 focus on the original frames
    e.focus.joint_summary(5), e.focus.frame_summary(5)
    e.comparison.overlap_last, e.comparison.overlap_mean      # top-1 vs top-2 (L_d formula, [0, 1])
    e.exploration.prob_before, e.exploration.prob_after        # L_e preview
    e.adjacency[k].display("C")                      # (M, S, V, V) normalised for display
    attr = ex.attribute(e, "integrated_gradients", baseline="mean_pose", n_steps=32)
    curves = ex.faithfulness(e, {"focus": e.focus.input[5][...], "ig": attr.input}, mode="zero")

Public API
----------
:class:`Explainer` (``explainer.py``)
    ``Explainer(checkpoint: str | Path | dict, device="cpu")``; attributes ``ckpt``, ``model`` (eval),
    ``layout``, ``channels``, ``persons``, ``class_names``, ``strides`` (cumulative, per module),
    ``loss_config`` (:class:`stf.model.losses.LossConfig`), ``mean_pose`` (``(C, V)`` tensor or None),
    ``description`` (one line saying which checkpoint).

    * ``prepare(sample) -> Prepared``: layout conversion (``notes``), person selection, test pipeline.
    * ``explain(sample | Prepared, target=None, *, compare_top2=True, exploration=True, adjacency=True)
      -> Explanation``. ``target`` = class the focus explains (default top-1).
    * ``focus(e: Explanation, target: int) -> FocusMaps``: the focus of any class (one forward and one backward).
    * ``attribute(e, method, **kw) -> Attribution``: ``method`` in ``ATTRIBUTION_METHODS``.
    * ``faithfulness(e, maps: dict[str, (M, T, V)], **kw) -> FaithfulnessReport``.

:class:`Explanation`: ``sample`` (the converted :class:`~stf.sample.Sample`, original frames, model persons),
    ``prepared`` (:class:`Prepared`: ``x (1, C, T, V, M)``, ``frame_index (T,)``, ``notes``),
    ``logits (K,)``, ``probabilities (K,)``, ``top5`` (:class:`TopK`: ``indices``, ``names``, ``probs``),
    ``target``, ``target_name``, ``focus`` (:class:`FocusMaps`), ``comparison`` (:class:`FocusComparison`),
    ``exploration`` (:class:`ExplorationPreview`), ``adjacency`` (list of 6 :class:`ModuleAdjacency`),
    ``notes`` (list of str: layout conversion / person selection), ``seconds`` (timings).

:class:`FocusMaps` (``focus.py``), all numpy float32, one entry per module k = 0..5:
    ``raw[k] (M, T_k, V)`` Grad-CAM before normalisation; ``module[k] (M, T_k, V)`` in [0, 1] (min-max
    jointly over the persons, padded persons 0); ``input[k] (M, T, V)`` on the model's input frames;
    ``original[k] (M, T_orig, V)`` on the sample's frames (0 in the frames a person is not in, as every map
    the explainer returns on the original frames: ``focus.mask_absent``); ``valid_frames (T_orig,)`` bool;
    ``person_mask (M,)`` bool; ``joint_summary(k) -> (M, V)`` and ``frame_summary(k) -> (M, T_orig)``
    (means over valid frames / over joints; invalid frames are 0).

One sample of a data set from the command line (``python -m stf explain``): ``explain_store_sample(checkpoint,
    data, sample_id, target=None, *, module=-1) -> SampleReport`` (top-5, true label, most-focused joints and
    frames, notes) and ``write_report(report, out_dir)`` (``focus.npz``, ``explanation.json``, ``figure.html``)
    in ``cli.py``.

Functions: ``compare_models(focus_a, focus_b) -> ModelFocusComparison`` (two models' focus on one sample, per-module
overlap on the original frames), ``overlap(a, b) -> float`` (L_d: ``2 Σ min(a, b) / Σ(a + b)``, 0 disjoint, 1 identical),
    ``adjacency_parts``, ``normalise_columns``, ``scale_signed`` (``adjacency.py``), attribution
    functions ``integrated_gradients``, ``saliency``, ``occlusion``, ``layer_gradcam`` and
    ``reduce_cells`` (``attributions.py``), ``deletion_curve``, ``insertion_curve``, ``random_ranking``,
    ``removal_reference``, ``faithfulness_report`` (``faithfulness.py``).
"""
from .adjacency import ModuleAdjacency, adjacency_parts, normalise_columns, scale_signed
from .attributions import (ATTRIBUTION_METHODS, Attribution, integrated_gradients, layer_gradcam, occlusion,
                           reduce_cells, saliency)
from .explainer import Explainer, Explanation, Prepared, TopK, get_explainer
from .faithfulness import (Curve, FaithfulnessReport, deletion_curve, faithfulness_report, insertion_curve,
                           random_ranking, removal_reference)
from .focus import ExplorationPreview, FocusComparison, FocusMaps, ModelFocusComparison, compare_models, overlap

__all__ = [
    "Explainer", "Explanation", "Prepared", "TopK", "get_explainer", "FocusMaps", "FocusComparison",
    "ExplorationPreview", "ModelFocusComparison", "compare_models",
    "overlap", "ModuleAdjacency", "adjacency_parts", "normalise_columns", "scale_signed", "ATTRIBUTION_METHODS",
    "Attribution", "integrated_gradients", "saliency", "occlusion", "layer_gradcam", "reduce_cells", "Curve",
    "FaithfulnessReport", "deletion_curve", "insertion_curve", "random_ranking", "removal_reference",
    "faithfulness_report",
]
