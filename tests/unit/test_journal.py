"""The API's job journal on its own: durable entries, the key sealed at rest, idempotency keys
that expire after 24 hours, and cancel and dispatch that cannot both win."""

from __future__ import annotations

import sqlite3
import stat
import time
from datetime import UTC, datetime, timedelta

import pytest

from api.journal import Journal, QueueLimit
from reelflow.errors import IdempotencyMismatch, QueueFull

KEY = "AIzaSy-journal-secret-31"


@pytest.fixture
def journal(tmp_path):
    opened = Journal(tmp_path / "api")
    yield opened
    opened.close()


def test_an_entry_outlives_the_process_and_its_key_is_sealed(tmp_path):
    journal = Journal(tmp_path / "api")
    journal.add("j1", {"source": "http://x/v.mp4"}, secret=KEY)
    journal.close()
    for path in (tmp_path / "api").iterdir():
        assert KEY.encode() not in path.read_bytes(), path
    assert stat.S_IMODE((tmp_path / "api" / "journal.key").stat().st_mode) == 0o600

    reopened = Journal(tmp_path / "api")
    (entry,) = reopened.pending()
    assert (entry.job_id, entry.state, entry.request) == (
        "j1",
        "pending",
        {"source": "http://x/v.mp4"},
    )
    assert reopened.secret("j1") == KEY
    assert reopened.mark_dispatched("j1", "run-1")
    assert reopened.secret("j1") is None, "the key stays only until its block exists"
    assert reopened.get("j1").run_id == "run-1" and reopened.pending() == []
    reopened.close()


def test_idempotency_keys_match_expire_and_refuse_other_requests(journal, tmp_path):
    assert journal.add("j1", {}, idempotency=("k", "body-a")) == "j1"
    assert journal.add("j2", {}, idempotency=("k", "body-a")) == "j1", "a repeat: the first job"
    assert journal.get("j2") is None
    assert journal.find_idempotent("k", "body-a") == "j1"
    with pytest.raises(IdempotencyMismatch):
        journal.add("j3", {}, idempotency=("k", "body-b"))
    assert journal.get("j3") is None
    _age(tmp_path, "UPDATE idempotency SET created_at = ?", hours=25)
    assert journal.find_idempotent("k", "body-b") is None, "24 h later the key is free"
    assert journal.add("j4", {}, idempotency=("k", "body-b")) == "j4"
    assert journal.find_idempotent("k", "body-b") == "j4"


def test_cancel_and_dispatch_cannot_both_win(journal):
    journal.add("j1", {})
    assert journal.cancel("j1")
    assert not journal.mark_dispatched("j1", "run-1"), "a cancelled job got a run"
    journal.add("j2", {})
    assert journal.mark_dispatched("j2", "run-2")
    assert not journal.cancel("j2"), "a job with a run is cancelled through Prefect"
    assert [e.job_id for e in journal.without_run(["cancelled"], 10)] == ["j1"]
    assert journal.count_pending() == 0


def test_prune_forgets_old_keys_and_old_dispatched_jobs_only(journal, tmp_path):
    journal.add("old", {}, idempotency=("k1", "a"))
    journal.mark_dispatched("old", "run-1")
    journal.add("waiting", {})
    _age(tmp_path, "UPDATE jobs SET updated_at = ?", hours=24 * 31)
    _age(tmp_path, "UPDATE idempotency SET created_at = ?", hours=25)
    assert journal.prune() == 2
    assert journal.get("old") is None
    assert journal.get("waiting") is not None, "a job still waiting for its run was forgotten"


def _age(tmp_path, sql: str, hours: float) -> None:
    stamp = (datetime.now(UTC) - timedelta(hours=hours)).isoformat()
    with sqlite3.connect(tmp_path / "api" / "journal.db") as db:
        db.execute(sql, (stamp,))


def test_concurrent_adds_are_each_recorded_once_in_shared_commits(journal):
    """50 submitters at once: every job is recorded, a repeated key in the same group commit
    still answers with the first job, and a mismatch fails only its own caller."""
    from concurrent.futures import ThreadPoolExecutor

    def add(n: int) -> str:
        if n % 10 == 0:
            return journal.add(f"j{n}", {"n": n}, idempotency=("same", "body"))
        return journal.add(f"j{n}", {"n": n})

    with ThreadPoolExecutor(max_workers=50) as pool:
        ids = list(pool.map(add, range(50)))
    repeated = {ids[n] for n in range(0, 50, 10)}
    assert len(repeated) == 1, "one job for one idempotency key"
    assert ids[1:10] == [f"j{n}" for n in range(1, 10)]
    assert journal.count_pending() == 50 - 4
    with pytest.raises(IdempotencyMismatch):
        journal.add("jx", {}, idempotency=("same", "other body"))
    assert journal.count_pending() == 46


def test_submissions_on_an_event_loop_are_recorded_without_a_thread_each(journal):
    """The API's path: 50 submissions awaited at once on one loop, repeats and a mismatch
    among them, each answered with its own outcome, then 50 reads; no thread is started for
    them (the journal's own two do the work)."""
    import asyncio
    import threading

    async def submit_all() -> list:
        async def one(n: int):
            if n == 49:
                return await journal.accept("jx", {}, idempotency=("same", "other body"))
            if n % 10 == 0:
                return await journal.accept(f"j{n}", {"n": n}, idempotency=("same", "body"))
            return await journal.accept(f"j{n}", {"n": n}, secret=KEY)

        threads = threading.active_count()
        answers = await asyncio.gather(*(one(n) for n in range(50)), return_exceptions=True)
        entries = await asyncio.gather(*(journal.read(journal.get, f"j{n}") for n in range(50)))
        assert threading.active_count() == threads, "a thread per call"
        assert [e.request for e in entries[1:10]] == [{"n": n} for n in range(1, 10)]
        with pytest.raises(IdempotencyMismatch):  # a read's error reaches its caller
            await journal.read(journal.find_idempotent, "same", "other body")
        return answers

    answers = asyncio.run(submit_all())
    assert isinstance(answers[49], IdempotencyMismatch)
    assert len({answers[n] for n in range(0, 50, 10)}) == 1, "one job for one key"
    assert answers[1:10] == [f"j{n}" for n in range(1, 10)]
    assert journal.count_pending() == 50 - 1 - 4
    assert journal.secret("j1") == KEY


def test_a_submitter_that_gives_up_still_leaves_its_job_recorded(journal):
    """A client gone while its POST waits for the commit: its wait is cancelled, the job is
    recorded all the same (the dispatcher makes its run), and the loop reports no error."""
    import asyncio

    async def give_up() -> list:
        loop = asyncio.get_running_loop()
        errors: list = []
        loop.set_exception_handler(lambda _, context: errors.append(context))
        waiting = asyncio.create_task(journal.accept("gone", {"n": 1}))
        await asyncio.sleep(0)  # queued for the commit
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await journal.accept("next", {}) == "next"  # the commit after it ran and told
        await asyncio.sleep(0.05)
        return errors

    assert asyncio.run(give_up()) == []
    assert journal.get("gone") is not None


def test_closing_commits_what_was_added_and_refuses_the_rest(tmp_path):
    """Adds racing the close: each one either got its id and is in the file, or was told the
    journal is closed; none waits for ever."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    journal = Journal(tmp_path / "api")
    journal.add("j-first", {})

    def add(n: int) -> str:
        try:
            return journal.add(f"j{n}", {"n": n})
        except sqlite3.ProgrammingError as exc:
            assert "closed" in str(exc)
            return ""

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = pool.map(add, range(200))
        journal.close()
        recorded = {answer for answer in answers if answer} | {"j-first"}
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        journal.add("late", {})
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        asyncio.run(journal.read(journal.get, "j-first"))
    reopened = Journal(tmp_path / "api")
    assert {e.job_id for e in reopened.pending(limit=500)} == recorded
    reopened.close()


def test_a_full_queue_refuses_new_jobs_in_the_same_commit_but_answers_repeats(journal):
    limit = QueueLimit(max_jobs=3)
    journal.set_count(1)  # the dispatcher counted one run waiting in Prefect
    assert journal.add("j1", {}, idempotency=("order-1", "f1"), limit=limit) == "j1"
    assert journal.add("j2", {}, limit=limit) == "j2"
    with pytest.raises(QueueFull, match="3 jobs are waiting already"):
        journal.add("j3", {}, limit=limit)
    assert journal.add("j4", {}, idempotency=("order-1", "f1"), limit=limit) == "j1"
    journal.mark_dispatched("j2", "run-2")
    assert journal.add("j5", {}, limit=limit) == "j5"
    assert [e.job_id for e in journal.pending()] == ["j1", "j5"]
    assert journal.count_waiting() == 3
    journal.set_count(0)  # the run started
    assert journal.count_waiting() == 2


def test_reads_see_every_commit_at_once(journal):
    """Reads have their own connection; each one sees what was committed before it."""
    for n in range(3):
        journal.add(f"j{n}", {"n": n}, idempotency=(f"key-{n}", "f"))
        assert journal.find_idempotent(f"key-{n}", "f") == f"j{n}"
        assert journal.count_pending() == n + 1
        assert journal.get(f"j{n}").request == {"n": n}


RACE = """
import sqlite3, sys, threading
from pathlib import Path
from api.journal import Journal

journal = Journal(Path(sys.argv[1]))
for n in range(300):
    journal.add(f"j{n}", {"words": ["word"] * 50})
failures = []

def read():
    try:
        while True:
            journal.pending(limit=300)
    except sqlite3.ProgrammingError as exc:
        failures.append(str(exc))

readers = [threading.Thread(target=read) for _ in range(4)]
for reader in readers:
    reader.start()
threading.Event().wait(0.3)
journal.close()
for reader in readers:
    reader.join()
assert len(failures) == 4, failures
"""


def test_closing_while_other_threads_read_stops_them_with_an_error(tmp_path):
    """The app closes the journal while the dispatcher's thread may still be reading: the read
    ends with an error, and the interpreter does not crash (it did in CI, a segfault)."""
    import subprocess
    import sys

    for attempt in range(5):
        done = subprocess.run(
            [sys.executable, "-c", RACE, str(tmp_path / f"api-{attempt}")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-2000:]


KILLED = """
import os, signal, sys
from pathlib import Path
from api.journal import Journal

journal = Journal(Path(sys.argv[1]), flush_s=float(sys.argv[2]))
journal.add("j1", {"source": "http://x/v.mp4"})
os.kill(os.getpid(), signal.SIGKILL)  # the API killed the moment it has answered
"""


@pytest.mark.parametrize("flush_s", [1.0, 0.0])
def test_a_job_outlives_the_api_killed_right_after_its_answer(tmp_path, flush_s):
    import subprocess
    import sys

    killed = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path / "api"), str(flush_s)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-2000:]
    reopened = Journal(tmp_path / "api")
    assert [e.job_id for e in reopened.pending()] == ["j1"]
    reopened.close()


def test_commits_reach_the_disk_within_the_flush_interval_and_at_close(tmp_path):
    journal = Journal(tmp_path / "api", flush_s=1.0)
    assert journal.flushes == 0, "nothing written, nothing to flush"
    journal.add("j1", {})
    journal.add("j2", {})
    deadline = time.monotonic() + 5
    while journal.flushes == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert journal.flushes == 1, "two commits a moment apart share one flush"
    journal.mark_dispatched("j1", "run-1")
    journal.close()
    assert journal.flushes == 2, "closing flushes what is left"
    inline = Journal(tmp_path / "api", flush_s=0)  # every commit flushed before it returns
    inline.add("j3", {})
    assert inline.flushes == 0, "no flusher thread"
    inline.close()


@pytest.mark.parametrize("value", ["-1", "61", "soon"])
def test_a_bad_flush_interval_is_refused_by_name(monkeypatch, value):
    from pydantic import ValidationError

    from reelflow.settings import Settings

    monkeypatch.setenv("JOURNAL_FLUSH_S", value)
    with pytest.raises(ValidationError, match="JOURNAL_FLUSH_S"):
        Settings()
