"""A stand-in for ElevenLabs' dubbing API on 127.0.0.1, speaking its wire protocol:

    POST   /v1/dubbing                       multipart (file, source_lang, target_lang, ...)
    GET    /v1/dubbing/{id}                  {"dubbing_id", "name", "status", "target_languages"}
    GET    /v1/dubbing/{id}/audio/{lang}     the dubbed audio
    DELETE /v1/dubbing/{id}                  {"status": "ok"}

The key must arrive in `xi-api-key` (401 `invalid_api_key` otherwise). A dub reports
"dubbing" for `polls_before_ready` status checks, then "dubbed" (or "failed" with `fail_with`).
The dubbed audio is espeak-ng speech in the target language (a WAV: the real service sends
MP3; both are audio files to its clients). Every request is recorded, without the key's value.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tempfile
import uuid
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from testkit.loopback import base_url, serve, stop

DUB_TEXTS = {
    "es": "Esta es la voz doblada del clip. Cada frase se escucha ahora en español.",
    "de": "Das ist die synchronisierte Stimme des Clips. Jeder Satz klingt jetzt deutsch.",
    "fr": "Voici la voix doublée du clip. Chaque phrase est maintenant en français.",
    "en": "This is the dubbed voice of the clip. Every sentence is now in English.",
}
_DUB = re.compile(r"^/v1/dubbing/(?P<id>[A-Za-z0-9_-]+)(?:/audio/(?P<lang>[a-z-]+))?$")


@dataclass
class DubRecord:
    dubbing_id: str
    source_lang: str
    target_lang: str
    file_name: str
    file_bytes: int
    polls: int = 0
    deleted: bool = False


@dataclass
class ElevenLabsStandIn:
    key: str = "el-test-key"
    polls_before_ready: int = 1
    fail_with: str | None = None  # a dub then ends "failed" with this error
    errors: deque[int] = field(default_factory=deque)  # statuses to answer POSTs with first
    dubs: dict[str, DubRecord] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return base_url(self._server)

    def start(self) -> ElevenLabsStandIn:
        self._server = serve(self._handle)
        return self

    def stop(self) -> None:
        stop(self._server)
        self._server = None

    def __enter__(self) -> ElevenLabsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        given = h.headers.get("xi-api-key")
        self.requests.append({"method": method, "path": h.path, "has_key": bool(given),
                              "headers": [k.lower() for k in h.headers]})  # fmt: skip
        if given != self.key:
            detail = {"status": "invalid_api_key", "message": "Invalid API key"}
            return _send(h, 401, {"detail": detail})
        if method == "POST" and h.path == "/v1/dubbing":
            return self._create(h, body)
        match = _DUB.match(h.path)
        record = self.dubs.get(match["id"]) if match else None
        if record is None:
            return _send(h, 404, {"detail": {"status": "dubbing_not_found", "message": "No dub"}})
        if method == "DELETE":
            record.deleted = True
            return _send(h, 200, {"status": "ok"})
        if match["lang"]:
            return self._audio(h, record, match["lang"])
        record.polls += 1
        status = "dubbing"
        if record.polls > self.polls_before_ready:
            status = "failed" if self.fail_with else "dubbed"
        _send(h, 200, {"dubbing_id": record.dubbing_id, "name": "reelflow", "status": status,
                       "target_languages": [record.target_lang],
                       "error": self.fail_with if status == "failed" else None})  # fmt: skip

    def _create(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        if self.errors:
            code = self.errors.popleft()
            return _send(h, code, {"detail": {"status": "busy", "message": f"stand-in {code}"}})
        fields, files = _multipart(h.headers.get("Content-Type", ""), body)
        if "file" not in files or not fields.get("target_lang"):
            detail = [{"loc": ["body", "target_lang"], "msg": "field required"}]
            return _send(h, 422, {"detail": detail})
        name, data = files["file"]
        dubbing_id = uuid.uuid4().hex[:20]
        self.dubs[dubbing_id] = DubRecord(dubbing_id, fields.get("source_lang", "auto"),
                                          fields["target_lang"], name, len(data))  # fmt: skip
        _send(h, 200, {"dubbing_id": dubbing_id, "expected_duration_sec": 10.0})

    def _audio(self, h: BaseHTTPRequestHandler, record: DubRecord, lang: str) -> None:
        if lang != record.target_lang or record.polls <= self.polls_before_ready:
            return _send(h, 404, {"detail": {"status": "not_ready", "message": "No dub yet"}})
        data = speech_wav(DUB_TEXTS.get(lang, DUB_TEXTS["en"]), lang)
        _send(h, 200, data, "audio/wav")


def speech_wav(text: str, voice: str) -> bytes:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "dub.wav"
        subprocess.run([espeak, "-v", voice, "-s", "150", "-w", str(wav), text], check=True,
                       capture_output=True, timeout=60)  # fmt: skip
        return wav.read_bytes()


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple]]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parse(io.BytesIO(head + body))
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_filename():
            files[name] = (part.get_filename(), data)
        else:
            fields[name] = data.decode()
    return fields, files


def _send(h: BaseHTTPRequestHandler, status: int, body: Any, content_type: str = "") -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        h.send_response(status)
        h.send_header("Content-Type", content_type or "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
