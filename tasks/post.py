"""Post: send one rendered clip to social platforms through a posting provider.

A post is not idempotent (a repeat is a second post), so nothing here is cached, and retries
are careful: only a request that as a whole did not go through (429, 5xx, a timeout) is sent
again, after the provider's Retry-After when it gave one, else an exponential wait with
jitter; a refusal (a bad key, rejected media) fails at once with the provider's reason. A
platform that failed inside an accepted request is reported, never retried: the others are
already up and a retry would post them twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from reelflow.posting import (
    PlatformResult,
    PlatformTexts,
    PostingProvider,
    PostRefused,
    PostRetryLater,
)

VERSION = "1"


@dataclass(frozen=True)
class PostOptions:
    retries: int = 4  # further tries after a 429, 5xx or timeout
    retry_delay_s: float = 30.0  # first wait when the provider names none; doubles
    max_wait_s: float = 900.0  # a longer Retry-After fails the post instead of waiting


@dataclass(frozen=True)
class PostOutcome:
    results: dict[str, PlatformResult]
    attempts: int


def post_video(
    provider: PostingProvider,
    video: Path,
    platforms: list[str],
    texts: dict[str, PlatformTexts],
    profile: str,
    opts: PostOptions,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = lambda _: None,
) -> PostOutcome:
    """Post, retrying what may pass later. Raises PostRefused, or PostRetryLater once the
    retries are spent (its message says how many tries it took)."""
    if not video.is_file():
        raise PostRefused(f"The clip's file {video.name} is gone (expired or deleted)")
    for attempt in range(1, opts.retries + 2):
        try:
            results = provider.post(video, platforms, texts, profile)
            return PostOutcome(results, attempt)
        except PostRetryLater as exc:
            if attempt > opts.retries:
                raise PostRetryLater(f"{exc} (gave up after {attempt} tries)") from exc
            wait = _wait(exc.retry_after_s, opts, attempt)
            if wait > opts.max_wait_s:
                raise PostRetryLater(
                    f"{exc}; the provider asked to wait {wait:.0f} s, longer than "
                    f"PUBLISH_MAX_WAIT_S ({opts.max_wait_s:.0f} s)"
                ) from exc
            log(f"{exc}; try {attempt + 1} of {opts.retries + 1} in {wait:.1f} s")
            sleep(wait)
    raise AssertionError("unreachable")


def _wait(retry_after_s: float | None, opts: PostOptions, attempt: int) -> float:
    if retry_after_s is not None:
        return retry_after_s
    base = opts.retry_delay_s * 2 ** (attempt - 1)
    return base * random.uniform(0.75, 1.25)


# NO_CACHE, no persisted result: a post must never be skipped as a "cache hit", and the
# provider (which holds the key) must never be hashed or stored.
def _task_name() -> str:
    from prefect.runtime import task_run

    return "post to " + ", ".join(task_run.parameters.get("platforms") or [])


@task(name="post-clip", task_run_name=_task_name, tags=[f"post-v{VERSION}"],
      cache_policy=NO_CACHE, persist_result=False)  # fmt: skip
def post_task(
    provider: PostingProvider,
    video: str,
    platforms: list[str],
    texts: dict[str, PlatformTexts],
    profile: str,
    opts: PostOptions,
) -> PostOutcome:
    logger = get_run_logger()
    return post_video(provider, Path(video), platforms, texts, profile, opts, log=logger.warning)
