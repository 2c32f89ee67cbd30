"""The stack stops only what it started: the flow-run processes its worker started (each in a
process group of its own, as Prefect's runner starts them), never a process that merely looks
like one (same PREFECT_API_URL, even the same flow run id in its environment)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

from deployments.processes import ChildWatch, children, start_time
from deployments.stack import Stack

RUN_ID = "6f1e8a52-0000-4000-8000-000000000001"
API_URL = "http://127.0.0.1:4299/api"

# A stand-in worker: starts one "flow run" (a child in its own session whose own child is in a
# process group of its own, as reelflow.ffmpeg_tool starts ffmpeg), prints the run's pid, then
# waits.
WORKER = textwrap.dedent(f"""
    import os, subprocess, sys, time
    env = dict(os.environ, PREFECT__FLOW_RUN_ID="{RUN_ID}")
    run = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, time; "
         "subprocess.Popen(['sleep', '300'], process_group=0); time.sleep(300)"],
        env=env, start_new_session=True)
    print(run.pid, flush=True)
    time.sleep(300)
""")


def _alive(pid: int, started: int | None) -> bool:
    return started is not None and start_time(pid) == started


def _wait_for(predicate, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_workers_runs_are_stopped_and_nothing_else(tmp_path):
    env = dict(os.environ, PREFECT_API_URL=API_URL)
    lookalike = subprocess.Popen(  # a user's own `prefect` command against the same server
        [sys.executable, "-c", "import time; time.sleep(300)"],
        env=dict(env, PREFECT__FLOW_RUN_ID=RUN_ID), start_new_session=True,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER], env=env, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    stack = Stack(env={"PREFECT_API_URL": API_URL})
    try:
        stack.processes["worker"] = worker
        stack.watches["worker"] = ChildWatch(worker.pid, every_s=0.05)
        run_pid = int(worker.stdout.readline())
        _wait_for(lambda: children(run_pid))  # the run's own child (ffmpeg's place)
        grandchild = children(run_pid)[0]
        run_started, grandchild_started = start_time(run_pid), start_time(grandchild)
        _wait_for(lambda: run_pid in stack.watches["worker"].seen)

        stack.stop_process("worker", sig=9)  # the worker dies; its run lives on, orphaned
        assert _alive(run_pid, run_started)
        assert stack.kill_flow_runs("some-other-run") == 0
        assert stack.kill_flow_runs(RUN_ID) == 1

        _wait_for(lambda: not _alive(run_pid, run_started))
        _wait_for(lambda: not _alive(grandchild, grandchild_started))
        assert lookalike.poll() is None, "a process the stack did not start was killed"
        assert stack.kill_flow_runs() == 0, "a dead run was killed twice"
    finally:
        for watch in stack.watches.values():
            watch.close()
        for proc in (lookalike, worker):
            proc.kill()
            proc.wait()
