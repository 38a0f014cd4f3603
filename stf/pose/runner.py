"""Run the pose extractor (:mod:`stf.pose.extract`) from the main environment, in the pose environment.

``extract_poses(videos, out_dir)`` starts ``<pose python> -m stf.pose.extract`` once for all videos and
returns one :class:`PoseResult` per video; a video it could not read is a :class:`stf.errors.DataError`
naming it (with ``keep_going``, returned in the list instead). The interpreter is ``$STF_POSE_PYTHON``, else
``.venv-pose/bin/python`` in the repository; without one, :class:`PoseUnavailable` says how to make it.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, STFError

REPO = Path(__file__).resolve().parent.parent.parent
SETUP = ("python3 -m venv .venv-pose && .venv-pose/bin/pip install --no-deps -r requirements-pose.txt")


class PoseUnavailable(STFError, RuntimeError):
    """No pose environment: the interpreter is missing or cannot import mediapipe."""


@dataclass(frozen=True)
class PoseResult:
    video: Path
    pose: Path  # the .pose.npz written
    frames: int
    with_person: int
    seconds: float


def pose_python() -> Path:
    """The pose environment's interpreter (``$STF_POSE_PYTHON`` or ``.venv-pose/bin/python``)."""
    v = os.environ.get("STF_POSE_PYTHON", "").strip()
    p = Path(v).expanduser() if v else REPO / ".venv-pose" / "bin" / "python"
    if not p.is_file():
        where = f"STF_POSE_PYTHON={v}" if v else str(p)
        raise PoseUnavailable(f"no pose environment ({where} does not exist); make it once with: {SETUP}")
    return p


def check_pose_environment(timeout: float = 120.0) -> str:
    """The mediapipe version the pose interpreter imports; :class:`PoseUnavailable` when it cannot."""
    py = pose_python()
    try:
        r = subprocess.run([str(py), "-c", "import mediapipe, cv2, numpy; print(mediapipe.__version__)"],
                           capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PoseUnavailable(f"{py}: cannot run it ({type(e).__name__})") from e
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise PoseUnavailable(f"{py} cannot import mediapipe ({last[:200]}); make the environment with: {SETUP}")
    return r.stdout.strip()


def extract_poses(videos: list[str | Path], out_dir: str | Path, *, mirrored: bool = False, complexity: int = 1,
                  timeout: float | None = None, keep_going: bool = False) -> list[PoseResult | DataError]:
    """Extract every video's pose into ``out_dir/<stem>.pose.npz`` (format: :mod:`stf.pose`).

    ``timeout``: seconds for the whole batch (default: 60 s plus, per video, 0.25 s a frame and at least
    30 s; extraction ran at 15-55 frames/s on the 2-core VM). A video that does not exist
    is refused before anything runs. Returns results in the order of ``videos``.
    """
    paths = [Path(v) for v in videos]
    if not paths:
        raise DataError(None, "no video given")
    for p in paths:
        if not p.is_file():
            raise DataError(p, "no such video file")
    stems = [p.stem for p in paths]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise DataError(None, f"two videos named {dup[0]!r}: their pose files would overwrite each other")
    py = pose_python()
    cmd = [str(py), "-m", "stf.pose.extract", *map(str, paths), "--out", str(out_dir),
           "--complexity", str(int(complexity))] + (["--mirrored"] if mirrored else [])
    env = dict(os.environ, PYTHONPATH=str(REPO), GLOG_minloglevel="2", TF_CPP_MIN_LOG_LEVEL="2")
    limit = timeout if timeout is not None else 60.0 + sum(max(30.0, 0.25 * _frame_count(p)) for p in paths)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, cwd=REPO, env=env)
    except subprocess.TimeoutExpired as e:
        raise DataError(paths[0] if len(paths) == 1 else None,
                        f"pose extraction did not finish within {limit:.0f} s") from e
    records = {}
    for line in r.stdout.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "video" in rec:
            records[str(rec["video"])] = rec
    out: list[PoseResult | DataError] = []
    for p in paths:
        rec = records.get(str(p))
        if rec is None:
            last = (r.stderr.strip().splitlines() or ["no output"])[-1]
            err = DataError(p, f"the pose extractor stopped (exit status {r.returncode}): {last[:300]}")
        elif "error" in rec:
            err = DataError(p, str(rec["error"]).replace(f"{p}: ", "", 1))
        else:
            out.append(PoseResult(video=p, pose=Path(rec["out"]), frames=int(rec["frames"]),
                                  with_person=int(rec["with_person"]), seconds=float(rec["seconds"])))
            continue
        if not keep_going:
            raise err
        out.append(err)
    return out


def _frame_count(video: Path) -> int:
    """The frame count the container states (0 when it states none, or OpenCV cannot open it)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT) if cap.isOpened() else 0
    finally:
        cap.release()
    return int(n) if n and n > 0 else 0


def pose_from_cli(a) -> int:
    res = extract_poses(a.videos, a.out, mirrored=a.mirrored, complexity=a.complexity, keep_going=True)
    failed = 0
    for r in res:
        if isinstance(r, DataError):
            failed += 1
            print(f"failed {r}")
        else:
            print(f"wrote {r.pose}: {r.frames} frames, a person in {r.with_person}, {r.seconds:.1f} s")
    return 2 if failed else 0
