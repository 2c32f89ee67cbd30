"""The dispatcher: turns journaled jobs into Prefect runs, in the API process, in the background.

It runs in a thread of its own with its own event loop and Prefect client: creating a run
means waiting on Prefect and validating its answers, and none of that may hold up the API's
event loop while submissions pour in (accepting comes first, dispatching right after).

POST /api/process only writes the job to the journal (api/journal.py) and wakes this loop. For
each pending job it saves the Gemini key in the job's Secret block (its name comes from the job
id, so a second try overwrites the first), then creates the clip-video run with the job id as
Prefect's idempotency key: after a crash between "run created" and "journal updated", the next
try gets the same run back instead of a second one. Until then /api/status answers "queued"
from the journal.

Prefect unreachable, or the deployment not registered yet (the worker still starting): the job
waits and is tried again, with a growing pause, for as long as it takes. A run Prefect refuses
outright (4xx) fails the job with that reason. The loop also counts the runs waiting in Prefect
every few seconds, which MAX_QUEUED_JOBS needs and which no POST should have to ask for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid

import anyio
import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled

from api.journal import Journal, JournalEntry
from flows.names import CLIP_DEPLOYMENT_PATH
from reelflow.errors import ReelflowError, Unavailable
from reelflow.secrets import delete_key_block

logger = logging.getLogger("reelflow.api.dispatch")

BATCH = 20
# Run creations at once: SQLite serialises Prefect's writes, so more only lengthen the tail.
CONCURRENCY = 4
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 10.0
COUNT_EVERY_S = 2.0
# A burst of submissions is answered before runs are made for it: creating a run loads the
# Prefect server and starts the worker's job processes, on the cores the answers need. The
# dispatcher waits for a pause this long between submissions, but never longer than HOLD_MAX_S.
QUIET_S = 0.15
HOLD_MAX_S = 2.0
PRUNE_EVERY_S = 3600.0
WAITING_TYPES = [StateType.SCHEDULED, StateType.PENDING]


class Dispatcher:
    def __init__(self, journal: Journal, deployment_path: str = CLIP_DEPLOYMENT_PATH):
        self.journal = journal
        self.deployment_path = deployment_path
        self.waiting_in_prefect = 0
        self.client: PrefectClient | None = None
        self._deployment: uuid.UUID | None = None
        self._pause = RETRY_FIRST_S
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None

    # -- the thread -----------------------------------------------------------------------

    def start(self) -> None:
        """Dispatch in a thread of its own until `stop`."""
        started = threading.Event()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(started),), name="reelflow-dispatcher",
            daemon=True,
        )  # fmt: skip
        self._thread.start()
        started.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel the loop (a run being created is abandoned: the job stays pending and is
        created on the next start, by its idempotency key) and wait for the thread."""
        if self._loop is not None and self._main is not None:
            with contextlib.suppress(RuntimeError):  # its loop has already ended
                self._loop.call_soon_threadsafe(self._main.cancel)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def wake(self) -> None:
        """Called from the API's event loop after a job was accepted: thread-safe."""
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.set)

    async def _serve(self, started: threading.Event) -> None:
        from prefect.client.orchestration import get_client

        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENCY)
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            async with get_client() as client:
                self.client = client
                await self.run()

    async def deployment_id(self) -> uuid.UUID:
        if self._deployment is None:
            try:
                found = await self.client.read_deployment_by_name(self.deployment_path)
            except ObjectNotFound as exc:
                raise Unavailable(
                    f"The {self.deployment_path} deployment is not registered yet: is the "
                    "worker running?"
                ) from exc
            self._deployment = found.id
        return self._deployment

    # -- dispatching ----------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch until cancelled (the API's shutdown)."""
        counting = asyncio.create_task(self._count_forever())
        try:
            while True:
                self._wake.clear()
                if await self.dispatch_pending():
                    self._pause = RETRY_FIRST_S
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=5)
                        await self._settle()
                else:  # something failed: wait, longer each time, unless woken
                    await asyncio.sleep(self._pause)
                    self._pause = min(self._pause * 2, RETRY_MAX_S)
        finally:
            counting.cancel()

    async def _settle(self) -> None:
        """Until submissions pause for QUIET_S, or HOLD_MAX_S have passed."""
        until = time.monotonic() + HOLD_MAX_S
        while (left := until - time.monotonic()) > 0:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min(QUIET_S, left))
            except TimeoutError:
                return

    async def dispatch_pending(self) -> bool:
        """Create runs for the pending jobs; False when one could not be made and waits."""
        while entries := await anyio.to_thread.run_sync(self.journal.pending, BATCH):
            results = await asyncio.gather(*(self._dispatch_one(e) for e in entries))
            if not all(results):
                return False
        return True

    async def _dispatch_one(self, entry: JournalEntry) -> bool:
        async with self._slots:
            try:
                run_id = await self._create_run(entry)
            except ReelflowError as exc:  # the deployment is not registered yet
                logger.info("Job %s waits: %s", entry.job_id, exc)
                return False
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code < 500 and exc.response.status_code not in (408, 429):
                    reason = f"Prefect refused to start the job (HTTP {exc.response.status_code})"
                    logger.error("%s: %s", reason, exc.response.text[:300])
                    await anyio.to_thread.run_sync(self.journal.mark_failed, entry.job_id, reason)
                    await delete_key_block(entry.request.get("gemini_key_block"))
                    return True
                logger.warning("Job %s waits: Prefect answered %s", entry.job_id, exc)
                return False
            except (httpx.HTTPError, OSError) as exc:
                logger.warning("Job %s waits: Prefect unreachable (%s)", entry.job_id, exc)
                return False
        kept = await anyio.to_thread.run_sync(self.journal.mark_dispatched, entry.job_id, run_id)
        if not kept:  # cancelled while its run was being made: cancel the run as well
            await self.client.set_flow_run_state(
                uuid.UUID(run_id), Cancelled(message="Cancelled by the user"), force=True
            )
            await delete_key_block(entry.request.get("gemini_key_block"))
        return True

    async def _create_run(self, entry: JournalEntry) -> str:
        from prefect.blocks.system import Secret

        deployment_id = await self.deployment_id()
        block = entry.request.get("gemini_key_block")
        key = await anyio.to_thread.run_sync(self.journal.secret, entry.job_id)
        if block and key:
            await Secret(value=key).asave(block, overwrite=True)
        run = await self.client.create_flow_run_from_deployment(
            deployment_id,
            parameters={"request": entry.request},
            tags=["reelflow", "api"],
            idempotency_key=entry.job_id,
        )
        return str(run.id)

    async def _count_forever(self) -> None:
        """Count the runs waiting in Prefect every few seconds; tidy the journal hourly."""
        pruned = 0.0
        while True:
            with contextlib.suppress(Exception):
                self.waiting_in_prefect = await self._count_waiting()
            if time.monotonic() - pruned > PRUNE_EVERY_S:
                pruned = time.monotonic()
                await anyio.to_thread.run_sync(self.journal.prune)
            await asyncio.sleep(COUNT_EVERY_S)

    async def _count_waiting(self) -> int:
        state = FlowRunFilterState(type=FlowRunFilterStateType(any_=WAITING_TYPES))
        return await self.client.count_flow_runs(
            flow_run_filter=FlowRunFilter(state=state),
            deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[await self.deployment_id()])
            ),
        )
