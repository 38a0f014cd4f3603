"""Training histories: read from the shipped checkpoints, from a real run folder, and refused when broken."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from stf.cli import main
from stf.errors import DataError
from stf.history import find_histories, history_table, load_history
from tests.conftest import REPO

SHIPPED = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt"
BASELINE = REPO / "assets" / "baselines" / "backbone_ucla_xview_joint_cpu_seed3.pt"


def raw_history(path):
    return torch.load(path, map_location="cpu", weights_only=True)["history"]


def test_shipped_stf_history_has_every_term_after_the_warm_up():
    h = load_history(SHIPPED)
    raw = raw_history(SHIPPED)
    assert h.kind == "checkpoint" and h.name == "stf_ucla_xview_joint_cpu seed 0"
    assert h.planned_epochs == 65 and h.warmup_epochs == 5 and h.focus_losses and h.finished
    assert h.epochs.tolist() == list(range(1, 66))
    assert h.loss_terms() == ["cls", "e", "c", "d", "g"]
    le = h.series("loss_e")
    assert np.isnan(le[:5]).all() and np.isfinite(le[5:]).all()  # L_e only once the focus losses are on
    np.testing.assert_array_equal(le[5:], [r["loss_e"] for r in raw[5:]])
    s = h.summary()
    assert s["epochs"] == "65 / 65"
    assert s["L_cls"] == raw[-1]["loss_cls"] and s["train top-1 %"] == 100 * raw[-1]["train_top1"]
    assert s["training min"] == pytest.approx(sum(r["epoch_s"] for r in raw) / 60)
    assert h.non_finite() == []


def test_shipped_backbone_history_has_l_cls_only():
    h = load_history(BASELINE)
    assert h.seed == 3 and not h.focus_losses and h.finished
    assert h.loss_terms() == ["cls"]
    cos = h.per_module_cosine()
    assert cos.shape == (65, 6) and np.isfinite(cos).all()
    assert cos[-1].tolist() == raw_history(BASELINE)[-1]["focus_cosine_per_module"]


def test_run_folder_and_its_checkpoint_give_the_same_epochs(tiny_checkpoint):
    run = tiny_checkpoint.parent
    from_dir, from_ck = load_history(run), load_history(tiny_checkpoint)
    assert from_dir.kind == "run folder" and from_dir.source == run
    assert from_dir.name == from_ck.name == "stf_ucla_xview_joint_tiny seed 0"
    assert from_dir.entries == from_ck.entries and len(from_dir.entries) == 2
    assert load_history(run / "log.jsonl").entries == from_dir.entries
    assert from_ck.extras and "built_in_s" in from_ck.extras[0]  # the tiny build's timing is not an epoch
    assert from_dir.warmup_epochs == 1 and from_dir.loss_terms() == ["cls", "e", "c", "d", "g"]
    rows = from_dir.rows()
    assert rows[0]["run"] == from_dir.name and rows[1]["focus_cosine_m6"] == from_dir.per_module_cosine()[1, 5]


@pytest.fixture
def run_copy(tiny_checkpoint, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(tiny_checkpoint.parent, d)
    return d


def test_a_run_in_progress_is_read_and_marked_unfinished(run_copy):
    log = run_copy / "log.jsonl"
    log.write_text(log.read_text().splitlines()[0] + "\n")
    h = load_history(run_copy)
    assert len(h.entries) == 1 and not h.finished and h.summary()["epochs"] == "1 / 2"


@pytest.mark.parametrize("edit, message", [
    (lambda t: t[: t.index("\n") + 40], "line 2 is not JSON"),  # cut inside the second record
    (lambda t: "\n".join(reversed(t.splitlines())), "epoch 1 after epoch 2"),
    (lambda t: t + "[1, 2]\n", "record 3 is a list"),
    (lambda t: t.replace('"epoch": 2', '"epoch": "2"'), "epoch must be an integer"),
])
def test_a_broken_log_is_refused_with_file_and_line(run_copy, edit, message):
    log = run_copy / "log.jsonl"
    log.write_text(edit(log.read_text()))
    with pytest.raises(DataError, match=message) as e:
        load_history(run_copy)
    assert str(log) in str(e.value)


def test_non_utf8_log_and_missing_sources_are_refused(run_copy, tmp_path):
    (run_copy / "log.jsonl").write_bytes(b'{"epoch": 1, "loss_cls": 1.0}\n\xff\xfe\n')
    with pytest.raises(DataError, match="not UTF-8"):
        load_history(run_copy)
    with pytest.raises(DataError, match="no such run folder or checkpoint"):
        load_history(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no log.jsonl"):
        load_history(tmp_path / "empty")


def test_a_diverged_run_is_reported_not_refused(run_copy):
    log = run_copy / "log.jsonl"
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    recs[1]["loss_cls"] = float("nan")
    log.write_text("".join(json.dumps(r) + "\n" for r in recs))  # json writes NaN as NaN, as training does
    h = load_history(run_copy)
    assert h.non_finite() == [(2, "loss_cls")]
    assert math.isnan(h.series("loss_cls")[1]) and math.isfinite(h.series("loss_cls")[0])


def test_find_histories_lists_assets_then_run_folders_without_duplicates(run_copy, tmp_path, monkeypatch):
    assets, runs = tmp_path / "assets", tmp_path / "runs"
    assets.mkdir()
    shutil.copy(SHIPPED, assets / "m.pt")
    (runs / "a").mkdir(parents=True)
    shutil.move(str(run_copy), runs / "a" / "run")
    shutil.copy(runs / "a" / "run" / "last.pt", runs / "loose.pt")  # a checkpoint with no log beside it
    monkeypatch.setenv("STF_ASSETS_DIR", str(assets))
    monkeypatch.setenv("STF_RUNS_DIR", str(runs))
    found = [p.resolve() for p in find_histories()]
    assert found == [(assets / "m.pt").resolve(), (runs / "a" / "run").resolve(), (runs / "loose.pt").resolve()]


def test_history_command_prints_the_table_and_one_line_errors(tiny_checkpoint, run_copy, capsys):
    assert main(["history", str(SHIPPED), str(tiny_checkpoint.parent)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| run | epochs | L_cls |")
    assert "| stf_ucla_xview_joint_cpu seed 0 | 65 / 65 |" in out and "| stf_ucla_xview_joint_tiny seed 0 | 2 / 2 |" in out
    (run_copy / "log.jsonl").write_text("{oops\n")
    assert main(["history", str(run_copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stf: error: ") and "line 1 is not JSON" in err and "\n" not in err
    assert history_table([load_history(SHIPPED)]).count("\n") == 2


def test_a_log_without_epoch_times_has_no_training_time(run_copy):
    """Epochs that logged no epoch_s summed to "0.0" training minutes; the time is unknown, not zero."""
    log = run_copy / "log.jsonl"
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    assert all("epoch_s" in r for r in recs)
    log.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "epoch_s"}) + "\n" for r in recs))
    h = load_history(run_copy)
    assert math.isnan(h.summary()["training min"])
    assert history_table([h]).splitlines()[-1].split(" | ")[-2] == "–"  # the training min column
    assert load_history(SHIPPED).summary()["training min"] > 0


@pytest.mark.parametrize("config", ["name: x\ntrain: [1, 2]\n", "name: x\nloss: 0.5\n"])
def test_a_config_with_a_section_that_is_not_a_mapping_is_read(run_copy, config):
    """A hand-edited config.yaml whose train or loss section is not a mapping was an AttributeError traceback."""
    (run_copy / "config.yaml").write_text(config)
    h = load_history(run_copy)
    assert h.config_name == "x" and h.planned_epochs is None and len(h.entries) == 2
