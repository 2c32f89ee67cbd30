"""Completion webhooks: what is sent, how it is signed, one guarded attempt, and the record.

Each state change (a job completed, failed or cancelled; a post posted, failed or cancelled)
is one *delivery*: a JSON body fixed when the change happened, POSTed to the webhook URL until
a 2xx answer or WEBHOOK_RETRY_HOURS have passed. Every attempt carries

    X-Reelflow-Timestamp: <unix seconds of this attempt>
    X-Reelflow-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with WEBHOOK_SECRET>
    X-Reelflow-Event: completed | failed | cancelled | posted
    X-Reelflow-Delivery: <delivery id, the same on every attempt: receivers dedupe on it>

so a receiver can check the body is ours and fresh (`verify_signature`; the README shows it).

Webhook URLs name places the server will connect to, so they pass the download URL guard
(`reelflow.netguard`): at submission without DNS, and before each attempt with DNS, the request
then going to exactly the address that was checked (no DNS-rebinding gap). Redirects are not
followed. Attempts are recorded in the job folder's `webhooks.json` (under its own lock) and
each is a flow run of the deliver-webhook deployment (see flows/webhooks.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from reelflow.errors import InvalidRequest, ReelflowError, URLNotAllowed
from reelflow.files import locked, write_text_atomic
from reelflow.jobs import is_expired
from reelflow.netguard import UrlPolicy, checked_addresses, precheck_url
from reelflow.posting import PostRecord, now_iso
from reelflow.redact import redact_url
from reelflow.settings import Settings, get_settings

Event = Literal["completed", "failed", "cancelled", "posted"]
SIGNATURE_HEADER = "X-Reelflow-Signature"
TIMESTAMP_HEADER = "X-Reelflow-Timestamp"
RECORD = "webhooks.json"
_LOCK = ".webhooks.lock"
_BODY_LIMIT = 256 * 1024  # the body rides in a flow parameter; clips carry no plans here
# What a clip shows in a webhook: the texts, times and links, not the reframe plan.
_CLIP_FIELDS = ("index", "start", "end", "duration", "title", "hook", "description_tiktok",
                "description_instagram", "hashtags", "score", "file", "thumbnail")  # fmt: skip


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str, timestamp: str, signature: str, body: bytes, tolerance_s: float = 300
) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature or "")


def check_webhook_url(url: str, settings: Settings | None = None) -> str:
    """At submission: a URL the guard allows (no DNS yet) and a secret to sign with."""
    settings = settings or get_settings()
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequest("webhook_url must be an http(s) URL")
    if settings.webhook_secret is None or not settings.webhook_secret.get_secret_value():
        raise InvalidRequest("webhook_url needs WEBHOOK_SECRET set on the server")
    try:
        precheck_url(url.strip(), UrlPolicy.from_settings(settings))
    except URLNotAllowed as exc:
        raise InvalidRequest(f"webhook_url: {exc}") from exc
    return url.strip()


# -- bodies --------------------------------------------------------------------------------


def public_clip(job_id: str, clip: Any, base_url: str | None) -> dict:
    """A clip as a webhook shows it, with the reference service's names and, when
    PUBLIC_API_URL is set, links to the file."""
    out = clip.model_dump(mode="json", include=set(_CLIP_FIELDS))
    out.update({
        "video_title_for_youtube_short": clip.title,
        "video_description_for_tiktok": clip.description_tiktok,
        "video_description_for_instagram": clip.description_instagram,
        "viral_hook_text": clip.hook,
        "posts": [p.model_dump(mode="json", exclude={"texts"}) for p in clip.posts],
    })  # fmt: skip
    if base_url:
        link = f"{base_url.rstrip('/')}/api/jobs/{job_id}/clips/{clip.index}"
        out.update({"video_url": link, "thumbnail_url": f"{link}/thumbnail"})
    return out


def job_body(event: Event, job_id: str, manifest: Any | None, error: str | None) -> dict:
    """The job's status when it changed: the fields of GET /api/status without the logs."""
    base = get_settings().public_api_url
    clips = [public_clip(job_id, c, base) for c in manifest.clips] if manifest else []
    done = event == "completed"
    return {
        "event": event, "job_id": job_id, "status": event, "occurred_at": now_iso(),
        "stage": "done" if done else (manifest.stage if manifest else None),
        "progress": 100 if done else round(manifest.progress) if manifest else 0,
        "error": error if event == "failed" else None,
        "warnings": manifest.warnings if manifest else [],
        "result": {"clips": clips}, "post": None,
    }  # fmt: skip


def post_body(event: Event, job_id: str, clip: Any, post: PostRecord) -> dict:
    return {
        "event": event, "job_id": job_id, "status": post.state, "occurred_at": now_iso(),
        "error": post.error, "clip": public_clip(job_id, clip, get_settings().public_api_url),
        "post": post.model_dump(mode="json", exclude={"texts"}),
    }  # fmt: skip


def encode(body: dict) -> bytes:
    """The exact bytes sent and signed."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# -- one attempt ---------------------------------------------------------------------------


class Attempt(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int
    at: str
    ok: bool
    status_code: int | None = None
    error: str | None = None
    permanent: bool = Field(False, description="Refused by the URL guard: not retried.")
    duration_ms: int = 0


def attempt_delivery(
    url: str,
    body: dict,
    event: str,
    delivery_id: str,
    number: int,
    settings: Settings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Attempt:
    """POST the signed body once, to the address the guard checked. Never raises."""
    settings = settings or get_settings()
    started = time.monotonic()

    def done(**fields) -> Attempt:
        took = round((time.monotonic() - started) * 1000)
        return Attempt(number=number, at=now_iso(), duration_ms=took, **fields)

    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if not secret:
        return done(ok=False, error="WEBHOOK_SECRET is not set on the worker", permanent=True)
    data = encode(body)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json", "User-Agent": "reelflow-webhooks/1",
        "X-Reelflow-Event": event, "X-Reelflow-Delivery": delivery_id,
        TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, data),
    }  # fmt: skip
    try:
        target, extensions, host_header = _pinned(url, UrlPolicy.from_settings(settings))
    except URLNotAllowed as exc:
        return done(ok=False, error=str(exc), permanent=True)
    except ReelflowError as exc:  # DNS trouble: a later attempt may resolve
        return done(ok=False, error=str(exc))
    headers["Host"] = host_header
    try:
        with httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False,
                          trust_env=False, transport=transport) as client:  # fmt: skip
            answer = client.post(target, content=data, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        return done(ok=False, error=f"{type(exc).__name__}: {redact_url(url)} did not answer")
    if 200 <= answer.status_code < 300:
        return done(ok=True, status_code=answer.status_code)
    note = " (redirects are not followed)" if 300 <= answer.status_code < 400 else ""
    return done(ok=False, status_code=answer.status_code,
                error=f"The receiver answered {answer.status_code}{note}")  # fmt: skip


def _pinned(url: str, policy: UrlPolicy) -> tuple[str, dict, str]:
    """(URL with the checked address for its host, request extensions, Host header)."""
    target = precheck_url(url, policy)
    address = checked_addresses(target.host, target.port, policy)[0]
    parts = urlsplit(url)

    def netloc(host: str, always_port: bool) -> str:
        shown = f"[{host}]" if ":" in host else host
        default = {"http": 80, "https": 443}[target.scheme]
        return shown if target.port == default and not always_port else f"{shown}:{target.port}"

    pinned = urlunsplit(
        (target.scheme, netloc(str(address), True), parts.path or "/", parts.query, "")
    )
    # TLS still checks the certificate against the name, through SNI.
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return pinned, extensions, netloc(target.host, False)


# -- the record ----------------------------------------------------------------------------

DeliveryState = Literal["pending", "delivered", "failed"]


class Delivery(BaseModel):
    """One state change told to one URL, with every attempt."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    delivery_id: str
    event: str
    url: str = Field(description="Shown redacted: a query string may carry a token.")
    post_id: str | None = None
    state: DeliveryState = "pending"
    created_at: str = Field(default_factory=now_iso)
    next_attempt_at: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)


class DeliveryLog(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deliveries: list[Delivery] = Field(default_factory=list)


def new_delivery_id() -> str:
    return uuid.uuid4().hex


def read_deliveries(folder: Path) -> list[Delivery]:
    try:
        return DeliveryLog.model_validate_json((folder / RECORD).read_text()).deliveries
    except (FileNotFoundError, ValueError):
        return []


def add_delivery(folder: Path, delivery: Delivery) -> bool:
    """Record a new delivery; False when the same change was already recorded (a job's end
    seen by both its hook and the sweep) or the job's files are gone."""
    return _change(folder, lambda log: _added(log, delivery))


def note_attempt(folder: Path, delivery_id: str, attempt: Attempt, state: DeliveryState,
                 next_attempt_at: str | None) -> None:  # fmt: skip
    def change(log: DeliveryLog) -> bool:
        for i, d in enumerate(log.deliveries):
            if d.delivery_id == delivery_id:
                log.deliveries[i] = d.model_copy(update={
                    "attempts": [*d.attempts, attempt], "state": state,
                    "next_attempt_at": next_attempt_at,
                })  # fmt: skip
                return True
        return False

    _change(folder, change)


def _added(log: DeliveryLog, delivery: Delivery) -> bool:
    same = [d for d in log.deliveries if (d.event, d.post_id) == (delivery.event, delivery.post_id)]
    if same:
        return False
    log.deliveries.append(delivery)
    return True


def _change(folder: Path, change: Callable[[DeliveryLog], bool]) -> bool:
    if is_expired(folder):
        return False
    folder.mkdir(parents=True, exist_ok=True)  # a job cancelled while queued has none yet
    with locked(folder, _LOCK):
        log = DeliveryLog(deliveries=read_deliveries(folder))
        if not change(log):
            return False
        write_text_atomic(folder / RECORD, log.model_dump_json(indent=2))
    return True


def body_fits(body: dict) -> dict:
    """Keep a body within a flow parameter's comfortable size: drop clip details first."""
    if len(encode(body)) <= _BODY_LIMIT:
        return body
    trimmed = {**body, "result": {"clips": [], "truncated": True}}
    return trimmed
