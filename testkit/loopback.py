"""HTTP servers on 127.0.0.1 for stand-ins, receivers and fixture files: one way to start and
stop them, shared by the tests and the benchmarks."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Handle = Callable[[BaseHTTPRequestHandler, str], None]


def serve(
    handle: Handle, methods: tuple[str, ...] = ("GET", "POST", "DELETE")
) -> ThreadingHTTPServer:
    """Start a server on a free port of 127.0.0.1 whose requests of `methods` all go to
    `handle(request, method)`; stop it with `stop`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output readable
            pass

    for method in methods:
        setattr(Handler, f"do_{method}", lambda request, m=method: handle(request, m))
    return _started(_Server(("127.0.0.1", 0), Handler))


def stop(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def base_url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A client that hangs up once it has read what it wanted (a probe reading a video's
        # header) is no error; anything else is printed as usual.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """Serve a folder's files as direct links: yields the base URL."""
    server = _started(_Server(("127.0.0.1", 0), partial(_QuietFiles, directory=str(folder))))
    try:
        yield base_url(server)
    finally:
        stop(server)


def _started(server: ThreadingHTTPServer) -> ThreadingHTTPServer:
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
