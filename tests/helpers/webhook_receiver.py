"""A webhook receiver on 127.0.0.1 that checks every signature, as a client's would, and can
fail the first attempts (to exercise retries)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reelflow.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from testkit.loopback import base_url, serve, stop


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    signature_ok: bool
    answered: int

    @property
    def body(self) -> dict:
        return json.loads(self.raw)

    @property
    def event(self) -> str:
        return self.headers.get("X-Reelflow-Event", "")


@dataclass
class WebhookReceiver:
    secret: str
    fail_first: int = 0  # answer 500 to this many requests first
    status_when_failing: int = 500
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        return base_url(self._server) + "/hooks/reelflow"

    def wait_for(self, count: int, timeout_s: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.1)
        raise AssertionError(f"got {len(self.received)} webhook requests, waited for {count}")

    def __enter__(self) -> WebhookReceiver:
        self._server = serve(lambda request, _: self._receive(request), methods=("POST",))
        return self

    def __exit__(self, *exc) -> None:
        stop(self._server)

    def _receive(self, request: BaseHTTPRequestHandler) -> None:
        raw = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        ok = verify_signature(self.secret, request.headers.get(TIMESTAMP_HEADER, ""),
                              request.headers.get(SIGNATURE_HEADER, ""), raw)  # fmt: skip
        with self._lock:
            failing = len(self.received) < self.fail_first
            status = self.status_when_failing if failing else (200 if ok else 401)
            self.received.append(Received(dict(request.headers), raw, ok, status))
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()
