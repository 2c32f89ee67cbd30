"""Stage 4, moments: pick the strongest 15-60 s moments through a moment provider.

A provider takes the transcript, the scene cuts and the user's MomentOptions and returns
MomentPicks: the moments, best first, and what finding them cost. `local`
(tasks.moments.local) scores the transcript and audio offline; `gemini`
(tasks.moments.gemini) asks the model. Whatever a provider returns goes through
tasks.boundaries before anything is cut; when too few survive, `fill` tops them up from the
local scorer.
"""

from __future__ import annotations

from prefect import Task, task

from reelflow.caching import provider_key, retry_transient_only, with_service_retries
from reelflow.errors import InvalidRequest
from reelflow.models import MomentsUsage, RepairedMoment, Transcript
from tasks.boundaries import repair_moments
from tasks.moments.local import find_local_moments
from tasks.moments.types import AUTO_MAX, AUTO_MIN, MIN_GAP_S, MomentOptions, MomentPicks

VERSION = "moments-2"


def find_moments(
    transcript: Transcript,
    scene_cuts: list[float],
    opts: MomentOptions,
    provider: str = "local",
    gemini_key_block: str | None = None,
) -> MomentPicks:
    """Each engine's imports stay in its own module, loaded only when chosen."""
    if provider == "local":
        found = find_local_moments(transcript, scene_cuts, opts)
        return MomentPicks(moments=found, usage=MomentsUsage(provider="local"))
    if provider == "gemini":
        from reelflow.gemini import GeminiOptions
        from tasks.moments.gemini import find_gemini_moments

        options = GeminiOptions.from_settings()
        return find_gemini_moments(transcript, scene_cuts, opts, options, gemini_key_block)
    raise InvalidRequest(f"Unknown moment provider '{provider}': use local or gemini")


def minimum_clips(opts: MomentOptions) -> int:
    """The count asked for, or AUTO_MIN when the provider may choose."""
    return opts.clips or AUTO_MIN


def fill_from_local(
    kept: list[RepairedMoment],
    transcript: Transcript,
    scene_cuts: list[float],
    duration_s: float,
    opts: MomentOptions,
) -> list[RepairedMoment]:
    """Top up repaired provider moments with the local scorer's best ones that do not overlap
    them (each keeps `source="local"`), up to minimum_clips; fewer when the video has no room."""
    missing = minimum_clips(opts) - len(kept)
    if missing <= 0:
        return kept
    # Every candidate, not just `missing`: the local favourites may be what the provider chose.
    candidates = find_local_moments(
        transcript, scene_cuts, opts.model_copy(update={"clips": AUTO_MAX})
    )
    repaired, _ = repair_moments(candidates, transcript, scene_cuts, duration_s, opts)
    taken = [(k.moment.start_s, k.moment.end_s) for k in kept]
    extra: list[RepairedMoment] = []
    for item in repaired:  # best first
        m = item.moment
        if any(m.start_s < b + MIN_GAP_S and a < m.end_s + MIN_GAP_S for a, b in taken):
            continue
        extra.append(item)
        taken.append((m.start_s, m.end_s))
        if len(extra) == missing:
            break
    return [*kept, *extra]


def _gemini_identity() -> dict:
    from reelflow.gemini import GeminiOptions
    from tasks.moments.gemini import PROMPT_VERSION

    return {**GeminiOptions.from_settings().cache_identity(), "prompt": PROMPT_VERSION}


# Never the key: it is no parameter, and the block's name is ignored (a new block per job
# must still hit the cache).
_cache_key = provider_key("moments", VERSION, ("gemini_key_block",), _gemini_identity)


@task(
    name="moments",
    task_run_name="moments ({provider})",
    cache_key_fn=_cache_key,
    retry_condition_fn=retry_transient_only,
    result_serializer="json",
)
def moments(
    transcript: Transcript,
    scene_cuts: list[float],
    opts: MomentOptions,
    provider: str = "local",
    gemini_key_block: str | None = None,
) -> MomentPicks:
    """`gemini_key_block` names the Prefect Secret holding the key (None: GEMINI_API_KEY)."""
    return find_moments(transcript, scene_cuts, opts, provider, gemini_key_block)


def moments_task(provider: str) -> Task:
    """`moments`, with retries when the provider calls a service."""
    return with_service_retries(moments, provider)


@task(name="fill", task_run_name="fill from local")
def fill(
    kept: list[RepairedMoment],
    transcript: Transcript,
    scene_cuts: list[float],
    duration_s: float,
    opts: MomentOptions,
) -> list[RepairedMoment]:
    """Cheap and deterministic: not cached."""
    return fill_from_local(kept, transcript, scene_cuts, duration_s, opts)
