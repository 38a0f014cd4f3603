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
    # labels are the data set's: matched by name, and one of another data set is not a model class
    from stf.explain.study import model_class

    one = ucla_store.get(positions[0])
    assert model_class(one, explainer, list(ucla_store.class_names)) == one.label
    assert model_class(one, explainer) == one.label
    renamed = ["x"] + list(explainer.class_names[1:])
    assert model_class(one.with_data(one.data, label=0), explainer, renamed) is None
    assert model_class(one.with_data(one.data, label=10), explainer) is None
    true = StudySettings(methods=("saliency",), steps=2, target="true")
    with pytest.raises(ConfigError, match="its label 10 is not one of this model's 10 classes"):
        run_study(explainer, [one.with_data(one.data, label=10)], true)
    rows = run_study(explainer, [one], true, data_class_names=list(ucla_store.class_names))
    assert {r["target"] for r in rows} == {one.label}
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
    assert summary["meta"]["model"] == {"config_name": "stf_ucla_xview_joint_tiny", "seed": 0, "focus_losses": True}
    # the report of one STF study alone: its row, no paired row
    assert main(["faithfulness-report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| 0 | STF | 2 |" in text and "paired" not in text
    # a second study into the same --out is refused before any work; --force replaces it
    args = ["faithfulness", "--checkpoint", str(tiny_checkpoint), "--data", str(ucla_store.path), "--split",
            "xview/test", "--samples", "1", "--methods", "focus_m6", "--steps", "2", "--out", str(out)]
    saved = {n: (out / n).read_bytes() for n in ("per_sample.csv", "summary.json")}
    assert main(args) == 2 and "already holds a study (summary.json); pass --force" in capsys.readouterr().err
    assert {n: (out / n).read_bytes() for n in saved} == saved
    assert main(args + ["--force"]) == 0
    assert json.loads((out / "summary.json").read_text())["meta"]["samples"] == 1


def _study(kind, seed, mode, rows):
    meta = {"data": "ucla:nw-ucla", "split": "xview/test", "checkpoint": f"{kind}{seed}.pt",
            "settings": {"mode": mode}, "model": {"seed": seed, "focus_losses": kind == "STF"}}
    return meta, rows


def test_stf_against_backbone_by_hand():
    from stf.explain.study import compare_studies

    stf = [_row("a", "focus_m6", 0.1, 0.8), _row("a", "random", 0.4, 0.5),
           _row("b", "focus_m6", 0.5, 0.3), _row("b", "random", 0.3, 0.6)]
    bb = [_row("a", "focus_m6", 0.2, 0.6), _row("a", "random", 0.3, 0.5),
          _row("b", "focus_m6", 0.2, 0.6), _row("b", "random", 0.2, 0.4), _row("c", "focus_m6", 0.1, 0.9),
          _row("c", "random", 0.5, 0.5)]
    text = compare_studies([_study("STF", 2, "zero", stf), _study("backbone", 2, "zero", bb)])
    lines = text.splitlines()
    # STF gaps: deletion a +0.3, b -0.2 (mean +0.05, sem 0.25); insertion a +0.3, b -0.3 (0, 0.3)
    assert lines[2] == "| 2 | STF | 2 | 0.300 ± 0.200 | +0.050 ± 0.250 | 0.550 ± 0.250 | +0.000 ± 0.300 |"
    # backbone gaps: deletion a +0.1, b 0.0, c +0.4; insertion +0.1, +0.2, +0.4
    assert lines[3].startswith("| 2 | backbone | 3 | 0.167 ± 0.033 | +0.167 ± 0.120 |")
    # paired over a and b only: deletion +0.2, -0.2 -> 0; insertion +0.2, -0.5 -> -0.15 (sem 0.35)
    assert lines[4] == "| 2 | STF − backbone (paired) | 2 | | +0.000 ± 0.200 | | -0.150 ± 0.350 |"
    assert "removal zero" in text
    with pytest.raises(ConfigError, match="two STF studies of seed 2 with removal 'zero'"):
        compare_studies([_study("STF", 2, "zero", stf), _study("STF", 2, "zero", stf)])
    other = _study("backbone", 2, "zero", bb)
    other[0]["split"] = "xview/train"
    with pytest.raises(ConfigError, match="different data"):
        compare_studies([_study("STF", 2, "zero", stf), other])
    with pytest.raises(ConfigError, match="has no 'focus_m3' and random rows"):
        compare_studies([_study("STF", 2, "zero", stf)], "focus_m3")


def test_unreadable_or_old_studies_are_clear_errors(tmp_path):
    from stf.errors import DataError
    from stf.explain.study import load_study

    with pytest.raises(DataError, match="not a readable faithfulness study"):
        load_study(tmp_path / "missing")
    old = tmp_path / "old"
    old.mkdir()
    (old / "summary.json").write_text(json.dumps({"meta": {"data": "x", "split": "y", "settings": {}}}))
    (old / "per_sample.csv").write_text("sample_id,method,deletion_auc,insertion_auc\na,random,0.1,0.2\n")
    with pytest.raises(DataError, match="does not say which model it ran on"):
        load_study(old)
    (old / "per_sample.csv").write_text("sample_id,method,deletion_auc,insertion_auc\na,random,oops,0.2\n")
    with pytest.raises(DataError, match="not a readable faithfulness study"):
        load_study(old)
