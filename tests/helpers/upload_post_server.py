"""A stand-in for Upload-Post's REST upload endpoint on 127.0.0.1.

It speaks `POST /api/upload` as the real service does: `Authorization: Apikey <key>`, a
multipart form with `user`, `platform[]` (repeated), `title`, `<platform>_title`,
`<platform>_description` and the file as `video`; a 200 with `{"success": true, "results":
{<platform>: {"success": true, "url": ..., "publish_id": ...}}}`, and errors as a status with
`{"success": false, "message": ...}`. It records every request (fields, the file's size and
hash, headers) and answers from a per-test script: 429 with Retry-After, 500, 401, a rejected
media file, or a failure on one platform.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from testkit.loopback import base_url, serve, stop


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # None: the usual success for the platforms asked
    headers: dict[str, str] = field(default_factory=dict)
    failed_platforms: dict[str, str] = field(default_factory=dict)


@dataclass
class Upload:
    headers: dict[str, str]
    fields: list[tuple[str, str]]
    video_name: str | None
    video_size: int
    video_sha256: str | None

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.fields if k == name), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k == name]


@dataclass
class UploadPostStandIn:
    key: str = "up-test-key"
    replies: deque[Reply] = field(default_factory=deque)
    uploads: list[Upload] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    # Scripting --------------------------------------------------------------------------
    def rate_limit(self, retry_after: str = "1") -> None:
        self.replies.append(Reply(429, {"success": False, "message": "Too many requests"},
                                  {"Retry-After": retry_after}))  # fmt: skip

    def server_error(self) -> None:
        self.replies.append(Reply(500, {"success": False, "message": "Internal error"}))

    def reject_media(self, message: str = "Video aspect ratio not supported") -> None:
        self.replies.append(Reply(400, {"success": False, "message": message}))

    def fail_platform(self, platform: str, error: str) -> None:
        self.replies.append(Reply(failed_platforms={platform: error}))

    # Server -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return base_url(self._server)

    def __enter__(self) -> UploadPostStandIn:
        self._server = serve(lambda request, _: self._handle(request), methods=("POST",))
        return self

    def __exit__(self, *exc) -> None:
        stop(self._server)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length)
        if request.path != "/api/upload":
            return _send(request, 404, {"success": False, "message": "Not found"})
        upload = _parse(request.headers.get("Content-Type", ""), raw, dict(request.headers))
        self.uploads.append(upload)
        if request.headers.get("Authorization") != f"Apikey {self.key}":
            return _send(request, 401, {"success": False, "message": "Invalid or missing API key"})
        platforms = upload.all("platform[]")
        if not upload.video_size or not upload.get("user") or not platforms:
            return _send(request, 400, {"success": False, "message": "user, platform[] and "
                                        "video are required"})  # fmt: skip
        reply = self.replies.popleft() if self.replies else Reply()
        if reply.status != 200 or reply.body is not None:
            return _send(request, reply.status, reply.body, reply.headers)
        n = len(self.uploads)
        results = {
            p: {"success": False, "error": reply.failed_platforms[p]}
            if p in reply.failed_platforms
            else {"success": True, "publish_id": f"{p}-{n}", "url": f"https://{p}.example/p/{n}"}
            for p in platforms
        }
        _send(request, 200, {"success": True, "results": results,
                             "usage": {"count": n, "limit": 100}})  # fmt: skip


def _parse(content_type: str, raw: bytes, headers: dict[str, str]) -> Upload:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields, name, size, digest = [], None, 0, None
    for part in message.iter_parts() if message.is_multipart() else []:
        field_name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            name, size = part.get_filename(), len(payload)
            digest = hashlib.sha256(payload).hexdigest()
        else:
            fields.append((field_name, payload.decode()))
    return Upload(headers, fields, name, size, digest)


def _send(request, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(data)
