"""The stack stops only what it started: the flow-run processes its worker started (each in a
process group of its own, as Prefect's runner starts them), never a process that merely looks
like one (same PREFECT_API_URL, even the same flow run id in its environment). And the worker's
lower CPU priority reaches its session's share of the CPU, which its runs inherit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from deployments.processes import ChildWatch, autogroup_nice, children, living, start_time
from deployments.stack import ROOT, Stack

RUN_ID = "6f1e8a52-0000-4000-8000-000000000001"
API_URL = "http://127.0.0.1:4299/api"

# A stand-in worker: starts one "flow run" (a child whose own child is in a process group of
# its own, as reelflow.ffmpeg_tool starts ffmpeg), prints the run's pid, then waits. The run is
# in the worker's process group (as Prefect's runner starts runs), or in a session of its own
# (as a runner might).
WORKER = textwrap.dedent(f"""
    import os, subprocess, sys, time
    env = dict(os.environ, PREFECT__FLOW_RUN_ID="{RUN_ID}")
    run = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, time; "
         "subprocess.Popen(['sleep', '300'], process_group=0); time.sleep(300)"],
        env=env, start_new_session=sys.argv[1] == "own-session")
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


@pytest.mark.parametrize("run_session", ["worker's group", "own-session"])
def test_a_killed_workers_runs_are_stopped_and_nothing_else(tmp_path, run_session):
    env = dict(os.environ, PREFECT_API_URL=API_URL)
    lookalike = subprocess.Popen(  # a user's own `prefect` command against the same server
        [sys.executable, "-c", "import time; time.sleep(300)"],
        env=dict(env, PREFECT__FLOW_RUN_ID=RUN_ID), start_new_session=True,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, run_session], env=env, stdout=subprocess.PIPE, text=True,
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
        watch = stack.watches["worker"]
        _wait_for(lambda: grandchild in {pid for pid, _ in watch.below.get(run_pid, ())})

        stack.stop_process("worker", sig=9)  # the worker dies; what escaped its group lives on
        assert _alive(grandchild, grandchild_started), "the run's ffmpeg outlives its worker"
        assert stack.kill_flow_runs("some-other-run") == 0
        assert stack.kill_flow_runs(RUN_ID) == 1

        _wait_for(lambda: not living(run_pid, run_started))
        _wait_for(lambda: not living(grandchild, grandchild_started))
        assert not watch.alive(RUN_ID)
        assert lookalike.poll() is None, "a process the stack did not start was killed"
        assert stack.kill_flow_runs() == 0, "a dead run was killed twice"
    finally:
        for watch in stack.watches.values():
            watch.close()
        for proc in (lookalike, worker):
            proc.kill()
            proc.wait()


# Prints the process's nice, its session's autogroup's, and a child's autogroup's (its ffmpeg).
NICED = textwrap.dedent("""
    import os, subprocess, sys
    from deployments.processes import autogroup_nice, give_up_cpu
    give_up_cpu(int(sys.argv[1]))
    child = subprocess.Popen(["sleep", "5"])
    print(os.getpriority(os.PRIO_PROCESS, 0), autogroup_nice(os.getpid()),
          autogroup_nice(child.pid))
    child.kill()
""")
needs_autogroups = pytest.mark.skipif(
    autogroup_nice(os.getpid()) is None, reason="this kernel has no autogroups"
)


def _niced(new_session: bool) -> list[int | None]:
    out = subprocess.run(
        [sys.executable, "-c", NICED, "7"], cwd=ROOT, capture_output=True, text=True,
        check=True, start_new_session=new_session,
    ).stdout  # fmt: skip
    return [int(word) if word != "None" else None for word in out.split()]


@needs_autogroups
def test_a_worker_in_a_session_of_its_own_lowers_the_session_with_it():
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)
    assert _niced(new_session=True) == [expected, expected, expected]


@needs_autogroups
def test_a_session_the_worker_does_not_lead_keeps_its_share():
    ours = autogroup_nice(os.getpid())
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)
    assert _niced(new_session=False) == [expected, ours, ours]
    assert autogroup_nice(os.getpid()) == ours
