"""The API's handle on its dispatcher process (api/dispatch.py): start it, wake it, start it
again when it dies, stop it.

The process is the API's child, in the API's process group, so whatever stops the API's group
(`make up`'s SIGTERM, Ctrl-C in a terminal) stops it too. Its standard input is a pipe from the
API: each accepted job writes a byte to wake it, and when the API ends, however it ends, the
pipe closes and the dispatcher stops as well. No orphan either way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

logger = logging.getLogger("reelflow.api.dispatch")

RESTART_FIRST_S, RESTART_MAX_S = 1.0, 30.0
# A process that ran this long before it died starts again after the first pause, not a longer one.
STEADY_S = 60.0


class DispatcherProcess:
    def __init__(self, journal_folder: Path, flush_s: float):
        self.args = [sys.executable, "-m", "api.dispatch", "--journal",
                     str(journal_folder.resolve()), "--flush-s", str(flush_s)]  # fmt: skip
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the process, and a thread that starts it again whenever it ends on its own."""
        self._spawn()
        self._thread = threading.Thread(target=self._supervise, name="reelflow-dispatcher",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def wake(self) -> None:
        """A job was accepted: never blocks (a full pipe has a wake-up in it already)."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        with contextlib.suppress(OSError):  # full, or the process just died: its restart reads all
            os.write(proc.stdin.fileno(), b"w")

    @property
    def state(self) -> str:
        """For /health: "ok" while the process runs, or why it does not."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            return "ok"
        if self._stopping.is_set():
            return "stopped"
        if proc is None:
            return "not started"
        return f"not running ({_ended(proc.returncode)}; starting it again)"

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout_s`; a run being created is abandoned, its job
        stays pending and gets the same run (by its idempotency key) on the next start."""
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("The dispatcher did not stop in %.0f s: killed", timeout_s)
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            old = self._proc
            self._proc = subprocess.Popen(
                self.args, stdin=subprocess.PIPE, env=_environment(), bufsize=0
            )
            os.set_blocking(self._proc.stdin.fileno(), False)
        if old is not None and old.stdin is not None:
            old.stdin.close()

    def _supervise(self) -> None:
        pause = RESTART_FIRST_S
        while True:
            began, proc = time.monotonic(), self._proc
            if proc is None:
                return
            proc.wait()
            if self._stopping.is_set():
                return
            pause = RESTART_FIRST_S if time.monotonic() - began > STEADY_S else pause
            logger.error("The dispatcher %s; starting it again in %.0f s",
                         _ended(proc.returncode), pause)  # fmt: skip
            if self._stopping.wait(pause):
                return
            self._spawn()
            self.restarts += 1
            pause = min(pause * 2, RESTART_MAX_S)


def _ended(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def _environment() -> dict[str, str]:
    """The API's environment with its Prefect settings (a test's temporary ones included), so
    the dispatcher talks to the same server."""
    from prefect.settings import get_current_settings

    prefect = get_current_settings().to_environment_variables(exclude_unset=True)
    return {**os.environ, **{k: str(v) for k, v in prefect.items()}}
