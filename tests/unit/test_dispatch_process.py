"""The dispatcher as a process beside the API (api/dispatch.py, api/dispatch_process.py): it
stops with the API however the API ends, stops on a signal, and the API starts it again when it
dies and says so on /health. Real processes against the session's Prefect server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deployments.processes import living, start_time
from tests.helpers.api import api_client, register_deployments, wait_for_run_id

ROOT = Path(__file__).resolve().parents[2]
JOB = {"url": "http://127.0.0.1:9/talk.mp4", "provider": "local"}

# What the API does with its dispatcher, in a process the test can kill without a trace.
API_STAND_IN = """
import sys, time
from pathlib import Path
from api.dispatch_process import DispatcherProcess
dispatcher = DispatcherProcess(Path(sys.argv[1]), 1.0)
dispatcher.start()
print(dispatcher._proc.pid, flush=True)
time.sleep(600)
"""


@pytest.fixture
def prefect_env(prefect_server) -> dict[str, str]:
    from prefect.settings import get_current_settings

    return {**os.environ, "PREFECT_API_URL": get_current_settings().api.url}


def test_the_dispatcher_ends_with_the_api_even_when_it_is_killed(tmp_path, prefect_env):
    api = subprocess.Popen([sys.executable, "-c", API_STAND_IN, str(tmp_path / "api")],
                           env=prefect_env, stdout=subprocess.PIPE, cwd=ROOT)  # fmt: skip
    try:
        dispatcher = int(api.stdout.readline())
        assert living(dispatcher, start_time(dispatcher))
    finally:
        api.kill()  # SIGKILL: no handler of the API's runs
        api.wait()
        api.stdout.close()
    assert _ends(dispatcher, within_s=20), "the dispatcher outlived the API that started it"


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "end of input"])
def test_the_dispatcher_stops_cleanly(tmp_path, prefect_env, how):
    args = [sys.executable, "-m", "api.dispatch", "--journal", str(tmp_path / "api")]
    dispatcher = subprocess.Popen(args, stdin=subprocess.PIPE, env=prefect_env, cwd=ROOT)
    journal = tmp_path / "api" / "journal.db"
    # It opens the journal right after setting its signal handlers (before, a signal ends it
    # at once, with nothing to lose); a fixed pause was too short on a busy machine.
    deadline = time.monotonic() + 60
    while not journal.exists():
        assert dispatcher.poll() is None and time.monotonic() < deadline, "it never started"
        time.sleep(0.05)
    dispatcher.stdin.write(b"w")  # a wake-up, as after a submission
    dispatcher.stdin.flush()
    if how == "end of input":
        dispatcher.stdin.close()
    else:
        dispatcher.send_signal(getattr(signal, how))
    assert dispatcher.wait(timeout=20) == 0


def test_a_dead_dispatcher_is_started_again_and_health_says_so(
    prefect_server, data_dir, monkeypatch
):
    from api import dispatch_process

    monkeypatch.setattr(dispatch_process, "RESTART_FIRST_S", 5.0)  # time to see it missing
    monkeypatch.setenv("ALLOWED_URL_HOSTS", "127.0.0.1")
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    register_deployments()
    with api_client() as api:
        handle = api.app.state.jobs.dispatcher
        assert api.get("/health").json()["dispatcher"] == "ok"
        first = handle._proc.pid
        os.kill(first, signal.SIGKILL)
        seen = _health_until(api, lambda body: body["dispatcher"] != "ok")
        assert seen["dispatcher"] == "not running (was killed by SIGKILL; starting it again)"
        assert not seen["ready"]
        _health_until(api, lambda body: body["dispatcher"] == "ok", timeout_s=30)
        assert handle._proc.pid != first and handle.restarts == 1
        job_id = api.post("/api/process", json=JOB, headers={"X-Gemini-Key": "k"}).json()["job_id"]
        wait_for_run_id(api, job_id)  # the new one dispatches


def _health_until(api, done, timeout_s: float = 10) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = api.get("/health").json()
        if done(body):
            return body
        time.sleep(0.05)
    raise AssertionError(f"/health never changed: {body}")


def _ends(pid: int, within_s: float) -> bool:
    deadline, started = time.monotonic() + within_s, start_time(pid)
    while living(pid, started):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)  # ours: started by the stand-in above
            return False
        time.sleep(0.1)
    return True


def test_a_dispatcher_that_cannot_start_is_named_and_tried_again(tmp_path, monkeypatch, caplog):
    """Its journal folder unusable (here a file): it exits at once, /health's text says with
    which code, and it is tried again after a pause that grows, until the API stops."""
    from api import dispatch_process
    from api.dispatch_process import DispatcherProcess

    monkeypatch.setattr(dispatch_process, "RESTART_FIRST_S", 0.2)
    caplog.errors_expected = True  # each exit is logged, checked below
    folder = tmp_path / "api"
    folder.write_text("not a folder")
    handle = DispatcherProcess(folder, 1.0)
    handle.start()
    try:
        deadline = time.monotonic() + 60
        while handle.restarts < 2:
            assert time.monotonic() < deadline, f"not tried again: {handle.state}"
            time.sleep(0.05)
        while handle.state == "ok":  # the latest try still starting
            time.sleep(0.05)
        assert handle.state == "not running (exited with code 1; starting it again)"
    finally:
        handle.stop()
    assert handle.state == "stopped"
    logged = [r.getMessage() for r in caplog.records if r.name == "reelflow.api.dispatch"]
    assert "The dispatcher exited with code 1; starting it again" in logged[0]
