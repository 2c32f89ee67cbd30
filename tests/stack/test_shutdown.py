"""`make up` (python -m deployments.stack) stopped by SIGTERM, as systemd, Docker and Kubernetes
stop it: every process it started exits (flow runs and their ffmpeg included), the running job
is handed back rather than lost, and the next start on the same ports and data finishes it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deployments.processes import autogroup_nice, descendants, living, start_time, state
from deployments.stack import ROOT, free_port
from tests.helpers.media import SAMPLE
from tests.helpers.servers import stack_env, static_server

pytestmark = pytest.mark.slow

JOB = {"provider": "local", "clips": 1, "min_seconds": 15, "max_seconds": 25}


def test_sigterm_stops_everything_and_hands_the_job_back(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    (media / "long.mp4").symlink_to(SAMPLE)
    ports = (free_port(), free_port())
    with static_server(media) as files_url:
        env = {**os.environ, **stack_env(tmp_path, 2)}
        stack = _make_up(tmp_path, env, ports)
        try:
            api = f"http://127.0.0.1:{ports[0]}"
            _wait_ready(stack, api)
            r = httpx.post(f"{api}/api/process", json={"url": f"{files_url}/long.mp4", **JOB},
                           headers={"X-Gemini-Key": "k"}, timeout=30)  # fmt: skip
            job_id = r.json()["job_id"]
            _wait_status(api, job_id, ("processing",))
            _wait_for(lambda: _has_ffmpeg(stack.pid), "the job never ran ffmpeg")
            ours = _descendants(stack.pid)
            assert len(ours) >= 6, ours  # server, worker, API, dispatcher, the run, its ffmpeg
            assert any("api.dispatch" in c for c in _commands(list(ours))), "no dispatcher"
            _assert_jobs_yield_to_the_api(list(ours))

            stack.send_signal(signal.SIGTERM)
            assert stack.wait(timeout=90) == 0
            left = _still_running(ours)
            states = [state(pid) for pid in left]
            assert not left, f"left running after SIGTERM: {_commands(left)} {states}"
            assert _free(ports[0]) and _free(ports[1])

            stack = _make_up(tmp_path, env, ports)  # the same ports are free again
            _wait_ready(stack, api)
            body = _wait_status(api, job_id, ("completed", "failed", "cancelled"), 600)
            assert body["status"] == "completed", body
            assert _run_count(ports[1], body["run_id"]) == 2, "it ran again, once"
        finally:
            if stack.poll() is None:
                stack.send_signal(signal.SIGTERM)
                stack.wait(timeout=90)


def _make_up(home: Path, env: dict, ports: tuple[int, int]) -> subprocess.Popen:
    log = (home / "stack.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "deployments.stack", "--api-port", str(ports[0]),
         "--prefect-port", str(ports[1]), "--logs", str(home / "logs")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _wait_ready(stack: subprocess.Popen, api: str) -> None:
    def ready() -> bool:
        assert stack.poll() is None, "make up exited while starting"
        try:
            return httpx.get(f"{api}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    _wait_for(ready, "the stack never became ready", 240)


def _wait_status(api: str, job_id: str, statuses, timeout_s: float = 180) -> dict:
    body: dict = {}

    def reached() -> bool:
        nonlocal body
        body = httpx.get(f"{api}/api/status/{job_id}", timeout=30).json()
        return body["status"] in statuses

    _wait_for(reached, f"job {job_id} never reached {statuses}: {body}", timeout_s)
    return body


def _wait_for(predicate, message: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, message
        time.sleep(0.5)


def _descendants(pid: int) -> dict[int, int]:
    """Every process under `pid`, by start time (its flow runs keep their parent while the
    worker lives)."""
    found = {child: start_time(child) for child in descendants(pid)}
    return {child: started for child, started in found.items() if started is not None}


def _still_running(ours: dict[int, int], grace_s: float = 5.0) -> list[int]:
    """Those of `ours` still running after `grace_s`. A zombie does not count: it has ended
    and waits only for init to collect its exit status (this machine's init does so late: a
    full test run here once found one, its command line already empty, right after the stop)."""
    deadline = time.monotonic() + grace_s
    while True:
        left = [pid for pid, started in ours.items() if living(pid, started)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _assert_jobs_yield_to_the_api(pids: list[int]) -> None:
    """The job's process runs at WORKER_NICE's priority, its whole session too (the scheduler
    shares between sessions first); the API's session keeps a full share. (The job's process,
    not one of its ffmpeg runs, which may have ended by now; they inherit both.)"""
    commands = dict(zip(pids, _commands(pids), strict=True))
    job = next(pid for pid, command in commands.items() if "prefect.engine" in command)
    api = next(pid for pid, command in commands.items() if "uvicorn" in command)
    niced = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)  # WORKER_NICE's default
    assert os.getpriority(os.PRIO_PROCESS, job) == niced
    if autogroup_nice(api) is not None:  # a kernel with autogroups
        assert (autogroup_nice(job), autogroup_nice(api)) == (niced, 0)


def _has_ffmpeg(pid: int) -> bool:
    return any("ffmpeg" in _commands([p])[0] for p in _descendants(pid))


def _commands(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            out.append(f"{pid} (gone)")
    return out


def _free(port: int) -> bool:
    """Nothing listens there: a server (which sets SO_REUSEADDR, as this does) could bind it."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _run_count(prefect_port: int, run_id: str) -> int:
    url = f"http://127.0.0.1:{prefect_port}/api/flow_runs/{run_id}"
    return httpx.get(url, timeout=30).json()["run_count"]
