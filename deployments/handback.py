"""A worker that is told to stop hands its running jobs back instead of cancelling them.

On SIGTERM (systemd, Docker, Kubernetes, `make up` stopping) or Ctrl-C, the worker:

1. finds its flow-run processes: its own children that carry a flow run id;
2. kills each with its process group (ffmpeg included), at once;
3. sets each run that had not ended to Scheduled, named "Rescheduled", now: the server gives
   it to the next worker that polls, which starts it again (its finished stages are cached by
   content, so little work is repeated);
4. exits, within a second or two.

Why kill before rescheduling, and why inside the signal handler: a run process that lived on
could still report a state over ours, and the runner, if its event loop got to run, would see
its process die and mark the run Crashed (and run the crash hooks, which delete the job's
Gemini key block). The handler runs on the main thread, which drives the runner's loop, so
nothing else of the runner runs until the process is gone. A run handed back too often stops
(flows/clip.py MAX_ATTEMPTS).
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from typing import NoReturn

from prefect.runner import Runner

from deployments.automations import HANDED_BACK
from deployments.processes import children, flow_run_of, kill_group, start_time

logger = logging.getLogger("reelflow.worker")


class HandingBackRunner(Runner):
    """Prefect's Runner, whose SIGTERM hands the runs back (Prefect's cancels them)."""

    def handle_sigterm(self, *args, **kwargs) -> None:
        hand_back_and_exit()


def hand_back_and_exit() -> NoReturn:
    runs = {pid: run for pid in children(os.getpid()) if (run := flow_run_of(pid))}
    for pid in runs:
        kill_group(pid, start_time(pid))
    handed = _reschedule(set(runs.values()))
    logger.info("stopping: %d running job(s) handed back to the queue", handed)
    print(f"reelflow worker: stopped; {handed} running job(s) handed back", file=sys.stderr)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


def _reschedule(run_ids: set[str]) -> int:
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    handed = 0
    try:
        with get_client(sync_client=True) as client:
            for run_id in run_ids:
                run = client.read_flow_run(uuid.UUID(run_id))
                if run.state is not None and run.state.is_final():
                    continue  # it ended (an upload was still going): nothing to hand back
                message = "Handed back: the worker running it was stopped; it runs again"
                state = Scheduled(name=HANDED_BACK, message=message)
                client.set_flow_run_state(run.id, state, force=True)
                handed += 1
    except Exception as exc:  # the server is gone too: the automations hand them back later
        print(f"reelflow worker: could not hand runs back: {exc}", file=sys.stderr)
    return handed
