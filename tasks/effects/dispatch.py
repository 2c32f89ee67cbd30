"""Stage: a clip's effects plan, from Gemini (tasks.effects.gemini) when asked and a key is
there, else from the local rules (tasks.effects.local); cached, and retried when Gemini plans.
"""

from __future__ import annotations

from typing import Literal

from prefect import task

from reelflow.caching import provider_key, retry_transient_only, with_service_retries
from reelflow.models import Word
from reelflow.styles import EffectsOptions
from tasks.effects.local import local_plan, sanitize_plan, silence_cuts
from tasks.effects.types import EffectsPlan

VERSION = "effects-1"


def plan_effects(
    words: list[Word],
    loudness_db: list[float],
    hop_s: float,
    duration_s: float,
    opts: EffectsOptions,
    provider: Literal["local", "gemini"] = "local",
    gemini_key_block: str | None = None,
) -> EffectsPlan:
    """The clip's plan from the chosen planner; each engine's imports stay in its module."""
    if provider == "gemini":
        from reelflow.gemini import GeminiOptions
        from tasks.effects.gemini import gemini_plan

        plan = gemini_plan(words, loudness_db, hop_s, duration_s, opts,
                           GeminiOptions.from_settings(), gemini_key_block)  # fmt: skip
        cuts = silence_cuts(words, duration_s, opts.min_silence_s) if opts.cut_silences else []
        return sanitize_plan(plan.model_copy(update={"cuts": cuts}), opts)
    return local_plan(words, loudness_db, hop_s, duration_s, opts)


def _gemini_identity() -> list:
    from reelflow.gemini import GeminiOptions
    from tasks.effects.gemini import PROMPT_VERSION

    return [GeminiOptions.from_settings().cache_identity(), PROMPT_VERSION]


_cache_key = provider_key("effects", VERSION, ("gemini_key_block", "index"), _gemini_identity)


@task(
    name="effects",
    task_run_name="effects plan clip {index} ({provider})",
    cache_key_fn=_cache_key,
    retry_condition_fn=retry_transient_only,
    result_serializer="json",
)
def effects_plan(
    index: int,
    words: list[Word],
    loudness_db: list[float],
    hop_s: float,
    duration_s: float,
    opts: EffectsOptions,
    provider: Literal["local", "gemini"] = "local",
    gemini_key_block: str | None = None,
) -> EffectsPlan:
    return plan_effects(words, loudness_db, hop_s, duration_s, opts, provider, gemini_key_block)


def effects_task(provider: str):
    """With Gemini, the same retries as the moment selection; local is compute."""
    return with_service_retries(effects_plan, provider)
