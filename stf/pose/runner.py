"""Run the pose extractor (:mod:`stf.pose.extract`) from the main environment, in the pose environment.

``extract_poses(videos, out_dir)`` starts ``<pose python> -m stf.pose.extract`` once for all videos and
returns one :class:`PoseResult` per video; a video it could not read is a :class:`stf.errors.DataError`
naming it (with ``keep_going``, returned in the list instead). The interpreter is ``$STF_POSE_PYTHON``, else
``.venv-pose/bin/python`` in the repository; without one, :class:`PoseUnavailable` says how to make it.
"""
from __future__ import annotations

import json
import os
import signal
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
                           capture_output=True, encoding="utf-8", errors="replace", timeout=timeout, cwd=REPO)
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
    30 s; extraction ran at 15-55 frames/s on the 2-core VM); when it runs out, the extractor is killed, the
    videos it finished are kept and the others are a :class:`DataError` saying so. A video that does not
    exist is refused before anything runs. Relative paths are the caller's (the extractor is handed
    absolute ones). Returns results in the order of ``videos``.
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
    # the extractor runs in the repository (cwd=REPO): hand it absolute paths, so that relative ones keep
    # meaning the caller's files (and a name starting with "-" is never taken for an option)
    absolute = [Path(os.path.abspath(p)) for p in paths]  # not resolve(): a link keeps its own stem
    cmd = [str(py), "-m", "stf.pose.extract", *map(str, absolute), "--out", os.path.abspath(out_dir),
           "--complexity", str(int(complexity))] + (["--mirrored"] if mirrored else [])
    env = dict(os.environ, PYTHONPATH=str(REPO), GLOG_minloglevel="2", TF_CPP_MIN_LOG_LEVEL="2")
    limit = timeout if timeout is not None else 60.0 + sum(max(30.0, 0.25 * _frame_count(p)) for p in paths)
    timed_out = None
    try:
        r = subprocess.run(cmd, capture_output=True, encoding="utf-8", errors="replace", timeout=limit, cwd=REPO,
                           env=env)  # errors="replace": library logs may carry raw bytes
        stdout, stderr = r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:  # killed; the videos it finished are kept
        timed_out = e
        stdout = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        for p in absolute:  # a pose file it was writing when killed
            for tmp in Path(os.path.abspath(out_dir)).glob(f".{p.stem}.pose.npz.tmp-*.npz"):
                tmp.unlink(missing_ok=True)
    records = {}
    for line in stdout.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "video" in rec:
            records[str(rec["video"])] = rec
    out: list[PoseResult | DataError] = []
    for p, a in zip(paths, absolute):
        rec = records.get(str(a))
        if rec is None and timed_out is not None:
            err = DataError(p, f"pose extraction did not finish within {limit:.0f} s")
            err.__cause__ = timed_out
        elif rec is None:
            last = (stderr.strip().splitlines() or ["no output"])[-1]
            err = DataError(p, f"the pose extractor {_how_it_ended(r.returncode)}: {last[:300]}")
        elif "error" in rec:
            err = DataError(p, str(rec["error"]).replace(f"{a}: ", "", 1).replace(str(a), str(p)))
        else:
            try:
                res = PoseResult(video=p, pose=Path(rec["out"]), frames=int(rec["frames"]),
                                 with_person=int(rec["with_person"]), seconds=float(rec["seconds"]))
            except (KeyError, TypeError, ValueError) as e:
                err = DataError(p, f"unexpected output from the pose extractor ({type(e).__name__}: {e}): "
                                   f"{json.dumps(rec)[:300]}")
            else:
                out.append(res)
                continue
        if not keep_going:
            raise err
        out.append(err)
    return out


def _how_it_ended(returncode: int) -> str:
    if returncode < 0:
        try:
            name = f" ({signal.Signals(-returncode).name})"
        except ValueError:
            name = ""
        return f"was killed by signal {-returncode}{name}"
    return f"stopped (exit status {returncode})"


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
