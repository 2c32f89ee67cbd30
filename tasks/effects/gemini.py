"""The `gemini` effects planner: asks Gemini where a clip needs emphasis, as JSON under a schema.

The prompt holds the clip's words with their times and the moments where the voice is loud;
the answer is segments with a zoom and a grade, plus a clip-wide grade. Deterministic settings
(temperature 0, a fixed seed), one repair request for an empty or malformed answer, safety
blocks and refused keys raised as reelflow errors, 429/5xx/timeouts retried by the task
(tasks.effects.dispatch `effects_task`): the same resilience as the moment selection, through the
same client (reelflow/gemini.py). The answer is numbers only, clamped by `sanitize_plan`;
its `reason` strings go to the manifest, never into a filter.
"""

from __future__ import annotations

import logging

from google.genai import types
from prefect import get_run_logger
from prefect.exceptions import MissingContextError
from pydantic import BaseModel, Field

from reelflow.errors import GeminiBadAnswer
from reelflow.gemini import (
    GeminiOptions,
    UnusableAnswer,
    check_blocked,
    generate,
    make_client,
    parse_answer,
    resolve_key,
)
from reelflow.models import Word
from reelflow.styles import EffectsOptions
from tasks.effects.types import EffectSegment, EffectsPlan, Grade

# Change it with any change to the prompt or the schema: it is part of the task's cache key.
PROMPT_VERSION = "gemini-effects-1"
TEMPERATURE = 0.0
SEED = 20_250_602
LOUD_SHARE = 0.15  # the loudest share of the clip's hops is listed as peaks

SYSTEM_PROMPT = """\
You are the editor of a vertical short video (TikTok, Reels, Shorts) of a person talking. \
Plan visual emphasis for this one clip.

- segments: the few moments that deserve a punch-in zoom (a key word, a punchline, a figure, \
a surprising claim); at most one every 6 seconds, each 0.8 to 2.5 seconds long, never \
overlapping. zoom is between 1.05 and {max_zoom:.2f}. Each segment may change the grade a \
little (brightness -0.1..0.1, contrast 0.9..1.2, saturation 0.8..1.4).
- base_brightness, base_contrast, base_saturation: one gentle grade for the whole clip \
(0, 1, 1 leaves it unchanged).
- Times are seconds from the clip start, taken from the word times given.
- reason: a few words on why that moment.
Answer with JSON only, as the response schema describes."""

REPAIR_NOTE = (
    "Your previous answer to this request could not be used ({problem}). Answer again with "
    "only the JSON object the response schema describes."
)


class GeminiEffectSegment(BaseModel):
    """A punch-in: a zoom and a grade over a stretch of the clip."""

    start_s: float = Field(allow_inf_nan=False, description="Start, s from the clip start.")
    end_s: float = Field(allow_inf_nan=False, description="End, s from the clip start.")
    zoom: float = Field(description="Zoom factor, 1.05 to the maximum given.")
    brightness: float = Field(0.0, description="-0.1 to 0.1; 0 unchanged.")
    contrast: float = Field(1.0, description="0.9 to 1.2; 1 unchanged.")
    saturation: float = Field(1.0, description="0.8 to 1.4; 1 unchanged.")
    reason: str = Field("", description="A few words: why emphasis here.")


class GeminiEffectsAnswer(BaseModel):
    """The clip-wide grade and the punch-in segments."""

    base_brightness: float = Field(0.0, description="Clip-wide brightness, -0.1 to 0.1.")
    base_contrast: float = Field(1.0, description="Clip-wide contrast, 0.9 to 1.2.")
    base_saturation: float = Field(1.0, description="Clip-wide saturation, 0.8 to 1.4.")
    segments: list[GeminiEffectSegment]


def gemini_plan(
    words: list[Word],
    loudness_db: list[float],
    hop_s: float,
    duration_s: float,
    opts: EffectsOptions,
    options: GeminiOptions,
    key_block: str | None = None,
) -> EffectsPlan:
    """Gemini's plan for one clip, not yet sanitised. The key lives only in the client."""
    key = resolve_key(key_block)
    prompt = build_prompt(words, loudness_db, hop_s, duration_s)
    config = types.GenerateContentConfig(
        system_instruction=SYSTEM_PROMPT.format(max_zoom=opts.max_zoom),
        response_mime_type="application/json",
        response_schema=GeminiEffectsAnswer,
        temperature=TEMPERATURE,
        seed=SEED,
    )
    contents = prompt
    with make_client(key, options.base_url, options.timeout_s) as client:
        for attempt in (1, 2):
            response = generate(client, options.model, contents, config)
            check_blocked(response)
            try:
                return _plan(parse_answer(response, GeminiEffectsAnswer), duration_s)
            except UnusableAnswer as exc:
                if attempt == 2:
                    raise GeminiBadAnswer(
                        f"Gemini gave no usable effects plan, asked twice: {exc}"
                    ) from None
                _log().warning("Gemini's effects plan could not be used (%s); asking again", exc)
                contents = f"{prompt}\n\n{REPAIR_NOTE.format(problem=exc)}"
    raise AssertionError("unreachable")


def build_prompt(
    words: list[Word], loudness_db: list[float], hop_s: float, duration_s: float
) -> str:
    timed = " ".join(f"{w.text.strip()}@{w.start_s:.1f}" for w in words)
    return "\n".join([
        f"Clip length: {duration_s:.1f} s.",
        "Loudest moments (s): " + (", ".join(_peaks(loudness_db, hop_s)) or "unknown"),
        "Words, each as word@start time (s):",
        timed or "(no speech)",
    ])  # fmt: skip


def _peaks(loudness_db: list[float], hop_s: float) -> list[str]:
    if not loudness_db:
        return []
    count = max(1, int(len(loudness_db) * LOUD_SHARE))
    top = sorted(range(len(loudness_db)), key=lambda i: -loudness_db[i])[:count]
    return [f"{i * hop_s:.1f}" for i in sorted(top)][:40]


def _plan(answer: GeminiEffectsAnswer, duration_s: float) -> EffectsPlan:
    """Model numbers into the plan's ranges (clamped, not refused: no reason to ask again)."""
    base = _grade(answer.base_brightness, answer.base_contrast, answer.base_saturation)
    segments = [
        EffectSegment(
            start_s=s.start_s,
            end_s=s.end_s,
            zoom=_clamp(s.zoom, 1.0, 1.5),
            grade=_grade(s.brightness, s.contrast, s.saturation),
            reason=" ".join(s.reason.split())[:120],
        )
        for s in answer.segments
        if s.end_s > s.start_s
    ]
    return EffectsPlan(duration_s=duration_s, source="gemini", base=base, segments=segments)


def _grade(brightness: float, contrast: float, saturation: float) -> Grade:
    return Grade(
        brightness=round(_clamp(brightness, -0.3, 0.3), 3),
        contrast=round(_clamp(contrast, 0.7, 1.4), 3),
        saturation=round(_clamp(saturation, 0.0, 2.0), 3),
    )


def _clamp(value: float, low: float, high: float) -> float:
    if value != value:  # NaN
        return low
    return min(max(value, low), high)


def _log() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)
