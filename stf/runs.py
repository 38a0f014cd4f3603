"""A registry of evaluation runs in SQLite, and the worker process that executes them.

The app (or ``python -m stf runs submit``) *queues* a run: a checkpoint, a data set and a split.
``python -m stf runs worker`` is a separate process that claims queued runs one at a time, calls
:func:`stf.evaluate.evaluate` with a progress callback writing ``done / total`` into the run's row,
and writes the bundle to ``$STF_RUNS_DIR/evals/<run id>/``. Every state change is one transaction::

    queued --claim--> running --+--> done     (bundle written)
                                +--> failed   (error message; "interrupted" when its worker died)

The database is in WAL mode, so readers (the app's page) never block the worker. A claim is an
``UPDATE ... WHERE status = 'queued'`` inside ``BEGIN IMMEDIATE``: two workers never run the same run.

Liveness: each worker holds a *shared* ``flock`` on ``<db>.lock`` for its lifetime. Whoever can take
the lock *exclusively* knows that no worker is alive (:func:`worker_alive`); the app then starts one
(:func:`start_worker`). A worker that starts while no other worker is alive marks every run left
``running`` as failed ("interrupted"); when other workers are alive, only runs whose worker pid no
longer exists (or is a zombie). Sessions starting a worker at once serialize on ``<db>.start``, so one
starts. A new registry's ids start after the bundles already in ``evals/`` (of a registry moved aside),
so none is overwritten. SQLite errors are :class:`RunsError` naming the file; a registry whose file or
folder is read-only is opened read-only (listed, not changed). Nothing in here imports Streamlit.
"""
from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Iterator

from .errors import STFError
from .utils import env_number

STATES = ("queued", "running", "done", "failed")
INTERRUPTED = "interrupted: its worker stopped before the run finished"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    checkpoint  TEXT NOT NULL,
    data        TEXT NOT NULL,
    split       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    done        INTEGER NOT NULL DEFAULT 0,
    total       INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    bundle      TEXT,
    created     REAL NOT NULL,
    started     REAL,
    finished    REAL,
    worker_pid  INTEGER
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status, id);
"""


def runs_dir() -> Path:
    """``$STF_RUNS_DIR`` (default ``./runs``), absolute."""
    v = os.environ.get("STF_RUNS_DIR", "").strip()
    return Path(v).expanduser().resolve() if v else Path("runs").resolve()


def default_db() -> Path:
    return runs_dir() / "runs.sqlite"


def bundle_dir(run_id: int, root: Path | None = None) -> Path:
    """Where run ``run_id`` writes its evaluation bundle."""
    return (root or runs_dir()) / "evals" / str(int(run_id))


class RunsError(STFError, RuntimeError):
    """The run registry cannot be opened or is asked something impossible."""


class RegistryDBError(RunsError, sqlite3.OperationalError):
    """An SQLite error of the registry (locked, damaged, read-only), its message naming the file."""


@dataclass(frozen=True)
class Run:
    id: int
    checkpoint: str
    data: str
    split: str
    status: str
    done: int
    total: int
    error: str | None
    bundle: str | None
    created: float
    started: float | None
    finished: float | None
    worker_pid: int | None

    @property
    def progress(self) -> float:
        """Fraction of samples evaluated (1.0 when done)."""
        if self.status == "done":
            return 1.0
        return self.done / self.total if self.total else 0.0

    @property
    def elapsed(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started


def pid_alive(pid: int | None) -> bool:
    """True when process ``pid`` exists and is not a zombie (a killed worker the app has not reaped yet)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except OSError:  # no /proc (or it just ended): trust kill()
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]



def one_line(e: BaseException) -> str:
    """An exception as the one-line message shown in the app and stored in the row."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    msg = text if isinstance(e, STFError) else f"{type(e).__name__}: {text}" if text else type(e).__name__
    return msg[:1000]


class Registry:
    """The SQLite run registry at ``db`` (created on first use, WAL mode)."""

    def __init__(self, db: str | Path | None = None, timeout: float = 30.0):
        self.path = Path(db).expanduser().resolve() if db else default_db()
        self.timeout = timeout
        self.readonly = False  # opened read-only (file or folder not writable): runs are listed, not changed
        self.conn = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._connect()
            except sqlite3.OperationalError as e:
                if not self._open_readonly(e):
                    raise
            if not self.readonly and self.conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone() is None:
                with self._tx():
                    self._create()
            have = {r["name"] for r in self.conn.execute("PRAGMA table_info(runs)")}
        except RunsError:
            if self.conn is not None:
                self.conn.close()
            raise
        except (sqlite3.Error, OSError) as e:
            if self.conn is not None:
                self.conn.close()
            raise RunsError(f"{self.path}: cannot open the run registry ({e}){self._hint(e)}") from e
        missing = [f.name for f in fields(Run) if f.name not in have]
        if missing:
            self.conn.close()
            if not have and self.readonly:
                raise RunsError(f"{self.path}: cannot create the run registry: the file or its folder is read-only")
            raise RunsError(f"{self.path}: not a run registry of this version (its runs table has no "
                            f"{', '.join(missing)}); move it aside and a new one is made")

    def _connect(self) -> None:
        # isolation_level=None: autocommit; transactions are explicit (BEGIN IMMEDIATE ... COMMIT)
        self.conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        # switching a new database to WAL answers "database is locked" at once, without waiting, while another
        # process does the same (two sessions opening a new registry): retry within the timeout
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)
        self.conn.execute("PRAGMA synchronous=NORMAL")

    def _open_readonly(self, e: sqlite3.OperationalError) -> bool:
        """An existing registry whose file or folder is not writable: open it read-only (True when done)."""
        if not ("readonly" in str(e) or "unable to open" in str(e)) or not self.path.is_file() or \
                (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)):
            return False
        if self.conn is not None:
            self.conn.close()
        from urllib.parse import quote

        uri = "file:" + quote(str(self.path))
        # mode=ro needs the -shm file to exist or be creatable; in a read-only folder only immutable=1 opens it
        for opts in ("mode=ro", "immutable=1"):
            try:
                self.conn = sqlite3.connect(f"{uri}?{opts}", uri=True, timeout=self.timeout, isolation_level=None,
                                            check_same_thread=False)
                self.conn.row_factory = sqlite3.Row
                self.conn.execute("SELECT 1 FROM sqlite_master").fetchall()
            except sqlite3.Error:
                self.conn.close()
                self.conn = None
                continue
            self.readonly = True
            return True
        return False

    def _create(self) -> None:
        """The schema of a new registry (inside its write transaction)."""
        if self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone():
            return  # another process made it meanwhile
        for stmt in _SCHEMA.strip().split(";"):
            if stmt.strip():
                self.conn.execute(stmt)
        # A registry made anew beside bundles of an earlier one (moved aside, or deleted) starts its ids after
        # theirs: run 1 of the new one must not overwrite evals/1/ of the old one.
        used = 0
        try:
            used = max((int(p.name) for p in (self.root / "evals").iterdir() if p.name.isdigit()), default=0)
        except OSError:
            pass
        if used:
            self.conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('runs', ?)", (used,))

    def _hint(self, e: BaseException) -> str:
        """What to do about an SQLite error (appended to its message)."""
        text = str(e).lower()
        if "locked" in text or "busy" in text:
            return f"; another process held it for over {self.timeout:g} s; try again"
        if "malformed" in text or "not a database" in text or "corrupt" in text:
            return ("; the file is damaged: move it aside and a new one is made (bundles of finished runs stay "
                    "in evals/)")
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return f"; the file and its folder {self.path.parent} must be writable"
        return ""

    @contextmanager
    def _sql(self, doing: str) -> Iterator[None]:
        """SQLite errors of one operation as a :class:`RegistryDBError` naming the file."""
        if doing != "read" and self.readonly:
            raise RunsError(f"{self.path}: cannot {doing} the run registry: it is read-only (the file or its folder "
                            f"{self.path.parent} is not writable)")
        try:
            yield
        except RunsError:
            raise
        except sqlite3.Error as e:
            raise RegistryDBError(f"{self.path}: cannot {doing} the run registry ({e}){self._hint(e)}") from e

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @property
    def root(self) -> Path:
        """The runs directory this registry writes bundles under (the db's folder)."""
        return self.path.parent

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE takes the write lock up front: no upgrade deadlocks)."""
        with self._sql("write to"):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:  # SQLite may have rolled back itself (disk full, damage)
                    try:
                        self.conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise
            else:
                self.conn.execute("COMMIT")

    # -- reading ---------------------------------------------------------------------------------
    def get(self, run_id: int) -> Run:
        with self._sql("read"):
            row = self.conn.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise RunsError(f"no run with id {run_id}")
        return Run(**dict(row))

    def list(self, status: str | None = None, limit: int | None = None) -> list[Run]:
        """Runs, newest first."""
        q, args = "SELECT * FROM runs", []
        if status:
            q += " WHERE status = ?"
            args.append(status)
        q += " ORDER BY id DESC"
        if limit:
            q += " LIMIT ?"
            args.append(int(limit))
        with self._sql("read"):
            return [Run(**dict(r)) for r in self.conn.execute(q, args).fetchall()]

    # -- state changes (each one transaction) ----------------------------------------------------
    def submit(self, checkpoint: str | Path, data: str, split: str = "all") -> int:
        """Queue a run; returns its id."""
        if not str(data).strip():
            raise RunsError("no data set given")
        ck = str(Path(checkpoint).expanduser().resolve())
        with self._tx() as c:
            cur = c.execute("INSERT INTO runs (checkpoint, data, split, status, created) VALUES (?, ?, ?, 'queued', ?)",
                            (ck, str(data), str(split or "all"), time.time()))
            return int(cur.lastrowid)

    def claim(self, pid: int | None = None) -> Run | None:
        """Atomically take the oldest queued run (-> running); None when the queue is empty."""
        pid = os.getpid() if pid is None else pid
        with self._tx() as c:
            row = c.execute("SELECT id FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            cur = c.execute("UPDATE runs SET status = 'running', started = ?, worker_pid = ?, done = 0, total = 0 "
                            "WHERE id = ? AND status = 'queued'", (time.time(), pid, row["id"]))
            if cur.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE; be safe anyway
                return None
        return self.get(row["id"])

    def set_progress(self, run_id: int, done: int, total: int) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET done = ?, total = ? WHERE id = ? AND status = 'running'",
                      (int(done), int(total), int(run_id)))

    def finish(self, run_id: int, bundle: str | Path) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET status = 'done', bundle = ?, finished = ?, done = MAX(done, total) "
                      "WHERE id = ? AND status = 'running'", (str(bundle), time.time(), int(run_id)))

    def fail(self, run_id: int, error: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET status = 'failed', error = ?, finished = ? "
                      "WHERE id = ? AND status IN ('queued', 'running')", (error, time.time(), int(run_id)))

    def cancel(self, run_id: int) -> bool:
        """Remove a run that is still queued (a running one is left alone). True when removed."""
        with self._tx() as c:
            return c.execute("DELETE FROM runs WHERE id = ? AND status = 'queued'", (int(run_id),)).rowcount == 1

    def recover(self, all_running: bool) -> list[int]:
        """Mark runs left ``running`` as failed (interrupted): all of them when ``all_running`` (no other
        worker is alive), otherwise those whose worker pid no longer exists. Returns their ids."""
        me = os.getpid()
        with self._tx() as c:
            rows = c.execute("SELECT id, worker_pid FROM runs WHERE status = 'running'").fetchall()
            stale = [r["id"] for r in rows
                     if r["worker_pid"] != me and (all_running or not pid_alive(r["worker_pid"]))]
            for rid in stale:
                c.execute("UPDATE runs SET status = 'failed', error = ?, finished = ? WHERE id = ?",
                          (INTERRUPTED, time.time(), rid))
        return stale


# -- worker liveness ------------------------------------------------------------------------------
def worker_alive(db: str | Path | None = None) -> bool:
    """True when some worker holds the lock of registry ``db``."""
    lock = _lock_path(db)
    if not lock.exists():
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _lock_path(db: str | Path | None) -> Path:
    p = Path(db).expanduser().resolve() if db else default_db()
    return p.with_name(p.name + ".lock")


_children: list[subprocess.Popen] = []
LOG_KEEP = 5_000_000  # worker.log is moved to worker.log.1 past this size when a worker starts


def start_worker(db: str | Path | None = None, idle_exit: float | None = None) -> int | None:
    """Start ``python -m stf runs worker`` in the background unless a worker is alive.

    Returns the new process id, or None when a worker was already running. The worker's output goes to
    ``<runs dir>/worker.log``; it exits by itself after ``idle_exit`` seconds with an empty queue (default
    ``$STF_WORKER_IDLE_EXIT``, else 600).
    """
    if idle_exit is None:
        idle_exit = env_number("STF_WORKER_IDLE_EXIT", 600.0, float, 0)
    for p in list(_children):  # reap finished children so they do not linger as zombies
        if p.poll() is not None:
            _children.remove(p)
    dbp = Path(db).expanduser().resolve() if db else default_db()
    if worker_alive(dbp):
        return None
    dbp.parent.mkdir(parents=True, exist_ok=True)
    # Two sessions (or a session and the command line) starting a worker at once: the first one starts it, the
    # others wait on <db>.start until it holds its lock and then find it alive.
    try:
        start_fd = os.open(dbp.with_name(dbp.name + ".start"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise RunsError(f"{dbp.parent}: cannot start a worker there ({e.strerror or e})") from e
    try:
        fcntl.flock(start_fd, fcntl.LOCK_EX)
        if worker_alive(dbp):
            return None
        return _spawn_worker(dbp, idle_exit)
    finally:
        os.close(start_fd)  # releases the lock


def _spawn_worker(dbp: Path, idle_exit: float) -> int:
    log_path = dbp.parent / "worker.log"
    try:  # the log of every worker started there, appended: keep the last LOG_KEEP bytes or so
        if log_path.stat().st_size > LOG_KEEP:
            os.replace(log_path, log_path.with_name("worker.log.1"))
    except OSError:
        pass
    log = open(log_path, "ab")
    start = log.tell()
    env = dict(os.environ)
    env.setdefault("STF_RUNS_DIR", str(dbp.parent))
    repo = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join([str(repo)] + [x for x in env.get("PYTHONPATH", "").split(os.pathsep) if x])
    try:
        env["STF_WORKER_IDLE_EXIT"] = str(idle_exit)
        p = subprocess.Popen([sys.executable, "-m", "stf", "runs", "worker", "--db", str(dbp)],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True, close_fds=True)
    finally:
        log.close()
    _children.append(p)
    # wait until it holds the lock (0.2 s on a quiet machine; seconds on a loaded one), so a second check
    # does not start another one
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and not worker_alive(dbp) and p.poll() is None:
        time.sleep(0.05)
    if p.poll() is not None and not worker_alive(dbp):  # it died before taking its lock: say why, not nothing
        try:
            with open(log_path, "rb") as f:
                f.seek(start)
                said = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
        except OSError:
            said = []
        raise RunsError(f"the worker stopped at once (exit status {p.returncode})"
                        + (f": {said[-1][:500]}" if said else "") + f"; its output is in {log_path}")
    return p.pid


# -- the worker -------------------------------------------------------------------------------------
EvaluateFn = Callable[..., Path]


def _default_evaluate(checkpoint, data, split, out, progress):
    import torch

    from .evaluate import evaluate

    # One thread by default: on a small shared CPU, torch's default (one per core) oversubscribes it and runs
    # an order of magnitude slower (measured: 1.0 s vs 11.7 s for 464 NW-UCLA samples with 2 busy cores).
    torch.set_num_threads(env_number("STF_TORCH_THREADS", 1, int, 1))
    # the directory belongs to this run's id: what a killed attempt left there is replaced
    return evaluate(checkpoint, data, split, out, device="auto", progress=progress, overwrite=True)


def execute(reg: Registry, run: Run, evaluate: EvaluateFn | None = None) -> Run:
    """Run one claimed run to done / failed. The progress callback writes at most every 0.5 s."""
    evaluate = evaluate or _default_evaluate
    out = bundle_dir(run.id, reg.root)
    last = [0.0]
    try:  # a folder the bundle cannot be written to fails the run now, not after the whole evaluation
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as e:
        reg.fail(run.id, f"{out.parent}: cannot write the run's bundle there ({e.strerror or e})")
        return reg.get(run.id)

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] >= 0.5:
            last[0] = now
            reg.set_progress(run.id, done, total)

    try:
        path = evaluate(run.checkpoint, run.data, run.split, out, progress)
    except (KeyboardInterrupt, SystemExit):
        reg.fail(run.id, INTERRUPTED)
        raise
    except Exception as e:  # any failure of one run is recorded on its row; the worker goes on
        reg.fail(run.id, one_line(e))
    else:
        reg.finish(run.id, path or out)
    return reg.get(run.id)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def worker(db: str | Path | None = None, once: bool = False, poll: float = 1.0, idle_exit: float | None = None,
           evaluate: EvaluateFn | None = None, log: Callable[[str], None] | None = None) -> int:
    """Claim and execute queued runs one at a time. Returns the number of runs executed.

    ``once``: execute what is queued, then return. Otherwise poll every ``poll`` seconds, and return
    after ``idle_exit`` seconds with nothing to do (None: never).
    """
    log = log or (lambda m: print(m, flush=True))
    reg = Registry(db)
    fd = os.open(reg.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:  # exclusive means no other worker is alive: every 'running' row is stale
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            alone = False
        stale = reg.recover(all_running=alone)
        if stale:
            log(f"marked interrupted runs as failed: {', '.join(map(str, stale))}")
        fcntl.flock(fd, fcntl.LOCK_SH)  # converts an exclusive lock; blocks only while someone probes
        if threading_main():
            signal.signal(signal.SIGTERM, _on_sigterm)
        n, idle_since = 0, time.monotonic()
        while True:
            run = reg.claim()
            if run is None:
                if once or (idle_exit is not None and time.monotonic() - idle_since >= idle_exit):
                    return n
                time.sleep(poll)
                continue
            log(f"run {run.id}: {run.checkpoint} on {run.data} [{run.split}]")
            done = execute(reg, run, evaluate)
            log(f"run {run.id}: {done.status}" + (f" ({done.error})" if done.error else f" -> {done.bundle}"))
            n += 1
            idle_since = time.monotonic()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        reg.close()


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# -- command line ---------------------------------------------------------------------------------
def _fmt_time(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def runs_from_cli(a) -> int:
    db = getattr(a, "db", None)
    if a.runs_cmd == "worker":
        idle = env_number("STF_WORKER_IDLE_EXIT", None, float, 0)
        n = worker(db, once=a.once, idle_exit=idle)
        print(f"worker: executed {n} run(s)")
        return 0
    if a.runs_cmd == "submit":
        if not a.checkpoint or not a.data:
            raise RunsError("runs submit needs --checkpoint and --data")
        if not Path(a.checkpoint).expanduser().is_file():  # a typo is caught now, not when the worker reaches it
            raise RunsError(f"{a.checkpoint}: no such checkpoint file")
        with Registry(db) as reg:
            rid = reg.submit(a.checkpoint, a.data, a.split)
        print(f"queued run {rid}")
        return 0
    if a.runs_cmd == "list":
        path = Path(db).expanduser() if db else default_db()
        if not path.exists():  # listing never creates a registry (nor the folders to it)
            print(f"no runs (no run registry at {path})")
            return 0
        with Registry(db) as reg:
            runs = reg.list()
        for r in runs:
            prog = f"{r.done}/{r.total}" if r.total else "-"
            extra = r.error if r.status == "failed" else (r.bundle or "")
            print(f"{r.id:4d}  {r.status:8s} {prog:>11s}  {_fmt_time(r.created)}  {r.checkpoint}  {r.data} "
                  f"[{r.split}]  {extra}")
        if not runs:
            print("no runs")
        return 0
    raise RunsError(f"unknown runs command {a.runs_cmd!r}")
