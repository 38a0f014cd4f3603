"""``python -m stf <command>``: the one command-line entry point.

Thin by design: each sub-command parses its arguments and calls one function of the library.
Errors the project raises on purpose (:class:`stf.errors.STFError`, ``OSError`` on user paths)
print one line and exit with status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys

from .utils import count_arg, out_dir_arg


def _parse_opts(pairs: list[str] | None) -> dict[str, str]:
    """``["layout=ntu25", ...]`` -> ``{"layout": "ntu25"}``; an item without ``=`` is a ConfigError."""
    from .errors import ConfigError

    opts = {}
    for kv in pairs or []:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            raise ConfigError(f"--opt {kv!r}: expected KEY=VALUE")
        opts[key] = value
    return opts


def _cmd_data_convert(a) -> int:
    from .data.resolve import convert
    from .utils import progress_counter

    opts = _parse_opts(a.opt)
    every = 100
    report, seen = progress_counter("converting", every=every), [0]

    def progress(n: int) -> None:
        report(n)
        seen[0] = n

    try:
        store = convert(a.format, a.src, a.dest, overwrite=a.force, progress=progress, **opts)
    finally:
        if seen[0] >= every:  # progress_counter printed "\rconverting: n" lines: end them
            print(file=sys.stderr)
    info = store.info()
    print(f"wrote {info['samples']} samples ({info['classes']} classes, layout {info['layout']}) to {store.path}"
          f"; skipped {info['skipped']}")
    for s in store.index.get("skipped", [])[:20]:
        print(f"  skipped {s['where']}: {s['problem']}")
    for note in store.index.get("notes", []):
        print(f"  note: {note}")
    return 0


def _cmd_data_info(a) -> int:
    from .data.resolve import open_dataset

    info = open_dataset(a.data).info(split=a.split)
    print(json.dumps(info, indent=2) if a.json else _format_info(info))
    return 0


def _format_info(info: dict) -> str:
    lines = [f"{k}: {v}" for k, v in info.items() if k not in ("per_class", "splits", "frames", "notes")]
    lines += [f"note: {n}" for n in info.get("notes", [])]
    lines.append("frames: " + ", ".join(f"{k} {v}" for k, v in info["frames"].items()))
    lines.append("splits: " + (", ".join(f"{k} ({v})" for k, v in info["splits"].items()) or "none"))
    lines.append("per class:")
    lines += [f"  {i:3d} {name}: {n}" for i, (name, n) in enumerate(info["per_class"].items())]
    return "\n".join(lines)


def _cmd_train(a) -> int:
    from .train import train_from_cli

    return train_from_cli(a)


def _cmd_eval(a) -> int:
    from .evaluate import eval_from_cli

    return eval_from_cli(a)


def _cmd_fuse(a) -> int:
    from .fuse import fuse_from_cli

    return fuse_from_cli(a)


def _cmd_report(a) -> int:
    from .report import report_from_cli

    return report_from_cli(a)


def _cmd_tiny(a) -> int:
    from .checkpoint import build_tiny_checkpoint

    path = build_tiny_checkpoint(a.out, data=a.data, seed=a.seed, train_split=a.split, overrides=tuple(a.set or ()))
    print(f"wrote {path}")
    return 0


def _cmd_release(a) -> int:
    from .release import release_from_cli

    return release_from_cli(a)


def _cmd_bench(a) -> int:
    import importlib

    mod = importlib.import_module(f".bench.{a.what}", __package__)
    return mod.main(a.rest)


def _cmd_faithfulness(a) -> int:
    from .explain.study import study_from_cli

    return study_from_cli(a)


def _cmd_faithfulness_report(a) -> int:
    from .explain.study import report_from_cli

    return report_from_cli(a)


def _cmd_history(a) -> int:
    from .history import history_from_cli

    return history_from_cli(a)


def _cmd_pose(a) -> int:
    from .pose.runner import pose_from_cli

    return pose_from_cli(a)


def _cmd_explain(a) -> int:
    from .explain.cli import explain_from_cli

    return explain_from_cli(a)


def _cmd_explain_video(a) -> int:
    from .explain.video import explain_video_from_cli

    return explain_video_from_cli(a)


def _cmd_runs(a) -> int:
    from .runs import runs_from_cli

    return runs_from_cli(a)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stf", description="STF skeleton action recognition (our re-implementation)")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="convert and inspect data sets").add_subparsers(dest="data_cmd", required=True)
    c = d.add_parser("convert", help="convert a source data set into the project's store")
    c.add_argument("--format", required=True, help="ntu | ucla | sbu | kinetics | npy | pyskl | mediapipe")
    c.add_argument("src")
    c.add_argument("dest")
    c.add_argument("--force", action="store_true", help="replace DEST if it exists")
    c.add_argument("--opt", action="append", metavar="KEY=VALUE",
                   help="reader option, e.g. --opt layout=ntu25 --opt labels=labels.csv (npy), --opt ntu=120")
    c.set_defaults(func=_cmd_data_convert)
    i = d.add_parser("info", help="summarise a converted data set (a directory or FORMAT:PATH)")
    i.add_argument("data")
    i.add_argument("--split", help="count only this split: xview/test, or a condition such as 'view=1|2' "
                                   "or 'setup<=17 & action<=60' (see stf/data/splits.py)")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_cmd_data_info)

    t = sub.add_parser("train", help="train a model from a YAML config")
    t.add_argument("--config", required=True)
    t.add_argument("--out", type=out_dir_arg, help="run directory (default runs/<config name>-seed<seed>)")
    t.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    t.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=3")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint and write an evaluation bundle")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", required=True, help="converted directory or FORMAT:PATH")
    e.add_argument("--split", default="all", help="protocol/part, e.g. xview/test")
    e.add_argument("--out", type=out_dir_arg, required=True)
    e.add_argument("--device", default="auto")
    e.add_argument("--batch-size", type=count_arg(1), default=64)
    e.add_argument("--force", action="store_true", help="replace a bundle already in --out")
    e.add_argument("--map-layout", action="store_true",
                   help="convert samples of another layout to the model's (e.g. NTU ntu25 -> NW-UCLA kinect20)")
    e.add_argument("--class-map", metavar="CSV",
                   help="cross-data-set labels: CSV 'data_class,model_class', or 'names' (classes of the same "
                        "name); samples of other classes are left out")
    e.set_defaults(func=_cmd_eval)

    f = sub.add_parser("fuse", help="fuse stream bundles by sample id")
    f.add_argument("bundles", nargs="+")
    f.add_argument("--weights", type=float, nargs="+")
    f.add_argument("--out", type=out_dir_arg, required=True)
    f.add_argument("--force", action="store_true", help="replace a bundle already in --out")
    f.set_defaults(func=_cmd_fuse)

    r = sub.add_parser("report", help="STF vs backbone table over seeds, from evaluation bundles")
    r.add_argument("bundles", nargs="+", help="evaluation bundle directories")
    r.add_argument("--markdown", action="store_true")
    r.add_argument("--cv", action="store_true",
                   help="cross-validation: one column per test fold (e.g. SBU fold1/test .. fold5/test), "
                        "the mean over folds and the pooled top-1")
    r.add_argument("--scarce", action="store_true",
                   help="scarce data: one row per training share (train.fraction), STF vs backbone over seeds")
    r.set_defaults(func=_cmd_report)

    k = sub.add_parser("tiny-checkpoint", help="train the tiny real checkpoint used by tests and the app")
    k.add_argument("--out", type=out_dir_arg, required=True)
    k.add_argument("--data", default="ucla:nw-ucla")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--split", default=None, help="training split (default: xview/train on NW-UCLA, all elsewhere)")
    k.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override, e.g. train.epochs=3")
    k.set_defaults(func=_cmd_tiny)

    s = sub.add_parser("release", help="copy a run's last checkpoint (no optimizer) and its bundle into assets/")
    s.add_argument("run", help="run directory holding last.pt")
    s.add_argument("--name", required=True)
    s.add_argument("--data", default=None, help="data set to evaluate on (default: the run's data.spec)")
    s.add_argument("--split", default=None,
                   help="split to evaluate (default: the test part of the run's training split, e.g. xview/test)")
    s.add_argument("--force", action="store_true", help="replace an existing release of this name")
    s.add_argument("--assets", default=None,
                   help="folder to release into (default the repository's assets/; e.g. assets/baselines "
                        "for a model the app lists after the shipped one)")
    s.set_defaults(func=_cmd_release)

    b = sub.add_parser("bench", help="benchmarks that print figures")
    b.add_argument("what", choices=["reader", "train", "infer", "app"])
    b.add_argument("rest", nargs=argparse.REMAINDER)
    b.set_defaults(func=_cmd_bench)

    q = sub.add_parser("faithfulness",
                       help="deletion / insertion AUC of STF focus and Captum methods over a split's samples")
    from .explain.study import add_arguments

    add_arguments(q)
    q.set_defaults(func=_cmd_faithfulness)
    fr = sub.add_parser("faithfulness-report",
                        help="STF vs backbone: faithfulness of the focus from studies of both, paired by seed and sample")
    fr.add_argument("studies", nargs="+", help="folders written by `python -m stf faithfulness`")
    fr.add_argument("--method", default="focus_m6")
    fr.set_defaults(func=_cmd_faithfulness_report)

    h = sub.add_parser("history", help="training curves' figures per run: last epoch's loss terms, accuracy, time")
    h.add_argument("sources", nargs="+", help="run folders (with log.jsonl) or checkpoints (their history)")
    h.set_defaults(func=_cmd_history)

    po = sub.add_parser("pose", help="skeletons from videos with MediaPipe Pose (in the pose environment, "
                                     "requirements-pose.txt) -> <stem>.pose.npz")
    po.add_argument("videos", nargs="+")
    po.add_argument("--out", type=out_dir_arg, required=True)
    po.add_argument("--mirrored", action="store_true", help="videos stored mirrored (Kinect / NTU RGB+D)")
    po.add_argument("--complexity", type=int, choices=(0, 1, 2), default=1,
                    help="MediaPipe's model_complexity (its wheel ships the model of 1; 0 and 2 need theirs "
                         "put in the pose environment: nothing is downloaded)")
    po.set_defaults(func=_cmd_pose)

    ex = sub.add_parser("explain", help="a model on one sample of a data set: top-5, where it focuses (joints, frames)")
    ex.add_argument("--checkpoint", required=True)
    ex.add_argument("--data", required=True, help="converted directory or FORMAT:PATH")
    ex.add_argument("--sample", required=True, help="the sample's id in the data set, e.g. a01_s01_e00_v03")
    ex.add_argument("--target", default=None, help="class whose focus is shown: index or name (default the top-1)")
    ex.add_argument("--module", type=int, default=None, help="module whose focus is summarised, 1-6 (default the last)")
    ex.add_argument("--out", type=out_dir_arg, default=None,
                    help="also write focus.npz, explanation.json and figure.html here")
    ex.add_argument("--no-figure", action="store_true", help="with --out: no figure.html")
    ex.add_argument("--map-layout", action="store_true",
                    help="convert a sample of another layout to the model's (e.g. NTU ntu25 -> NW-UCLA kinect20)")
    ex.add_argument("--device", default="cpu", help="cpu (default) | auto | cuda | cuda:N")
    ex.set_defaults(func=_cmd_explain)

    ev = sub.add_parser("explain-video", help="a model on a video: pose, top-5, focus drawn on the video")
    ev.add_argument("video")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--out", type=out_dir_arg, required=True)
    ev.add_argument("--pose", default=None, help="an existing .pose.npz of this video (skips extraction)")
    ev.add_argument("--mirrored", action="store_true", help="the video is stored mirrored (Kinect / NTU RGB+D)")
    ev.add_argument("--module", type=int, default=None, help="module whose focus is drawn, 1-6 (default the last)")
    ev.add_argument("--codec", default="vp8", choices=("vp8", "vp9", "mp4v"),
                    help="vp8 (default: 5x faster than vp9 on camera frames here), vp9, or mp4v (.mp4)")
    ev.set_defaults(func=_cmd_explain_video)

    w = sub.add_parser("runs", help="evaluation runs queued from the app")
    w.add_argument("runs_cmd", choices=["worker", "submit", "list"])
    w.add_argument("--db", default=None, help="SQLite file (default $STF_RUNS_DIR/runs.sqlite)")
    w.add_argument("--once", action="store_true", help="worker: run queued runs, then exit")
    w.add_argument("--checkpoint")
    w.add_argument("--data")
    w.add_argument("--split", default="all")
    w.set_defaults(func=_cmd_runs)
    return p


def main(argv: list[str] | None = None) -> int:
    from .errors import STFError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except STFError as e:
        print(f"stf: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a missing file, an --out that is a file, no permission, a full disk, ...
        where = f"{e.filename}: " if e.filename else ""
        print(f"stf: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stf: interrupted", file=sys.stderr)
        return 130
