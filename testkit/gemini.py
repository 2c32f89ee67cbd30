"""A stand-in for the Gemini REST API on 127.0.0.1, for driving the real google-genai client.

It serves `POST /{version}/models/{model}:generateContent` (google-genai 3.x calls `v1`, older
releases `v1beta`; both are accepted), answers from a per-test queue of scripted replies, and
records every request: path, model, headers (the key arrives in `x-goog-api-key`) and JSON body.
Point the SDK at it with `HttpOptions(base_url=server.url)`, i.e. GEMINI_BASE_URL.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from testkit.loopback import base_url, serve, stop

_PATH = re.compile(r"^/(?P<version>v1(?:beta)?)/models/(?P<model>[^/:]+):generateContent$")
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or str/bytes sent as they are
    delay_s: float = 0.0  # wait before answering (to trip the client's timeout)


@dataclass
class Recorded:
    path: str
    version: str
    model: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        """All text of the user turns."""
        return "\n".join(
            part.get("text", "")
            for turn in self.body.get("contents", [])
            for part in turn.get("parts", [])
        )


@dataclass
class GeminiStandIn:
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    # Answers when no scripted reply is left (e.g. testkit.translation.translator): for
    # requests whose right answer depends on what was asked.
    responder: Callable[[Recorded], Reply] | None = None
    _server: ThreadingHTTPServer | None = None

    # Scripting -------------------------------------------------------------------------
    def answer(self, moments: list[dict], tokens_in: int = 1200, tokens_out: int = 300) -> None:
        """A well-formed answer carrying these moments as JSON text."""
        self.text(json.dumps({"moments": moments}), tokens_in=tokens_in, tokens_out=tokens_out)

    def sloppy(
        self, spans: list[tuple[float, float]], shift_s: float = 3.0, seed: int = 0
    ) -> list[tuple[float, float]]:
        """An answer with these spans as an LLM quotes timestamps: each start and end off by
        up to +-shift_s (seeded), scores falling in the given order. Returns what was sent."""
        rng = random.Random(seed)
        sent = [(a + rng.uniform(-shift_s, shift_s), b + rng.uniform(-shift_s, shift_s))
                for a, b in spans]  # fmt: skip
        self.answer([
            {"start_s": round(a, 2), "end_s": round(b, 2), "title": f"Moment {i + 1}",
             "hook": "Watch this", "description_tiktok": "A short one.",
             "description_instagram": "A short one. Worth a look.", "hashtags": ["#clip"],
             "score": 90 - i, "reason": "It stands on its own."}
            for i, (a, b) in enumerate(sent)
        ])  # fmt: skip
        return sent

    def text(self, text: str, finish: str = "STOP", tokens_in: int = 1200, tokens_out: int = 300):
        parts = [{"text": text}] if text else []
        candidate = {"content": {"parts": parts, "role": "model"}, "finishReason": finish}
        self.reply(200, _response([candidate], tokens_in, tokens_out))

    def blocked_prompt(self, reason: str = "SAFETY") -> None:
        """The prompt itself was refused: no candidates, promptFeedback.blockReason set."""
        body = _response([], 900, 0)
        body["promptFeedback"] = {"blockReason": reason}
        self.reply(200, body)

    def blocked_answer(self, reason: str = "SAFETY") -> None:
        """The answer was stopped: finishReason SAFETY and a blocked rating, no text."""
        rating = {
            "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
            "probability": "HIGH",
            "blocked": True,
        }
        candidate = {
            "content": {"role": "model"},
            "finishReason": reason,
            "safetyRatings": [rating],
        }
        self.reply(200, _response([candidate], 900, 0))

    def error(self, status: int, message: str = "", reason: str | None = None) -> None:
        """A Google-style error body, e.g. 400 API_KEY_INVALID, 401, 429, 500."""
        error: dict[str, Any] = {
            "code": status,
            "message": message or f"stand-in {status}",
            "status": _STATUS.get(status, "UNKNOWN"),
        }
        if reason:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": "googleapis.com",
                }
            ]
        self.reply(status, {"error": error})

    def reply(self, status: int = 200, body: Any = None, delay_s: float = 0.0) -> None:
        self.replies.append(Reply(status, body, delay_s))

    # Serving ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return base_url(self._server)

    def start(self) -> GeminiStandIn:
        self._server = serve(lambda request, _: self._handle(request), methods=("POST",))
        return self

    def stop(self) -> None:
        stop(self._server)
        self._server = None

    def __enter__(self) -> GeminiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        match = _PATH.match(h.path)
        if match is None:
            return _send(
                h,
                Reply(
                    404, {"error": {"code": 404, "message": f"no {h.path}", "status": "NOT_FOUND"}}
                ),
            )
        self.requests.append(
            Recorded(
                h.path,
                match["version"],
                match["model"],
                dict(h.headers.items()),
                json.loads(raw or b"{}"),
            )
        )
        reply = (
            self.replies.popleft()
            if self.replies
            else self.responder(self.requests[-1])
            if self.responder
            else Reply(
                500,
                {
                    "error": {
                        "code": 500,
                        "message": "stand-in: no scripted reply left",
                        "status": "INTERNAL",
                    }
                },
            )
        )
        if reply.delay_s:
            time.sleep(reply.delay_s)
        _send(h, reply)


def _response(candidates: list[dict], tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {
        "candidates": candidates,
        "usageMetadata": {
            "promptTokenCount": tokens_in,
            "candidatesTokenCount": tokens_out,
            "totalTokenCount": tokens_in + tokens_out,
        },
        "modelVersion": "stand-in",
    }


def _send(h: BaseHTTPRequestHandler, reply: Reply) -> None:
    body = reply.body
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    try:
        h.send_response(reply.status)
        h.send_header("Content-Type", "application/json; charset=UTF-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
        pass
