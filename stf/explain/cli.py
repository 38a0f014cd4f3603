"""Explain one sample of a data set from the command line: ``python -m stf explain``.

``explain_store_sample(checkpoint, data, sample_id)`` opens the data set (a converted store or
``FORMAT:PATH``, :func:`stf.data.resolve.open_dataset`), checks the checkpoint fits it as ``stf eval`` does
(:func:`stf.evaluate.check_evaluable`: the same layout, or one with a mapping and ``map_layout``; the same
channels), and runs :meth:`stf.explain.Explainer.explain` on the sample -> a :class:`SampleReport`:
top-5, the focus of ``target`` (default the top-1) on every module, the most-focused joints and frames of
one module (default the last), the sample's true class and the explainer's notes.

``write_report(report, out_dir)`` writes, each file atomically:

* ``focus.npz``: ``focus (K_mod, M, T_orig, V)`` float32, module k's focus (``FocusMaps.original[k]``, in
  [0, 1]) on the sample's own frames, for the target class; ``valid_frames (T_orig,)`` bool (frames holding a
  person); ``present (M, T_orig)`` bool (the frames each person is in); ``person_mask (M,)`` bool;
  ``frame_index (T,)`` int64 (the original frame of each model input frame, -1 = padding);
  ``joint_names (V,)`` str; ``sample_id ()`` str; ``target ()`` int64. ``M`` = the model's persons,
  ``V`` = the model layout's joints, ``K_mod`` = the model's modules (6).
* ``explanation.json``: sample id, data set, checkpoint (path, sha256, its code version), this code's
  version, model and data layouts, frames, true label, top-5, target, module, most-focused joints and
  frames, notes, the model's class names and the files written.
* ``figure.html``: the skeleton animation coloured by the chosen module's focus and its frames x joints
  heatmap (:func:`stf.viz.skeleton_animation`, :func:`stf.viz.focus_heatmap`, the app's explorer figures);
  Plotly's JavaScript is embedded, so the page works offline.
"""
from __future__ import annotations

import difflib
import html
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ArgumentError
from .focus import class_index, module_index

TOP = 5  # joints and frames listed


@dataclass
class SampleReport:
    """One store sample explained (:func:`explain_store_sample`); ``explanation`` is the full
    :class:`~stf.explain.Explanation`, ``module`` the 0-based module summarised, ``record`` what
    ``explanation.json`` holds (without the files)."""

    explanation: object
    layout: str
    module: int
    record: dict = field(default_factory=dict)




def resolve_target(target, class_names: list[str]) -> int | None:
    """``--target``: None (the top-1), a class index (an int or its digits) or a class name (any case)."""
    if target is None:
        return None
    text = str(target).strip()
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is not None:
        try:
            return class_index(number, len(class_names), "--target")
        except ArgumentError as e:
            raise ArgumentError(f"{e}; or give a class name") from None
    by_name = {n.lower(): i for i, n in enumerate(class_names)}
    if text.lower() in by_name:
        return by_name[text.lower()]
    close = difflib.get_close_matches(text.lower(), list(by_name), n=3, cutoff=0.6)
    hint = f"close: {', '.join(class_names[by_name[c]] for c in close)}" if close else \
        f"classes 0-{len(class_names) - 1}: {', '.join(class_names)}"
    raise ArgumentError(f"--target {text!r} is not a class of this model; {hint}")


def _top(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest values, largest first (ties: the lower index first)."""
    return np.argsort(-values, kind="stable")[:n]


def _persons_shown(focus) -> list[int]:
    return [m for m in range(len(focus.person_mask)) if focus.person_mask[m]] or [0]


def most_focused(focus, k: int, joint_names, n: int = TOP) -> list[dict]:
    """Per present person: the ``n`` joints and original frames module ``k`` focuses on most
    (:meth:`~stf.explain.FocusMaps.joint_summary` / :meth:`~stf.explain.FocusMaps.frame_summary`)."""
    js, fs, fr = focus.joint_summary(k), focus.frame_summary(k), focus.frames_of()
    out = []
    for m in _persons_shown(focus):
        frames = [int(t) for t in _top(np.where(fr[m], fs[m], -np.inf), n) if fr[m][t]]
        out.append({"person": m + 1,
                    "joints": [{"id": int(j), "name": joint_names[j], "focus": round(float(js[m, j]), 4)}
                               for j in _top(js[m], n)],
                    "frames": [{"frame": t, "focus": round(float(fs[m, t]), 4)} for t in frames]})
    return out


def explain_store_sample(checkpoint, data: str, sample_id: str, target=None, *, module: int = -1,
                         map_layout: bool = False, device: str = "cpu", explainer=None) -> SampleReport:
    """Explain sample ``sample_id`` of ``data`` with ``checkpoint`` (see the module doc). ``target``: a class
    index or name (default the top-1); ``module``: the module summarised (0-based, -1 = the last)."""
    from .. import code_version
    from ..app_support.discovery import true_class
    from ..data.resolve import open_dataset
    from ..evaluate import check_evaluable, portable_path, sha256_of
    from ..layouts import get_layout
    from .explainer import Explainer

    ex = explainer or Explainer(checkpoint, device)
    k = module_index(module, ex.model.num_modules)
    tgt = resolve_target(target, ex.class_names)
    store = open_dataset(data)
    where = f"data set {data}"
    # the checks of `stf eval`; the class names are not checked: the true label is shown by its own name
    check_evaluable(ex.ckpt, store, where, map_layout=map_layout, class_map=True)
    sample = store.get(store.position(sample_id))  # an unknown id: a DataError naming close ones
    e = ex.explain(sample, tgt, compare_top2=False, exploration=False, adjacency=False)
    names = ex.class_names
    label_name, label_model = true_class(e.label, list(store.class_names), names)
    joints = get_layout(ex.layout).joints
    cp = None if isinstance(checkpoint, dict) or checkpoint is None else Path(checkpoint)
    record = {
        "sample_id": sample.sample_id, "data": str(data), "store": str(store.path),
        "checkpoint": portable_path(cp) if cp else ex.source,
        "checkpoint_sha256": sha256_of(cp) if cp else None,
        "checkpoint_code_version": ex.ckpt.get("code_version"), "code_version": code_version(),
        "model_layout": ex.layout, "data_layout": store.layout, "frames": int(e.sample.num_frames),
        "frames_with_person": int(e.focus.valid_frames.sum()), "model_frames": int(e.prepared.x.shape[2]),
        # index: the data set's class; model_index: the model's class of that name (None: the model has none)
        "label": None if e.label is None else {"index": int(e.label), "name": label_name,
                                               "model_index": label_model},
        "top5": [{"index": int(i), "class": n, "probability": round(float(p), 6)}
                 for i, n, p in zip(e.top5.indices, e.top5.names, e.top5.probs)],
        "prediction": {"index": e.prediction, "class": names[e.prediction],
                       "correct": None if label_model is None else e.prediction == label_model},
        "target": {"index": int(e.target), "class": e.target_name, "is_top1": e.target == e.prediction},
        "module": k + 1, "most_focused": most_focused(e.focus, k, joints),
        "notes": list(e.notes), "class_names": list(names), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return SampleReport(explanation=e, layout=ex.layout, module=k, record=record)


def format_report(r: SampleReport) -> str:
    """What ``python -m stf explain`` prints."""
    rec = r.record
    lab = rec["label"]
    lines = [f"sample {rec['sample_id']} ({rec['data']}): {rec['frames']} frames, model layout {rec['model_layout']}"]
    if lab is None:
        lines.append("true label: unknown")
    else:
        right = rec["prediction"]["correct"]
        verdict = "" if right is None else " (predicted correctly)" if right else " (predicted wrongly)"
        lines.append(f"true label: {lab['name']} (not a class of this model)" if lab["model_index"] is None
                     else f"true label: {lab['model_index']} {lab['name']}{verdict}")
    lines.append("top-5:")
    lines += [f"  {t['index']:3d} {t['class']:<28s} {100 * t['probability']:6.2f} %" for t in rec["top5"]]
    tg = rec["target"]
    lines.append(f"focus of {tg['index']} {tg['class']!r} ({'the top-1' if tg['is_top1'] else 'not the top-1'}), "
                 f"module {rec['module']}:")
    for p in rec["most_focused"]:
        who = f"person {p['person']} " if len(rec["most_focused"]) > 1 else ""
        lines.append(f"  {who}joints: " + ", ".join(f"{j['id']} {j['name']} {j['focus']:.2f}" for j in p["joints"]))
        lines.append(f"  {who}frames: " + ", ".join(f"{f['frame']} ({f['focus']:.2f})" for f in p["frames"]))
    lines += [f"note: {n}" for n in rec["notes"]]
    return "\n".join(lines)


def _figure_html(r: SampleReport) -> str:
    from .. import viz

    e, k = r.explanation, r.module
    s, focus = e.sample, e.focus.original[k]
    title = viz.plain_text(f"{s.sample_id}: focus of {e.target_name!r}, module {k + 1}")
    anim = viz.skeleton_animation(s.data, r.layout, focus, channels=s.channels, valid_frames=e.focus.valid_frames,
                                  person_mask=e.focus.person_mask, title=title)
    person = _persons_shown(e.focus)[0]
    heat = viz.focus_heatmap(focus, r.layout, person=person, valid_frames=e.focus.frames_of()[person],
                             title="frames x joints")
    body = anim.to_html(full_html=False, include_plotlyjs=True) + heat.to_html(full_html=False, include_plotlyjs=False)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def write_report(r: SampleReport, out_dir: str | Path, *, figure: bool = True) -> dict[str, Path]:
    """Write ``focus.npz``, ``explanation.json`` and (``figure``) ``figure.html`` into ``out_dir``
    (see the module doc) -> ``{name: path}``."""
    from ..layouts import get_layout
    from ..utils import atomic_write_bytes, atomic_write_json

    out = Path(out_dir)
    e = r.explanation
    fm = e.focus
    present = fm.frames_of()
    buf = io.BytesIO()
    np.savez(buf, focus=np.stack(fm.original).astype(np.float32), valid_frames=np.asarray(fm.valid_frames, bool),
             present=np.asarray(present, bool), person_mask=np.asarray(fm.person_mask, bool),
             frame_index=np.asarray(e.frame_index, np.int64),
             joint_names=np.asarray(get_layout(r.layout).joints, dtype=str),
             sample_id=np.asarray(e.sample.sample_id, dtype=str), target=np.asarray(e.target, np.int64))
    files = {"focus": out / "focus.npz"}
    atomic_write_bytes(files["focus"], buf.getvalue())
    if figure:
        files["figure"] = out / "figure.html"
        atomic_write_bytes(files["figure"], _figure_html(r).encode("utf-8"))
    files["explanation"] = out / "explanation.json"
    r.record["files"] = {k: p.name for k, p in files.items()}
    atomic_write_json(files["explanation"], r.record)  # last: its presence marks a complete output
    return files


def explain_from_cli(a) -> int:
    from .explainer import Explainer

    ex = Explainer(a.checkpoint, a.device)
    n_mod = ex.model.num_modules
    if a.module is not None and not 1 <= a.module <= n_mod:  # the command line counts modules from 1
        raise ArgumentError(f"--module {a.module}: this model's modules are 1-{n_mod}")
    r = explain_store_sample(a.checkpoint, a.data, a.sample, a.target, module=-1 if a.module is None else a.module - 1,
                             map_layout=a.map_layout, explainer=ex)
    print(format_report(r))
    if a.out:
        files = write_report(r, a.out, figure=not a.no_figure)
        print(f"wrote {', '.join(str(p) for p in files.values())}")
    return 0
