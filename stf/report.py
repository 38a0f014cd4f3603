"""STF vs backbone over seeds, from evaluation bundles: ``python -m stf report BUNDLE...``.

Each bundle says (in its provenance) whether the model trained with the focus losses, its config
name, seed and stream, and what it was tested on. Bundles are grouped by what makes their accuracies
comparable: the data set (its identity, not the name it was given: see :func:`data_identity`), the
class list the model scored (and a class map, if any), the split and the stream, one table each; when
the tables span more than one data set or class list, each is headed by its own. Within a table there
is one row per config, and one paired-difference row (STF − backbone over the seeds both have) per
STF config (with several backbone configs, against the one of its name: ``stf_X`` / ``backbone_X``); a
paired row needs both bundles of a seed tested on the same samples. For one canonical pair (configs
``stf_X`` and ``backbone_X``) the rows are labelled just "STF" and "backbone"; otherwise the config name
follows the kind. Two bundles of the same config and seed are refused (one of them would silently hide
the other).
"""
from __future__ import annotations

import json
import math
import os
import re
import statistics
from collections import defaultdict
from pathlib import Path, PurePath

import numpy as np

from .data.resolve import parse_spec
from .errors import ConfigError, DataError
from .evaluate import load_bundle


#: the kind of a bundle whose checkpoint record does not say whether it trained with the focus losses
UNKNOWN = "unknown model"


def _no_row(r: dict, report: str) -> ConfigError:
    """Why a bundle that is neither STF nor backbone has no row in a cv / scarce-data report."""
    why = ("a fused STF + backbone bundle" if r["kind"] != UNKNOWN else
           "its metrics.json does not record whether the model is STF or backbone (checkpoint.focus_losses), so it")
    return ConfigError(f"{r['path']}: {why} has no row in a {report} report")


def _store_source(path: str) -> tuple[str, str] | None:
    """``(source_format, source)`` from a converted directory's ``index.json``, when it is still there."""
    try:
        with open(Path(path).expanduser() / "index.json", encoding="utf-8") as f:
            index = json.load(f)
        fmt, src = index["source_format"], index["source"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (fmt, src) if isinstance(fmt, str) and isinstance(src, str) else None


def _canonical_path(path: str) -> str:
    """An absolute path resolved (``..`` and symbolic links), a relative one just normalised."""
    p = Path(path).expanduser()
    return str(p.resolve()) if p.is_absolute() else os.path.normpath(path)


def data_identity(data: dict | None) -> tuple[str, str] | None:
    """What a bundle was tested on, however ``--data`` named it: ``(format, source path)``, or None.

    A bundle records the source its store was converted from (``data.source_format`` / ``data.source``);
    one written before that was recorded is identified by its ``data.spec``: ``FORMAT:PATH`` gives the
    format and the path, a converted directory the source its ``index.json`` names (while it exists).
    ``sbu:sbu-kinect-interaction``, ``sbu:/data/sbu-kinect-interaction`` and a store converted from that
    folder are thus one data set. A relative path (a ``FORMAT:PATH`` under ``STF_DATA_ROOT``) stays
    relative here; :func:`unify_relative` matches it to an absolute one of the same format.
    """
    data = data or {}
    fmt, src = data.get("source_format"), data.get("source")
    if not (fmt and src):
        spec = data.get("spec")
        if not spec:
            return None
        fmt, src = parse_spec(spec)
        if fmt is None:  # a converted directory
            fmt, src = _store_source(src) or ("store", src)
    return str(fmt).lower(), _canonical_path(str(src))


def unify_relative(rows: list[dict]) -> None:
    """Give a relative source (``ucla:nw-ucla``, its data root unrecorded) the identity of the one absolute
    source of the same format that ends in it (``/data/nw-ucla``), when the rows hold exactly one."""
    absolute = {d for d in (r["dataset"] for r in rows) if d and PurePath(d[1]).is_absolute()}
    for r in rows:
        d = r["dataset"]
        if not d or PurePath(d[1]).is_absolute():
            continue
        tail = PurePath(d[1]).parts
        match = [a for a in absolute if a[0] == d[0] and PurePath(a[1]).parts[-len(tail):] == tail]
        if len(match) == 1:
            r["dataset"] = match[0]


def _class_map_key(class_map) -> str | None:
    """A cross-data-set evaluation's class map as a comparable value (None: the data's own classes)."""
    return None if class_map is None else json.dumps(class_map, sort_keys=True)


def collect(paths: list[str]) -> list[dict]:
    rows = []
    for p in paths:
        b = load_bundle(p)
        if b.metrics.get("top1") is None:
            raise DataError(p, f"has no top-1: none of its {b.metrics.get('num_samples', 0)} samples is labelled, "
                               "and the report compares accuracies")
        ck = b.metrics.get("checkpoint") or {}  # provenance may be null (a bundle written by other code)
        data = b.metrics.get("data") or {}
        kind = {True: "STF", False: "backbone"}.get(ck.get("focus_losses"),
                                                    "STF + backbone" if ck.get("fused") else UNKNOWN)
        rows.append({"path": str(p), "kind": kind,
                     "seed": ck.get("seed"), "stream": b.metrics.get("stream"), "config": ck.get("config_name"),
                     "split": data.get("split"), "data": data.get("spec"),
                     # what makes two accuracies comparable besides split and stream: the data set (by
                     # identity), its layout, the classes scored and how the data's classes were mapped
                     "dataset": data_identity(data),
                     "layout": data.get("layout"),
                     "classes": tuple(b.class_names),
                     "class_map": _class_map_key(data.get("class_map")),
                     "n": b.metrics["num_samples"],
                     # the training share (None: the whole training split, and every bundle written
                     # before the share was recorded, when no run trained on less)
                     "fraction": ck.get("train_fraction"), "max_samples": ck.get("train_max_samples"),
                     "top1": 100 * b.metrics["top1"],
                     # labelled samples only: an unlabelled one is neither right nor wrong
                     "correct": {i: ok for i, ok, known in zip(b.ids.tolist(), (b.preds == b.labels).tolist(),
                                                               (b.labels >= 0).tolist()) if known}})
    unify_relative(rows)
    return rows


def _same_samples(a: dict, b: dict) -> None:
    """Refuse a paired difference (and McNemar test) of two rows not tested on the same labelled samples."""
    ia, ib = set(a["correct"]), set(b["correct"])
    if ia != ib:
        odd = sorted(ia ^ ib)
        raise ConfigError(f"{a['path']} and {b['path']} were tested on different samples ({len(ia)} and {len(ib)} "
                          f"labelled, {len(odd)} in only one, e.g. {odd[0]!r}): their difference is not paired")


def _scored_on(r: dict) -> tuple:
    """The data set a row was tested on and the class list it was scored on (rows built by hand may lack
    the identity: then their ``data`` spec stands for it)."""
    return (r.get("dataset", r.get("data")), r.get("layout"), r.get("classes"), r.get("class_map"))


def _data_name(rows: list[dict]) -> str:
    """The data set of rows of one identity, as their bundles named it (every name, when they differ)."""
    names = sorted({str(r["data"]) for r in rows if r.get("data")})
    return " = ".join(names) if names else "(not recorded)"


def _describe(rows: list[dict], names: bool = False, data_name: str | None = None) -> str:
    """One group's data set and class list, in words (the rows share :func:`_scored_on`); ``names``: the
    first class names too (two class lists of one length are told apart); ``data_name``: the data set's
    name (default: as these rows' bundles name it)."""
    r = rows[0]
    classes = r.get("classes") or ()
    shown = (": " + ", ".join(classes[:3]) + (", …" if len(classes) > 3 else "")) if names and classes else ""
    return (f"data set {data_name or _data_name(rows)}" + (f", {len(classes)} classes{shown}" if classes else "")
            + (", through a class map" if r.get("class_map") is not None else ""))


def _which(rows: list[dict], key, names: bool = False) -> str:
    """``"A (bundles x, y); B (bundle z)"``: the groups of rows by ``key``, each described with its bundles."""
    by: dict = defaultdict(list)
    for r in rows:
        by[key(r)].append(r)
    return "; ".join(sorted(f"{_describe(rs, names)} ({'bundle' if len(rs) == 1 else 'bundles'} "
                            f"{', '.join(r['path'] for r in rs)})" for rs in by.values()))


def _one_data_set(rows: list[dict], data_msg: str, classes_msg: str) -> None:
    """Refuse rows tested on different data sets (by identity) or scored on different class lists."""
    data = {_scored_on(r)[:2] for r in rows}
    if len(data) > 1:
        raise ConfigError(f"{data_msg}; got {len(data)}: " + _which(rows, lambda r: _scored_on(r)[:2]))
    scored = {_scored_on(r) for r in rows}
    if len(scored) > 1:
        raise ConfigError(f"{classes_msg}; got {len(scored)}: " + _which(rows, _scored_on, names=True))


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: samples right only under A vs only under B, ~ Binomial(n, 1/2)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def discordance(a: dict, b: dict) -> tuple[int, int]:
    """``(right only in a, right only in b)`` over the sample ids both rows hold (matched by id)."""
    ids = sorted(set(a["correct"]) & set(b["correct"]))
    ca = np.array([a["correct"][i] for i in ids], dtype=bool)
    cb = np.array([b["correct"][i] for i in ids], dtype=bool)
    return int((ca & ~cb).sum()), int((~ca & cb).sum())


def _mean_sd(vals: list[float], fmt: str = ".2f", unit: str = "seed") -> str:
    """``"m ± sd"`` over seeds (or folds); one value has no spread, so just it and ``(1 seed)``."""
    m = format(statistics.mean(vals), fmt)
    return f"{m} ± {statistics.stdev(vals):.2f}" if len(vals) > 1 else f"{m} (1 {unit})"


def _seed_label(seed) -> str:
    """Column name of a seed; a fused bundle of several seeds has none (``seed ensemble``)."""
    return "seed ensemble" if seed is None else f"seed {seed}"


def _paired_backbone(stf_config: str) -> str:
    """The backbone config paired by name with an STF config: ``stf_X`` -> ``backbone_X``."""
    return "backbone" + stf_config.removeprefix("stf")


def _one_table(rows: list[dict], heading: str = "") -> str:
    """One (data set, class list, split, stream) group's table; ``heading``: the data set and class list,
    for a line leading the table that names them, the split and the stream (when the report holds more
    than one data set or class list)."""
    seeds = sorted({r["seed"] for r in rows}, key=lambda s: (s is None, s))
    configs: dict[str, dict] = defaultdict(dict)  # config -> {seed: row}
    kind_of: dict[str, str] = {}
    for r in rows:
        cfg = r["config"] or r["kind"]
        if r["seed"] in configs[cfg]:
            raise ConfigError(f"two bundles of config {cfg!r} seed {r['seed']}: "
                              f"{configs[cfg][r['seed']]['path']} and {r['path']}")
        configs[cfg][r["seed"]] = r
        kind_of[cfg] = r["kind"]
    bb_names = {c for c in configs if kind_of[c] == "backbone"}
    # STF configs first, the one paired by name with a backbone config (stf_X / backbone_X) leading
    order = sorted(configs, key=lambda c: (kind_of[c] != "STF", _paired_backbone(c) not in bb_names, c))
    stf_cfgs = [c for c in order if kind_of[c] == "STF"]
    bb_cfgs = [c for c in order if kind_of[c] == "backbone"]
    # plain "STF" / "backbone" labels only for one canonical pair (stf_X and backbone_X) or a lone config
    plain = len(stf_cfgs) <= 1 and len(bb_cfgs) <= 1 and (
        not stf_cfgs or not bb_cfgs or bb_cfgs[0] == _paired_backbone(stf_cfgs[0]))

    def label(c: str) -> str:
        return kind_of[c] if plain else f"{kind_of[c]} ({c})"

    def cells(vals: dict) -> list[str]:
        return [vals[s] if s in vals else "–" for s in seeds]

    head = ["model"] + [_seed_label(s) for s in seeds] + ["mean ± std"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in order:
        by = configs[c]
        lines.append("| " + " | ".join([label(c)] + cells({s: f"{r['top1']:.2f}" for s, r in by.items()})
                                       + [_mean_sd([r["top1"] for r in by.values()])]) + " |")
    notes: list[str] = []

    def partner(c: str) -> str | None:
        """The backbone config an STF config is paired with: the only one, or the one of its name."""
        return bb_cfgs[0] if len(bb_cfgs) == 1 else _paired_backbone(c) if _paired_backbone(c) in bb_names else None

    for c in stf_cfgs:
        if partner(c) is None:
            continue
        bb, st = configs[partner(c)], configs[c]
        vs = "backbone" if len(bb_cfgs) == 1 else label(partner(c))  # several: each row names its backbone
        diff = {s: st[s]["top1"] - bb[s]["top1"] for s in seeds if s in st and s in bb}
        if not diff:
            continue
        for s in diff:
            _same_samples(st[s], bb[s])
        name = "STF − backbone (paired)" if plain else f"{label(c)} − {vs} (paired)"
        lines.append("| " + " | ".join([name] + cells({s: f"{d:+.2f}" for s, d in diff.items()})
                                       + [_mean_sd(list(diff.values()), "+.2f")]) + " |")
        disc = {s: discordance(st[s], bb[s]) for s in diff}
        notes.append(f"{label(c)} vs {vs}, samples right only under each (exact McNemar p): " + "; ".join(
            f"{_seed_label(s)} {a} / {b} (p = {mcnemar_exact(a, b):.2f})" for s, (a, b) in disc.items()))
    n = sorted({r["n"] for r in rows})
    r0 = rows[0]
    head_line = f"**{heading}, split {r0['split']}, {r0['stream']} stream**\n\n" if heading else ""
    return head_line + "\n".join(lines) + (f"\n\ntop-1 % (split {r0['split']}, {'/'.join(map(str, n))} samples, "
                               f"{r0['stream']} stream)") + "".join(f"\n\n{t}" for t in notes)


def table(rows: list[dict], markdown: bool = True) -> str:
    """Markdown table(s): one per (data set, class list, split, stream), rows per config, paired
    STF − backbone per STF config.

    Accuracies on different data sets (by :func:`data_identity`, so not by the name ``--data`` was given),
    layouts, class lists or class maps are never rows of one table; when the report holds more than one
    of these, every table is headed by its data set, class count, split and stream.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(_scored_on(r), str(r["split"]), str(r["stream"]))].append(r)
    # a data set is named alike in each of its tables: by every name its bundles give it
    named = {d: _data_name([r for r in rows if _scored_on(r)[:2] == d]) for d in {k[0][:2] for k in groups}}
    headed = len({k[0] for k in groups}) > 1

    def heading(k: tuple, names: bool = False) -> str:
        return _describe(groups[k], names, named[k[0][:2]])

    def order(k: tuple) -> tuple:  # by data set and class list, then split and stream as before
        return (heading(k, names=True), k[1], k[2], repr(k[0]))

    return "\n\n".join(_one_table(groups[k], heading(k) if headed else "") for k in sorted(groups, key=order))


def _fold_key(split: str):
    """Sort folds naturally (``fold2/test`` before ``fold10/test``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", split)]


def _seed_key(seed):
    return (seed is None, seed if seed is not None else 0)


def cv_table(rows: list[dict]) -> str:
    """Cross-validation table: one column per test split (fold), rows STF, backbone and STF − backbone.

    Rows are keyed by kind (STF / backbone), so each fold's own config name does not matter; one bundle
    per (kind, fold, seed) and one stream. The folds' test parts are disjoint, so beside the mean over folds
    the table gives the pooled top-1 over every tested sample and one McNemar test over all of them.
    With several seeds: one such table per seed, then :func:`_cv_over_seeds`.
    """
    streams = {r["stream"] for r in rows}
    if len(streams) != 1:
        raise ConfigError(f"a cross-validation report needs one stream; got {', '.join(map(str, sorted(streams)))}")
    _one_data_set(rows, "the folds of a cross-validation come from one data set",
                  "the folds of a cross-validation are scored on one class list")
    seeds = sorted({r["seed"] for r in rows}, key=_seed_key)
    if len(seeds) == 1:
        return _cv_one_seed(rows)
    parts = [f"**{_seed_label(s)}**\n\n" + _cv_one_seed([r for r in rows if r["seed"] == s]) for s in seeds]
    return "\n\n".join(parts + [_cv_over_seeds(rows, seeds)])


def _cv_over_seeds(rows: list[dict], seeds: list) -> str:
    """STF − backbone per seed over the folds every seed has for both models, and mean ± std over seeds.

    Samples are the same at every seed, so discordant pairs are counted (and McNemar-tested) per seed,
    never pooled across seeds.
    """
    by = {(r["kind"], r["seed"], r["split"]): r for r in rows}
    folds = sorted({r["split"] for r in rows}, key=_fold_key)
    common = [f for f in folds if all((k, s, f) in by for k in ("STF", "backbone") for s in seeds)]
    if not common:
        return "Over seeds: no fold has both models at every seed yet."
    head = (["STF − backbone"] + common + ["pooled", "STF pooled", "backbone pooled",
                                           "right only STF / backbone (p)"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    per_fold: dict[str, list[float]] = defaultdict(list)
    pooled: dict[str, list[float]] = defaultdict(list)
    n = 0
    for s in seeds:
        cells = []
        for f in common:
            d = by[("STF", s, f)]["top1"] - by[("backbone", s, f)]["top1"]
            per_fold[f].append(d)
            cells.append(f"{d:+.2f}")
        acc = {}
        for k in ("STF", "backbone"):
            flags = [c for f in common for c in by[(k, s, f)]["correct"].values()]
            acc[k], n = 100 * sum(flags) / len(flags), len(flags)
            pooled[k].append(acc[k])
        pooled["diff"].append(acc["STF"] - acc["backbone"])
        disc = [discordance(by[("STF", s, f)], by[("backbone", s, f)]) for f in common]
        a, b = sum(x for x, _ in disc), sum(y for _, y in disc)
        lines.append("| " + " | ".join([_seed_label(s)] + cells + [f"{pooled['diff'][-1]:+.2f}", f"{acc['STF']:.2f}",
                                                                   f"{acc['backbone']:.2f}",
                                                                   f"{a} / {b} (p = {mcnemar_exact(a, b):.2f})"]) + " |")
    lines.append("| " + " | ".join([f"mean ± std over {len(seeds)} seeds"]
                                   + [_mean_sd(per_fold[f], "+.2f") for f in common]
                                   + [_mean_sd(pooled["diff"], "+.2f"), _mean_sd(pooled["STF"]),
                                      _mean_sd(pooled["backbone"]), "–"]) + " |")
    return "\n".join(lines) + (f"\n\nover seeds: top-1 % on the folds every seed has for both "
                               f"models ({', '.join(common)}; {n} test samples), STF − backbone paired by seed")


def _cv_one_seed(rows: list[dict]) -> str:
    """:func:`cv_table` of one seed's bundles."""
    by: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in rows:
        if r["kind"] not in ("STF", "backbone"):
            raise _no_row(r, "cross-validation")
        if r["split"] in by[r["kind"]]:
            raise ConfigError(f"two {r['kind']} bundles of split {r['split']!r} and {_seed_label(r['seed'])}: "
                              f"{by[r['kind']][r['split']]['path']} and {r['path']}")
        by[r["kind"]][r["split"]] = r
    folds = sorted({r["split"] for r in rows}, key=_fold_key)
    seen: dict[str, str] = {}
    for kind in by:
        for f in folds:
            for i in by[kind].get(f, {"correct": {}})["correct"]:
                if seen.setdefault(i, f) != f:
                    raise ConfigError(f"sample {i!r} is in the test parts of {seen[i]} and {f}: not disjoint folds")
    head = ["model"] + folds + ["mean ± std over folds", "pooled"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    both = [f for f in folds if f in by.get("STF", {}) and f in by.get("backbone", {})]

    def summarised(kind: str) -> list[str]:
        """The folds a row's mean and pooled figure cover: those both models have, when they share any."""
        return both or [f for f in folds if f in by[kind]]

    def pooled(kind: str) -> tuple[float, int]:
        flags = [c for f in summarised(kind) for c in by[kind][f]["correct"].values()]
        return 100 * sum(flags) / len(flags), len(flags)

    for kind in ("STF", "backbone"):
        if kind not in by:
            continue
        vals = [by[kind][f]["top1"] for f in summarised(kind)]
        acc, n = pooled(kind)
        lines.append("| " + " | ".join([kind] + [f"{by[kind][f]['top1']:.2f}" if f in by[kind] else "–"
                                                  for f in folds] + [_mean_sd(vals, unit="fold"),
                                                                     f"{acc:.2f} ({n})"]) + " |")
    notes = []
    for f in both:
        _same_samples(by["STF"][f], by["backbone"][f])
    if both:
        diff = [by["STF"][f]["top1"] - by["backbone"][f]["top1"] for f in both]
        disc = [discordance(by["STF"][f], by["backbone"][f]) for f in both]
        a, b = sum(d[0] for d in disc), sum(d[1] for d in disc)
        pa = sum(sum(by["STF"][f]["correct"].values()) for f in both)
        pb = sum(sum(by["backbone"][f]["correct"].values()) for f in both)
        n = sum(len(by["STF"][f]["correct"]) for f in both)
        lines.append("| " + " | ".join(["STF − backbone (paired)"]
                                       + [f"{by['STF'][f]['top1'] - by['backbone'][f]['top1']:+.2f}"
                                          if f in both else "–" for f in folds]
                                       + [_mean_sd(diff, "+.2f", unit="fold"),
                                          f"{100 * (pa - pb) / n:+.2f}"]) + " |")
        notes.append("STF vs backbone, samples right only under each (exact McNemar p): " + "; ".join(
            f"{f} {x} / {y} (p = {mcnemar_exact(x, y):.2f})" for f, (x, y) in zip(both, disc))
            + (f"; all {len(both)} folds pooled {a} / {b} (p = {mcnemar_exact(a, b):.2f})" if len(both) > 1 else ""))
    seeds = sorted({str(r["seed"]) for r in rows})
    partial = both and len(both) < len(folds)
    folds_word = "folds" if len(both) > 1 else "fold"
    cover = (f"mean and pooled over the {len(both)} {folds_word} both models have: {', '.join(both)}" if partial
             else "pooled: over every tested sample")
    return "\n".join(lines) + (f"\n\ntop-1 % per test fold ({rows[0]['stream']} stream, seed "
                               f"{', '.join(seeds)}; {cover})") + "".join(f"\n\n{t}" for t in notes)


def _share(r: dict) -> tuple[float, str]:
    """Sort key and label of a row's training share: ``10 %``, ``200 samples``, ``100 %`` (the whole split)."""
    if r["max_samples"]:
        return (-1.0, f"{r['max_samples']} samples") if r["fraction"] in (None, 1) else \
            (-1.0, f"{100 * r['fraction']:g} %, at most {r['max_samples']} samples")
    f = 1.0 if r["fraction"] is None else float(r["fraction"])
    return f, f"{100 * f:g} %"


def scarce_table(rows: list[dict]) -> str:
    """Scarce-data table: one row per training share, backbone and STF over seeds and their paired difference.

    Within a share, STF and backbone of one seed trained on the same samples (the subset is drawn with
    the run's seed), so the difference is paired by seed, and the samples right under only one of
    them are counted per seed (exact McNemar p). One test split, stream and data set.
    """
    for key, what in (("stream", "stream"), ("split", "test split")):
        vals = {r[key] for r in rows}
        if len(vals) != 1:
            raise ConfigError(f"a scarce-data report compares one {what}; got {', '.join(map(str, sorted(vals, key=str)))}")
    _one_data_set(rows, "a scarce-data report compares one data set", "a scarce-data report compares one class list")
    by: dict[tuple, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))  # share -> kind -> seed -> row
    for r in rows:
        if r["kind"] not in ("STF", "backbone"):
            raise _no_row(r, "scarce-data")
        cell = by[_share(r)][r["kind"]]
        if r["seed"] in cell:
            raise ConfigError(f"two {r['kind']} bundles of training share {_share(r)[1]} seed {r['seed']}: "
                              f"{cell[r['seed']]['path']} and {r['path']}")
        cell[r["seed"]] = r
    head = ["training share", "seeds", "backbone", "STF", "STF − backbone (paired)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes, notes_unpaired = [], []
    for share in sorted(by):
        bb, st = by[share].get("backbone", {}), by[share].get("STF", {})
        both = sorted(set(bb) & set(st), key=lambda s: (s is None, s))
        # with seeds in common, both means cover just those (a seed one model lacks would tilt the row)
        seeds = both or sorted(set(bb) | set(st), key=lambda s: (s is None, s))
        unpaired = [f"{kind} seed {s}" for kind, cell in (("backbone", bb), ("STF", st)) for s in cell
                    if both and s not in both]
        if unpaired:
            notes_unpaired.append(f"{share[1]}: {', '.join(unpaired)} (no run of the other model yet)")

        def summary(cell: dict) -> str:
            vals = [cell[s]["top1"] for s in seeds if s in cell]
            return _mean_sd(vals) if vals else "–"

        for s in both:
            _same_samples(st[s], bb[s])
        diffs = [st[s]["top1"] - bb[s]["top1"] for s in both]
        lines.append("| " + " | ".join([share[1], ", ".join(map(str, seeds)), summary(bb), summary(st),
                                        _mean_sd(diffs, "+.2f") if both else "–"]) + " |")
        if both:
            disc = {s: discordance(st[s], bb[s]) for s in both}
            notes.append(f"{share[1]}: " + "; ".join(f"{_seed_label(s)} {a} / {b} (p = {mcnemar_exact(a, b):.2f})"
                                                     for s, (a, b) in disc.items()))
    n = sorted({r["n"] for r in rows})
    return "\n".join(lines) + (f"\n\ntop-1 % on {rows[0]['split']} ({'/'.join(map(str, n))} samples, "
                               f"{rows[0]['stream']} stream), mean ± std over seeds; the share is of each "
                               "class of the training split, drawn with the run's seed") + (
        "\n\nSTF vs backbone, samples right only under each (exact McNemar p): " + " — ".join(notes)
        if notes else "") + ("\n\nLeft out of the rows, unpaired: " + "; ".join(notes_unpaired) if notes_unpaired else "")


def report_from_cli(a) -> int:
    rows = collect(a.bundles)
    if getattr(a, "cv", False) and getattr(a, "scarce", False):
        raise ConfigError("report: --cv and --scarce are two different tables; pick one")
    print(cv_table(rows) if getattr(a, "cv", False) else scarce_table(rows) if getattr(a, "scarce", False)
          else table(rows))
    return 0
