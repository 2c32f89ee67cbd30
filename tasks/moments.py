"""Stage 4, moments: pick the strongest 15-60 s moments through a moment provider.

A provider takes the transcript, the scene cuts and the user's MomentOptions and returns
Moments. `local` (tasks.moments_local) scores the transcript and audio offline; `gemini` asks
the model. Whatever a provider returns goes through tasks.boundaries before anything is cut.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from prefect import task

from reelflow.caching import content_key
from reelflow.errors import InvalidRequest
from reelflow.models import Moment, Transcript
from tasks.moment_options import MomentOptions

VERSION = "moments-1"
ProviderName = Literal["local", "gemini"]
Provider = Callable[[Transcript, list[float], MomentOptions], list[Moment]]


def get_provider(name: str) -> Provider:
    """Each engine's imports stay in its own module, loaded only when chosen."""
    if name == "local":
        from tasks.moments_local import find_local_moments

        return find_local_moments
    if name == "gemini":
        raise InvalidRequest("The gemini provider is not available in this build yet")
    raise InvalidRequest(f"Unknown moment provider '{name}': use local or gemini")


def find_moments(
    transcript: Transcript, scene_cuts: list[float], opts: MomentOptions, provider: str = "local"
) -> list[Moment]:
    return get_provider(provider)(transcript, scene_cuts, opts)


@task(
    name="moments",
    task_run_name="moments ({provider})",
    cache_key_fn=content_key("moments", VERSION),
    result_serializer="json",
)
def moments(
    transcript: Transcript, scene_cuts: list[float], opts: MomentOptions, provider: str = "local"
) -> list[Moment]:
    return find_moments(transcript, scene_cuts, opts, provider)
