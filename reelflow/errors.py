"""One error tree, with messages written for the person who hit the error.

`permanent` errors are never retried (see `reelflow.retry.retry_transient_only`): retrying a
video that does not exist or a file that is not a video only delays the same answer.
"""

from __future__ import annotations


class ReelflowError(Exception):
    """Base of every error reelflow raises on purpose; `str(err)` is the one-line reason."""

    permanent = True

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SourceUnavailable(ReelflowError):
    """The file or URL cannot be read (missing, unreachable, refused, removed)."""


class TransientSourceError(SourceUnavailable):
    """A download that may work on a later try (timeouts, 5xx, connection resets)."""

    permanent = False


class URLNotAllowed(SourceUnavailable):
    """The URL points where reelflow may not fetch from (scheme, host or address); see
    ALLOWED_URL_HOSTS and ALLOW_PRIVATE_URLS."""


class DownloadTooLarge(SourceUnavailable):
    """The download grew past MAX_FILE_SIZE_MB and was stopped."""


class DownloadTimedOut(SourceUnavailable):
    """The download ran past DOWNLOAD_TIMEOUT_S and was stopped. Not retried: a server that
    trickles would hold a job slot for the deadline again on every try."""


class NotAVideo(ReelflowError):
    """The input exists but holds no decodable video stream."""


class VideoTooShort(ReelflowError):
    """The video is shorter than the shortest clip asked for."""


class VideoTooLong(ReelflowError):
    """The video is longer than MAX_VIDEO_MINUTES."""


class NoMoments(ReelflowError):
    """No clip of the asked length could be found (for example: too little speech)."""


class ToolFailed(ReelflowError):
    """An external tool (ffmpeg) failed or ran past its time limit."""


class InvalidRequest(ReelflowError):
    """A request's options contradict each other or are out of range."""


class NotFound(ReelflowError):
    """No such job, clip or file (or its files expired)."""


class Conflict(ReelflowError):
    """The job is in a state that does not allow this yet (it is still running)."""


class TooLarge(ReelflowError):
    """A request body or an upload over its limit."""


class ConfigError(ReelflowError):
    """A setting is unusable; the service refuses to start rather than run unsafely."""


class Unavailable(ReelflowError):
    """Something reelflow needs is not ready or not reachable (the worker, S3): try later."""

    permanent = False


class QueueFull(ReelflowError):
    """MAX_QUEUED_JOBS jobs already wait: the client should come back after `retry_after_s`."""

    permanent = False

    def __init__(self, message: str, retry_after_s: int = 30):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class IdempotencyMismatch(ReelflowError):
    """An Idempotency-Key was used again, within its lifetime, for a different request."""


class GeminiError(ReelflowError):
    """Gemini refused the request for a reason a retry would not change."""


class GeminiKeyError(GeminiError):
    """No Gemini API key was given, or Gemini refused it."""


class GeminiUnavailable(GeminiError):
    """Rate limit (429), a server error (5xx) or a timeout: worth another try after a wait."""

    permanent = False


class GeminiBlocked(GeminiError):
    """Gemini's safety filters blocked the transcript or the answer: a content decision."""


class GeminiBadAnswer(GeminiError):
    """Gemini's answer was empty or not the JSON asked for, even after one repair attempt."""


class DubbingError(ReelflowError):
    """The dubbing service refused the request or could not dub the clip."""


class DubbingKeyError(DubbingError):
    """No dubbing (ElevenLabs) key was given, or the service refused it."""


class DubbingUnavailable(DubbingError):
    """Rate limit, a server error or a timeout at the dubbing service: worth another try."""

    permanent = False


def describe_invalid(errors: list[dict]) -> str:
    """A pydantic ValidationError's `errors()` as one line: each field and what is wrong."""
    parts = []
    for error in errors:
        where = ".".join(str(p)[:40] for p in error.get("loc", ()))
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    # Field names and values in messages can come from a client: keep the reason one line.
    line = " ".join("; ".join(parts).split())
    return line if len(line) <= 500 else line[:499] + "…"


def is_permanent(exc: BaseException) -> bool:
    """Errors we did not raise on purpose are treated as transient only when they are I/O."""
    if isinstance(exc, ReelflowError):
        return exc.permanent
    return not isinstance(exc, (TimeoutError, ConnectionError))
