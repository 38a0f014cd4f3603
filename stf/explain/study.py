"""Faithfulness over a data set: which explanation method ranks the cells that matter, on many samples.

One sample's deletion curve says little (see the random baseline's spread); this module runs the same
comparison over N samples of a split and summarises each method by its mean deletion / insertion AUC and by
how often it beats the random ranking on the same sample.

``python -m stf faithfulness --checkpoint CKPT --data DATA --split SPLIT [--samples N] --out DIR`` writes
``per_sample.csv`` (one row per sample x method) and ``summary.json`` (with the run's settings, checkpoint and
code version) and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import re
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..layouts import get_layout
from ..utils import atomic_write_bytes, count_arg, out_dir_arg
from .explainer import Explainer
from .faithfulness import MODES

# maps compared by default: STF focus of the last and of a middle module, and the three Captum methods
#: What a study writes to its --out (refused there unless --force).
STUDY_FILES = ("summary.json", "per_sample.csv")
DEFAULT_METHODS = ("focus_m6", "focus_m3", "saliency", "integrated_gradients", "occlusion")


@dataclass
class StudySettings:
    methods: tuple[str, ...] = DEFAULT_METHODS
    mode: str = "zero"  # removal: zero | mean_pose | interpolate
    steps: int = 20  # curve steps
    ig_steps: int = 32
    occlusion_frames: int = 8
    target: str = "pred"  # pred (the class the model chose) | true (the labelled class)

    def __post_init__(self):
        for m in self.methods:
            if not (m in ("saliency", "integrated_gradients", "occlusion") or re.fullmatch(r"focus_m\d+", m)):
                raise ConfigError(f"unknown method {m!r}; expected focus_mK (K = module), saliency, "
                                  "integrated_gradients or occlusion")
        if self.mode not in MODES:
            raise ConfigError(f"unknown removal mode {self.mode!r}; expected one of {MODES}")
        if self.target not in ("pred", "true"):
            raise ConfigError(f"target must be pred or true, not {self.target!r}")
        if self.steps < 1:
            raise ConfigError("steps must be >= 1")


def _maps(ex: Explainer, e, methods: tuple[str, ...], s: StudySettings) -> tuple[dict[str, np.ndarray], dict]:
    """name -> (M, T, V) map on the model frames for each method; and each method's seconds."""
    maps, secs = {}, {}
    for name in methods:
        t0 = time.perf_counter()
        if name.startswith("focus_m"):
            k = int(name[len("focus_m"):]) - 1
            if not 0 <= k < ex.model.num_modules:
                raise ConfigError(f"{name}: the model has modules 1..{ex.model.num_modules}")
            maps[name] = e.focus.input[k]
            secs[name] = e.seconds.get("focus", 0.0)  # one backward pass gives every module's focus
            continue
        if name == "saliency":
            maps[name] = ex.attribute(e, "saliency").input
        elif name == "integrated_gradients":
            maps[name] = ex.attribute(e, "integrated_gradients", baseline="zeros", n_steps=s.ig_steps).input
        else:  # occlusion (StudySettings admits no other name)
            maps[name] = ex.attribute(e, "occlusion", joint_window=1, frame_window=s.occlusion_frames).input
        secs[name] = time.perf_counter() - t0
    return maps, secs


def model_class(sample, ex: Explainer, data_class_names: list[str] | None = None) -> int | None:
    """The model's class index of ``sample``'s label, or None when it has none or it is not one of them.

    With the data set's ``data_class_names`` the label is matched by name (generic names ``class_0``, ...
    index the model's classes); without them a label indexes the model's classes only when the sample is of
    the model's layout (a converted sample's label is of its own data set) and below the class count.
    """
    label = sample.label
    if label is None or label < 0:
        return None
    if data_class_names and list(data_class_names) != [f"class_{k}" for k in range(len(data_class_names))]:
        name = data_class_names[label] if label < len(data_class_names) else None
        return ex.class_names.index(name) if name in ex.class_names else None
    if data_class_names is None and get_layout(sample.layout).name != ex.layout:
        return None
    return int(label) if label < len(ex.class_names) else None


def run_study(ex: Explainer, samples, settings: StudySettings, progress=None,
              data_class_names: list[str] | None = None) -> list[dict]:
    """Rows ``{sample_id, label, target, method, deletion_auc, insertion_auc, seconds}`` for every sample of
    ``samples`` (an iterable of :class:`~stf.sample.Sample`) and every method, plus the ``random`` ranking.
    ``data_class_names``: the classes the samples' labels index (their data set's; see :func:`model_class`)."""
    rows = []
    for i, sample in enumerate(samples):
        target = None  # None: the predicted class
        truth = model_class(sample, ex, data_class_names)
        if settings.target == "true":
            if sample.label is None:
                raise ConfigError(f"sample {sample.sample_id}: no label, cannot explain the true class")
            if truth is None:
                raise ConfigError(f"sample {sample.sample_id}: its label {sample.label} is not one of this model's "
                                  f"{len(ex.class_names)} classes, cannot explain the true class")
            target = truth
        e = ex.explain(sample, target, compare_top2=False, exploration=False, adjacency=False)
        pred = int(e.top5.indices[0])
        maps, secs = _maps(ex, e, settings.methods, settings)
        rep = ex.faithfulness(e, maps, steps=settings.steps, mode=settings.mode, random_seed=i)
        for r in rep.rows():
            rows.append({"sample_id": sample.sample_id, "label": sample.label, "target": e.target,
                         "correct": int(truth == pred) if truth is not None else "",
                         "method": r["method"], "deletion_auc": r["deletion_auc"],
                         "insertion_auc": r["insertion_auc"], "seconds": secs.get(r["method"], 0.0)})
        if progress:
            progress(i + 1)
    return rows


def _sem(v: list[float]) -> float:
    """Standard error of the mean (0 for one value)."""
    return statistics.stdev(v) / np.sqrt(len(v)) if len(v) > 1 else 0.0


def _by_method(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """method -> sample id -> row."""
    by: dict[str, dict[str, dict]] = {}
    for r in rows:
        by.setdefault(r["method"], {})[r["sample_id"]] = r
    return by


def summarise(rows: list[dict]) -> list[dict]:
    """Per method: mean and standard error of both AUCs, and the share of samples where the method's
    deletion AUC is below (and insertion AUC above) the random ranking's on the same sample."""
    by = _by_method(rows)
    rand = by.get("random", {})
    out = []
    for method, per in by.items():
        d = [r["deletion_auc"] for r in per.values()]
        ins = [r["insertion_auc"] for r in per.values()]
        row = {"method": method, "samples": len(d), "deletion_auc": statistics.mean(d), "deletion_sem": _sem(d),
               "insertion_auc": statistics.mean(ins), "insertion_sem": _sem(ins),
               "seconds_per_sample": statistics.mean(r["seconds"] for r in per.values())}
        if method != "random" and rand:
            common = [s for s in per if s in rand]
            row["beats_random_deletion"] = float(np.mean([per[s]["deletion_auc"] < rand[s]["deletion_auc"]
                                                          for s in common]))
            row["beats_random_insertion"] = float(np.mean([per[s]["insertion_auc"] > rand[s]["insertion_auc"]
                                                           for s in common]))
        out.append(row)
    return sorted(out, key=lambda r: r["deletion_auc"])


def markdown(summary: list[dict]) -> str:
    """The summary as a Markdown table (mean ± standard error; seconds of computing each map per sample)."""
    lines = ["| method | deletion AUC ↓ | insertion AUC ↑ | beats random (del / ins) | s / sample |",
             "|---|---|---|---|---|"]
    for r in summary:
        beats = (f"{100 * r['beats_random_deletion']:.0f} % / {100 * r['beats_random_insertion']:.0f} %"
                 if "beats_random_deletion" in r else "–")
        sec = "–" if r["method"] == "random" else f"{r['seconds_per_sample']:.2f}"
        lines.append(f"| {r['method']} | {r['deletion_auc']:.3f} ± {r['deletion_sem']:.3f} | "
                     f"{r['insertion_auc']:.3f} ± {r['insertion_sem']:.3f} | {beats} | {sec} |")
    return "\n".join(lines)


def pick_positions(indices: np.ndarray, n: int) -> list[int]:
    """``n`` evenly spaced positions of ``indices`` (all of them when n <= 0 or n >= len)."""
    if n <= 0 or n >= len(indices):
        return [int(i) for i in indices]
    return [int(indices[j]) for j in np.linspace(0, len(indices) - 1, n).round().astype(int)]


def load_study(path: str | Path) -> tuple[dict, list[dict]]:
    """A study folder's ``summary.json`` meta and its ``per_sample.csv`` rows (AUCs and seconds as floats)."""
    from ..errors import DataError

    p = Path(path)
    try:
        meta = json.loads((p / "summary.json").read_text(encoding="utf-8"))["meta"]
        with open(p / "per_sample.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows:
            for k in ("deletion_auc", "insertion_auc"):
                r[k] = float(r[k])
            r["seconds"] = float(r.get("seconds") or 0.0)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(p, f"not a readable faithfulness study (summary.json + per_sample.csv): {e}") from e
    if "model" not in meta:
        raise DataError(p, "its summary.json does not say which model it ran on (a study from before the "
                           "model was recorded): run it again")
    return meta, rows


def _gaps(rows: list[dict], method: str) -> dict[str, tuple[float, float, float, float]]:
    """sample id -> (deletion AUC, deletion gap, insertion AUC, insertion gap) of ``method``; gaps are
    against the random ranking on the same sample (random − method for deletion, method − random for
    insertion: positive = better than random)."""
    by = _by_method(rows)
    m, rand = by.get(method, {}), by.get("random", {})
    return {sid: (r["deletion_auc"], rand[sid]["deletion_auc"] - r["deletion_auc"],
                  r["insertion_auc"], r["insertion_auc"] - rand[sid]["insertion_auc"])
            for sid, r in m.items() if sid in rand}


def compare_studies(studies: list[tuple[dict, list[dict]]], method: str = "focus_m6") -> str:
    """STF against backbone on the faithfulness of ``method``: one Markdown table per removal mode.

    Rows per (seed, model): mean deletion / insertion AUC and the mean gap to the model's own random
    ranking (± standard error over samples); per seed and over all seeds a paired row, STF − backbone
    of the gaps over the samples both studied (positive = STF's focus beats random by more).
    """
    keys = {(m["data"], m["split"]) for m, _ in studies}
    if len(keys) != 1:
        raise ConfigError(f"the studies cover different data: {sorted(keys)}; compare one split at a time")
    by: dict[str, dict[tuple, dict]] = {}
    for meta, rows in studies:
        mode = meta["settings"]["mode"]
        kind = "STF" if meta["model"]["focus_losses"] else "backbone"
        key = (meta["model"]["seed"], kind)
        if key in by.setdefault(mode, {}):
            raise ConfigError(f"two {kind} studies of seed {key[0]} with removal {mode!r}")
        g = _gaps(rows, method)
        if not g:
            raise ConfigError(f"the study of {meta['checkpoint']} has no {method!r} and random rows")
        by[mode][key] = g

    def cell(v: list[float], sign: bool = False) -> str:
        return f"{statistics.mean(v):{'+' if sign else ''}.3f} ± {_sem(v):.3f}"

    out = []
    for mode in sorted(by):
        lines = ["| seed | model | samples | deletion AUC ↓ | deletion: random − focus ↑ | insertion AUC ↑ | "
                 "insertion: focus − random ↑ |", "|---|---|---|---|---|---|---|"]
        seeds = sorted({s for s, _ in by[mode]}, key=lambda s: (s is None, s))
        pooled_d, pooled_i = [], []
        for seed in seeds:
            for kind in ("STF", "backbone"):
                g = by[mode].get((seed, kind))
                if g:
                    v = list(g.values())
                    lines.append(f"| {seed} | {kind} | {len(v)} | {cell([x[0] for x in v])} | "
                                 f"{cell([x[1] for x in v], True)} | {cell([x[2] for x in v])} | "
                                 f"{cell([x[3] for x in v], True)} |")
            a, b = by[mode].get((seed, "STF")), by[mode].get((seed, "backbone"))
            if a and b:
                common = sorted(set(a) & set(b))
                dd = [a[i][1] - b[i][1] for i in common]
                di = [a[i][3] - b[i][3] for i in common]
                pooled_d += dd
                pooled_i += di
                lines.append(f"| {seed} | STF − backbone (paired) | {len(common)} | | {cell(dd, True)} | | "
                             f"{cell(di, True)} |")
        if len(seeds) > 1 and pooled_d:
            lines.append(f"| all | STF − backbone (paired) | {len(pooled_d)} | | {cell(pooled_d, True)} | | "
                         f"{cell(pooled_i, True)} |")
        out.append("\n".join(lines) + f"\n\n{method}, removal {mode}: mean ± standard error over samples")
    return "\n\n".join(out)


def report_from_cli(a: argparse.Namespace) -> int:
    print(compare_studies([load_study(d) for d in a.studies], a.method))
    return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The command's options (shared by ``python -m stf faithfulness`` and :func:`main`)."""
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True, help="a converted directory or FORMAT:PATH")
    ap.add_argument("--split", required=True)
    ap.add_argument("--samples", type=count_arg(0), default=48, help="evenly spaced samples of the split (0 = all)")
    ap.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    ap.add_argument("--mode", default="zero", help="removal: zero | mean_pose | interpolate")
    ap.add_argument("--steps", type=count_arg(1), default=20)
    ap.add_argument("--ig-steps", type=count_arg(1), default=32)
    ap.add_argument("--target", default="pred", help="pred | true")
    ap.add_argument("--threads", type=count_arg(1), default=None)
    ap.add_argument("--out", type=out_dir_arg, required=True)
    ap.add_argument("--force", action="store_true", help="replace a study already in --out")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stf faithfulness", description=__doc__.splitlines()[0])
    add_arguments(ap)
    return study_from_cli(ap.parse_args(argv))


def study_from_cli(a: argparse.Namespace) -> int:
    from .. import __version__, code_version
    from ..data import open_dataset

    out = Path(a.out)
    taken = [n for n in STUDY_FILES if (out / n).exists()]
    if taken and not getattr(a, "force", False):  # before any work, as eval and fuse do
        raise DataError(out, f"already holds a study ({taken[0]}); pass --force to replace it, or choose another --out")
    if a.threads:
        torch.set_num_threads(a.threads)
    settings = StudySettings(methods=tuple(a.methods), mode=a.mode, steps=a.steps, ig_steps=a.ig_steps,
                             target=a.target)
    ex = Explainer(a.checkpoint)
    store = open_dataset(a.data)
    positions = pick_positions(store.split_indices(a.split), a.samples)
    t0 = time.perf_counter()

    def progress(i):
        print(f"\r{i}/{len(positions)} samples, {time.perf_counter() - t0:.0f} s", end="", flush=True)

    rows = run_study(ex, (store.get(p) for p in positions), settings, progress, list(store.class_names))
    print()
    summary = summarise(rows)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(out / "per_sample.csv", buf.getvalue().encode("utf-8"))
    meta = {"checkpoint": str(a.checkpoint), "data": a.data, "split": a.split, "samples": len(positions),
            # which model: what `faithfulness-report` pairs STF and backbone studies by
            "model": {"config_name": ex.ckpt.get("config", {}).get("name"), "seed": ex.ckpt.get("seed"),
                      "focus_losses": ex.loss_config.any_focus_loss},
            "settings": asdict(settings), "torch_threads":
            torch.get_num_threads(), "stf_version": __version__, "code_version": code_version(),
            "seconds": time.perf_counter() - t0}
    atomic_write_bytes(out / "summary.json", json.dumps({"meta": meta, "summary": summary}, indent=2).encode("utf-8"))
    print(markdown(summary))
    print(f"\n{len(positions)} samples of {a.data} [{a.split}], removal {a.mode}, {a.steps} steps, target {a.target}; "
          f"{meta['seconds']:.0f} s; written to {out}")
    return 0
