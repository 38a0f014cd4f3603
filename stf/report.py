"""STF vs backbone over seeds, from evaluation bundles: ``python -m stf report BUNDLE...``.

Each bundle says (in its provenance) whether the model trained with the focus losses, its config
name, seed and stream. Rows are grouped by (model kind, stream); the paired difference STF - backbone
is taken over the seeds both have.
"""
from __future__ import annotations

import statistics

from .evaluate import load_bundle


def collect(paths: list[str]) -> list[dict]:
    rows = []
    for p in paths:
        b = load_bundle(p)
        ck = b.metrics.get("checkpoint", {})
        rows.append({"path": str(p), "kind": "STF" if ck.get("focus_losses") else "backbone",
                     "seed": ck.get("seed"), "stream": b.metrics.get("stream"), "config": ck.get("config_name"),
                     "split": b.metrics.get("data", {}).get("split"), "n": b.metrics["num_samples"],
                     "top1": 100 * b.metrics["top1"]})
    return rows


def table(rows: list[dict], markdown: bool = True) -> str:
    seeds = sorted({r["seed"] for r in rows})
    kinds = ["STF", "backbone"]
    by = {(r["kind"], r["seed"]): r for r in rows}
    head = ["model"] + [f"seed {s}" for s in seeds] + ["mean ± std"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    means = {}
    for k in kinds:
        vals = [by[(k, s)]["top1"] for s in seeds if (k, s) in by]
        if not vals:
            continue
        means[k] = vals
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        lines.append("| " + " | ".join([k] + [f"{by[(k, s)]['top1']:.2f}" if (k, s) in by else "–" for s in seeds]
                                       + [f"{statistics.mean(vals):.2f} ± {sd:.2f}"]) + " |")
    paired = [by[("STF", s)]["top1"] - by[("backbone", s)]["top1"] for s in seeds
              if ("STF", s) in by and ("backbone", s) in by]
    if paired:
        sd = statistics.stdev(paired) if len(paired) > 1 else 0.0
        lines.append("| STF − backbone (paired) | " + " | ".join(
            f"{by[('STF', s)]['top1'] - by[('backbone', s)]['top1']:+.2f}" if ("STF", s) in by and ("backbone", s) in by
            else "–" for s in seeds) + f" | {statistics.mean(paired):+.2f} ± {sd:.2f} |")
    info = {(r["split"], r["n"], r["stream"]) for r in rows}
    note = "; ".join(f"split {s}, {n} samples, {st} stream" for s, n, st in sorted(info, key=str))
    return "\n".join(lines) + f"\n\ntop-1 % ({note})"


def report_from_cli(a) -> int:
    print(table(collect(a.bundles)))
    return 0
