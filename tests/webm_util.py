"""A WebM made from a real clip and rewritten as a browser's MediaRecorder writes one (no frame duration,
irregular timestamps): OpenCV then states 1000 fps, the WebM timebase. Shared by the export and pose tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _ebml_ids_and_sizes(b: bytearray, i: int) -> tuple[int, int, int, bool]:
    """(element id, header length, payload size, size unknown) of the EBML element at ``i``."""
    n1 = 1
    while not b[i] & (0x80 >> (n1 - 1)):
        n1 += 1
    eid = int.from_bytes(b[i:i + n1], "big")
    j = i + n1
    n2 = 1
    while not b[j] & (0x80 >> (n2 - 1)):
        n2 += 1
    size = b[j] & ((0x80 >> (n2 - 1)) - 1)
    for k in range(1, n2):
        size = (size << 8) | b[j + k]
    return eid, n1 + n2, size, size == (1 << (7 * n2)) - 1


def _like_a_browser_recording(b: bytearray, start=0, end=None, rng=None) -> None:
    """Rewrite a WebM in place as a browser's MediaRecorder writes one: no frame duration in the track
    (DefaultDuration becomes an EBML Void of the same length) and irregular frame timestamps (each
    SimpleBlock's timecode moved by up to 8 ms, kept increasing)."""
    rng = rng or np.random.default_rng(0)
    end, last = len(b) if end is None else end, -(1 << 15)
    i = start
    while i < end:
        eid, head, size, unknown = _ebml_ids_and_sizes(b, i)
        data, stop = i + head, end if unknown else i + head + size
        if eid == 0x23E383 and stop - i < 0x80:  # DefaultDuration -> Void
            b[i:stop] = bytes([0xEC, 0x80 | (stop - i - 2)]) + bytes(stop - i - 2)
        elif eid == 0xA3:  # SimpleBlock: track number (1-byte vint), int16 timecode, flags, frame
            tc = int.from_bytes(b[data + 1:data + 3], "big", signed=True)
            last = max(tc + int(rng.integers(-8, 9)), last + 1)
            b[data + 1:data + 3] = last.to_bytes(2, "big", signed=True)
        elif eid in (0x18538067, 0x1654AE6B, 0xAE, 0x1F43B675):  # Segment, Tracks, TrackEntry, Cluster
            if eid == 0x1F43B675:
                last = -(1 << 15)
            _like_a_browser_recording(b, data, stop, rng)
        i = stop


def browser_like_webm(src: Path, folder: Path, frames: int = 40) -> tuple[float, Path, Path]:
    """``frames`` frames of the real clip ``src`` as WebM (OpenCV, VP8), and that file rewritten like a
    browser recording -> (the source clip's fps, plain webm, browser-like webm)."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    plain = folder / "plain.webm"
    wr = cv2.VideoWriter(str(plain), cv2.VideoWriter_fourcc(*"VP80"), fps,
                         (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))))
    for _ in range(frames):
        ok, frame = cap.read()
        assert ok
        wr.write(frame)
    wr.release()
    cap.release()
    b = bytearray(plain.read_bytes())
    _like_a_browser_recording(b)
    browser = folder / "browser.webm"
    browser.write_bytes(bytes(b))
    return fps, plain, browser
