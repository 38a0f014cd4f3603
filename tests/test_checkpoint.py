"""Checkpoint loading with bad input: every failure is a CheckpointError that names the file."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from stf.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from stf.errors import CheckpointError

SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt"


@pytest.fixture(scope="module")
def shipped():
    if not SHIPPED.is_file():
        pytest.skip("no shipped checkpoint in assets/")
    return torch.load(SHIPPED, map_location="cpu", weights_only=True)


def _saved(tmp_path, obj, name="ck.pt") -> Path:
    p = tmp_path / name
    torch.save(obj, p)
    return p


def test_fifo_is_not_reported_as_missing(tmp_path):
    fifo = tmp_path / "ck.pt"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match=f"{fifo}: not a regular file"):
        load_checkpoint(fifo)


@pytest.mark.parametrize("field, value", [("layout", "nope"), ("channels", "abc"), ("bogus", 1)])
def test_bad_model_config_field_is_a_checkpoint_error_naming_the_file(tmp_path, shipped, field, value):
    p = _saved(tmp_path, {**shipped, "model_config": {**shipped["model_config"], field: value}})
    with pytest.raises(CheckpointError, match=f"{p}: invalid model_config"):
        model_from_checkpoint(p)


def test_non_finite_weights_error_names_the_file(tmp_path, shipped):
    k, v = next((k, v) for k, v in shipped["model"].items() if v.is_floating_point())
    p = _saved(tmp_path, {**shipped, "model": {**shipped["model"], k: torch.full_like(v, float("nan"))}})
    with pytest.raises(CheckpointError, match=f"{p}: checkpoint weights hold NaN"):
        model_from_checkpoint(p)


def test_schema_version_of_another_type_is_shown_as_such(tmp_path, shipped):
    p = _saved(tmp_path, {**shipped, "schema_version": "1"})
    with pytest.raises(CheckpointError, match="schema version '1'"):
        load_checkpoint(p)


def test_failed_save_leaves_no_temporary_file_and_keeps_the_old_one(tmp_path):
    dest = tmp_path / "last.pt"
    save_checkpoint({"a": torch.zeros(2)}, dest)
    with pytest.raises(Exception):
        save_checkpoint({"a": lambda: 0}, dest)  # not picklable
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"a": torch.ones(2)}, dest, fault_hook=lambda event: (_ for _ in ()).throw(KeyboardInterrupt))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert torch.equal(torch.load(dest, weights_only=True)["a"], torch.zeros(2))


# guards of behaviour that was already right
def test_damaged_files_are_refused(tmp_path):
    src = SHIPPED.read_bytes() if SHIPPED.is_file() else pytest.skip("no shipped checkpoint")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(src[: len(src) // 2])
    with pytest.raises(CheckpointError, match=f"{cut}: .*truncated"):
        load_checkpoint(cut)
    flip = tmp_path / "flip.pt"
    b = bytearray(src)
    b[len(b) // 2] ^= 0x10  # inside a tensor's bytes
    flip.write_bytes(bytes(b))
    with pytest.raises(CheckpointError, match=f"{flip}: corrupt checkpoint.*CRC-32"):
        load_checkpoint(flip)


class _Custom:
    pass


def test_non_dict_pickle_refused_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not an stf checkpoint"):
        load_checkpoint(_saved(tmp_path, [1, 2], "list.pt"))
    with pytest.raises(CheckpointError, match="Weights only load failed"):
        load_checkpoint(_saved(tmp_path, {"schema": "stf-checkpoint", "x": _Custom()}, "custom.pt"))
    with pytest.raises(CheckpointError, match="a folder"):
        load_checkpoint(tmp_path)


def test_copy_of_shipped_loads(tmp_path):
    if not SHIPPED.is_file():
        pytest.skip("no shipped checkpoint")
    p = tmp_path / "ck.pt"
    shutil.copy(SHIPPED, p)
    assert model_from_checkpoint(p, fold_bn=True).cfg.num_classes == 10
