"""Exports: PNG of any Plotly figure, CSV of a focus map, and a video of the skeleton coloured by focus.

* :func:`figure_png` uses Kaleido (Plotly's static export), which drives a headless Chromium. When Kaleido
  finds no browser it raises :class:`ExportError` saying how to get one (Debian: ``apt-get install chromium``,
  or ``plotly_get_chrome``; ``BROWSER_PATH`` points Kaleido at a given binary).
* :func:`focus_csv`: one row per (frame, joint, person): ``frame, joint_id, joint_name, person, value``
  (all indices 0-based, as in the code; the app shows persons as "person 1", "person 2").
* :func:`write_video`: frames drawn with OpenCV (bones, joints coloured by focus with ``COLORMAP_PLASMA`` and
  sized by it, a frame counter, a colour bar), written as **WebM / VP9** (fourcc ``VP90``, plays in
  browsers) or **MP4** (fourcc ``mp4v``, MPEG-4 part 2, a download for desktop players; most browsers do not
  play it) or WebM / VP8 (``VP80``). The written file is decoded again with ``cv2.VideoCapture`` and its
  frame count checked. :func:`available_codecs` probes what this OpenCV build can write (FFmpeg prints a
  harmless "tag ... is not supported" line for VP90 / VP80 in WebM and then writes the right codec tag).

* :func:`write_overlay_video` / :func:`overlay_frames`: the same drawing on the frames of the source video
  (for skeletons extracted from it, :mod:`stf.pose`); :func:`overlay_frame` draws one frame (the video sought).

3-D data is drawn as seen from the sensor (x mirrored so the sensor's left is the image's left, y up);
2-D data in image coordinates.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import STFError
from ..layouts import Layout
from ..video_rate import source_fps
from ._common import as_layout, check_map, check_skeleton, coords3, pick_frames, present, to_np

CODECS = {"vp9": ("VP90", ".webm"), "vp8": ("VP80", ".webm"), "mp4v": ("mp4v", ".mp4")}
PERSON_BGR = ((110, 110, 110), (180, 119, 31))


class ExportError(STFError, RuntimeError):
    """An export could not be produced (no browser for Kaleido, codec missing, unreadable result)."""


# --- PNG --------------------------------------------------------------------------------------------
def figure_png(fig, path: str | Path | None = None, *, width: int | None = None, height: int | None = None,
               scale: float = 1.0) -> bytes:
    """PNG bytes of ``fig`` (written to ``path`` too when given). Raises :class:`ExportError` without a browser."""
    try:
        png = fig.to_image(format="png", width=width, height=height, scale=scale)
    except (RuntimeError, ValueError, OSError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(
            "PNG export needs Kaleido and a Chromium/Chrome browser, and failed: "
            f"{msg}. Install one (Debian/Ubuntu: `apt-get install -y chromium`; or run `plotly_get_chrome`) "
            "or set BROWSER_PATH to the browser binary.") from e
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(png)
    return png


# --- CSV --------------------------------------------------------------------------------------------
def focus_csv(focus, layout: str | Layout, path: str | Path | None = None, *, frame_ids=None, valid_frames=None
              ) -> str:
    """CSV text of ``focus (M, T, V)`` (or ``(T, V)``): header ``frame,joint_id,joint_name,person,value``.

    ``frame_ids (T,)`` relabels the frames; ``valid_frames (T,)`` bool keeps only those frames. Rows are
    ordered by frame, then person, then joint. Written to ``path`` when given.
    """
    lay = as_layout(layout)
    f = np.asarray(to_np(focus), np.float64)
    f = f[None] if f.ndim == 2 else f
    m, t, v = f.shape
    if v != lay.num_joints:
        raise ValueError(f"focus has {v} joints, layout {lay.name} has {lay.num_joints}")
    ids = np.arange(t) if frame_ids is None else np.asarray(frame_ids)
    keep = np.ones(t, bool) if valid_frames is None else np.asarray(valid_frames, bool)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "joint_id", "joint_name", "person", "value"])
    for ti in np.flatnonzero(keep):
        for p in range(m):
            for j in range(v):
                w.writerow([int(ids[ti]), j, lay.joints[j], p, f"{f[p, ti, j]:.6g}"])
    text = buf.getvalue()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    return text


# --- video ------------------------------------------------------------------------------------------
def _colormap() -> np.ndarray:
    import cv2

    return cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(-1, 1), cv2.COLORMAP_PLASMA).reshape(256, 3)


def render_frames(data, layout: str | Layout, focus=None, *, channels: str | None = None,
                  size: tuple[int, int] = (480, 480), frames=None, valid_frames=None, max_frames: int | None = None,
                  title: str | None = None, cmin: float = 0.0, cmax: float = 1.0) -> np.ndarray:
    """Draw ``data (M, T, V, C)`` coloured by ``focus (M, T, V)`` -> ``(F, H, W, 3)`` uint8 BGR images.

    ``frames``: indices to draw (default: valid frames, at most ``max_frames`` evenly spaced). ``size`` =
    (width, height).
    """
    import cv2

    lay = as_layout(layout)
    channels = channels or getattr(data, "channels", None)  # a Sample says what its channels are
    data = check_skeleton(data, lay)
    xyz, three_d = coords3(data, channels, lay)
    mm, t_, v_ = xyz.shape[:3]
    if focus is not None:
        focus = check_map(focus, (mm, t_, v_))
    if valid_frames is None:
        valid_frames = present(data).any(axis=(0, 2))
    sel = pick_frames(t_, max_frames, valid_frames) if frames is None else np.asarray(frames, np.int64)
    w, h = int(size[0]), int(size[1])
    # image coordinates: u right, v down
    uv = np.stack([-xyz[..., 0] if three_d else xyz[..., 0], -xyz[..., 1]], -1)
    ok = np.isfinite(uv).all(-1)
    if ok.any():
        lo, hi = uv[ok].min(0), uv[ok].max(0)
    else:
        lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    bar_w = 26 if (focus is not None and w >= 120) else 0
    top, pad = min(34, max(4, h // 6)), min(16, max(2, w // 24))
    avail = np.array([max(w - 2 * pad - bar_w, 4), max(h - top - pad, 4)], np.float64)
    span = np.maximum(hi - lo, 1e-6)
    s = float(np.min(avail / span))
    off = np.array([float(pad), float(top)]) + (avail - span * s) / 2
    pix = (uv - lo) * s + off
    cmap = _colormap()
    bar = cv2.resize(cmap[::-1].reshape(256, 1, 3), (10, max(h - top - 40, 4)), interpolation=cv2.INTER_LINEAR)
    persons = [p for p in range(mm) if present(data[p]).any()] or [0]
    out = np.empty((len(sel), h, w, 3), np.uint8)
    bones = np.asarray(lay.bones, np.int64)
    for fi, t in enumerate(sel):
        img = np.full((h, w, 3), 255, np.uint8)
        for pi, p in enumerate(persons):
            pts = pix[p, t]
            good = ok[p, t]
            col = PERSON_BGR[pi % len(PERSON_BGR)]
            for c, par in bones:
                if good[c] and good[par]:
                    cv2.line(img, tuple(int(round(x)) for x in pts[c]), tuple(int(round(x)) for x in pts[par]), col,
                             2, cv2.LINE_AA)
            for j in range(v_):
                if not good[j]:
                    continue
                if focus is not None:
                    u = float(np.clip((np.nan_to_num(focus[p, t, j]) - cmin) / max(cmax - cmin, 1e-12), 0, 1))
                    colour = tuple(int(x) for x in cmap[int(round(u * 255))])
                    r = int(round(3 + 6 * u))
                else:
                    colour, r = (60, 60, 60), 4
                cv2.circle(img, tuple(int(round(x)) for x in pts[j]), r, colour, -1, cv2.LINE_AA)
        cv2.putText(img, f"frame {int(t)} / {t_ - 1}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                    cv2.LINE_AA)
        if title:
            cv2.putText(img, title[:48], (8, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        if bar_w:
            x0 = w - bar_w + 4
            img[top:top + bar.shape[0], x0:x0 + 10] = bar
            cv2.putText(img, f"{cmax:g}", (x0 - 6, top - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(img, f"{cmin:g}", (x0 - 6, top + bar.shape[0] + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        (0, 0, 0), 1, cv2.LINE_AA)
        out[fi] = img
    return out


def count_frames(path: str | Path) -> int:
    """Frames decoded from a video file by ``cv2.VideoCapture`` (0 if it does not open)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    try:
        if not cap.isOpened():
            return 0
        while True:
            ok, _ = cap.read()
            if not ok:
                break
            n += 1
    finally:
        cap.release()
    return n


@dataclass
class VideoInfo:
    path: Path
    frames: int
    fps: float
    codec: str
    fourcc: str
    size: tuple[int, int]
    note: str | None = None  # e.g. why the frame rate is not the one the source's container states


def _write(images, path: Path, codec: str, fps: float, size: tuple[int, int] | None = None) -> VideoInfo:
    """Write BGR images (an ``(F, H, W, 3)`` array, or any iterable of ``(H, W, 3)`` when ``size`` = (W, H)
    is given), decode the file again and check its frame count."""
    import cv2

    if codec not in CODECS:
        raise ExportError(f"unknown video codec {codec!r}; expected one of {sorted(CODECS)}")
    fourcc, _ = CODECS[codec]
    w, h = size if size is not None else (images.shape[2], images.shape[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (int(w), int(h)))
    if not wr.isOpened():
        wr.release()
        alt = [c for c, ok in available_codecs().items() if ok and c != codec]
        raise ExportError(f"this OpenCV build cannot write {codec} ({fourcc}) video to {path.name}; "
                          f"available: {', '.join(alt) or 'none'}")
    written = 0
    try:
        for img in images:
            wr.write(np.ascontiguousarray(img))
            written += 1
    finally:
        wr.release()
    n = count_frames(path)
    if n != written:
        raise ExportError(f"{path}: wrote {written} frames with {codec}, but {n} decode again")
    return VideoInfo(path=path, frames=n, fps=float(fps), codec=codec, fourcc=fourcc, size=(int(w), int(h)))


def _text_box(img: np.ndarray, text: str, top_left: tuple[int, int], scale: float = 0.6) -> None:
    """White text on a dark box (readable on any video frame), drawn in place."""
    import cv2

    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = top_left
    x1, y1 = min(x + tw + 12, img.shape[1]), min(y + th + base + 10, img.shape[0])
    region = img[y:y1, x:x1]
    region[:] = (region * 0.35).astype(np.uint8)
    cv2.putText(img, text, (x + 6, y + th + 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _overlay_size(w0: float, h0: float, width: int) -> tuple[int, int]:
    """(W, H) of an overlay frame: ``width`` wide, the source's aspect, both even (what codecs want)."""
    w = 2 * max(1, int(round(width / 2)))
    return w, 2 * max(1, int(round(h0 * w / w0 / 2)))


def overlay_frames(video: str | Path, points, layout: str | Layout, focus=None, *, present_frames=None,
                   width: int = 960, title: str | None = None, cmin: float = 0.0, cmax: float = 1.0):
    """The frames of ``video`` with a skeleton drawn on them -> an iterator of ``(H, W, 3)`` uint8 BGR images.

    ``points (T, V, 2)``: pixel positions of the layout's joints on the frames as stored; ``focus (T, V)``
    colours (Plasma) and sizes the joints, as :func:`render_frames` does; ``present_frames (T,)`` bool: frames
    holding a person (others are shown without a skeleton). Frames are scaled to ``width`` pixels (aspect kept).
    The video must have T frames (a :class:`ExportError` otherwise).
    """
    import cv2

    draw = _OverlayPainter(layout, points, focus, present_frames, width, title, cmin, cmax)
    t_ = draw.pts.shape[0]
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise ExportError(f"{video}: OpenCV cannot open it as a video")
    try:
        t = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if t >= t_:
                raise ExportError(f"{video}: more frames than the {t_} the skeleton has")
            yield draw(frame, t)
            t += 1
    finally:
        cap.release()
    if t != t_:
        raise ExportError(f"{video}: {t} frames decoded, but the skeleton has {t_}")


def overlay_frame(video: str | Path, points, layout: str | Layout, t: int, focus=None, *, present_frames=None,
                  width: int = 960, title: str | None = None, cmin: float = 0.0, cmax: float = 1.0) -> np.ndarray:
    """Frame ``t`` of :func:`overlay_frames` alone (the video is sought, not decoded from the start):
    ``(H, W, 3)`` uint8 BGR. Same arguments; ``0 <= t < T``."""
    import cv2

    draw = _OverlayPainter(layout, points, focus, present_frames, width, title, cmin, cmax)
    t_ = draw.pts.shape[0]
    if not 0 <= int(t) < t_:
        raise ValueError(f"frame {t} out of range: the skeleton has frames 0-{t_ - 1}")
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise ExportError(f"{video}: OpenCV cannot open it as a video")
    try:
        t = int(t)
        if t and not (cap.set(cv2.CAP_PROP_POS_FRAMES, t) and int(cap.get(cv2.CAP_PROP_POS_FRAMES)) == t):
            cap.release()  # no exact seek in this container: decode from the start
            cap = cv2.VideoCapture(str(video))
            for _ in range(t):
                if not cap.grab():
                    break
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok:
        raise ExportError(f"{video}: cannot decode frame {t}")
    return draw(frame, t)


class _OverlayPainter:
    """Draws the skeleton of frame t (and its frame / title boxes) on a scaled copy of a video frame."""

    def __init__(self, layout: str | Layout, points, focus, present_frames, width: int, title, cmin, cmax):
        lay = as_layout(layout)
        pts = np.asarray(to_np(points), np.float64)
        t_ = pts.shape[0]
        if pts.ndim != 3 or pts.shape != (t_, lay.num_joints, 2):
            raise ValueError(f"points have shape {pts.shape}, layout {lay.name} needs (T, {lay.num_joints}, 2)")
        if focus is not None:
            focus = np.asarray(to_np(focus), np.float64)
            if focus.shape != pts.shape[:2]:
                raise ValueError(f"focus has shape {focus.shape}, the points need (T, V) = {pts.shape[:2]}")
        self.pts, self.focus, self.width, self.title = pts, focus, width, title
        self.pres = np.ones(t_, bool) if present_frames is None else np.asarray(present_frames, bool)
        self.cmin, self.cmax = cmin, cmax
        self.bones = np.asarray(lay.bones, np.int64)
        self.cmap = _colormap()

    def __call__(self, frame: np.ndarray, t: int) -> np.ndarray:
        import cv2

        t_, v_ = self.pts.shape[:2]
        h0, w0 = frame.shape[:2]
        size = _overlay_size(w0, h0, self.width)
        scale = np.array([size[0] / w0, size[1] / h0])
        img = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if size[0] < w0 else cv2.INTER_LINEAR)
        if self.pres[t]:
            p = [tuple(int(round(x)) for x in q) for q in self.pts[t] * scale]
            for c, par in self.bones:
                cv2.line(img, p[c], p[par], (255, 255, 255), 3, cv2.LINE_AA)
                cv2.line(img, p[c], p[par], (90, 90, 90), 1, cv2.LINE_AA)
            for j in range(v_):
                if self.focus is not None:
                    u = float(np.clip((np.nan_to_num(self.focus[t, j]) - self.cmin)
                                      / max(self.cmax - self.cmin, 1e-12), 0, 1))
                    colour, r = tuple(int(x) for x in self.cmap[int(round(u * 255))]), int(round(4 + 9 * u))
                else:
                    colour, r = (60, 60, 60), 5
                cv2.circle(img, p[j], r + 1, (255, 255, 255), -1, cv2.LINE_AA)
                cv2.circle(img, p[j], r, colour, -1, cv2.LINE_AA)
        _text_box(img, f"frame {t} / {t_ - 1}" + ("" if self.pres[t] else "  (nobody found)"), (10, 10))
        if self.title:
            _text_box(img, self.title[:90], (10, img.shape[0] - 34))
        return img


def write_overlay_video(video: str | Path, points, layout: str | Layout, path: str | Path, focus=None, *,
                        codec: str = "vp8", fps: float | None = None, width: int = 960, present_frames=None,
                        title: str | None = None) -> VideoInfo:
    """:func:`overlay_frames` written as a video (frame by frame: a long clip is never held in memory);
    ``fps`` defaults to the source video's (:func:`stf.video_rate.source_fps`; the info's ``note`` says when
    that is not the rate its container states)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            raise ExportError(f"{video}: OpenCV cannot open it as a video")
        w0, h0 = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
    finally:
        cap.release()
    note = None
    if not fps:
        fps, note = source_fps(video)
    size = _overlay_size(w0, h0, width)
    frames = overlay_frames(video, points, layout, focus, present_frames=present_frames, width=width, title=title)
    info = _write(frames, Path(path), codec, float(fps), size=size)
    info.note = note
    return info


def write_video(data, layout: str | Layout, path: str | Path, focus=None, *, codec: str = "vp9", fps: float = 15.0,
                size: tuple[int, int] = (480, 480), channels: str | None = None, valid_frames=None,
                max_frames: int | None = None, title: str | None = None) -> VideoInfo:
    """Render (:func:`render_frames`) and write a video; ``codec`` ``vp9`` (WebM, default), ``mp4v`` (MP4) or
    ``vp8`` (WebM). The file is decoded again and its frame count checked (:class:`ExportError` otherwise)."""
    images = render_frames(data, layout, focus, channels=channels, size=size, valid_frames=valid_frames,
                           max_frames=max_frames, title=title)
    return _write(images, Path(path), codec, fps)


def video_bytes(data, layout: str | Layout, focus=None, *, codec: str = "vp9", **kw) -> bytes:
    """The bytes of :func:`write_video` (through a temporary file), e.g. for ``st.video`` / a download button."""
    suffix = CODECS.get(codec, ("", ".bin"))[1]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"skeleton{suffix}"
        write_video(data, layout, p, focus, codec=codec, **kw)
        return p.read_bytes()


@lru_cache(maxsize=1)
def available_codecs() -> dict[str, bool]:
    """Which of :data:`CODECS` this OpenCV build can write *and* read back (probed once, 3 tiny frames)."""
    import cv2

    res = {}
    with tempfile.TemporaryDirectory() as d:
        for name, (fourcc, ext) in CODECS.items():
            p = os.path.join(d, "probe" + ext)
            wr = cv2.VideoWriter(p, cv2.VideoWriter_fourcc(*fourcc), 10.0, (64, 48))
            ok = wr.isOpened()
            if ok:
                for i in range(3):
                    wr.write(np.full((48, 64, 3), 60 * i, np.uint8))
            wr.release()
            res[name] = bool(ok and count_frames(p) == 3)
    return res
