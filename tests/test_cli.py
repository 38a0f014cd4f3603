"""``python -m stf data convert | info`` as a user runs them: a subprocess, exit codes, printed output."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, need_data


def run(*args, env_update=None, drop=()):
    env = dict(os.environ)
    env.update(env_update or {})
    for k in drop:
        env.pop(k, None)
    r = subprocess.run([sys.executable, "-m", "stf", *map(str, args)], cwd=REPO, env=env,
                       capture_output=True, timeout=300)
    # decoded by hand: text=True would turn the progress line's "\r" into "\n"
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())


@pytest.fixture
def env(tmp_path):
    return {"STF_CACHE_DIR": str(tmp_path / "cache"), "STF_DATA_ROOT": str(need_data())}


def assert_one_line_error(r, *fragments):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stf: error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture(scope="module")
def converted_ucla(tmp_path_factory):
    src = need_data("nw-ucla")
    dest = tmp_path_factory.mktemp("cli") / "ucla"
    r = run("data", "convert", "--format", "ucla", src, dest)
    return dest, r


def test_convert_ucla(converted_ucla):
    dest, r = converted_ucla
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"wrote 1484 samples (10 classes, layout kinect20) to {dest}; skipped 0"]
    assert r.stderr == "".join(f"\rconverting: {n}" for n in range(100, 1401, 100)) + "\n"  # progress, ended
    assert sorted(p.name for p in dest.iterdir()) == ["data.npy", "index.json"]


def test_info_of_a_converted_dir(converted_ucla):
    dest, _ = converted_ucla
    r = run("data", "info", dest)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "samples: 1484" in out and "classes: 10" in out and "layout: kinect20" in out
    assert "xview/train (1020), xview/test (464)" in out
    assert "    0 pick up with one hand: 150" in out and "    9 carry: 142" in out
    r = run("data", "info", "--json", dest)
    info = json.loads(r.stdout)
    assert list(info["per_class"].values()) == [150, 152, 141, 173, 148, 149, 142, 142, 145, 142]
    assert info["splits"]["xview/test"] == 464 and info["frames"]["max"] == 201


def test_info_of_format_path(env):
    r = run("data", "info", "--json", "ucla:nw-ucla", env_update=env)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["samples"] == 1484 and info["source_format"] == "ucla"
    assert info["path"].startswith(env["STF_CACHE_DIR"])
    r = run("data", "info", "sbu:sbu-kinect-interaction", env_update=env)
    assert r.returncode == 0, r.stderr
    assert "samples: 282" in r.stdout and "max_persons: 2" in r.stdout and "fold5/test (65)" in r.stdout


def test_info_of_a_split(env):
    r = run("data", "info", "--json", "ucla:nw-ucla", "--split", "view=3", env_update=env)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["split"] == "view=3" and info["samples"] == 464 == sum(info["per_class"].values())
    r = run("data", "info", "sbu:sbu-kinect-interaction", "--split", "fold1/test & action<=2", env_update=env)
    assert r.returncode == 0, r.stderr
    assert "samples: 16" in r.stdout and "approaching: 8" in r.stdout and "kicking: 0" in r.stdout
    assert_one_line_error(run("data", "info", "ucla:nw-ucla", "--split", "vw=3", env_update=env),
                          "split field 'vw' is in no sample's meta")


def test_convert_refuses_an_existing_dest_then_force(converted_ucla, tmp_path):
    dest, _ = converted_ucla
    sbu = need_data("sbu-kinect-interaction")
    assert_one_line_error(run("data", "convert", "--format", "sbu", sbu, dest), str(dest), "already exists")
    other = tmp_path / "sbu"
    other.mkdir()
    (other / "index.json").write_text("{}")
    r = run("data", "convert", "--format", "sbu", sbu, other, "--force")
    assert r.returncode == 0 and "wrote 282 samples (8 classes, layout sbu15)" in r.stdout
    assert r.stderr == "\rconverting: 100\rconverting: 200\n"


def test_bad_inputs_give_one_line(tmp_path, env):
    src = need_data("nw-ucla")
    dest = tmp_path / "out"
    cases = [
        (("data", "convert", "--format", "csv", src, dest), ["unknown data format 'csv'"]),
        (("data", "convert", "--format", "ucla", tmp_path / "missing", dest), ["not a directory"]),
        (("data", "convert", "--format", "ucla", src, dest, "--opt", "layout"), ["--opt 'layout'", "KEY=VALUE"]),
        (("data", "convert", "--format", "ucla", src, dest, "--opt", "layout=ntu25"),
         ["format 'ucla' does not take the options ['layout']"]),
        (("data", "info", tmp_path / "missing"), ["no such data set"]),
        (("data", "info", "ucla:not-there"), ["not-there: no such file or directory"]),
    ]
    for args, fragments in cases:
        assert_one_line_error(run(*args, env_update=env), *fragments)
    assert not dest.exists()


def test_bad_stores_and_sources(tmp_path, env):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "index.json").write_text('{"format": "stf-skeleton-store", "version": 1')
    assert_one_line_error(run("data", "info", corrupt), "unreadable index")
    bad_tree = tmp_path / "sbu" / "s01s02" / "01" / "001"
    bad_tree.mkdir(parents=True)
    (bad_tree / "skeleton_pos.txt").write_text("1,2,3\n")
    r = run("data", "convert", "--format", "sbu", tmp_path / "sbu", tmp_path / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout, r.stderr
    first, why = r.stderr.splitlines()  # the error, then why the one sample was skipped
    assert first.startswith("stf: error: ") and "no valid sample to write (1 skipped)" in first, first
    assert why.startswith("  ") and "skeleton_pos.txt" in why, why
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt", "sbu"]  # no DEST, no temporary dir
    assert_one_line_error(run("data", "info", "ucla:nw-ucla", drop=["STF_DATA_ROOT"], env_update={
        "STF_CACHE_DIR": env["STF_CACHE_DIR"]}), "STF_DATA_ROOT is not set")


@pytest.mark.parametrize("args, fragment", [
    (("eval", "--checkpoint", "x.pt", "--data", "ucla:nw-ucla", "--out", "o", "--batch-size", "0"),
     "argument --batch-size: must be >= 1, got 0"),
    (("bench", "train", "--steps", "many"), "argument --steps: 'many' is not an integer"),
    (("bench", "train", "--focus-steps", "5"), "argument --focus-steps: must be >= 20, got 5"),
    (("bench", "infer", "--batch", "1", "-4"), "argument --batch: must be >= 1, got -4"),
])
def test_count_options_are_checked_by_the_parser(args, fragment):
    r = run(*args)
    assert r.returncode == 2 and fragment in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("command", [
    ("eval", "--checkpoint", "x.pt", "--data", "ucla:nw-ucla"),
    ("fuse", "a.eval", "b.eval"),
    ("train", "--config", "configs/stf_ucla_xview_joint_tiny.yaml"),
])
def test_an_out_that_is_a_file_is_refused_before_any_work(command, tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me")
    r = run(*command, "--out", target)
    assert r.returncode == 2 and "is a file; --out must be a directory" in r.stderr and "Traceback" not in r.stderr
    assert target.read_text() == "keep me"


def test_os_errors_are_one_line(tmp_path, env):
    """An OSError the parser cannot foresee (here: a file where a parent directory should be) is one line."""
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    r = run("fuse", REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.eval",
            REPO / "docs" / "results" / "stf_ucla_xview_bone_cpu_seed0.eval", "--out", blocker / "sub", env_update=env)
    assert_one_line_error(r, str(blocker))


def test_release_names_stay_inside_assets_and_releases_are_kept(tmp_path):
    from stf.errors import ConfigError
    from stf.release import release

    for bad in ("../evil", "a/b", ".hidden", ""):
        with pytest.raises(ConfigError, match="plain file name"):
            release(tmp_path / "run", bad, "ucla:nw-ucla", "xview/test", assets=tmp_path / "assets")
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "mine.pt").write_bytes(b"shipped")
    with pytest.raises(ConfigError, match="mine.pt already exists; pass --force"):
        release(tmp_path / "run", "mine", "ucla:nw-ucla", "xview/test", assets=assets)
    assert (assets / "mine.pt").read_bytes() == b"shipped"
    assert not (tmp_path.parent / "evil.pt").exists()


def test_an_empty_split_is_refused_before_any_work(tmp_path, env):
    """A split every sample of which was lost at conversion: train, eval and faithfulness refuse it in one line
    and write nothing (they wrote a null-accuracy bundle, or crashed mid-run with a torch.cat / IndexError)."""
    src = tmp_path / "one_view"
    src.mkdir()
    shutil.copy(need_data("nw-ucla", "all_sqe") / "a01_s01_e00_v01.json", src)  # a view-1 sample only
    store = tmp_path / "store"
    assert run("data", "convert", "--format", "ucla", src, store, env_update=env).returncode == 0
    ckpt = REPO / "assets" / "stf_ucla_xview_joint_cpu_seed0.pt"
    tiny = REPO / "configs" / "stf_ucla_xview_joint_tiny.yaml"
    cases = [
        ("eval", "--checkpoint", ckpt, "--data", store, "--split", "xview/test", "--out", tmp_path / "o1"),
        ("faithfulness", "--checkpoint", ckpt, "--data", store, "--split", "xview/test", "--out", tmp_path / "o2"),
        ("train", "--config", tiny, "--set", f"data.spec={store}", "--set", "data.train_split=xview/test",
         "--out", tmp_path / "o3"),
        ("train", "--config", tiny, "--set", f"data.spec={store}", "--set", "data.eval_split=xview/test",
         "--out", tmp_path / "o4"),
    ]
    for args in cases:
        assert_one_line_error(run(*args, env_update=env), "split 'xview/test' holds no samples")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one_view", "store"]


def test_bench_infer_passes_on_its_childs_error(tmp_path):
    """bench infer measures in a child process; a checkpoint error there is the usual one line and status 2
    (it was status 1, unlike every other command)."""
    assert_one_line_error(run("bench", "infer", "--checkpoint", tmp_path / "none.pt"), "none.pt: no such checkpoint file")


def test_runs_submit_refuses_a_missing_checkpoint(tmp_path):
    db = tmp_path / "runs.sqlite"
    r = run("runs", "submit", "--db", db, "--checkpoint", tmp_path / "typo.pt", "--data", "ucla:nw-ucla")
    assert_one_line_error(r, "typo.pt: no such checkpoint file")
    r = run("runs", "list", "--db", db)
    assert r.returncode == 0 and r.stdout.startswith("no runs"), r.stdout  # nothing was queued


def test_tiny_checkpoint_does_not_overwrite_a_run(tmp_path):
    """The run-directory guard lives in train() itself: `tiny-checkpoint --out` a real run's directory replaced
    its last.pt with a 2-epoch tiny model."""
    run_dir = tmp_path / "stf-s0"
    run_dir.mkdir()
    (run_dir / "last.pt").write_bytes(b"a real run's checkpoint")
    assert_one_line_error(run("tiny-checkpoint", "--out", run_dir), "already holds a run")
    assert (run_dir / "last.pt").read_bytes() == b"a real run's checkpoint"
    assert sorted(p.name for p in run_dir.iterdir()) == ["last.pt"]


def _run_with(checkpoint, run_dir):
    """A run directory holding ``checkpoint`` as its last.pt (what release reads)."""
    run_dir.mkdir()
    shutil.copy(checkpoint, run_dir / "last.pt")
    return run_dir


def _release_bytes(ckpt, bundle) -> dict:
    """Every file of a release, by name: what must be unchanged after a failed one."""
    return {p.name: p.read_bytes() for p in [ckpt, *sorted(bundle.iterdir())]}


def test_a_release_stopped_while_moving_in_leaves_the_old_one_whole(tmp_path, tiny_checkpoint, monkeypatch):
    """release --force moved the old bundle aside, then the new checkpoint in; a failure moving the new
    bundle (a full disk, a folder in the way) left the new checkpoint with no bundle and the old bundle deleted."""
    import os
    from pathlib import Path

    import stf.release as rel

    need_data("nw-ucla")
    run_dir = _run_with(tiny_checkpoint, tmp_path / "run")
    assets = tmp_path / "assets"
    split = "xview/test & subject=1 & label<=2"
    ckpt, bundle = rel.release(run_dir, "rel", "ucla:nw-ucla", split, assets=assets)
    before = _release_bytes(ckpt, bundle)
    real = os.replace

    def failing(src, dst):
        if Path(dst).suffix == ".eval" and not Path(src).name.startswith("replaced-"):  # the new bundle in
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(rel.os, "replace", failing)
    with pytest.raises(OSError, match="No space left"):
        rel.release(run_dir, "rel", "ucla:nw-ucla", "xview/test & subject=2 & label<=2", assets=assets, force=True)
    assert _release_bytes(ckpt, bundle) == before
    assert sorted(p.name for p in assets.iterdir()) == ["rel.eval", "rel.pt"]
    with pytest.raises(OSError, match="No space left"):  # a first release stopped so leaves nothing
        rel.release(run_dir, "new", "ucla:nw-ucla", split, assets=assets)
    assert sorted(p.name for p in assets.iterdir()) == ["rel.eval", "rel.pt"]


def test_release_evaluates_on_the_runs_own_data_and_test_split(tmp_path, tiny_checkpoint):
    """release defaulted to --data ucla:nw-ucla --split xview/test whatever the run trained on: a model of
    another data set or protocol was scored there without a word. Now the defaults come from the run."""
    from stf.checkpoint import load_checkpoint, save_checkpoint
    from stf.errors import ConfigError
    from stf.evaluate import load_bundle
    from stf.release import release, run_target

    need_data("nw-ucla")
    run_dir = _run_with(tiny_checkpoint, tmp_path / "run")
    assert run_target(run_dir) == ("ucla:nw-ucla", "xview/test")
    _, bundle = release(run_dir, "own", assets=tmp_path / "assets")
    m = load_bundle(bundle).metrics
    assert (m["data"]["spec"], m["data"]["split"], m["num_samples"]) == ("ucla:nw-ucla", "xview/test", 464)
    ck = load_checkpoint(run_dir / "last.pt")
    ck["config"]["data"]["train_split"] = "all"  # trained on everything: no test part to default to
    save_checkpoint(ck, run_dir / "last.pt")
    with pytest.raises(ConfigError, match="training split 'all' has no test part to default to; pass --data and --split"):
        release(run_dir, "all", assets=tmp_path / "assets")
    assert sorted(p.name for p in (tmp_path / "assets").iterdir()) == ["own.eval", "own.pt"]


def test_a_failed_release_leaves_the_existing_one_as_it_was(tmp_path, tiny_checkpoint):
    """release --force whose evaluation fails (a split that selects nothing) replaced the checkpoint before
    it failed, pairing a new model with the old bundle; now both are moved in only when both succeeded."""
    from stf.errors import DataError
    from stf.evaluate import load_bundle, sha256_of
    from stf.release import release

    need_data("nw-ucla")
    run_dir = _run_with(tiny_checkpoint, tmp_path / "run")
    assets = tmp_path / "assets"
    split = "xview/test & subject=1 & label<=2"
    ckpt, bundle = release(run_dir, "rel", "ucla:nw-ucla", split, assets=assets)
    m = load_bundle(bundle).metrics
    assert m["checkpoint"]["path"] == str(ckpt.resolve()) and m["checkpoint"]["sha256"] == sha256_of(ckpt)
    before = _release_bytes(ckpt, bundle)
    with pytest.raises(DataError, match="holds no samples"):
        release(run_dir, "rel", "ucla:nw-ucla", "view=9", assets=assets, force=True)
    assert _release_bytes(ckpt, bundle) == before
    with pytest.raises(DataError, match="holds no samples"):  # a first release that fails leaves nothing
        release(run_dir, "other", "ucla:nw-ucla", "view=9", assets=assets)
    assert sorted(p.name for p in assets.iterdir()) == ["rel.eval", "rel.pt"]
    release(run_dir, "rel", "ucla:nw-ucla", "xview/test & subject=2 & label<=2", assets=assets, force=True)
    assert load_bundle(bundle).metrics["data"]["split"] == "xview/test & subject=2 & label<=2"
    assert sorted(p.name for p in assets.iterdir()) == ["rel.eval", "rel.pt"]


def test_convert_help_lists_every_format():
    from stf.cli import build_parser
    from stf.data import FORMATS

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["data"]
    convert = next(a for a in sub._actions if a.dest == "data_cmd").choices["convert"]
    fmt = next(a for a in convert._actions if a.dest == "format")
    assert fmt.help.split(" | ") == list(FORMATS)


def test_tiny_checkpoint_on_another_data_set(tmp_path, env):
    """SBU has no xview split and two persons: the tiny checkpoint trains on all of it, with its persons."""
    from stf.checkpoint import load_checkpoint

    need_data("sbu-kinect-interaction")
    r = run("tiny-checkpoint", "--out", tmp_path / "t", "--data", "sbu:sbu-kinect-interaction",
            "--set", "train.max_samples=16", env_update=env)
    assert r.returncode == 0, r.stderr[-2000:]
    ck = load_checkpoint(tmp_path / "t" / "last.pt")
    assert ck["layout"] == "sbu15" and ck["persons"] == 2 and ck["epoch"] == 2
    assert ck["config"]["data"]["train_split"] == "all" and len(ck["train_ids"]) == 16
    r = run("tiny-checkpoint", "--out", tmp_path / "u", "--data", "sbu:sbu-kinect-interaction", "--split",
            "fold9/train", env_update=env)
    assert_one_line_error(r, "no split 'fold9/train'")
