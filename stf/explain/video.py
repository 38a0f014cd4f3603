"""Explain a model on a video: pose extraction, prediction, focus, and the focus drawn on the video itself.

``explain_video(checkpoint, video, out_dir)``:

1. the video's skeleton (:func:`stf.pose.runner.extract_poses`, MediaPipe in the pose environment; or an
   existing ``.pose.npz`` given as ``pose=``), read as a ``mediapipe33`` sample (:mod:`stf.data.mediapipe`);
2. :meth:`stf.explain.Explainer.explain`: conversion to the model's layout (e.g. ``kinect20`` for the NW-UCLA
   model; the note says how), prediction, top-5 and the focus of every module on the video's frames;
3. ``out_dir``: ``<stem>.pose.npz``, ``overlay.webm`` (or ``.mp4``: the video with the model-layout skeleton
   drawn on it, joints coloured and sized by the chosen module's focus), ``focus.csv`` (frame, joint,
   value) and ``prediction.json`` (top-5, notes, frames with a person, files, the model and the extractor).

Steps 1-2 alone are :func:`analyse_video` (a :class:`VideoAnalysis`: what the app's Video page draws frame
by frame, without encoding a video).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ArgumentError, DataError
from ..layouts import get_layout, get_mapping
from .focus import module_index


@dataclass
class VideoAnalysis:
    """A video's skeleton explained, before anything is drawn (:func:`analyse_video`).

    ``points (T, V, 2)``: pixel positions of the model layout's joints on the video's frames;
    ``present (T,)``: frames with a person; ``explanation``: the full :class:`Explanation` (focus on the
    video's T frames); ``person``: the row of ``explanation.focus.original[k]`` drawn (the video's person).
    """

    video: Path
    pose: Path
    explanation: object
    points: np.ndarray
    present: np.ndarray
    layout: str
    person: int
    extract_s: float | None = None

    def focus(self, k: int) -> np.ndarray:
        """Module ``k``'s (0-based) focus on the video's frames: ``(T, V)``."""
        return self.explanation.focus.original[k][self.person]

    def title(self, k: int) -> str:
        e = self.explanation
        return (f"{e.top5.names[0]} ({100 * float(e.top5.probs[0]):.0f} %) - focus of "
                f"\"{e.target_name}\", module {k + 1}")

    def record(self, k: int, checkpoint=None) -> dict:
        """What ``prediction.json`` holds (without the names of the files written)."""
        e, s = self.explanation, self.explanation.sample
        return {
            "video": self.video.name, "pose": self.pose.name,
            "checkpoint": str(checkpoint) if checkpoint is not None and not isinstance(checkpoint, dict) else None,
            "model_layout": self.layout, "frames": int(len(self.present)),
            "frames_with_person": int(self.present.sum()), "extract_s": self.extract_s,
            "mirrored": bool(s.meta.get("mirrored", False)), "extractor": s.meta.get("extractor"),
            "top5": [{"class": n, "probability": round(float(p), 6)} for n, p in zip(e.top5.names, e.top5.probs)],
            "target": e.target_name, "module": k + 1, "notes": list(e.notes),
            "label": None if s.label is None else int(s.label), "meta": s.meta,
        }


@dataclass
class VideoExplanation:
    """What :func:`explain_video` wrote and found; ``explanation`` is the full :class:`Explanation`."""

    video: Path
    pose: Path
    overlay: Path
    focus_csv: Path
    prediction_json: Path
    explanation: object
    module: int  # 0-based module whose focus is drawn
    record: dict = field(default_factory=dict)


def image_points(image: np.ndarray, layout: str) -> np.ndarray:
    """Pixel positions ``(T, V, 2)`` of ``layout``'s joints from image landmarks ``(T, 33, 3)``
    (:func:`stf.data.mediapipe.read_pose`); the same mapping the sample's 3-D coordinates go through."""
    xy = np.asarray(image)[None, ..., :2]  # (1, T, 33, 2)
    src = "mediapipe33"
    tgt = get_layout(layout).name
    if tgt != src:
        m = get_mapping(src, tgt)
        if m is None:
            raise DataError(None, f"no mapping from {src} to the model's layout {tgt}")
        xy = m.apply(xy)
    return xy[0]


def analyse_video(explainer, video: str | Path, pose: str | Path, *, target: int | None = None,
                  extract_s: float | None = None) -> VideoAnalysis:
    """Explain the skeleton ``pose`` (a ``.pose.npz`` of ``video``) with ``explainer``: prediction, top-5 and
    every module's focus for ``target`` (default the top-1), with the joints' positions on the frames."""
    from ..data.mediapipe import read_pose

    video, pose = Path(video), Path(pose)
    sample, image = read_pose(pose)  # one read: the sample and the landmarks drawn on the video
    e = explainer.explain(sample, target, compare_top2=False, exploration=False, adjacency=False)
    person = e.prepared.kept_persons.index(0) if 0 in e.prepared.kept_persons else 0
    points, present = image_points(image, explainer.layout), np.asarray(sample.frame_mask, bool)
    if len(points) != e.focus.original[0].shape[1]:
        raise DataError(pose, f"{len(points)} frames of landmarks, but the sample has {e.focus.original[0].shape[1]}")
    return VideoAnalysis(video=video, pose=pose, explanation=e, points=points, present=present,
                         layout=explainer.layout, person=person, extract_s=extract_s)


def explain_video(checkpoint, video: str | Path, out_dir: str | Path, *, pose: str | Path | None = None,
                  mirrored: bool = False, module: int = -1, target: int | None = None, codec: str = "vp8",
                  width: int = 960, explainer=None) -> VideoExplanation:
    """Run the whole path for one video (see the module doc). ``module``: whose focus the overlay shows
    (0-based, -1 = the last); ``target``: the class explained (default the top-1)."""
    from ..pose.runner import extract_poses
    from ..viz.export import CODECS, focus_csv, write_overlay_video
    from .explainer import Explainer

    video, out = Path(video), Path(out_dir)
    if not video.is_file():
        raise DataError(video, "no such video file")
    if codec not in CODECS:
        raise ArgumentError(f"codec {codec!r}: expected one of {', '.join(sorted(CODECS))}")
    ex = explainer or Explainer(checkpoint)
    k = module_index(module, ex.model.num_modules)
    out.mkdir(parents=True, exist_ok=True)
    if pose is None:
        res = extract_poses([video], out, mirrored=mirrored)[0]
        pose_path, extract_s = res.pose, res.seconds
    else:
        pose_path, extract_s = Path(pose), None
    a = analyse_video(ex, video, pose_path, target=target, extract_s=extract_s)
    focus = a.focus(k)
    suffix = CODECS[codec][1]
    info = write_overlay_video(video, a.points, ex.layout, out / f"overlay{suffix}", focus, codec=codec, width=width,
                               present_frames=a.present, title=a.title(k))
    csv_path = out / "focus.csv"
    focus_csv(focus, ex.layout, csv_path, valid_frames=a.present)
    record = a.record(k, checkpoint)
    record.update(overlay=info.path.name, focus_csv=csv_path.name)
    if info.note:  # e.g. the frame rate the container states was implausible
        record["notes"].append(f"overlay: {info.note}")
    pred_path = out / "prediction.json"
    pred_path.write_text(json.dumps(record, indent=2) + "\n")
    return VideoExplanation(video=video, pose=pose_path, overlay=info.path, focus_csv=csv_path,
                            prediction_json=pred_path, explanation=a.explanation, module=k, record=record)


def explain_video_from_cli(a) -> int:
    from .explainer import Explainer

    if not Path(a.video).is_file():
        raise DataError(a.video, "no such video file")
    ex = Explainer(a.checkpoint)
    n_mod = ex.model.num_modules
    if a.module is not None and not 1 <= a.module <= n_mod:  # the command line counts modules from 1
        raise ArgumentError(f"--module {a.module}: this model's modules are 1-{n_mod}")
    module = -1 if a.module is None else a.module - 1
    r = explain_video(a.checkpoint, a.video, a.out, pose=a.pose, mirrored=a.mirrored, module=module, codec=a.codec,
                      explainer=ex)
    rec = r.record
    top = ", ".join(f"{t['class']} {100 * t['probability']:.1f} %" for t in rec["top5"])
    print(f"{r.video.name}: {top}")
    print(f"a person in {rec['frames_with_person']} of {rec['frames']} frames; focus of module {rec['module']} "
          f"drawn in {r.overlay}")
    for n in rec["notes"]:
        print(f"note: {n}")
    return 0
