"""The evaluation-run registry and its worker: queueing, failures, interrupted runs, concurrent workers."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stf import runs
from stf.evaluate import load_bundle
from tests.conftest import REPO


def fake_evaluate(calls):
    def ev(checkpoint, data, split, out, progress):
        calls.append((checkpoint, data, split, str(out)))
        if "bad" in data:
            raise ValueError("this data is bad\nsecond line")
        for done in (5, 10):
            progress(done, 10)
        Path(out).mkdir(parents=True, exist_ok=True)
        return Path(out)
    return ev


def test_queue_several_then_worker_once(tmp_path):
    db = tmp_path / "runs.sqlite"
    reg = runs.Registry(db)
    ids = [reg.submit(tmp_path / f"m{i}.pt", "ucla:nw-ucla", "xview/test") for i in range(3)]
    assert [r.status for r in reg.list()] == ["queued"] * 3
    assert reg.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    calls = []
    n = runs.worker(db, once=True, evaluate=fake_evaluate(calls), log=lambda m: None)
    assert n == 3
    assert [c[0] for c in calls] == [str((tmp_path / f"m{i}.pt").resolve()) for i in range(3)]  # oldest first
    for rid in ids:
        r = reg.get(rid)
        assert r.status == "done" and r.error is None
        assert (r.done, r.total) == (10, 10) and r.progress == 1.0
        assert Path(r.bundle) == tmp_path / "evals" / str(rid)
        assert r.started and r.finished and r.finished >= r.started and r.worker_pid == os.getpid()


def test_failed_run_keeps_its_one_line_error_and_worker_goes_on(tmp_path):
    db = tmp_path / "runs.sqlite"
    reg = runs.Registry(db)
    a = reg.submit(tmp_path / "m.pt", "bad:data", "all")
    b = reg.submit(tmp_path / "m.pt", "good", "all")
    runs.worker(db, once=True, evaluate=fake_evaluate([]), log=lambda m: None)
    ra, rb = reg.get(a), reg.get(b)
    assert ra.status == "failed" and ra.error == "ValueError: this data is bad" and ra.bundle is None
    assert rb.status == "done"


def test_stale_running_row_of_a_dead_worker_becomes_interrupted(tmp_path):
    db = tmp_path / "runs.sqlite"
    reg = runs.Registry(db)
    rid = reg.submit(tmp_path / "m.pt", "x", "all")
    claimed = reg.claim(pid=_dead_pid())
    assert claimed.id == rid and claimed.status == "running"
    runs.worker(db, once=True, evaluate=fake_evaluate([]), log=lambda m: None)
    r = reg.get(rid)
    assert r.status == "failed" and r.error.startswith("interrupted")


def test_recovery_spares_runs_of_a_live_worker(tmp_path):
    """While another worker holds the lock, only rows whose pid is dead are interrupted."""
    db = tmp_path / "runs.sqlite"
    reg = runs.Registry(db)
    live = reg.submit(tmp_path / "a.pt", "x", "all")
    dead = reg.submit(tmp_path / "b.pt", "x", "all")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(reg.lock_path)!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_SH)
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert runs.worker_alive(db)
        reg.claim(pid=holder.pid)
        reg.claim(pid=_dead_pid())
        runs.worker(db, once=True, evaluate=fake_evaluate([]), log=lambda m: None)
        assert reg.get(live).status == "running"
        assert reg.get(dead).status == "failed" and reg.get(dead).error.startswith("interrupted")
    finally:
        holder.kill()
        holder.wait()
    assert not runs.worker_alive(db)


def test_two_concurrent_workers_never_run_a_run_twice(tmp_path):
    db = tmp_path / "runs.sqlite"
    log = tmp_path / "executed.log"
    reg = runs.Registry(db)
    ids = [reg.submit(tmp_path / "m.pt", f"d{i}", "all") for i in range(24)]
    script = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from stf import runs
        def ev(checkpoint, data, split, out, progress):
            fd = os.open({str(log)!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.write(fd, f"{{os.getpid()}} {{data}}\\n".encode())
            os.close(fd)
            time.sleep(0.02)
            return Path(out)
        open(sys.argv[1], "w").close()
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.01)
        print(runs.worker({str(db)!r}, once=True, evaluate=ev, log=lambda m: None))
    """)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"ready{k}"), str(go)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True) for k in range(2)]
    deadline = time.time() + 60
    while not all((tmp_path / f"ready{k}").exists() for k in range(2)):
        assert time.time() < deadline
        time.sleep(0.02)
    go.touch()  # both start claiming at once
    counts = [int(p.communicate(timeout=120)[0].strip()) for p in procs]
    lines = log.read_text().split()
    data = lines[1::2]
    assert sorted(data) == sorted(f"d{i}" for i in range(24))  # every run exactly once
    assert sum(counts) == 24
    assert len(set(lines[0::2])) == 2, "both workers should have executed runs"
    assert all(reg.get(i).status == "done" for i in ids)


def test_claim_is_atomic_against_a_concurrent_writer(tmp_path):
    """A claim inside BEGIN IMMEDIATE waits for another writer instead of reading a stale queue."""
    db = tmp_path / "runs.sqlite"
    reg = runs.Registry(db)
    rid = reg.submit(tmp_path / "m.pt", "x", "all")
    other = sqlite3.connect(db, isolation_level=None, timeout=5)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE runs SET status = 'running', worker_pid = 1 WHERE id = ?", (rid,))
    slow = runs.Registry(db, timeout=0.2)
    with pytest.raises(sqlite3.OperationalError):
        slow.claim()  # the write lock is held: no claim from a stale read
    other.execute("COMMIT")
    assert slow.claim() is None  # now it sees the run is taken
    other.close()


def test_cancel_only_removes_queued_runs(tmp_path):
    reg = runs.Registry(tmp_path / "runs.sqlite")
    a, b = reg.submit(tmp_path / "m.pt", "x"), reg.submit(tmp_path / "m.pt", "y")
    reg.claim()
    assert not reg.cancel(a) and reg.cancel(b)
    assert [r.id for r in reg.list()] == [a]


def test_start_worker_starts_one_and_it_exits_when_idle(tmp_path):
    db = tmp_path / "runs.sqlite"
    runs.Registry(db).close()
    pid = runs.start_worker(db, idle_exit=1.0)
    try:
        assert pid is not None and runs.worker_alive(db)
        assert runs.start_worker(db) is None  # one is alive: no second one
    finally:
        deadline = time.time() + 30
        while runs.worker_alive(db) and time.time() < deadline:
            time.sleep(0.1)
    assert not runs.worker_alive(db)
    assert "executed 0 run(s)" in (tmp_path / "worker.log").read_text()


# -- the real thing: CLI submit, worker --once with stf.evaluate -----------------------------------
@pytest.fixture(scope="module")
def small_data(ucla_store, tmp_path_factory):
    from tests.app._data import small_store

    return small_store(ucla_store, tmp_path_factory.mktemp("small") / "ucla-small", per_split=10)


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "stf", *map(str, args)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_submit_worker_once_list_with_real_evaluation(tmp_path, tiny_checkpoint, small_data):
    env = dict(os.environ, STF_RUNS_DIR=str(tmp_path))
    bad_ckpt = tmp_path / "bad.pt"
    bad_ckpt.write_bytes(b"not a checkpoint")
    for ck, data in [(tiny_checkpoint, small_data.path), (bad_ckpt, small_data.path),
                     (tiny_checkpoint, "ucla:no-such-folder")]:
        r = _cli("runs", "submit", "--checkpoint", ck, "--data", data, "--split", "xview/test", env=env)
        assert r.returncode == 0 and r.stdout.startswith("queued run "), r.stderr
    r = _cli("runs", "worker", "--once", env=env)
    assert r.returncode == 0, r.stderr
    assert "executed 3 run(s)" in r.stdout
    reg = runs.Registry(tmp_path / "runs.sqlite")
    good, bad, missing = sorted(reg.list(), key=lambda x: x.id)
    assert good.status == "done" and (good.done, good.total) == (10, 10)
    b = load_bundle(good.bundle)
    assert Path(good.bundle) == tmp_path / "evals" / str(good.id)
    assert len(b.ids) == 10 and b.metrics["data"]["split"] == "xview/test"
    assert bad.status == "failed" and "not a loadable checkpoint" in bad.error and "\n" not in bad.error
    assert missing.status == "failed" and "no such file or directory" in missing.error
    r = _cli("runs", "list", env=env)
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 3 and "done" in lines[2] and "failed" in lines[0]
    nowhere = tmp_path / "typo" / "runs.sqlite"
    r = _cli("runs", "list", "--db", nowhere, env=env)
    assert r.returncode == 0 and r.stdout == f"no runs (no run registry at {nowhere})\n"
    assert not (tmp_path / "typo").exists()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_registry_that_is_not_one_is_refused_by_name(tmp_path):
    from stf.app_support.discovery import registry_bundles, registry_problem

    db = tmp_path / "runs.sqlite"
    assert registry_problem(db) is None and registry_bundles(db) == []  # none yet: nothing to say
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, checkpoint TEXT)")
    con.commit()
    con.close()
    with pytest.raises(runs.RunsError, match=r"runs.sqlite: not a run registry of this version \(its runs table has "
                                             r"no data, split, status, "):
        runs.Registry(db)
    assert registry_bundles(db) == [] and "not a run registry of this version" in registry_problem(db)
    db.write_bytes(b"garbage " * 512)
    with pytest.raises(runs.RunsError, match="cannot open the run registry .file is not a database"):
        runs.Registry(db)
    assert registry_bundles(db) == [] and "file is not a database" in registry_problem(db)
    db.unlink()
    with runs.Registry(db) as reg:  # moved aside: a new one is made
        reg.submit("x.pt", "ucla:nw-ucla")
    assert registry_problem(db) is None


def test_env_numbers_name_the_variable(monkeypatch):
    from stf.errors import ConfigError
    from stf.utils import env_number

    monkeypatch.delenv("STF_X", raising=False)
    assert env_number("STF_X", 7) == 7
    monkeypatch.setenv("STF_X", " 12 ")
    assert env_number("STF_X", 7) == 12
    monkeypatch.setenv("STF_X", "2.5")
    assert env_number("STF_X", 1.0, float) == 2.5
    for bad, kind in (("2.5", int), ("10MB", int), ("soon", float), ("nan", float), ("-1", float)):
        monkeypatch.setenv("STF_X", bad)
        with pytest.raises(ConfigError, match=f"environment variable STF_X must be .* >= 0, got '{bad}'"):
            env_number("STF_X", 1, kind)
