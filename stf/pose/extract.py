"""Run MediaPipe Pose over videos and write one ``<stem>.pose.npz`` each (format: :mod:`stf.pose`).

Runs inside the pose environment (``requirements-pose.txt``), not the main one: it imports numpy, OpenCV
and mediapipe only (and :mod:`stf.layouts`, which needs numpy alone)::

    .venv-pose/bin/python -m stf.pose.extract VIDEO... --out DIR [--mirrored] [--complexity 0|1|2]

Prints one JSON line per video: ``{"video", "out", "frames", "with_person", "seconds"}``, or
``{"video", "error"}`` for a video it could not read; exits 0 when every video was written, 2 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from stf.layouts import MEDIAPIPE33
from stf.video_rate import source_fps

NUM = MEDIAPIPE33.num_joints
MAX_FRAMES = 20_000  # ~11 min at 30 fps; a longer file is refused rather than read for hours


def _swap() -> np.ndarray:
    """Index array exchanging every left landmark with its right twin."""
    perm = np.arange(NUM)
    for a, b in MEDIAPIPE33.symmetric:
        perm[a], perm[b] = b, a
    return perm


def extract(video: str | Path, *, mirrored: bool = False, complexity: int = 1, max_frames: int = MAX_FRAMES) -> dict:
    """Landmarks of the most prominent person in each frame of ``video`` -> the arrays of a ``.pose.npz``."""
    import cv2
    import mediapipe as mp

    path = Path(video)
    if not path.is_file():
        raise ValueError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"{path}: OpenCV cannot open it as a video")
    fps, fps_note = source_fps(path)  # (a WebM without frame durations states its timebase, 1000 fps)
    stated = cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0  # exact for AVI / MP4, an estimate for some containers
    if fps_note is None and stated > 1.02 * max_frames + 30:  # refused at once, not after minutes of MediaPipe
        # (a count derived from a timebase taken for a frame rate is no count: such a video is counted as read)
        cap.release()
        raise ValueError(f"{path}: the video has {int(stated)} frames, above the limit of {max_frames}; "
                         "cut the video first")
    world, image, present = [], [], []
    width = height = 0
    try:
        with _pose_model(mp, int(complexity)) as pose:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if len(present) >= max_frames:
                    raise ValueError(f"{path}: more than {max_frames} frames; cut the video first")
                height, width = frame.shape[:2]
                res = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                if res.pose_landmarks is None or res.pose_world_landmarks is None:
                    world.append(np.zeros((NUM, 3), np.float32))
                    image.append(np.zeros((NUM, 3), np.float32))
                    present.append(False)
                    continue
                world.append(np.array([(p.x, p.y, p.z) for p in res.pose_world_landmarks.landmark], np.float32))
                image.append(np.array([(p.x * width, p.y * height, p.visibility)
                                       for p in res.pose_landmarks.landmark], np.float32))
                present.append(True)
    finally:
        cap.release()
    if not present:
        raise ValueError(f"{path}: no frame could be decoded")
    w, im, pr = np.stack(world), np.stack(image), np.array(present, bool)
    # MediaPipe world: x right in the image, y down, z away from the camera. Kinect camera space: y up, z away;
    # an ordinary video shows the person's left at smaller image x, a Kinect-mirrored one at larger x.
    w[..., 1] *= -1
    if mirrored:
        w, im = w[:, _swap()], im[:, _swap()]
    else:
        w[..., 0] *= -1
    w[~pr] = 0
    info = {"format": "stf-pose", "version": 1, "video": path.name, "fps": fps, "width": int(width),
            "height": int(height), "frames": int(len(pr)), "mirrored": bool(mirrored),
            "extractor": f"mediapipe {mp.__version__} pose, model_complexity {int(complexity)}",
            "layout": MEDIAPIPE33.name}
    if fps_note:
        info["fps_note"] = fps_note
    return {"world": w, "image": im, "present": pr, "info": np.array(json.dumps(info))}


#: MediaPipe's pose-landmark model of each model_complexity (its wheel ships the complexity-1 one only)
LANDMARK_MODELS = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


def _pose_model(mp, complexity: int):
    """MediaPipe's Pose, from a model already on disk: MediaPipe would download a missing one on first use,
    and nothing here downloads weights at run time."""
    model = Path(mp.__file__).parent / "modules" / "pose_landmark" / LANDMARK_MODELS[complexity]
    if not model.is_file():
        raise ValueError(f"model_complexity {complexity} needs {model.name}, which mediapipe {mp.__version__} does "
                         f"not ship (it would download it; nothing is downloaded at run time); use --complexity 1 "
                         f"(the default), whose model it ships, or put {model.name} in {model.parent}")
    return mp.solutions.pose.Pose(static_image_mode=False, model_complexity=complexity, smooth_landmarks=True,
                                  min_detection_confidence=0.5, min_tracking_confidence=0.5)


def save(arrays: dict, out: str | Path) -> Path:
    """Write atomically (a temporary file in the same folder, then a rename)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, out)
    except BaseException:  # a full disk, a folder in the way, ...: no half-written file left behind
        tmp.unlink(missing_ok=True)
        raise
    return out


def output_path(video: str | Path, out_dir: str | Path) -> Path:
    return Path(out_dir) / f"{Path(video).stem}.pose.npz"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stf.pose.extract", description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--out", required=True, help="folder for the .pose.npz files")
    ap.add_argument("--mirrored", action="store_true", help="the videos are stored mirrored (Kinect / NTU RGB+D)")
    ap.add_argument("--complexity", type=int, choices=(0, 1, 2), default=1,
                    help="MediaPipe's model_complexity (its wheel ships the model of 1; 0 and 2 need theirs "
                         "put in the pose environment: nothing is downloaded)")
    ap.add_argument("--max-frames", type=int, default=MAX_FRAMES)
    a = ap.parse_args(argv)
    failed = 0
    for v in a.videos:
        t0 = time.perf_counter()
        try:
            arrays = extract(v, mirrored=a.mirrored, complexity=a.complexity, max_frames=a.max_frames)
            out = save(arrays, output_path(v, a.out))
        except Exception as e:  # noqa: BLE001 - one video's failure is reported, the batch goes on
            failed += 1
            msg = str(e) if isinstance(e, (ValueError, OSError)) else f"{v}: {type(e).__name__}: {e}"
            print(json.dumps({"video": str(v), "error": msg}), flush=True)
            continue
        print(json.dumps({"video": str(v), "out": str(out), "frames": int(len(arrays["present"])),
                          "with_person": int(arrays["present"].sum()),
                          "seconds": round(time.perf_counter() - t0, 2)}), flush=True)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
