"""Cache keys and retry rules shared by every stage task.

Prefect's default cache policy includes the run id and its INPUTS policy hashes a path string,
not the file behind it. Stages here are keyed on what determines their output instead: the
streamed content hash of the input file, every option that changes the output, and the stage's
code version tag. A stage whose result points at files uses `refresh_if_missing`, so a
cleaned-up file is made again rather than returned stale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reelflow.errors import is_permanent
from reelflow.media import file_sha256


def stable_hash(*parts: Any) -> str:
    """Hash JSON-able parts (pydantic models included) into a short, stable hex key."""
    blob = json.dumps([_jsonable(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def content_key(
    stage: str, version: str, file_param: str | None = None, ignore: Iterable[str] = ()
) -> Callable[[Any, dict[str, Any]], str]:
    """Build a Prefect `cache_key_fn` for one stage.

    `file_param` names the parameter holding the input file path (a str or a MediaInfo); its
    content hash replaces the path. `ignore` lists parameters that never change the output.
    """
    skipped = set(ignore) | ({file_param} if file_param else set())

    def key_fn(_context: Any, parameters: dict[str, Any]) -> str:
        parts: list[Any] = [stage, version]
        if file_param:
            parts.append(_file_identity(parameters[file_param]))
        parts.append({k: v for k, v in parameters.items() if k not in skipped})
        return f"reelflow-{stage}-{stable_hash(*parts)}"

    return key_fn


def provider_key(
    stage: str, version: str, ignore: Iterable[str], gemini_identity: Callable[[], Any]
) -> Callable[[Any, dict[str, Any]], str]:
    """`content_key` for a stage with a `provider` parameter: with Gemini, the key also holds
    what changes its answer (model, endpoint, prompt version), from `gemini_identity()`."""
    base = content_key(stage, version, ignore=ignore)

    def key_fn(context: Any, parameters: dict[str, Any]) -> str:
        key = base(context, parameters)
        if parameters.get("provider") == "gemini":
            key += "-" + stable_hash(gemini_identity())
        return key

    return key_fn


def with_service_retries(task: Any, provider: str) -> Any:
    """The task as is for local compute; with Gemini, retried on a 429, 5xx or timeout after
    GEMINI_RETRY_DELAY_S, doubling each time, with jitter (a permanent error fails at once,
    through the task's `retry_transient_only`)."""
    if provider == "local":
        return task
    from prefect.tasks import exponential_backoff

    from reelflow.settings import get_settings

    settings = get_settings()
    return task.with_options(
        retries=settings.gemini_retries,
        retry_delay_seconds=exponential_backoff(settings.gemini_retry_delay_s),
        retry_jitter_factor=RETRY_JITTER,
    )


RETRY_JITTER = 0.5  # retry waits vary (up to 50% longer), so jobs hit by one outage spread out


def refresh_if_missing(task: Any, *outputs: Path) -> Any:
    """The task as is when its output files exist; else one that recomputes and overwrites
    its cache record (a cached result must never point at a deleted file)."""
    if all(p.exists() for p in outputs):
        return task
    return task.with_options(refresh_cache=True)


def _file_identity(value: Any) -> str:
    sha = getattr(value, "sha256", None)
    if sha:
        return sha
    return file_sha256(getattr(value, "path", value))


def retry_transient_only(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry I/O hiccups, never a permanent error."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            exc = state.result(raise_on_failure=False)
        except Exception:
            return True
    return not (isinstance(exc, BaseException) and is_permanent(exc))
