"""A guarding forward proxy on 127.0.0.1 that every download goes through.

yt-dlp resolves and connects by itself, follows redirects, and fetches pages, manifests and
media from hosts the submitted URL never named. Checking only that URL leaves the rest
unchecked, and checking a name that yt-dlp then resolves again leaves a DNS-rebinding gap.
yt-dlp's `proxy` option sends every request here instead: plain HTTP in absolute form, HTTPS as
a CONNECT tunnel (redirects are new requests, so each hop comes through too). Each one is
checked with `netguard.checked_addresses`, and the proxy connects to exactly the address that
was checked. It also counts the bytes that come back and cuts the download off past a budget,
whatever Content-Length said or left out, and past a deadline, however steadily a server
trickles (no single read is ever idle long enough for a socket timeout to end it).

One proxy per download, on a random port, with a random password in its URL: other local
programs cannot borrow it while it runs.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
import secrets
import selectors
import socket
import socketserver
import struct
import threading
from types import TracebackType

from reelflow.errors import DownloadTimedOut, DownloadTooLarge, SourceUnavailable, URLNotAllowed
from reelflow.netguard import IPAddress, UrlPolicy, checked_addresses, parse_url
from reelflow.redact import redact_url

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_MAX_HEAD = 64 * 1024
_HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "proxy-authorization"}
_STATUS = {
    400: "Bad Request",
    403: "Forbidden",
    407: "Proxy Authentication Required",
    502: "Bad Gateway",
}


class GuardProxy:
    """`with GuardProxy(policy, max_bytes=...) as proxy:` then give yt-dlp `proxy.url`.

    After the download, `refusal` holds the first request refused (URLNotAllowed, or a host
    that does not exist), the budget overrun (DownloadTooLarge) or the deadline passed
    (DownloadTimedOut), so the caller can say why instead of yt-dlp's "HTTP Error 403"."""

    def __init__(
        self,
        policy: UrlPolicy,
        *,
        max_bytes: int,
        slack_bytes: int = 0,
        idle_timeout_s: float = 60.0,
        deadline_s: float | None = None,
    ):
        """Stop past `max_bytes` + `slack_bytes` received in all (the slack pays for pages,
        manifests and what socket buffers hold when a client stops reading early), and
        `deadline_s` seconds after the proxy opened."""
        self.policy = policy
        self.deadline_s = deadline_s
        self.expired = threading.Event()
        self._timer: threading.Timer | None = None
        self.max_bytes = max_bytes
        self.budget = max_bytes + slack_bytes
        self.idle_timeout_s = idle_timeout_s
        self.bytes_received = 0
        self.refusal: SourceUnavailable | None = None
        # The first upstream that could not be reached: a clearer reason than yt-dlp's 502.
        self.unreachable: str | None = None
        self._auth = base64.b64encode(f"reelflow:{secrets.token_hex(16)}".encode()).decode()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "use GuardProxy as a context manager"
        user = base64.b64decode(self._auth).decode()
        return f"http://{user}@127.0.0.1:{self._server.server_address[1]}"

    @property
    def over_budget(self) -> bool:
        return isinstance(self.refusal, DownloadTooLarge)

    @property
    def timed_out(self) -> bool:
        return isinstance(self.refusal, DownloadTimedOut)

    @property
    def spent(self) -> bool:
        """Nothing more goes through: the budget or the deadline is used up."""
        return self.over_budget or self.timed_out

    def __enter__(self) -> GuardProxy:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.guard = self
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        thread.name = "reelflow-guard-proxy"
        thread.start()
        if self.deadline_s is not None:
            self._timer = threading.Timer(self.deadline_s, self._expire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        if self._timer is not None:
            self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
        # Tunnels still open (yt-dlp gave up mid-transfer) must not outlive the download.
        with self._lock:
            leftover, self._open = list(self._open), set()
        for sock in leftover:
            with contextlib.suppress(OSError):  # wakes the relay thread, which closes it
                sock.shutdown(socket.SHUT_RDWR)

    def authorized(self, headers: list[tuple[str, str]]) -> bool:
        given = next((v for k, v in headers if k.lower() == "proxy-authorization"), "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "basic" and hmac.compare_digest(value.strip(), self._auth)

    def refuse(self, error: SourceUnavailable) -> None:
        with self._lock:
            if self.refusal is None or isinstance(error, (DownloadTooLarge, DownloadTimedOut)):
                self.refusal = error
        log.warning("%s", error)

    def refuse_late(self) -> None:
        """A request after the deadline."""
        if not self.timed_out:
            self.refuse(self._timeout_error())

    def _timeout_error(self) -> DownloadTimedOut:
        return DownloadTimedOut(
            f"The download took longer than {self.deadline_s:g} s (DOWNLOAD_TIMEOUT_S) and "
            "was stopped"
        )

    def _expire(self) -> None:
        """Cut every transfer still open: a reset, so no client takes it for a finished file."""
        self.expired.set()
        with self._lock:
            still_open = list(self._open)
        if still_open:
            self.refuse(self._timeout_error())
        for sock in still_open:
            with contextlib.suppress(OSError):  # wakes the relay thread, which resets both ends
                sock.shutdown(socket.SHUT_RD)

    def count(self, n: int) -> bool:
        """Add n received bytes; False once past the budget."""
        with self._lock:
            self.bytes_received += n
            within = self.bytes_received <= self.budget
        if not within and not self.over_budget:
            limit = f"{self.max_bytes / 2**20:.0f} MB (MAX_FILE_SIZE_MB)"
            self.refuse(DownloadTooLarge(f"The download grew past {limit} and was stopped"))
        return within

    def track(self, sock: socket.socket, *, add: bool = True) -> None:
        with self._lock:
            (self._open.add if add else self._open.discard)(sock)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    guard: GuardProxy


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        guard: GuardProxy = self.server.guard  # type: ignore[attr-defined]
        client: socket.socket = self.request
        client.settimeout(guard.idle_timeout_s)
        guard.track(client)
        try:
            _serve(guard, client)
        except (OSError, ValueError):
            pass  # either side hung up, timed out or was closed: nothing left to tell anyone
        finally:
            guard.track(client, add=False)


def _serve(guard: GuardProxy, client: socket.socket) -> None:
    head, extra = _read_head(client)
    if head is None:
        return
    try:
        method, target, headers = _parse_request(head)
    except ValueError:
        return _reply(client, 400, "Malformed proxy request")
    if not guard.authorized(headers):
        return _reply(client, 407, "Proxy authentication required")
    if guard.expired.is_set():
        guard.refuse_late()
    if guard.spent:
        return _reply(client, 403, str(guard.refusal))
    try:
        host, port, upstream_head = _route(method, target, headers)
        addresses = checked_addresses(host, port, guard.policy)
    except URLNotAllowed as exc:
        guard.refuse(exc)
        return _reply(client, 403, str(exc))
    except SourceUnavailable as exc:  # DNS said no: kept when it is final (no such host)
        if exc.permanent:
            guard.refuse(exc)
        return _reply(client, 502, str(exc))
    upstream = _connect(addresses, port, guard.idle_timeout_s)
    if upstream is None:
        reason = f"could not connect to {host}:{port} (connection refused or timed out)"
        guard.unreachable = guard.unreachable or reason
        return _reply(client, 502, reason)
    guard.track(upstream)
    try:
        if method == "CONNECT":
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            upstream.sendall(extra)
            _relay(guard, client, upstream, rewrite_head=False)
        else:
            upstream.sendall(upstream_head + extra)
            _relay(guard, client, upstream, rewrite_head=True)
    finally:
        guard.track(upstream, add=False)
        upstream.close()


def _route(method: str, target: str, headers: list[tuple[str, str]]) -> tuple[str, int, bytes]:
    """Where a request goes, and for plain HTTP the request head to send there."""
    if method == "CONNECT":
        parsed = parse_url(f"https://{target}")
        return parsed.host, parsed.port, b""
    if not target.lower().startswith("http://"):
        # https:// in absolute form would need the proxy to speak TLS; clients use CONNECT.
        shown = redact_url(target)[:80]
        raise URLNotAllowed(f"Refused URL: the proxy only forwards http:// ({shown})")
    parsed = parse_url(target)
    rest = target.split("://", 1)[1]
    netloc, slash, path = rest.partition("/")
    path = (slash + path).split("#", 1)[0] or "/"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {netloc.rpartition('@')[2]}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in _HOP_HEADERS | {"host"}]
    lines.append("Connection: close")  # one request per connection keeps the relay simple
    return parsed.host, parsed.port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _connect(addresses: list[IPAddress], port: int, timeout: float) -> socket.socket | None:
    for address in addresses:
        try:
            return socket.create_connection((str(address), port), timeout=timeout)
        except OSError:
            continue
    return None


def _relay(
    guard: GuardProxy, client: socket.socket, upstream: socket.socket, *, rewrite_head: bool
) -> None:
    """Copy both ways until one side closes or goes idle, counting what comes back."""
    pending_head: bytes | None = b"" if rewrite_head else None
    with selectors.DefaultSelector() as selector:
        selector.register(client, selectors.EVENT_READ)
        selector.register(upstream, selectors.EVENT_READ)
        while True:
            ready = selector.select(guard.idle_timeout_s)
            if not ready:
                return
            if guard.expired.is_set():
                # A reset, not a clean close (see below): a cut-off file must not look whole.
                _reset(client)
                _reset(upstream)
                return
            for key, _ in ready:
                data = key.fileobj.recv(_CHUNK)  # type: ignore[union-attr]
                if not data:
                    return
                if key.fileobj is client:
                    upstream.sendall(data)
                    continue
                if not guard.count(len(data)):
                    # A reset, not a clean close: without Content-Length a close looks like
                    # the end of the file, a reset is an error the client reports.
                    _reset(client)
                    _reset(upstream)
                    return
                if pending_head is not None:
                    pending_head += data
                    if b"\r\n\r\n" not in pending_head:
                        if len(pending_head) > _MAX_HEAD:
                            return
                        continue
                    data, pending_head = _closing_response(pending_head), None
                client.sendall(data)


def _closing_response(buffer: bytes) -> bytes:
    """The response head with `Connection: close`, so the client never reuses this socket."""
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    kept = [lines[0]]
    kept += [ln for ln in lines[1:] if ln.split(b":", 1)[0].strip().lower() not in {
        b"connection", b"keep-alive", b"proxy-connection"}]  # fmt: skip
    kept.append(b"Connection: close")
    return b"\r\n".join(kept) + b"\r\n\r\n" + body


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(_CHUNK)
        if not data or len(buffer) > _MAX_HEAD:
            return None, b""
        buffer += data
    head, _, extra = buffer.partition(b"\r\n\r\n")
    return head, extra


def _parse_request(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, version = request_line.split(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(version)
    headers = []
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(line)
        headers.append((name.strip(), value.strip()))
    return method.upper(), target, headers


def _reply(client: socket.socket, status: int, text: str) -> None:
    body = (text + "\n").encode()
    extra = 'Proxy-Authenticate: Basic realm="reelflow"\r\n' if status == 407 else ""
    head = (
        f"HTTP/1.1 {status} {_STATUS[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
    )
    client.sendall(head.encode() + body)


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
