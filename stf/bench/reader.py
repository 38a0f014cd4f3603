"""``python -m stf bench reader``: how fast the NTU ``.skeleton`` reader reads the real sample files.

Reads every ``.skeleton`` file under ``--root`` (default
``$STF_DATA_ROOT/ntu-raw-skeleton-samples/nturgb+d_skeletons``, the 12 real files): one warm-up pass,
then ``--runs`` timed passes; prints the median pass as files/s and MB/s
(1 MB = 10**6 bytes; wall clock, and MB/s in CPU time, which a busy shared machine distorts less) for
:func:`stf.data.ntu.read_file` (what conversions use) and :func:`stf.data.ntu.read_raw_bodies` (the
same output as SGN's ``get_raw_skes_data.py``, colours and motion included).

``--baseline`` also times :func:`line_by_line_bodies`, our re-implementation of the line-by-line
parsing loop of SGN / CTR-GCN's ``get_raw_skes_data.py`` (one ``split`` and two small arrays per
joint line, bodies grown by ``np.vstack`` frame by frame), checks that it returns the same bodies as
``read_raw_bodies``, and prints the speed ratios.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..data import ntu
from ..errors import DataError
from ..utils import count_arg

DEFAULT_SUBDIR = Path("ntu-raw-skeleton-samples") / "nturgb+d_skeletons"


def line_by_line_bodies(path: str | Path) -> dict:
    """The line-by-line parser the field uses (SGN style), as a speed baseline.

    Returns ``{bodyID: {"joints": (T_b * 25, 3) float32, "colors": (T_b, 25, 2) float32, "interval":
    [frame indices], "motion": float32 (only with more than one body)}}`` for the frames that hold a body.
    """
    with open(path) as fh:
        lines = fh.readlines()
    frames = int(lines[0])
    bodies: dict[str, dict] = {}
    at, valid = 1, -1
    for _ in range(frames):
        count = int(lines[at])
        at += 1
        if count == 0:
            continue
        valid += 1
        for _ in range(count):
            body_id = lines[at].split()[0]
            joint_count = int(lines[at + 1])
            at += 2
            joints = np.zeros((joint_count, 3), np.float32)
            colors = np.zeros((joint_count, 2), np.float32)
            for j in range(joint_count):
                fields = lines[at].split()
                joints[j] = np.array(fields[:3], dtype=np.float32)
                colors[j] = np.array(fields[5:7], dtype=np.float32)
                at += 1
            if body_id in bodies:
                body = bodies[body_id]
                body["joints"] = np.vstack((body["joints"], joints))
                body["colors"] = np.vstack((body["colors"], colors[None]))
                body["interval"].append(valid)
            else:
                bodies[body_id] = {"joints": joints, "colors": colors[None], "interval": [valid]}
    if len(bodies) > 1:
        for body in bodies.values():
            body["motion"] = np.sum(np.var(body["joints"], axis=0))
    return bodies


def _median_seconds(fn: Callable[[Path], object], files: list[Path], runs: int) -> tuple[float, float]:
    """(wall, CPU) median seconds of ``runs`` passes of ``fn`` over ``files``, after one warm-up pass.

    CPU time (``time.process_time``) leaves out the time the process waits for a core on a machine
    shared with other jobs.
    """
    for f in files:
        fn(f)
    times = []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        for f in files:
            fn(f)
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return tuple(float(v) for v in np.median(np.array(times), axis=0))


def _same_bodies(files: list[Path]) -> None:
    """Raise RuntimeError unless the baseline and read_raw_bodies agree on every file."""
    for f in files:
        ours, base = ntu.read_raw_bodies(f)["data"], line_by_line_bodies(f)
        same = list(ours) == list(base) and all(
            np.array_equal(ours[bid][key], body[key]) for bid, body in base.items() for key in ("joints", "colors")
        ) and all(ours[bid]["interval"] == body["interval"] for bid, body in base.items())
        if not same:
            raise RuntimeError(f"{f}: the baseline parser and read_raw_bodies disagree")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m stf bench reader", description=__doc__.splitlines()[0])
    p.add_argument("--root", help="directory of .skeleton files (default $STF_DATA_ROOT/" + str(DEFAULT_SUBDIR) + ")")
    p.add_argument("--runs", type=count_arg(1), default=5, help="timed passes; the median is reported (default 5)")
    p.add_argument("--baseline", action="store_true", help="also time the SGN-style line-by-line parser")
    a = p.parse_args(argv)
    if a.root:
        root = Path(a.root)
    else:
        env = os.environ.get("STF_DATA_ROOT", "").strip()
        if not env:
            raise DataError(None, "no --root and STF_DATA_ROOT is not set")
        root = Path(env) / DEFAULT_SUBDIR
    files = sorted(root.glob("*.skeleton"))
    if not files:
        raise DataError(root, "no .skeleton files to benchmark")
    total = sum(f.stat().st_size for f in files)
    print(f"{len(files)} files, {total / 1e6:.2f} MB, in {root}; median of {a.runs} runs after 1 warm-up")
    candidates: dict[str, Callable[[Path], object]] = {"read_file": ntu.read_file,
                                                       "read_raw_bodies": ntu.read_raw_bodies}
    if a.baseline:
        _same_bodies(files)
        candidates["line-by-line baseline"] = line_by_line_bodies
    seconds = {name: _median_seconds(fn, files, a.runs) for name, fn in candidates.items()}
    for name, (wall, cpu) in seconds.items():
        print(f"{name:<22} {len(files) / wall:8.1f} files/s {total / 1e6 / wall:8.1f} MB/s"
              f"   (CPU time: {total / 1e6 / cpu:7.1f} MB/s)")
    if a.baseline:
        base = seconds["line-by-line baseline"]
        for name in ("read_file", "read_raw_bodies"):
            print(f"{name} is {base[0] / seconds[name][0]:.1f}x the baseline's speed "
                  f"({base[1] / seconds[name][1]:.1f}x in CPU time)")
    return 0
