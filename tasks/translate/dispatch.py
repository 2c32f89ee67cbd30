"""Translate a clip through the chosen provider, as a cached and retried Prefect task.

`gemini` needs a key (the job's Secret block, or GEMINI_API_KEY); `offline` fails with what it
would need (tasks.translate.offline). The answer is cached by the phrases, the texts, the
languages and the provider's identity (model, endpoint, prompt version), never by the key, so
translating a clip again costs nothing.
"""

from __future__ import annotations

from prefect import Task, task

from reelflow.caching import provider_key, retry_transient_only, with_service_retries
from reelflow.errors import InvalidRequest
from tasks.translate.types import Translation, TranslationJob

VERSION = "translate-1"


def translate_clip_text(
    job: TranslationJob, provider: str = "gemini", gemini_key_block: str | None = None
) -> Translation:
    """Each engine's imports stay in its own module, loaded only when chosen."""
    if provider == "offline":
        from tasks.translate.offline import OfflineTranslator

        return OfflineTranslator().translate(job)
    if provider == "gemini":
        from reelflow.gemini import GeminiOptions, resolve_key
        from tasks.translate.gemini import GeminiTranslator

        key = resolve_key(gemini_key_block)
        return GeminiTranslator(GeminiOptions.from_settings(), key).translate(job)
    raise InvalidRequest(f"Unknown translation provider '{provider}': use gemini or offline")


def _gemini_identity() -> dict:
    from reelflow.gemini import GeminiOptions
    from tasks.translate.gemini import PROMPT_VERSION

    return {**GeminiOptions.from_settings().cache_identity(), "prompt": PROMPT_VERSION}


@task(
    name="translate",
    task_run_name="translate into {job.target_language} ({provider})",
    cache_key_fn=provider_key("translate", VERSION, ("gemini_key_block",), _gemini_identity),
    retry_condition_fn=retry_transient_only,
    result_serializer="json",
)
def translate_text(
    job: TranslationJob, provider: str = "gemini", gemini_key_block: str | None = None
) -> Translation:
    return translate_clip_text(job, provider, gemini_key_block)


def translate_task(provider: str) -> Task:
    """`translate_text`, retried on 429/5xx/timeouts when the provider is a service."""
    return with_service_retries(translate_text, "local" if provider == "offline" else provider)
