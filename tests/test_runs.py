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


def _worker_lock_holder(lock_path, seconds: float) -> subprocess.Popen:
    """A process holding a worker's shared lock on ``lock_path`` for ``seconds`` (it prints "locked" once it does)."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, time
        fd = os.open({str(lock_path)!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_SH)
        print("locked", flush=True)
        time.sleep({seconds})
    """)], stdout=subprocess.PIPE, text=True)


def test_recovery_spares_runs_of_a_live_worker(tmp_path):
    """While another worker holds the lock, only rows whose pid is dead are interrupted."""
    db = tmp_path / "runs.sqlite"
    reg = runs.Registry(db)
    live = reg.submit(tmp_path / "a.pt", "x", "all")
    dead = reg.submit(tmp_path / "b.pt", "x", "all")
    holder = _worker_lock_holder(reg.lock_path, 60)
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


# -- hardening: concurrency, damage, killed workers ------------------------------------------------
def test_opening_a_new_registry_while_another_process_writes_to_it_waits(tmp_path):
    """Switching a new database to WAL answers 'database is locked' at once while another process holds a write
    transaction (two sessions creating the registry at once): the open waits for it instead of failing."""
    db = tmp_path / "runs.sqlite"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3, time
        c = sqlite3.connect({str(db)!r}, isolation_level=None)
        c.execute("BEGIN IMMEDIATE")
        print("locked", flush=True)
        time.sleep(0.5)
        c.execute("COMMIT")
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with runs.Registry(db, timeout=10) as reg:
            assert reg.submit(tmp_path / "m.pt", "x") == 1
            assert reg.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        holder.wait(timeout=30)


def test_sqlite_errors_name_the_registry_and_change_nothing(tmp_path):
    """A page damaged in the middle (opens, but reading fails), or a write lock held too long: a RunsError
    naming the file and what to do, not a bare sqlite3 error; the damaged file is left as it was."""
    db = tmp_path / "runs.sqlite"
    with runs.Registry(db) as reg:
        for i in range(200):
            reg.submit(tmp_path / ("m" * 100 + f"{i}.pt"), "ucla:nw-ucla")
        reg.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(db.read_bytes())
    raw[4096:8192] = b"\xff" * 4096  # the second page
    db.write_bytes(bytes(raw))
    with runs.Registry(db) as reg:
        for op in (reg.list, lambda: reg.submit("x.pt", "d"), reg.claim):
            with pytest.raises(runs.RunsError, match=rf"^{db}: cannot .* the run registry \(database disk image is "
                                                     r"malformed\); the file is damaged: move it aside"):
                op()
    assert db.read_bytes() == bytes(raw)
    db.unlink()
    reg = runs.Registry(db, timeout=0.2)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(runs.RunsError, match=rf"^{db}: cannot write to the run registry \(database is locked\); "
                                             r"another process held it for over 0.2 s"):
        reg.submit("x.pt", "d")
    other.execute("ROLLBACK")
    other.close()
    reg.close()


@pytest.fixture
def unprivileged():
    """(folder, command prefix): a folder, and how to start a process there that file permissions bind (as
    root: setpriv to user nobody, in a folder of the system's temp dir that it can enter)."""
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="stf-runs-"))
    pre = []
    if os.geteuid() == 0:
        base.chmod(0o755)
        if not shutil.which("setpriv") or any(p.stat().st_mode & 0o005 != 0o005 for p in base.parents):
            shutil.rmtree(base)
            pytest.skip("running as root, and no way to start a process as an unprivileged user here")
        pre = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    yield base, pre
    for p in [base, *base.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(base)


def test_a_read_only_registry_is_listed_and_refuses_writes_by_name(unprivileged):
    """A registry whose file, or whose folder, is not writable (a process that permissions bind): its runs are
    still listed, a submission is refused by a RunsError naming the file, and the file is unchanged."""
    base, pre = unprivileged
    dbs = []
    for case in ("file", "folder"):
        d = base / case
        d.mkdir()
        db = d / "runs.sqlite"
        with runs.Registry(db) as reg:
            reg.submit(base / "m.pt", "ucla:nw-ucla", "xview/test")
        dbs.append((db, db.read_bytes()))
        if pre:
            for p in (d, db):
                os.chown(p, 65534, 65534)
        (db if case == "file" else d).chmod(0o444 if case == "file" else 0o555)
    script = textwrap.dedent("""
        import sys
        from stf import runs
        for db in sys.argv[1:]:
            with runs.Registry(db) as reg:
                print([(r.status, r.split) for r in reg.list()])
                try:
                    reg.submit("m.pt", "ucla:nw-ucla")
                except runs.RunsError as e:
                    print(e)
    """)
    r = subprocess.run([*pre, sys.executable, "-c", script, *(str(db) for db, _ in dbs)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == out[2] == "[('queued', 'xview/test')]"
    assert out[1].startswith(f"{dbs[0][0]}: cannot write to the run registry (attempt to write a readonly "
                             f"database); the file and its folder {dbs[0][0].parent} must be writable"), out
    assert out[3] == (f"{dbs[1][0]}: cannot write to the run registry: it is read-only (the file or its folder "
                      f"{dbs[1][0].parent} is not writable)"), out
    for db, before in dbs:
        assert db.read_bytes() == before


def test_a_new_registry_beside_old_bundles_does_not_overwrite_them(tmp_path):
    """The registry moved aside (as its error message advises) or deleted: the new one's runs get ids after the
    bundles left in evals/, so run 1 of the new registry does not replace evals/1/ of the old one."""
    db = tmp_path / "runs.sqlite"

    def ev(tag):
        def f(checkpoint, data, split, out, progress):
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / "metrics.json").write_text(tag)
            return Path(out)
        return f

    with runs.Registry(db) as reg:
        old = reg.submit(tmp_path / "old.pt", "x")
    runs.worker(db, once=True, evaluate=ev("old"), log=lambda m: None)
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            os.replace(f"{db}{suffix}", tmp_path / f"aside.sqlite{suffix}")
    with runs.Registry(db) as reg:
        new = reg.submit(tmp_path / "new.pt", "x")
    runs.worker(db, once=True, evaluate=ev("new"), log=lambda m: None)
    assert new > old
    assert (runs.bundle_dir(old, tmp_path) / "metrics.json").read_text() == "old"
    assert (runs.bundle_dir(new, tmp_path) / "metrics.json").read_text() == "new"


def test_a_run_whose_bundle_folder_cannot_be_written_fails_before_evaluating(tmp_path):
    db = tmp_path / "runs.sqlite"
    with runs.Registry(db) as reg:
        rid = reg.submit(tmp_path / "m.pt", "x")
    (tmp_path / "evals").write_text("a file where the bundles' folder should be")
    calls = []
    runs.worker(db, once=True, evaluate=fake_evaluate(calls), log=lambda m: None)
    r = runs.Registry(db).get(rid)
    assert calls == []  # no evaluation whose result could not be kept
    assert r.status == "failed" and r.error.startswith(f"{tmp_path / 'evals'}: cannot write the run's bundle there")


def test_start_worker_from_several_sessions_at_once_starts_one(tmp_path):
    db = tmp_path / "runs.sqlite"
    runs.Registry(db).close()
    go = tmp_path / "go"
    script = textwrap.dedent(f"""
        import os, sys, time
        from stf import runs
        open(sys.argv[1], "w").close()
        while not os.path.exists({str(go)!r}):
            time.sleep(0.001)
        print(runs.start_worker({str(db)!r}, idle_exit=1.0))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"ready{k}")], cwd=REPO,
                              stdout=subprocess.PIPE, text=True) for k in range(3)]
    deadline = time.time() + 60
    while not all((tmp_path / f"ready{k}").exists() for k in range(3)):
        assert time.time() < deadline
        time.sleep(0.02)
    go.touch()
    started = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(started).count("None") == 2, started  # one started a worker, the others found it alive
    deadline = time.time() + 30
    while runs.worker_alive(db) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    assert (tmp_path / "worker.log").read_text().count("executed 0 run(s)") == 1


def test_a_worker_that_dies_at_start_is_reported_with_its_last_words(tmp_path, monkeypatch):
    db = tmp_path / "runs.sqlite"
    runs.Registry(db).close()
    (tmp_path / "runs.sqlite.lock").mkdir()  # the worker cannot open its lock file
    log = tmp_path / "worker.log"
    log.write_text("an old worker's output\n" * 10)
    monkeypatch.setattr(runs, "LOG_KEEP", 100, raising=False)  # past this size, moved aside when a worker starts
    with pytest.raises(runs.RunsError, match=rf"the worker stopped at once \(exit status \d+\): stf: error: "
                                             rf"{tmp_path}/runs.sqlite.lock: Is a directory; its output is in {log}$"):
        runs.start_worker(db, idle_exit=1.0)
    assert (tmp_path / "worker.log.1").read_text() == "an old worker's output\n" * 10
    assert "old worker" not in log.read_text()


def test_a_killed_worker_leaves_no_run_running_and_the_next_run_proceeds(tmp_path):
    """SIGKILL mid-run, the killed worker not yet reaped (a zombie, as a child of the app is) while another
    worker holds the lock: a worker starting now marks the run interrupted and executes the next one."""
    db = tmp_path / "runs.sqlite"
    reg = runs.Registry(db)
    first = reg.submit(tmp_path / "m.pt", "slow")
    second = reg.submit(tmp_path / "m.pt", "fast")
    victim = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from stf import runs
        def ev(checkpoint, data, split, out, progress):
            progress(3, 10)
            time.sleep(120)
        runs.worker({str(db)!r}, once=True, evaluate=ev, log=lambda m: None)
    """)], cwd=REPO)
    holder = _worker_lock_holder(reg.lock_path, 120)
    try:
        deadline = time.time() + 60
        while reg.get(first).done != 3:
            assert time.time() < deadline and victim.poll() is None
            time.sleep(0.05)
        assert holder.stdout.readline().strip() == "locked"
        victim.send_signal(9)
        time.sleep(0.3)  # not waited for: a zombie
        calls = []
        assert runs.worker(db, once=True, evaluate=fake_evaluate(calls), log=lambda m: None) == 1
        r1, r2 = reg.get(first), reg.get(second)
        assert r1.status == "failed" and r1.error == runs.INTERRUPTED
        assert r2.status == "done" and [c[1] for c in calls] == ["fast"]
    finally:
        for p in (victim, holder):
            p.kill()
            p.wait()
