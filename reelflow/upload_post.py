"""The Upload-Post provider: one multipart `POST <base>/api/upload` per post.

Wire format (docs.upload-post.com, "Upload Video"): header `Authorization: Apikey <key>`; form
fields `user` (the profile), `platform[]` once per platform, `title` (the fallback text),
`<platform>_title` and `<platform>_description` per platform, `async_upload=false`, and the
file as `video`. A 200 answers `{"success": true, "results": {"tiktok": {"success": true,
"url": ..., "publish_id": ...}, "linkedin": {"success": false, "error": "..."}}}`: each
platform succeeds or fails on its own. Errors of the request as a whole come as a status code
with `{"success": false, "message": ...}`.

The official `upload-post` SDK hides the status code and Retry-After behind one exception
type, and retrying needs both, so this speaks HTTP through httpx itself. The key goes in the
header only: it is never logged, and errors quote the provider's message, never the request.
"""

from __future__ import annotations

import email.utils
import time
from pathlib import Path
from typing import Any

import httpx

from reelflow.posting import PlatformResult, PlatformTexts, PostRefused, PostRetryLater

UPLOAD_PATH = "/api/upload"
# Platforms whose own description field Upload-Post takes; the rest show the title only.
_DESCRIPTION_PLATFORMS = {"youtube", "linkedin", "facebook", "tiktok", "pinterest"}
_ID_FIELDS = ("post_id", "publish_id", "video_id", "container_id", "media_id", "id")
_URL_FIELDS = ("url", "post_url", "permalink")
_REASON_LIMIT = 300


class UploadPostProvider:
    name = "upload-post"

    def __init__(self, api_key: str, base_url: str, timeout_s: float = 300):
        if not api_key.strip():
            raise PostRefused("No Upload-Post API key: send X-Upload-Post-Key or configure one")
        self._key = api_key.strip()
        self._url = base_url.rstrip("/") + UPLOAD_PATH
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 30))

    def post(
        self, video: Path, platforms: list[str], texts: dict[str, PlatformTexts], profile: str
    ) -> dict[str, PlatformResult]:
        if not profile:
            raise PostRefused("No Upload-Post profile: give `profile` or set UPLOAD_POST_USER")
        fields = form_fields(platforms, texts, profile)
        try:
            with video.open("rb") as data, httpx.Client(timeout=self._timeout) as client:
                answer = client.post(
                    self._url,
                    headers={"Authorization": f"Apikey {self._key}"},
                    data=_as_form(fields),
                    files={"video": (video.name, data, "video/mp4")},
                )
        except httpx.TimeoutException as exc:
            raise PostRetryLater(
                f"Upload-Post did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise PostRetryLater(f"Could not reach Upload-Post: {type(exc).__name__}") from exc
        return read_answer(answer, platforms)


def form_fields(platforms: list[str], texts: dict[str, PlatformTexts], profile: str) -> list:
    """The form's text fields, in Upload-Post's names (platform[] repeated)."""
    first = texts[platforms[0]]
    fields: list[tuple[str, str]] = [("user", profile), ("title", first.title or "")]
    fields += [("platform[]", p) for p in platforms]
    for platform in platforms:
        text = texts[platform]
        if text.title:
            fields.append((f"{platform}_title", text.title))
        if text.description and platform in _DESCRIPTION_PLATFORMS:
            fields.append((f"{platform}_description", text.description))
    fields.append(("async_upload", "false"))
    return fields


def _as_form(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    """httpx takes repeated fields (platform[]) as lists, in order."""
    form: dict[str, list[str]] = {}
    for name, value in fields:
        form.setdefault(name, []).append(value)
    return form


def read_answer(answer: httpx.Response, platforms: list[str]) -> dict[str, PlatformResult]:
    body = _json(answer)
    status = answer.status_code
    reason = _reason(body) or answer.reason_phrase or f"HTTP {status}"
    if status == 429:
        raise PostRetryLater(f"Upload-Post rate limit: {reason}", retry_after(answer))
    if status >= 500:
        raise PostRetryLater(f"Upload-Post server error {status}: {reason}", retry_after(answer))
    if status in (401, 403):
        raise PostRefused(f"Upload-Post refused the API key ({status}): {reason}")
    if status >= 400:
        raise PostRefused(f"Upload-Post rejected the post ({status}): {reason}")
    if not isinstance(body, dict) or body.get("success") is False:
        raise PostRefused(f"Upload-Post did not accept the post: {reason}")
    results = body.get("results")
    if not isinstance(results, dict):
        if body.get("request_id"):  # it switched to processing in the background
            accepted = PlatformResult(state="posted", post_id=str(body["request_id"]))
            return dict.fromkeys(platforms, accepted)
        raise PostRefused("Upload-Post answered without per-platform results")
    return {p: platform_result(results.get(p)) for p in platforms}


def platform_result(entry: Any) -> PlatformResult:
    if not isinstance(entry, dict):
        return PlatformResult(state="failed", error="Upload-Post gave no result for it")
    if not entry.get("success"):
        error = _short(str(entry.get("error") or entry.get("message") or "failed, no reason given"))
        return PlatformResult(state="failed", error=error)
    post_id = next((str(entry[f]) for f in _ID_FIELDS if entry.get(f)), None)
    url = next((str(entry[f]) for f in _URL_FIELDS if entry.get(f)), None)
    return PlatformResult(state="posted", post_id=post_id, url=url)


def retry_after(answer: httpx.Response) -> float | None:
    """Retry-After in seconds: a number, or an HTTP date (RFC 9110)."""
    value = (answer.headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _reason(body: Any) -> str:
    if isinstance(body, dict):
        for field in ("message", "error", "detail"):
            if body.get(field):
                return _short(str(body[field]))
    return ""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 1] + "…"
