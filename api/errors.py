"""The one place where reelflow's errors become HTTP answers.

Services raise the project's own errors (reelflow.errors); this table gives each its status
code, and the answer carries the error's one-line message in Litestar's usual shape
(`{"status_code": ..., "detail": ...}`). Anything unexpected is logged with its traceback and
answered with a generic 500 that echoes nothing of it.
"""

from __future__ import annotations

import logging
from inspect import getmro

import httpx
from litestar import MediaType, Request, Response

from reelflow.errors import (
    Conflict,
    IdempotencyMismatch,
    InvalidRequest,
    NotFound,
    QueueFull,
    ReelflowError,
    TooLarge,
    Unavailable,
    URLNotAllowed,
)
from reelflow.storage import StorageError

logger = logging.getLogger("reelflow.api")

# Most specific first does not matter: the error's own class hierarchy is walked.
STATUS: dict[type[ReelflowError], int] = {
    InvalidRequest: 400,
    URLNotAllowed: 400,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    IdempotencyMismatch: 422,
    QueueFull: 429,
    Unavailable: 503,
    StorageError: 503,
    ReelflowError: 400,
}


def status_of(exc: ReelflowError) -> int:
    return next(STATUS[cls] for cls in getmro(type(exc)) if cls in STATUS)


def reelflow_error(_: Request, exc: ReelflowError) -> Response:
    status = status_of(exc)
    headers = {"Retry-After": "5"} if status == 503 else None
    if isinstance(exc, QueueFull):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return _answer(status, str(exc), headers)


def prefect_error(request: Request, exc: httpx.HTTPError) -> Response:
    """Prefect's server down, or failing on its side (5xx): the client may try again. Any
    other answer from it (a 4xx) means we sent something wrong: that is our error, a 500."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, httpx.HTTPStatusError) and status is not None and status < 500:
        return internal_error(request, exc)
    logger.warning("Prefect failed in %s %s: %s", request.method, request.url.path, exc)
    return _answer(503, "The Prefect server is unreachable or failed; try again shortly",
                   {"Retry-After": "5"})  # fmt: skip


def internal_error(request: Request, exc: Exception) -> Response:
    logger.error("Unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return _answer(500, "Internal server error; see the API's log")


def _answer(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        {"status_code": status, "detail": detail},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


EXCEPTION_HANDLERS = {
    ReelflowError: reelflow_error,
    httpx.HTTPError: prefect_error,
    500: internal_error,
}
