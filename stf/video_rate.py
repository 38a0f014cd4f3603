"""A video's frame rate as OpenCV reads it, guarded against containers that state their timebase.

Needs OpenCV and NumPy only: the pose extractor (its own environment) and the overlay export share it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: frame rates a video plausibly has; a container may state its timebase instead (1000 for WebM / MKV)
PLAUSIBLE_FPS = (0.0, 240.0)
DEFAULT_FPS = 15.0


def source_fps(video: str | Path) -> tuple[float, str | None]:
    """The frame rate of ``video`` -> ``(fps, note)``: the one its container states when plausible
    (``0 < fps <= 240``), else the mean rate of its frames' timestamps (``CAP_PROP_POS_MSEC``), else
    :data:`DEFAULT_FPS`; ``note`` says which when not the stated one. A WebM / MKV without a frame
    duration (a browser recording, variable frame rate) states 1000 fps, its timebase."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            raise ValueError(f"{video}: OpenCV cannot open it as a video")
        stated = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if np.isfinite(stated) and PLAUSIBLE_FPS[0] < stated <= PLAUSIBLE_FPS[1]:
            return stated, None
        stamps = []
        while cap.grab():
            stamps.append(cap.get(cv2.CAP_PROP_POS_MSEC))
    finally:
        cap.release()
    span = (stamps[-1] - stamps[0]) / 1000.0 if len(stamps) > 1 else 0.0
    derived = (len(stamps) - 1) / span if span > 0 else 0.0
    if PLAUSIBLE_FPS[0] < derived <= PLAUSIBLE_FPS[1]:
        return derived, (f"the video states {stated:g} fps (not a plausible frame rate); {derived:.2f} fps from "
                         f"its frames' timestamps is used")
    return DEFAULT_FPS, (f"the video states {stated:g} fps and its frames' timestamps give none; "
                         f"{DEFAULT_FPS:g} fps is used")
