"""Small HTTP servers on 127.0.0.1 for tests, each started and stopped by its test."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output readable
        pass


@contextmanager
def static_server(folder: Path):
    """Serve a folder's files as direct links: yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def stack_env(home: Path, jobs_limit: int, **extra: str) -> dict[str, str]:
    """Environment of a test stack: its own Prefect home and data dir, URL jobs allowed to
    reach 127.0.0.1 only, and Prefect's polling shortened so queued jobs start quickly."""
    return {
        "PREFECT_HOME": str(home / "prefect"),
        "REELFLOW_DATA_DIR": str(home / "data"),
        "MAX_CONCURRENT_JOBS": str(jobs_limit),
        "ALLOWED_URL_HOSTS": "127.0.0.1",
        "ALLOW_PRIVATE_URLS": "true",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
        "RETENTION_SWEEP_SECONDS": "3600",
        "RENDER_WORKERS": "1",
        **extra,
    }


@contextmanager
def running_stack(home: Path, env: dict[str, str], timeout_s: float = 180):
    """A Prefect server, the worker and the API on free ports of 127.0.0.1, logging to
    home/logs; stopped, with every flow-run process it started, when the block ends."""
    from deployments.stack import Stack

    stack = Stack(free_port(), free_port(), env=env, log_dir=home / "logs").start(timeout_s)
    stack.home = home
    try:
        yield stack
    finally:
        stack.stop()
