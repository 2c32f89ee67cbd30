"""The fence every download test runs behind, and the HTTP stand-ins on 127.0.0.1 they
download from.

Nothing may leave the machine, even if the guard were broken: `loopback_only` makes every
connection to an address outside 127.0.0.0/8 and ::1 fail (and records it), and every DNS
lookup of a name fail. Forbidden hosts exist only in the stub resolver, so a test can show
that the guard refuses them before any connection is tried. Every test in this folder runs
behind it (the fence and the stub resolver are autouse fixtures).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import socket
import ssl
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from reelflow import netguard
from reelflow.guard_proxy import GuardProxy
from reelflow.settings import get_settings
from tasks import ingest

NAMES = {
    "metadata.example": ["169.254.169.254"],
    "intranet.example": ["10.0.0.5"],
    "sneaky.example": ["93.184.216.34", "10.0.0.5"],  # one public address does not save it
}


# --- the fence -------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch) -> list:
    """Connections and lookups that would leave the machine fail here and are listed."""
    blocked: list = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(sock: socket.socket, address) -> bool:
        return sock.family == socket.AF_UNIX or _is_loopback(str(address[0]))

    def connect(self, address):
        if not allowed(self, address):
            blocked.append(address)
            raise ConnectionRefusedError(f"test fence: {address} is not loopback")
        return real_connect(self, address)

    def connect_ex(self, address):
        if not allowed(self, address):
            blocked.append(address)
            return 111
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_loopback(str(host)):
            blocked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "test fence: no DNS")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return blocked


class StubResolver:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in NAMES:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return NAMES[host]


@pytest.fixture(autouse=True)
def resolver(monkeypatch) -> StubResolver:
    stub = StubResolver()
    monkeypatch.setattr(netguard, "resolve_addresses", stub)
    return stub


@pytest.fixture
def proxies(monkeypatch) -> list[GuardProxy]:
    """Every GuardProxy a download starts, to look at afterwards."""
    made: list[GuardProxy] = []

    class Recorded(GuardProxy):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(ingest, "GuardProxy", Recorded)
    return made


def set_env(monkeypatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


@pytest.fixture
def guarded(data_dir, monkeypatch) -> Path:
    """The test servers' 127.0.0.1 named and opened; `*.example` allowed, public only."""
    set_env(monkeypatch, ALLOW_PRIVATE_URLS="true", ALLOWED_URL_HOSTS="127.0.0.1,*.example")
    return data_dir


def left_on_disk(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "downloads").rglob("*") if p.is_file()]


# --- loopback servers ------------------------------------------------------------------------


class _Routes(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None: ...

    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404)
            return
        # The client (the proxy) may stop reading, as it should past the limit.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None: ...


@contextmanager
def serve(routes: dict, tls: ssl.SSLContext | None = None):
    server = _Server(("127.0.0.1", 0), _Routes)
    server.routes, server.seen = routes, []  # type: ignore[attr-defined]
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    scheme = "https" if tls else "http"
    try:
        yield server, f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def file_route(path: Path, content_type: str = "video/mp4"):
    def send(h: BaseHTTPRequestHandler) -> None:
        body = path.read_bytes()
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return send


def redirect_route(location: str):
    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return send


def endless_route(size: int, content_length: int | None):
    """`size` bytes of a "video", announced with `content_length` (None: not at all)."""

    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        if content_length is not None:
            h.send_header("Content-Length", str(content_length))
        h.end_headers()
        chunk = b"\0" * (256 * 1024)
        for _ in range(size // len(chunk)):
            h.wfile.write(chunk)

    return send


def proxy_auth(proxy: GuardProxy) -> dict[str, str]:
    parts = urlsplit(proxy.url)
    token = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
    return {"Proxy-Authorization": f"Basic {token}"}
