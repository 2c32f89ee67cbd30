"""The dispatcher: turns journaled jobs into Prefect runs, in a process of its own beside the API.

    python -m api.dispatch --journal <data dir>/api [--flush-s 1]
    (the API starts it, restarts it and stops it: api/dispatch_process.py)

A process, not a thread of the API: creating a run means waiting on Prefect and validating its
answers with pydantic, which held the API's interpreter lock for 50-320 ms at a time (measured
under `make bench`) while 50 submitters waited for their answers. Here it holds nobody's.

POST /api/process only writes the job to the journal (api/journal.py) and writes a byte to this
process's standard input to wake it. For each pending job it saves the Gemini key in the job's
Secret block (its name comes from the job id, so a second try overwrites the first), then
creates the clip-video run with the job id as Prefect's idempotency key: after a crash between
"run created" and "journal updated", the next try gets the same run back instead of a second
one. Until then /api/status answers "queued" from the journal.

Prefect unreachable, or the deployment not registered yet (the worker still starting): the job
waits and is tried again, with a growing pause, for as long as it takes. A run Prefect refuses
outright (4xx) fails the job with that reason. The loop also counts the runs waiting in Prefect
every few seconds into the journal, which MAX_QUEUED_JOBS needs and which no POST should have
to ask Prefect for.

It stops on SIGTERM or SIGINT (a run being created is abandoned: the job stays pending and its
run is created on the next start, by its idempotency key), and when its standard input closes:
the API that started it is gone, however it ended.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import anyio
import httpx
from prefect.client.orchestration import PrefectClient, get_client
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
# Runs can wait a moment; answers cannot. The dispatcher shares the API's session, and with it
# the API's share of the CPU (deployments/processes.py, give_up_cpu): the API gets most of it.
NICE = 5
WAITING_TYPES = [StateType.SCHEDULED, StateType.PENDING]


class Dispatcher:
    def __init__(
        self, journal: Journal, client: PrefectClient, deployment_path: str = CLIP_DEPLOYMENT_PATH
    ):
        self.journal = journal
        self.client = client
        self.deployment_path = deployment_path
        self._deployment: uuid.UUID | None = None
        self._pause = RETRY_FIRST_S
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENCY)

    def wake(self) -> None:
        """A job was accepted (a byte on standard input)."""
        self._wake.set()

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
        """Dispatch until cancelled (a signal, or the API gone)."""
        counting = asyncio.create_task(self._count_forever())
        try:
            while True:
                self._wake.clear()
                if await self.dispatch_pending():
                    self._pause = RETRY_FIRST_S
                    if await self._woken(within_s=5):
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
            if not await self._woken(min(QUIET_S, left)):
                return

    async def _woken(self, within_s: float) -> bool:
        """Whether a wake-up came within `within_s`. Not asyncio.wait_for: on Python 3.11 it
        can swallow a cancellation that comes with the wake-up (a byte, then SIGTERM), and the
        process would never stop."""
        try:
            async with asyncio.timeout(within_s):
                await self._wake.wait()
        except TimeoutError:
            return False
        return True

    async def dispatch_pending(self) -> bool:
        """Create runs for the pending jobs; False when one could not be made and waits."""
        while entries := await self.journal.read(self.journal.pending, BATCH):
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
        key = await self.journal.read(self.journal.secret, entry.job_id)
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
                count = await self._count_waiting()
                await anyio.to_thread.run_sync(self.journal.set_count, count)
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


# -- the process --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create Prefect runs for the API's jobs.")
    parser.add_argument("--journal", type=Path, required=True, help="the journal's folder")
    parser.add_argument("--flush-s", type=float, default=1.0, help="JOURNAL_FLUSH_S")
    args = parser.parse_args(argv)
    os.nice(NICE)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request to Prefect
    asyncio.run(serve(args.journal, args.flush_s))
    return 0


async def serve(folder: Path, flush_s: float) -> None:
    """Dispatch until SIGTERM, SIGINT or the end of standard input. Only the dispatching is
    cancelled: closing the client and the journal runs to its end, whatever else arrives."""
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    journal = Journal(folder, flush_s)
    try:
        async with get_client() as client:
            dispatcher = Dispatcher(journal, client)
            loop.add_reader(sys.stdin.fileno(), _read_wakes, loop, dispatcher, stop)
            work, stopping = asyncio.create_task(dispatcher.run()), asyncio.create_task(stop.wait())
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
            work.cancel()
            stopping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work  # raises what made it end on its own
    finally:
        loop.remove_reader(sys.stdin.fileno())
        await anyio.to_thread.run_sync(journal.close)


def _read_wakes(loop: asyncio.AbstractEventLoop, dispatcher: Dispatcher, stop: asyncio.Event):
    try:
        got = os.read(sys.stdin.fileno(), 4096)
    except BlockingIOError:
        return
    except OSError:
        got = b""
    if got:
        dispatcher.wake()
    else:  # the API closed its end, or ended
        loop.remove_reader(sys.stdin.fileno())
        stop.set()


if __name__ == "__main__":
    sys.exit(main())
