"""Faithfulness over a split: rows per sample x method, the summary's arithmetic, the command's files."""
from __future__ import annotations

import csv
import json

import pytest

from stf.errors import ConfigError
from stf.explain.study import StudySettings, markdown, pick_positions, run_study, summarise


def _row(sid, method, d, i):
    return {"sample_id": sid, "method": method, "deletion_auc": d, "insertion_auc": i, "seconds": 0.5}


def test_summary_by_hand():
    rows = [_row("a", "focus_m6", 0.1, 0.8), _row("a", "random", 0.4, 0.5),
            _row("b", "focus_m6", 0.5, 0.3), _row("b", "random", 0.3, 0.6)]
    s = {r["method"]: r for r in summarise(rows)}
    f = s["focus_m6"]
    assert f["samples"] == 2 and f["deletion_auc"] == pytest.approx(0.3) and f["insertion_auc"] == pytest.approx(0.55)
    assert f["deletion_sem"] == pytest.approx(0.2)  # stdev 0.2828 / sqrt(2)
    assert f["beats_random_deletion"] == 0.5 and f["beats_random_insertion"] == 0.5  # a beats it, b does not
    assert "beats_random_deletion" not in s["random"]
    assert [r["method"] for r in summarise(rows)] == ["focus_m6", "random"]  # sorted by deletion AUC
    table = markdown(summarise(rows))
    assert "| focus_m6 | 0.300 ± 0.200 | 0.550 ± 0.250 | 50 % / 50 % | 0.50 |" in table


def test_pick_positions_evenly_spaced():
    import numpy as np

    idx = np.arange(100, 110)
    assert pick_positions(idx, 3) == [100, 104, 109]  # 4.5 rounds to even
    assert pick_positions(idx, 0) == list(range(100, 110)) == pick_positions(idx, 50)


@pytest.mark.parametrize("bad", [dict(methods=("gradcam",)), dict(methods=("focus_mx",)), dict(mode="blur"),
                                 dict(target="top2"), dict(steps=0)])
def test_settings_refuse_unknown_values(bad):
    with pytest.raises(ConfigError):
        StudySettings(**bad)


def test_study_on_real_samples(explainer, ucla_store):
    positions = pick_positions(ucla_store.split_indices("xview/test"), 2)
    s = StudySettings(methods=("focus_m6", "focus_m1", "saliency", "occlusion"), steps=4, occlusion_frames=10)
    seen = []
    rows = run_study(explainer, [ucla_store.get(p) for p in positions], s, progress=seen.append)
    assert seen == [1, 2]
    assert len(rows) == 2 * 5  # four methods and the random ranking per sample
    assert {r["method"] for r in rows} == {"focus_m6", "focus_m1", "saliency", "occlusion", "random"}
    for r in rows:
        assert 0 <= r["deletion_auc"] <= 1 and 0 <= r["insertion_auc"] <= 1
        assert r["sample_id"] in {ucla_store.ids[p] for p in positions}
    with pytest.raises(ConfigError, match="modules 1..6"):
        run_study(explainer, [ucla_store.get(positions[0])], StudySettings(methods=("focus_m7",)))


def test_command_writes_csv_and_summary(tiny_checkpoint, ucla_store, tmp_path, capsys):
    from stf.cli import main

    out = tmp_path / "faith"
    rc = main(["faithfulness", "--checkpoint", str(tiny_checkpoint), "--data", str(ucla_store.path),
               "--split", "xview/test", "--samples", "2", "--methods", "focus_m6", "saliency", "--steps", "3",
               "--out", str(out)])
    assert rc == 0
    with open(out / "per_sample.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["samples"] == 2 and summary["meta"]["settings"]["steps"] == 3
    assert {r["method"] for r in summary["summary"]} == {"focus_m6", "saliency", "random"}
    assert "| method | deletion AUC" in capsys.readouterr().out
