"""Small HTTP servers on 127.0.0.1 for tests, each started and stopped by its test, and the
environment of a test stack (deployments.stack runs the stack itself)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from deployments.stack import free_port, loopback_env, running_stack

__all__ = ["free_port", "needs_postgres", "running_stack", "stack_env", "static_server"]

stack_env = loopback_env


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


def needs_postgres() -> None:
    """Skip when this machine has no PostgreSQL server programs (CI installs Debian's)."""
    import pytest

    from deployments.postgres import PostgresUnavailable, binaries

    try:
        binaries()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
