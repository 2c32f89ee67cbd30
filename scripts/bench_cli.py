"""Helpers for the benchmarks that time `reelflow` the way a user runs it: as a command.

`run_cli` starts `python -m reelflow.cli ...` in an environment of the benchmark's own (its
PREFECT_HOME and data dir, no PREFECT_API_URL, so the command keeps its local Prefect server)
and reports its wall time, its CPU time and peak memory with every ffmpeg it ran (wait4), and
the seconds from its start to the flow's start (the first "Beginning flow run" log line).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_VIDEO = ROOT / "bench-data" / "bench.mp4"
_FLOW_START = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \| INFO\s+\| Flow run .* - Beginning flow run")


@dataclass(frozen=True)
class CliRun:
    code: int
    wall_s: float
    cpu_s: float  # the command and every process it waited for (ffmpeg)
    peak_mb: float  # largest resident set of the command or of one of its processes
    own_peak_mb: float  # the command's own (Python) peak resident set
    to_flow_s: float | None  # from the command's start to the flow's start
    stdout: str
    stderr: str


def bench_video() -> Path:
    """The ~5-minute 1080p benchmark input, built from the sample when missing or stale."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_bench_video.py"),
                    "--out", str(BENCH_VIDEO)], check=True)  # fmt: skip
    return BENCH_VIDEO


def bench_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PREFECT_API_URL", "PREFECT_PROFILE"}}
    env.update(
        PREFECT_HOME=str(home / "prefect"),
        REELFLOW_DATA_DIR=str(home / "data"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_LEVEL="INFO",
    )
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str, timeout_s: float = 7200) -> CliRun:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        began_at, began = time.time(), time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "reelflow.cli", *args], env=env, cwd=ROOT,
                                stdout=out, stderr=err, text=True)  # fmt: skip
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        own = _HighWater(proc.pid)
        try:
            # wait4, not wait: the command's own resource use, its ffmpeg runs included.
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            own.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - began
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    return CliRun(proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                  own.peak_mb, _to_flow(stderr, began_at), stdout, stderr)  # fmt: skip


class _HighWater:
    """The peak resident set (VmHWM) of one live process, read every 0.2 s until it exits."""

    def __init__(self, pid: int):
        self.pid, self.peak_mb = pid, 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(0.2):
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            if found := re.search(r"VmHWM:\s+(\d+) kB", status):
                self.peak_mb = max(self.peak_mb, int(found.group(1)) / 1024)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _to_flow(stderr: str, began_at: float) -> float | None:
    for line in stderr.splitlines():
        if m := _FLOW_START.match(line):
            at = datetime.combine(date.today(), datetime.strptime(m.group(1), "%H:%M:%S.%f").time())
            return at.timestamp() - began_at
    return None


def stop_gently(proc: subprocess.Popen, timeout_s: float = 60) -> None:
    """SIGTERM, so the process stops what it started (SIGKILL would orphan that); SIGKILL only
    when it has not exited after `timeout_s`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_server(env: dict[str, str]) -> None:
    """Start the command's local Prefect server ahead of the commands that use it."""
    code = "from reelflow.cli.local_server import acquire; s = acquire(3600); s.wait_ready()"
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=600)


def stop_server(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "reelflow.cli", "server", "stop"], env=env, cwd=ROOT,
                   capture_output=True, timeout=60)  # fmt: skip


def server_peak_mb(env: dict[str, str]) -> float | None:
    """The kept Prefect server's peak resident memory so far (it is not our child)."""
    import json

    record = Path(env["PREFECT_HOME"]) / "reelflow-server" / "server.json"
    try:
        pid = json.loads(record.read_text())["pid"]
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, ValueError, KeyError):
        return None
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else None
