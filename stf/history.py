"""Training histories: the per-epoch log of a run, read from its folder or from a checkpoint.

Every training writes one record per epoch, both to ``<run>/log.jsonl`` (rewritten atomically each epoch,
so a run in progress can be read at any time) and into the checkpoint's ``history`` list (so a shipped
checkpoint still carries the curves it was trained with). A record holds ``epoch`` (1-based), ``lr``,
``focus_losses_on``, ``loss_<term>`` for each loss term of that epoch (``cls`` always; ``e``, ``c``, ``d``,
``g`` once the focus losses are on), ``train_top1``, ``samples_per_s``, ``epoch_s``,
``focus_cosine_train_eval`` and ``focus_cosine_per_module`` (one value per module), and, on evaluated
epochs, ``eval_top1`` and ``eval_split``. Records without ``epoch`` (e.g. the tiny checkpoint's build time)
are kept apart as ``extras``.

:func:`load_history` reads either source; :func:`find_histories` lists those the app may show. Nothing
here imports Streamlit.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError

LOG_NAME = "log.jsonl"
LOSS_TERMS = ("cls", "e", "c", "d", "g")
LOSS_NAMES = {"cls": "L_cls", "e": "L_e", "c": "L_c", "d": "L_d", "g": "L_G"}


@dataclass
class TrainingHistory:
    """One run's per-epoch records (sorted by epoch) and what its config says about them.

    ``planned_epochs`` and ``warmup_epochs`` (of the focus losses) come from the run's config (None
    when unknown); ``source`` is the run folder or the checkpoint file it was read from.
    """

    name: str
    source: Path
    kind: str  # "run folder" | "checkpoint"
    seed: int | None
    config_name: str | None
    planned_epochs: int | None
    warmup_epochs: int | None
    focus_losses: bool
    entries: list[dict[str, Any]]
    extras: list[dict[str, Any]] = field(default_factory=list)

    @property
    def epochs(self) -> np.ndarray:
        """``(E,)`` int: the logged epochs, 1-based."""
        return np.array([e["epoch"] for e in self.entries], dtype=np.int64)

    @property
    def finished(self) -> bool:
        """Every planned epoch is logged (False when the plan is unknown)."""
        return self.planned_epochs is not None and bool(self.entries) and \
            self.entries[-1]["epoch"] >= self.planned_epochs

    def series(self, key: str) -> np.ndarray:
        """``(E,)`` float64 values of ``key`` per logged epoch; NaN where an epoch does not have it."""
        return np.array([_number(e.get(key)) for e in self.entries], dtype=np.float64)

    def loss_terms(self) -> list[str]:
        """The loss terms present in at least one epoch, in the order L_cls, L_e, L_c, L_d, L_G."""
        return [t for t in LOSS_TERMS if any(f"loss_{t}" in e for e in self.entries)]

    def per_module_cosine(self) -> np.ndarray:
        """``(E, K)`` train-vs-eval focus cosine per module and epoch; NaN where not logged."""
        k = max((len(e.get("focus_cosine_per_module") or []) for e in self.entries), default=0)
        out = np.full((len(self.entries), k), np.nan)
        for i, e in enumerate(self.entries):
            vals = e.get("focus_cosine_per_module") or []
            out[i, :len(vals)] = [_number(v) for v in vals]
        return out

    def rows(self) -> list[dict[str, Any]]:
        """Flat per-epoch records (``focus_cosine_per_module`` spread into ``focus_cosine_m1`` …), each with
        the run's name first: one CSV row per epoch."""
        out = []
        for e in self.entries:
            r: dict[str, Any] = {"run": self.name}
            for k, v in e.items():
                if k == "focus_cosine_per_module" and isinstance(v, list):
                    r.update({f"focus_cosine_m{i + 1}": c for i, c in enumerate(v)})
                else:
                    r[k] = v
            out.append(r)
        return out

    def non_finite(self) -> list[tuple[int, str]]:
        """``(epoch, key)`` of every logged loss or accuracy that is NaN or infinite (a diverged run)."""
        bad = []
        for e in self.entries:
            for k, v in e.items():
                if (k.startswith("loss_") or k.endswith("top1")) and isinstance(v, float) and not math.isfinite(v):
                    bad.append((e["epoch"], k))
        return bad

    def summary(self) -> dict[str, Any]:
        """Plain figures of the run: epochs done / planned, last epoch's terms, best evaluation, time."""
        last = self.entries[-1] if self.entries else {}
        ev = [(e["epoch"], _number(e.get("eval_top1"))) for e in self.entries if "eval_top1" in e]
        secs = self.series("epoch_s")
        return {
            "run": self.name, "epochs": f"{len(self.entries)} / {self.planned_epochs or '?'}",
            **{LOSS_NAMES[t]: _number(last.get(f"loss_{t}")) for t in self.loss_terms()},
            "train top-1 %": 100 * _number(last.get("train_top1")),
            "eval top-1 % (last)": 100 * ev[-1][1] if ev else math.nan,
            "eval split": next((e.get("eval_split") for e in reversed(self.entries) if "eval_split" in e), None),
            "focus cosine": _number(last.get("focus_cosine_train_eval")),
            "training min": float(np.nansum(secs)) / 60 if np.isfinite(secs).any() else math.nan,
            "samples/s (median)": float(np.nanmedian(self.series("samples_per_s"))) if self.entries else math.nan,
        }


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return math.nan
    return float(v)


def _check_entries(records: list[Any], where: str) -> tuple[list[dict], list[dict]]:
    """Split records into epoch entries (sorted, checked) and extras; a bad record is a DataError."""
    entries, extras = [], []
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise DataError(where, f"record {i + 1} is a {type(r).__name__}, not an object")
        if "epoch" not in r:
            extras.append(r)
            continue
        ep = r["epoch"]
        if isinstance(ep, bool) or not isinstance(ep, int) or ep < 1:
            raise DataError(where, f"record {i + 1}: epoch must be an integer >= 1, got {ep!r}")
        if entries and ep <= entries[-1]["epoch"]:
            raise DataError(where, f"record {i + 1}: epoch {ep} after epoch {entries[-1]['epoch']} "
                                   "(epochs must increase)")
        entries.append(r)
    return entries, extras


def _read_log(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(path, f"not UTF-8 text (byte {e.start})") from e
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise DataError(path, f"line {n} is not JSON ({e.msg} at column {e.colno})") from e
    return records


def _from_config(cfg: Any) -> dict[str, Any]:
    """What a run config says about its history: name, planned epochs, warm-up, focus losses on."""
    cfg = cfg if isinstance(cfg, dict) else {}
    train, loss = (v if isinstance(v, dict) else {} for v in (cfg.get("train"), cfg.get("loss")))
    lambdas = [loss.get(k) for k in ("lambda_e", "lambda_c", "lambda_d", "lambda_g")]
    return {"config_name": cfg.get("name"),
            "planned_epochs": train.get("epochs") if isinstance(train.get("epochs"), int) else None,
            "warmup_epochs": loss.get("warmup_epochs") if isinstance(loss.get("warmup_epochs"), int) else None,
            "focus_losses": any(isinstance(v, (int, float)) and v > 0 for v in lambdas)}


def _label(config_name: str | None, seed: int | None, fallback: str) -> str:
    if not config_name:
        return fallback
    return f"{config_name} seed {seed}" if seed is not None else config_name


def load_run_dir(path: str | Path) -> TrainingHistory:
    """Read ``<run>/log.jsonl`` (and ``config.yaml``, ``run.json`` when present) of a run folder."""
    import yaml

    d = Path(path)
    log = d / LOG_NAME
    if not log.is_file():
        raise DataError(d, f"no {LOG_NAME}: not a training run folder")
    entries, extras = _check_entries(_read_log(log), str(log))
    cfg: Any = {}
    if (d / "config.yaml").is_file():
        try:
            cfg = yaml.safe_load((d / "config.yaml").read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise DataError(d / "config.yaml", f"not a readable YAML config ({type(e).__name__})") from e
    seed = cfg.get("seed") if isinstance(cfg, dict) else None
    if (d / "run.json").is_file():
        try:
            seed = json.loads((d / "run.json").read_text(encoding="utf-8")).get("seed", seed)
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise DataError(d / "run.json", f"not a readable run record ({type(e).__name__})") from e
    info = _from_config(cfg)
    return TrainingHistory(name=_label(info["config_name"], seed, d.name), source=d, kind="run folder",
                           seed=seed, entries=entries, extras=extras, **info)


def load_checkpoint_history(path: str | Path) -> TrainingHistory:
    """The ``history`` a checkpoint carries (checked like any checkpoint: schema, archive, weights_only)."""
    from .checkpoint import load_checkpoint

    p = Path(path)
    ck = load_checkpoint(p)
    hist = ck.get("history")
    if not isinstance(hist, list):
        raise DataError(p, "checkpoint has no training history")
    entries, extras = _check_entries(hist, str(p))
    info = _from_config(ck.get("config"))
    seed = ck.get("seed")
    return TrainingHistory(name=_label(info["config_name"], seed, p.stem), source=p, kind="checkpoint",
                           seed=seed, entries=entries, extras=extras, **info)


def load_history(path: str | Path) -> TrainingHistory:
    """A run folder (or its ``log.jsonl``) or a checkpoint file -> its :class:`TrainingHistory`."""
    p = Path(path)
    if p.is_dir():
        return load_run_dir(p)
    if p.name == LOG_NAME:
        return load_run_dir(p.parent)
    if p.is_file():
        return load_checkpoint_history(p)
    raise DataError(p, "no such run folder or checkpoint")


def find_histories() -> list[Path]:
    """Sources the app may show: shipped checkpoints (``assets/``) first, then run folders under
    ``$STF_RUNS_DIR`` holding a ``log.jsonl`` (newest first), then checkpoints there that are not in such
    a folder. Cheap: nothing is loaded."""
    from .app_support.discovery import _walk_files, find_checkpoints
    from .paths import runs_dir

    models = find_checkpoints()
    out = [m.path for m in models if m.root == "assets"]
    logs = sorted({f.parent.resolve() for f in _walk_files(runs_dir(), LOG_NAME, max_depth=3)},
                  key=lambda d: (d / LOG_NAME).stat().st_mtime, reverse=True)
    out += logs
    out += [m.path for m in models if m.root == "runs" and m.path.parent.resolve() not in logs]
    return out


def history_table(histories: list[TrainingHistory]) -> str:
    """A markdown table of :meth:`TrainingHistory.summary` rows (``python -m stf history``)."""
    rows = [h.summary() for h in histories]
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]

    def cell(c: str, v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "–"
        if not isinstance(v, float):
            return str(v)
        return f"{v:.1f}" if c.endswith(("%", "min", "(median)")) else f"{v:.3f}"

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(c, r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def history_from_cli(a) -> int:
    hs = [load_history(p) for p in a.sources]
    print(history_table(hs))
    for h in hs:
        bad = h.non_finite()
        if bad:
            print(f"{h.name}: non-finite values from epoch {bad[0][0]} ({', '.join(sorted({k for _, k in bad}))})")
        if not h.finished:
            print(f"{h.name}: {len(h.entries)} of {h.planned_epochs or '?'} planned epochs logged")
    return 0
