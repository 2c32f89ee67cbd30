"""A webhook receiver on 127.0.0.1 that checks every signature, as a client's would, and can
fail the first attempts (to exercise retries)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reelflow.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


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
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/reelflow"

    def wait_for(self, count: int, timeout_s: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.1)
        raise AssertionError(f"got {len(self.received)} webhook requests, waited for {count}")

    def __enter__(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = verify_signature(receiver.secret, self.headers.get(TIMESTAMP_HEADER, ""),
                                      self.headers.get(SIGNATURE_HEADER, ""), raw)  # fmt: skip
                with receiver._lock:
                    failing = len(receiver.received) < receiver.fail_first
                    status = receiver.status_when_failing if failing else (200 if ok else 401)
                    receiver.received.append(Received(dict(self.headers), raw, ok, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
