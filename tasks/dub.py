"""Dubbing through ElevenLabs' dubbing API: a clip's voice in another language.

    POST /v1/dubbing (multipart: file, source_lang, target_lang)  -> {"dubbing_id": ...}
    GET  /v1/dubbing/{id}                          -> {"status": "dubbing" | "dubbed" | "failed"}
    GET  /v1/dubbing/{id}/audio/{target_lang}                     -> the dubbed audio
    DELETE /v1/dubbing/{id}                                       (the project, once downloaded)

The key travels in the `xi-api-key` header and lives only in the client: it comes from the
job's Prefect Secret block (the API's `X-ElevenLabs-Key` header) or ELEVENLABS_API_KEY, and is
never a parameter, a log line or a file. Dubs are kept in the content-addressed cache
(`<data dir>/cache/dubs/`) by the audio's hash and the languages, so a repeat pays nothing.
A 429, 5xx or timeout is retried by the task; a refused key or a failed dub is not.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from prefect import task
from prefect.tasks import exponential_backoff

from reelflow.caching import retry_transient_only, stable_hash
from reelflow.errors import DubbingError, DubbingKeyError, DubbingUnavailable
from reelflow.files import write_json_atomic
from reelflow.media import file_sha256
from reelflow.secrets import secret_key
from reelflow.settings import get_settings

VERSION = "dub-1"
KEY_REJECTED = "ElevenLabs rejected the API key"
NO_KEY = "No ElevenLabs API key: send X-ElevenLabs-Key or set ELEVENLABS_API_KEY"
_RETRYABLE = {408, 429, 500, 502, 503, 504}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DubbingOptions:
    base_url: str = "https://api.elevenlabs.io"
    timeout_s: float = 120.0  # one request
    poll_s: float = 5.0  # between status checks
    max_wait_s: float = 1800.0  # for one dub to be ready

    @classmethod
    def from_settings(cls) -> DubbingOptions:
        s = get_settings()
        return cls(s.elevenlabs_base_url.rstrip("/"), s.elevenlabs_timeout_s, s.dubbing_poll_s,
                   s.dubbing_max_wait_s)  # fmt: skip


def resolve_dubbing_key(key_block: str | None) -> str:
    """The key from the run's Secret block when one is named, else ELEVENLABS_API_KEY."""
    return secret_key(key_block, get_settings().elevenlabs_api_key, DubbingKeyError, NO_KEY)


def dub_audio(audio: Path, source: str, target: str, out_dir: Path, opts: DubbingOptions,
              key: str) -> Path:  # fmt: skip
    """The dubbed audio of `audio` in `target`, from the cache or from ElevenLabs."""
    name = stable_hash(VERSION, file_sha256(audio), source, target, opts.base_url)
    done = out_dir / f"{name}.audio"
    if done.exists():
        return done
    out_dir.mkdir(parents=True, exist_ok=True)
    headers = {"xi-api-key": key}
    with httpx.Client(base_url=opts.base_url, headers=headers, timeout=opts.timeout_s) as client:
        dubbing_id = _submit(client, audio, source, target)
        log.info("dubbing %s into %s: project %s", audio.name, target, dubbing_id)
        _wait(client, dubbing_id, opts)
        # A clip's audio is a few megabytes: no need to stream it.
        dubbed = _call(client, "GET", f"/v1/dubbing/{dubbing_id}/audio/{target}").content
        if not dubbed:
            raise DubbingError("ElevenLabs reported the dub ready but sent no audio")
        tmp = done.with_suffix(".part")
        tmp.write_bytes(dubbed)
        tmp.replace(done)
        write_json_atomic(done.with_suffix(".json"), {"dubbing_id": dubbing_id, "target": target})
        _forget(client, dubbing_id)
    return done


def _submit(client: httpx.Client, audio: Path, source: str, target: str) -> str:
    with open(audio, "rb") as fh:
        files = {"file": (audio.name, fh, "audio/mp4")}
        data = {"source_lang": source, "target_lang": target, "num_speakers": "0",
                "watermark": "false", "name": f"reelflow {audio.stem}"}  # fmt: skip
        body = _call(client, "POST", "/v1/dubbing", files=files, data=data).json()
    dubbing_id = body.get("dubbing_id") if isinstance(body, dict) else None
    if not dubbing_id:
        raise DubbingError("ElevenLabs accepted the clip but gave no dubbing id")
    return str(dubbing_id)


def _wait(client: httpx.Client, dubbing_id: str, opts: DubbingOptions) -> None:
    deadline = time.monotonic() + opts.max_wait_s
    while True:
        body = _call(client, "GET", f"/v1/dubbing/{dubbing_id}").json()
        status = str(body.get("status", ""))
        if status == "dubbed":
            return
        if status == "failed":
            detail = str(body.get("error") or "no reason given")[:200]
            raise DubbingError(f"ElevenLabs could not dub the clip: {detail}")
        if time.monotonic() > deadline:
            raise DubbingError(
                f"The dub was not ready after {opts.max_wait_s:g} s (DUBBING_MAX_WAIT_S)"
            )
        time.sleep(opts.poll_s)


def _forget(client: httpx.Client, dubbing_id: str) -> None:
    """The project holds the clip's audio at ElevenLabs: delete it once downloaded."""
    try:
        _call(client, "DELETE", f"/v1/dubbing/{dubbing_id}")
    except DubbingError as exc:
        log.warning("Could not delete dubbing project %s: %s", dubbing_id, exc)


def _call(client: httpx.Client, method: str, path: str, **kwargs) -> httpx.Response:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TimeoutException as exc:
        raise DubbingUnavailable("ElevenLabs did not answer in time (timeout)") from exc
    except httpx.TransportError as exc:
        raise DubbingUnavailable(f"Could not reach ElevenLabs ({type(exc).__name__})") from exc
    _raise_for(response)
    return response


def _raise_for(response: httpx.Response) -> None:
    code = response.status_code
    if code < 400:
        return
    if code in (401, 403):
        raise DubbingKeyError(KEY_REJECTED)
    if code in _RETRYABLE:
        raise DubbingUnavailable(f"ElevenLabs is busy or unavailable ({code}); try again later")
    raise DubbingError(f"ElevenLabs refused the dub ({code}): {_detail(response)}")


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:200]
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("status")
    return str(detail or "")[:200]


@task(
    name="dub",
    task_run_name="dub into {target}",
    retries=3,
    retry_delay_seconds=exponential_backoff(10),
    retry_condition_fn=retry_transient_only,
)
def dub(audio: str, source: str, target: str, key_block: str | None = None) -> str:
    """`key_block` names the Secret holding the key (None: ELEVENLABS_API_KEY)."""
    key = resolve_dubbing_key(key_block)
    out = dub_audio(Path(audio), source, target, get_settings().cache_dir / "dubs",
                    DubbingOptions.from_settings(), key)  # fmt: skip
    return str(out)
