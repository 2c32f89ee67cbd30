"""The API's job journal: every accepted submission, written before the answer goes out.

POST /api/process answers as soon as the job is in this journal; a dispatcher (api/dispatch.py)
creates the Prefect run right after, and again after a crash or a restart, so accepting a job
never waits on the orchestrator's write path and nothing accepted is lost.

It is a small SQLite file in the data dir (`<data dir>/api/journal.db`), in WAL mode. A commit
is in the file (the operating system's cache) when `add` returns, so a crash or kill of the
API loses nothing, and a thread puts it on the disk within JOURNAL_FLUSH_S (1 s) (as Redis's
`appendfsync everysec`): waiting for the disk before each answer costs 50-560 ms whenever
jobs write on the same disk, measured here, which would be the submitter's wait. Only the
machine losing power in that second can lose an answer already given. JOURNAL_FLUSH_S=0
flushes every commit before the answer (`synchronous=FULL`).

One row per job: the request (the flow's parameters), the Gemini key until its Secret block
exists, the state (pending -> dispatched, or cancelled / failed before a run was made) and the
run's id once created. Idempotency keys live beside it for 24 hours.

The Gemini key waits here encrypted (Fernet, the key of it in `journal.key`, mode 0600, beside
the database, as Prefect keeps its own block encryption key beside its database), and is
erased once the dispatcher has put it in the job's Secret block.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import sqlite3
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from reelflow.errors import IdempotencyMismatch, QueueFull

EntryState = Literal["pending", "dispatched", "cancelled", "failed"]
IDEMPOTENCY_TTL = timedelta(hours=24)
# Rows of jobs whose run exists are only an index from job id to run id; Prefect keeps the rest.
KEEP_DISPATCHED = timedelta(days=30)
QUEUE_FULL_RETRY_S = 30
_COUNT_PENDING = "SELECT count(*) FROM jobs WHERE state = 'pending'"
# Counted by the dispatcher, read by the API: runs created but not started yet.
WAITING_IN_PREFECT = "waiting_in_prefect"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    secret BLOB,
    state TEXT NOT NULL,
    run_id TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created_at);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counts (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class JournalEntry:
    job_id: str
    request: dict
    state: EntryState
    run_id: str | None
    error: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class QueueLimit:
    """MAX_QUEUED_JOBS: jobs pending here and runs waiting in Prefect, together."""

    max_jobs: int

    def full(self, waiting: int) -> QueueFull:
        return QueueFull(
            f"{waiting} jobs are waiting already (MAX_QUEUED_JOBS is {self.max_jobs}); "
            "try again later",
            retry_after_s=QUEUE_FULL_RETRY_S,
        )


@dataclass
class _Call:
    """Work queued for a lane, and how to tell its caller: an event for a thread, a future on
    an event loop."""

    args: tuple
    event: threading.Event | None = None
    future: asyncio.Future | None = None
    result: Any = None
    error: BaseException | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class _Lane:
    """A thread that does the work queued for it: everything queued since its last round in
    one round (`work` gets the whole list), then it wakes each event loop once for all of that
    loop's callers. An event loop thus needs no thread per call: the API answers 50 requests
    at once from one loop, and a pool thread per journal call cost it more than the calls (up
    to 40 threads handing the interpreter lock around while the answers waited)."""

    def __init__(self, name: str, work: Callable[[list[_Call]], None]):
        self._work = work
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, *args: Any) -> Any:
        """From a thread: wait for the outcome."""
        mine = self._put(_Call(args, event=threading.Event()))
        mine.event.wait()
        return mine.outcome()

    async def acall(self, *args: Any) -> Any:
        """From an event loop: await the outcome."""
        mine = self._put(_Call(args, future=asyncio.get_running_loop().create_future()))
        await mine.future
        return mine.outcome()

    def close(self) -> None:
        """Finish what was queued; what comes after is refused."""
        self._closed = True
        self._calls.put(None)
        self._thread.join()
        with contextlib.suppress(queue.Empty):  # queued while closing: told so
            while True:
                if late := self._calls.get_nowait():
                    late.error = _closed()
                    _tell([late])

    def _put(self, call: _Call) -> _Call:
        if self._closed:
            raise _closed()
        self._calls.put(call)
        return call

    def _run(self) -> None:
        while True:
            batch = [self._calls.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(self._calls.get_nowait())
            calls = [call for call in batch if call is not None]
            if calls:
                try:
                    self._work(calls)
                except BaseException as exc:  # even so, no caller waits for ever
                    for call in calls:
                        call.result, call.error = None, exc
                _tell(calls)
            if len(calls) < len(batch):  # closing
                return


class Journal:
    """One SQLite connection for writes, one statement batch at a time, new jobs committed in
    groups by a thread of their own; a read connection per thread, the API's reads in a thread
    of their own."""

    def __init__(self, folder: Path, flush_s: float = 1.0):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "journal.db"
        self._fernet = _fernet(folder / "journal.key")
        self._lock = threading.Lock()
        self._db = _connect(self.path)
        self._closed = False
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'NORMAL' if flush_s > 0 else 'FULL'}")
        self._db.executescript(_SCHEMA)
        self._flusher = _Flusher(folder, self.path, flush_s) if flush_s > 0 else None
        # Reads have connections of their own, one per thread: under WAL they go on while a
        # commit waits for the disk and beside each other, so a status request never queues
        # behind a burst of submissions or behind another read.
        # A thread's connection closes when the thread ends (anyio retires idle ones).
        self._local = threading.local()
        self._readers: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._readers_lock = threading.Lock()
        # New jobs are committed in groups, by a thread of their own; the API's reads are done
        # by another, beside the commits (api/service.py).
        self._commits = _Lane("journal-commit", self._commit)
        self._reads = _Lane("journal-read", _each)

    def close(self) -> None:
        """Commit what was added, then close every connection. A read still running in another
        thread (the dispatcher's, when the app stops) finishes first: closing a connection
        under a running statement crashes the interpreter."""
        self._commits.close()
        self._reads.close()
        with self._lock, self._readers_lock:
            self._closed = True
            self._db.close()
            for reader in list(self._readers):
                reader.shut()
        if self._flusher is not None:
            self._flusher.stop()

    @property
    def flushes(self) -> int:
        """How many times the flusher put the journal on the disk (0 without one)."""
        return self._flusher.count if self._flusher is not None else 0

    def _written(self) -> None:
        if self._flusher is not None:
            self._flusher.pending.set()

    @property
    def _reader(self) -> _Connection:
        """This thread's read connection."""
        reader = getattr(self._local, "reader", None)
        if reader is None:
            with self._readers_lock:
                if self._closed:
                    raise _closed()
                reader = self._local.reader = _connect(self.path)
                self._readers.add(reader)
        return reader

    # -- accepting ------------------------------------------------------------------------

    def add(self, *args: Any, **kwargs: Any) -> str:
        """`accept`, from a thread: waits for the commit."""
        return self._commits.call(*self._entry(*args, **kwargs))

    async def accept(
        self,
        job_id: str,
        request: dict,
        secret: str | None = None,
        idempotency: tuple[str, str] | None = None,
        limit: QueueLimit | None = None,
    ) -> str:
        """Record a new job; with (key, fingerprint), the job already recorded under that key
        instead when there is one (its id is returned, nothing is added). With a `limit`,
        QueueFull when that many jobs wait already (counted in the same transaction).

        Group commit: whatever was added while the last commit ran is written in one
        transaction, so 50 submissions at once cost one commit (and, with flush_s=0, one disk
        flush), not 50 in a row. A caller that gives up waiting (a client gone) does not undo
        its job: it is recorded all the same."""
        entry = self._entry(job_id, request, secret, idempotency, limit)
        return await self._commits.acall(*entry)

    async def read(self, method: Callable[..., Any], *args: Any) -> Any:
        """One of the journal's reading methods, for an event loop, in the journal's reading
        thread."""
        return await self._reads.acall(method, *args)

    def _entry(self, job_id, request, secret=None, idempotency=None, limit=None) -> tuple:
        sealed = self._fernet.encrypt(secret.encode()) if secret else None
        return job_id, json.dumps(request), sealed, idempotency, limit

    def _commit(self, batch: list[_Call]) -> None:
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                waiting = _one(self._db, _COUNT_PENDING)[0] + self._count(self._db)
                for call in batch:
                    call.result, call.error = self._insert(*call.args, now, waiting)
                    waiting += call.result == call.args[0]  # a new job, not an earlier one
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._db.execute("ROLLBACK")
                for call in batch:
                    call.result, call.error = "", exc
        self._written()

    def _insert(
        self, job_id, request, sealed, idempotency, limit, now, waiting
    ) -> tuple[str, Exception | None]:
        if idempotency is not None:
            try:
                earlier = self._earlier(self._db, *idempotency)
            except IdempotencyMismatch as exc:
                return "", exc
            if earlier is not None:
                return earlier, None
        if limit is not None and waiting >= limit.max_jobs:
            return "", limit.full(waiting)
        if idempotency is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?)",
                (*idempotency, job_id, now),
            )
        self._db.execute(
            "INSERT INTO jobs VALUES (?, ?, ?, 'pending', NULL, NULL, ?, ?)",
            (job_id, request, sealed, now, now),
        )
        return job_id, None

    def find_idempotent(self, key: str, fingerprint: str) -> str | None:
        """The job recorded under `key` in the last 24 h; IdempotencyMismatch when it was
        recorded for another request."""
        return self._earlier(self._reader, key, fingerprint)

    def _earlier(self, db: _Connection, key: str, fingerprint: str) -> str | None:
        query = "SELECT fingerprint, job_id, created_at FROM idempotency WHERE key = ?"
        row = _one(db, query, (key,))
        if row is None or _age(row[2]) > IDEMPOTENCY_TTL:
            return None
        if row[0] != fingerprint:
            raise IdempotencyMismatch(
                "This Idempotency-Key was used for a different request in the last 24 hours"
            )
        return row[1]

    # -- dispatching ----------------------------------------------------------------------

    def pending(self, limit: int = 50) -> list[JournalEntry]:
        """Jobs whose run is not created yet, oldest first."""
        return self._select("WHERE state = 'pending' ORDER BY created_at LIMIT ?", (limit,))

    def secret(self, job_id: str) -> str | None:
        query = "SELECT secret FROM jobs WHERE job_id = ?"
        row = _one(self._reader, query, (job_id,))
        return self._fernet.decrypt(row[0]).decode() if row and row[0] else None

    def mark_dispatched(self, job_id: str, run_id: str) -> bool:
        """The run exists: forget the key. False when the job was cancelled meanwhile."""
        return self._update(
            "SET state = 'dispatched', run_id = ?, secret = NULL, updated_at = ? "
            "WHERE job_id = ? AND state = 'pending'",
            (run_id, _now(), job_id),
        )

    def mark_failed(self, job_id: str, error: str) -> bool:
        return self._update(
            "SET state = 'failed', error = ?, secret = NULL, updated_at = ? "
            "WHERE job_id = ? AND state = 'pending'",
            (error, _now(), job_id),
        )

    def cancel(self, job_id: str) -> bool:
        """Cancel a job whose run is not created yet; False when it is (or it ended)."""
        return self._update(
            "SET state = 'cancelled', secret = NULL, updated_at = ? "
            "WHERE job_id = ? AND state = 'pending'",
            (_now(), job_id),
        )

    # -- reading --------------------------------------------------------------------------

    def get(self, job_id: str) -> JournalEntry | None:
        found = self._select("WHERE job_id = ?", (job_id,))
        return found[0] if found else None

    def count_pending(self) -> int:
        return _one(self._reader, _COUNT_PENDING)[0]

    def count_waiting(self) -> int:
        """What MAX_QUEUED_JOBS limits: jobs pending here, and runs waiting in Prefect as the
        dispatcher last counted them."""
        return self.count_pending() + self._count(self._reader)

    def set_count(self, value: int) -> None:
        """The dispatcher's count of runs waiting in Prefect, written only when it changed
        (nothing to flush otherwise)."""
        if self._count(self._reader) == value:
            return
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO counts VALUES (?, ?)", (WAITING_IN_PREFECT, value)
            )
        self._written()

    def _count(self, db: _Connection) -> int:
        row = _one(db, "SELECT value FROM counts WHERE name = ?", (WAITING_IN_PREFECT,))
        return row[0] if row else 0

    def without_run(
        self, states: list[EntryState], limit: int, offset: int = 0
    ) -> list[JournalEntry]:
        """Jobs with no run (pending, or cancelled or failed before one was made), newest first."""
        marks = ",".join("?" * len(states))
        return self._select(
            f"WHERE state IN ({marks}) ORDER BY created_at DESC LIMIT ? OFFSET ?",
            (*states, limit, offset),
        )

    def count_without_run(self, states: list[EntryState]) -> int:
        marks = ",".join("?" * len(states))
        query = f"SELECT count(*) FROM jobs WHERE state IN ({marks})"
        return _one(self._reader, query, states)[0]

    def prune(self) -> int:
        """Forget expired idempotency keys, and dispatched jobs older than KEEP_DISPATCHED."""
        now = datetime.now(UTC)
        with self._lock:
            keys = self._db.execute(
                "DELETE FROM idempotency WHERE created_at < ?",
                ((now - IDEMPOTENCY_TTL).isoformat(),),
            ).rowcount
            jobs = self._db.execute(
                "DELETE FROM jobs WHERE state != 'pending' AND updated_at < ?",
                ((now - KEEP_DISPATCHED).isoformat(),),
            ).rowcount
        self._written()
        return keys + jobs

    def _select(self, where: str, args: tuple) -> list[JournalEntry]:
        query = "SELECT job_id, request, state, run_id, error, created_at, updated_at FROM jobs "
        rows = self._reader.rows(query + where, args)
        return [JournalEntry(r[0], json.loads(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]

    def _update(self, sql: str, args: tuple) -> bool:
        with self._lock:
            changed = self._db.execute(f"UPDATE jobs {sql}", args).rowcount == 1
        self._written()
        return changed


class _Flusher:
    """Puts the journal's write-ahead log on the disk at most `every_s` after a commit, in a
    thread of its own, and once more when stopped. SQLite itself syncs the log before a
    checkpoint moves it into the database, and the database after one."""

    def __init__(self, folder: Path, db: Path, every_s: float):
        self.folder, self.wal, self.every_s = folder, Path(f"{db}-wal"), every_s
        self.pending, self.count = threading.Event(), 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-flush", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.pending.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.pending.wait()
            self._stopping.wait(self.every_s)  # commits of the next second share one flush
            self.pending.clear()
            self._flush()

    def _flush(self) -> None:
        # The folder too: the log is a new file whenever the last connection removed it.
        for path in (self.wal, self.folder):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # checkpointed and removed: in the database already
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self.count += 1


class _Connection(sqlite3.Connection):
    """A connection whose reads and whose closing take turns (a subclass also lets the journal
    keep weak references to its readers)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.guard = threading.Lock()

    def rows(self, query: str, args=()) -> list:
        """Every row, the statement run to its end: a statement left open keeps a read
        transaction open, and that connection would go on seeing an old snapshot."""
        with self.guard:
            return self.execute(query, args).fetchall()

    def shut(self) -> None:
        with self.guard:
            self.close()


def _each(batch: list[_Call]) -> None:
    for call in batch:
        method, *args = call.args
        try:
            call.result = method(*args)
        except Exception as exc:
            call.error = exc


def _tell(batch: list[_Call]) -> None:
    """Wake each waiting caller: a thread by its event; an event loop once for all of its own."""
    loops: dict[asyncio.AbstractEventLoop, list[_Call]] = {}
    for call in batch:
        if call.event is not None:
            call.event.set()
        else:
            loops.setdefault(call.future.get_loop(), []).append(call)
    for loop, calls in loops.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
            loop.call_soon_threadsafe(_settle, calls)


def _settle(calls: list[_Call]) -> None:
    for call in calls:
        if not call.future.done():  # not cancelled meanwhile
            call.future.set_result(None)


def _closed() -> sqlite3.ProgrammingError:
    return sqlite3.ProgrammingError("the job journal is closed")


def _connect(path: Path) -> _Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=_Connection)
    db.execute("PRAGMA busy_timeout=5000")
    return db


def _one(db: _Connection, query: str, args=()) -> tuple | None:
    rows = db.rows(query, args)
    return rows[0] if rows else None


def _fernet(path: Path):
    """The journal's own encryption key, made on first use and readable by this user only."""
    from cryptography.fernet import Fernet

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return Fernet(path.read_bytes().strip())
    with os.fdopen(fd, "wb") as fh:
        fh.write(Fernet.generate_key())
        fh.flush()
        os.fsync(fh.fileno())
    return Fernet(path.read_bytes().strip())


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _age(stamp: str) -> timedelta:
    return datetime.now(UTC) - datetime.fromisoformat(stamp)
