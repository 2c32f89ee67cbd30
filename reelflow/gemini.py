"""The Gemini client: the API key, one `generateContent` call, its errors, tokens and cost.

Uses `google-genai`, the maintained successor of `google-generativeai`. The SDK's own retries
stay off: reelflow retries 429/5xx/timeouts with Prefect task retries (visible in the UI, one
policy) and never retries a refused key or a safety block. The key is read where it is used
and lives only in the client: never a task or flow parameter, never logged, never written.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from reelflow.errors import GeminiBlocked, GeminiError, GeminiKeyError, GeminiUnavailable
from reelflow.secrets import secret_key
from reelflow.settings import get_settings

if TYPE_CHECKING:  # the SDK takes a second to import: only the Gemini stages load it
    from google import genai
    from google.genai import errors as genai_errors
    from google.genai import types

M = TypeVar("M", bound=BaseModel)

KEY_REJECTED = "Gemini rejected the API key"
NO_KEY = "No Gemini API key: set GEMINI_API_KEY or send X-Gemini-Key"

# USD per million tokens (input, output; thinking tokens are billed as output), from Google's
# public price list for prompts under 200k tokens (2025). An *estimate* for the manifest, not
# a bill: prices change, and batch, cached or long-context prices differ. Longest prefix wins.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gemini-3-pro": (2.00, 12.00),
    "gemini-3-flash": (0.50, 3.00),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.0-flash-lite": (0.075, 0.30),
}

# Finish reasons that mean a content filter stopped the answer: a decision, not an outage.
BLOCKING_FINISH = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY"}
_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class GeminiOptions:
    """How the provider talks to Gemini; `from_settings()` reads GEMINI_* settings."""

    model: str = "gemini-2.5-flash"
    base_url: str | None = None  # another endpoint (a proxy, the tests' stand-in)
    timeout_s: float = 120.0  # one request
    window_s: float = 1800.0  # transcript per request, at most; windows are made even
    overlap_s: float = 120.0  # at least the longest clip: a moment on an edge is whole in one
    window_tokens: int = 30_000  # estimated transcript tokens per request (context is 1M)

    @classmethod
    def from_settings(cls) -> GeminiOptions:
        s = get_settings()
        return cls(model=s.gemini_model, base_url=s.gemini_base_url, timeout_s=s.gemini_timeout_s)

    def cache_identity(self) -> dict:
        """What changes an answer (not the timeout): part of the Gemini stages' cache keys,
        with each stage's own prompt version."""
        return {**asdict(self), "timeout_s": None}


@functools.cache
def _transport_errors(name: str) -> tuple[type[Exception], ...]:
    """The class from httpx and from httpx2 (a fork the SDK prefers when it is installed)."""
    found = []
    for module in ("httpx", "httpx2"):
        with contextlib.suppress(ImportError, AttributeError):
            found.append(getattr(importlib.import_module(module), name))
    return tuple(found)


def token_counts(response: types.GenerateContentResponse) -> tuple[int, int]:
    """Tokens in and out of one response; thinking tokens count as out (they are billed so)."""
    meta = response.usage_metadata
    if meta is None:
        return 0, 0
    out = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
    return meta.prompt_token_count or 0, out


def estimate_cost(model: str, tokens_in: int, tokens_out: int) -> float | None:
    name = model.removeprefix("models/")
    known = max((p for p in PRICES_PER_MTOK if name.startswith(p)), key=len, default=None)
    if known is None:
        return None
    price_in, price_out = PRICES_PER_MTOK[known]
    return round((tokens_in * price_in + tokens_out * price_out) / 1e6, 6)


def resolve_key(key_block: str | None) -> str:
    """The key from the job's Prefect Secret block when one is named, else GEMINI_API_KEY."""
    return secret_key(key_block, get_settings().gemini_api_key, GeminiKeyError, NO_KEY)


def make_client(key: str, base_url: str | None, timeout_s: float) -> genai.Client:
    from google import genai
    from google.genai import types

    # vertexai=False: a GOOGLE_GENAI_USE_VERTEXAI in the environment must not reroute the key.
    http = types.HttpOptions(timeout=max(1, round(timeout_s * 1000)))  # the SDK counts ms
    if base_url:
        http.base_url = base_url
    return genai.Client(api_key=key, vertexai=False, http_options=http)


def generate(
    client: genai.Client, model: str, contents: Any, config: types.GenerateContentConfig
) -> types.GenerateContentResponse:
    """One request, with the SDK's and httpx's errors translated into reelflow's."""
    from google.genai import errors as genai_errors

    try:
        return client.models.generate_content(model=model, contents=contents, config=config)
    except genai_errors.APIError as exc:
        raise _translate(exc, model) from exc
    except _transport_errors("TimeoutException") as exc:
        raise GeminiUnavailable("Gemini did not answer in time (timeout); try again later") from exc
    except _transport_errors("TransportError") as exc:  # refused, reset, DNS: the network
        raise GeminiUnavailable(f"Could not reach Gemini ({type(exc).__name__})") from exc


def _translate(exc: genai_errors.APIError, model: str) -> GeminiError:
    code, status = exc.code, exc.status or ""
    detail = f"{code} {status}".strip()
    if code in (401, 403) or (code == 400 and _mentions_key(exc)):
        return GeminiKeyError(KEY_REJECTED)
    if code in _RETRYABLE_STATUS:
        if code == 429:
            return GeminiUnavailable(f"Gemini's rate limit or quota was reached ({detail})")
        return GeminiUnavailable(f"Gemini is unavailable ({detail}); try again later")
    if code == 404:
        return GeminiError(f"Gemini has no model '{model}' ({detail}): check GEMINI_MODEL")
    message = (exc.message or "").strip()[:200]
    return GeminiError(f"Gemini refused the request ({detail}): {message}".rstrip(": "))


def _mentions_key(exc: genai_errors.APIError) -> bool:
    # A bad key is a 400 INVALID_ARGUMENT whose details name API_KEY_INVALID.
    text = f"{exc.message} {exc.details}".lower()
    return "api_key" in text or "api key" in text


def check_blocked(response: types.GenerateContentResponse) -> None:
    """Raise GeminiBlocked, naming the reason, if a safety filter stopped the prompt or answer."""
    feedback = response.prompt_feedback
    if feedback and feedback.block_reason:
        reason = _name(feedback.block_reason)
        extra = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
        raise GeminiBlocked(
            f"Gemini blocked the transcript (block reason {reason}{extra}); "
            "use the local provider for this video"
        )
    for candidate in response.candidates or []:
        reason = _name(candidate.finish_reason)
        if reason in BLOCKING_FINISH:
            ratings = candidate.safety_ratings or []
            flagged = [_name(r.category) for r in ratings if r.blocked and r.category]
            which = f", {', '.join(flagged)}" if flagged else ""
            raise GeminiBlocked(
                f"Gemini's safety filter stopped the answer (finish reason {reason}{which}); "
                "use the local provider for this video"
            )


def _name(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


class UnusableAnswer(Exception):
    """An answer that is empty or not the JSON asked for; the message says which."""


def parse_answer(response: types.GenerateContentResponse, schema: type[M]) -> M:
    """The structured answer as `schema`, or UnusableAnswer saying what was wrong with it
    (worth one repair request: the caller re-asks with the problem in the prompt)."""
    text = (response.text or "").strip()
    if not text:
        reasons = {str(getattr(c.finish_reason, "value", "")) for c in response.candidates or []}
        reasons -= {"", "STOP", "None"}
        finish = f", finish reason {', '.join(sorted(reasons))}" if reasons else ""
        raise UnusableAnswer(f"the answer was empty{finish}")
    if text.startswith("```"):  # a fenced block, despite the JSON mime type
        text = text.strip("`").removeprefix("json").strip()
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()
        ]
        raise UnusableAnswer("; ".join(problems[:3])) from None
