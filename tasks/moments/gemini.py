"""The `gemini` moment provider: asks Gemini for the moments, as JSON under a response schema.

The prompt holds the video's duration, the wanted count and length range, the scene cuts and
the transcript in compact form: one `[start-end] text` line per sentence, with `{t}` word
times only inside long sentences (where a clean cut may need to fall mid-sentence). Settings
are deterministic (temperature 0, a fixed seed) so a rerun gives the same picks.

Long videos are cut into overlapping transcript windows, each well under the model's context
(a 3-hour talk is about 7 requests of ~15k tokens); the picks of all windows are merged,
duplicates from the overlaps removed and the rest ranked by score. A Prefect retry of the
task (a 429 or 5xx on window 5 of 7) asks only the windows that have no answer yet: answers
are kept in memory for the task run's retries, which run in the same process. An empty or
malformed answer is asked for once more with the problem stated, then fails clearly; safety
blocks, bad keys and outages are raised as reelflow errors (reelflow.gemini). Boundary repair
and the fill-up from the local scorer happen after this provider, as for any other.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

from google import genai
from google.genai import types
from prefect import get_run_logger
from prefect.context import TaskRunContext
from prefect.exceptions import MissingContextError
from pydantic import BaseModel, Field, field_validator

from reelflow.caching import stable_hash
from reelflow.errors import GeminiBadAnswer
from reelflow.gemini import (
    GeminiOptions,
    UnusableAnswer,
    check_blocked,
    estimate_cost,
    generate,
    make_client,
    parse_answer,
    resolve_key,
    token_counts,
)
from reelflow.languages import name_of
from reelflow.models import Moment, MomentsUsage, Transcript
from reelflow.scripts import first_words
from tasks.moments.types import AUTO_MAX, AUTO_MIN, MomentOptions, MomentPicks

# Change it with any change to the prompt or the schema: it is part of the task's cache key.
PROMPT_VERSION = "gemini-moments-2"  # 2: names the language the texts are written in
TEMPERATURE = 0.0
SEED = 20_250_601
CHARS_PER_TOKEN = 3  # conservative for budgeting: times tokenise digit by digit
LONG_SENTENCE_S = 10.0  # longer sentences carry {t} word times
MARK_EVERY_S = 3.0  # at most one {t} per this many seconds
DUPLICATE_SHARE = 0.5  # picks sharing half the shorter one are the same moment, seen twice
HOOK_WORDS = 10
MAX_HASHTAGS = 8

SYSTEM_PROMPT = """\
You choose moments from a long video's transcript that work as stand-alone vertical short \
clips (YouTube Shorts, TikTok, Instagram Reels).

Rules for every moment:
- Self-contained: a viewer who has not seen the rest of the video understands it and gets a \
payoff.
- It opens on a strong first line (a question, a bold claim, a surprising fact, the start of a \
story), never mid-thought (not on "and", "so", "but", "that", "which").
- It ends where the thought ends: on a sentence end, or on a {t} time inside a long sentence.
- No intros, outros, greetings, channel or subscribe talk, sponsor reads or ads.
- Moments never overlap, and each stays inside the length range given.
- start_s and end_s are seconds from the video's start, taken from the transcript's times.
- List the moments best first. score (0-100) is how likely the clip holds a viewer to the end; \
be honest, most moments are not 90+.
- title: a YouTube Shorts title, at most 100 characters. hook: on-screen text for the first \
seconds, at most 10 words. description_tiktok: one or two sentences. description_instagram: \
two or three sentences. hashtags: 3 to 6, each starting with #. reason: one sentence on why \
the moment works.
- Write these texts in the language the request names (the video's spoken language).
Answer with JSON only, as the response schema describes."""

REPAIR_NOTE = (
    "Your previous answer to this request could not be used ({problem}). Answer again with "
    "only the JSON object the response schema describes."
)


# The response schema. Docstrings and descriptions here are sent to the model. Over-long
# titles are trimmed and scores clamped rather than refused: no reason to ask again.
class GeminiMoment(BaseModel):
    """A stretch of the video that works as a stand-alone short clip."""

    start_s: float = Field(description="Where the clip starts, in seconds from the video start.")
    end_s: float = Field(description="Where the clip ends, in seconds from the video start.")
    title: str = Field(max_length=100, description="YouTube Shorts title, at most 100 chars.")
    hook: str = Field(description="On-screen hook text for the first seconds, at most 10 words.")
    description_tiktok: str = Field(description="TikTok caption, one or two sentences.")
    description_instagram: str = Field(description="Instagram caption, two or three sentences.")
    hashtags: list[str] = Field(description="3 to 6 hashtags, each starting with #.")
    score: float = Field(ge=0, le=100, description="How likely the clip holds a viewer, 0-100.")
    reason: str = Field(description="One sentence: why this moment works on its own.")

    @field_validator("title", mode="before")
    @classmethod
    def _short_title(cls, value: object) -> object:
        return _trim(value.strip(), 100) if isinstance(value, str) else value

    @field_validator("score", mode="before")
    @classmethod
    def _clamp_score(cls, value: object) -> object:
        if isinstance(value, int | float) and math.isfinite(value):
            return min(100.0, max(0.0, float(value)))
        return value


class GeminiAnswer(BaseModel):
    """The moments, best first."""

    moments: list[GeminiMoment]


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float
    lines: list[str]


def find_gemini_moments(
    transcript: Transcript,
    scene_cuts: list[float],
    opts: MomentOptions,
    options: GeminiOptions,
    key_block: str | None = None,
) -> MomentPicks:
    """Gemini's moments, best first, and what they cost. The key is resolved here and lives
    only in the client."""
    key = resolve_key(key_block)
    usage = MomentsUsage(provider="gemini", model=options.model)
    windows = transcript_windows(transcript, options, max(options.overlap_s, opts.max_seconds))
    found: list[Moment] = []
    answers = _AnswersOfThisRun(options)
    if windows:
        with make_client(key, options.base_url, options.timeout_s) as client:
            for part, window in enumerate(windows):
                prompt = build_prompt(transcript, scene_cuts, opts, window, part, len(windows))
                picked, usage = answers.get(prompt, usage) or answers.keep(
                    prompt, usage, _ask(client, options, prompt, usage)
                )
                found += picked
    answers.forget()
    ranked = merge(found, opts)
    _log().info(
        "gemini (%s): %d moments from %d window(s); %d requests, %d tokens in, %d out",
        options.model, len(ranked), len(windows), usage.requests, usage.tokens_in,
        usage.tokens_out,
    )  # fmt: skip
    return MomentPicks(moments=ranked, usage=usage)


def _ask(
    client: genai.Client, options: GeminiOptions, prompt: str, usage: MomentsUsage
) -> tuple[list[Moment], MomentsUsage]:
    """One window: ask, and ask once more if the answer was empty or not the JSON asked for."""
    config = types.GenerateContentConfig(
        system_instruction=SYSTEM_PROMPT,
        response_mime_type="application/json",
        response_schema=GeminiAnswer,
        temperature=TEMPERATURE,
        seed=SEED,
    )
    contents = prompt
    for attempt in (1, 2):
        response = generate(client, options.model, contents, config)
        usage = _counted(usage, response)
        check_blocked(response)  # a content decision: re-asking would not change it
        try:
            return [_moment(m) for m in parse_answer(response, GeminiAnswer).moments], usage
        except UnusableAnswer as exc:
            if attempt == 2:
                raise GeminiBadAnswer(f"Gemini gave no usable answer, asked twice: {exc}") from None
            _log().warning("Gemini's answer could not be used (%s); asking once more", exc)
            # Temperature 0 would repeat the same answer to the same prompt: say what was wrong.
            contents = f"{prompt}\n\n{REPAIR_NOTE.format(problem=exc)}"
    raise AssertionError("unreachable")


KEEP_AT_MOST = 1000  # window answers, about a kilobyte each
_KEPT: dict[tuple[str, str], tuple[list[Moment], int, int]] = {}
_KEPT_LOCK = threading.Lock()


class _AnswersOfThisRun:
    """Window answers kept for the retries of the current task run, so a retry after an
    outage on a late window does not pay again for the windows answered before it. Keyed by
    the task run and the exact request; nothing is kept outside a task run."""

    def __init__(self, options: GeminiOptions):
        context = TaskRunContext.get()
        self.run = str(context.task_run.id) if context else None
        self.options = options.cache_identity()

    def get(self, prompt: str, usage: MomentsUsage) -> tuple[list[Moment], MomentsUsage] | None:
        with _KEPT_LOCK:
            kept = _KEPT.get(self._key(prompt)) if self.run else None
        if kept is None:
            return None
        picked, tokens_in, tokens_out = kept
        _log().info("window answered before this retry: not asked again")
        return picked, _with_tokens(usage, tokens_in, tokens_out)  # it was paid for

    def keep(self, prompt: str, before: MomentsUsage, answer: tuple) -> tuple:
        picked, after = answer
        if self.run:
            spent = (after.tokens_in - before.tokens_in, after.tokens_out - before.tokens_out)
            with _KEPT_LOCK:
                _KEPT[self._key(prompt)] = (picked, *spent)
                while len(_KEPT) > KEEP_AT_MOST:  # runs that failed for good never forget
                    del _KEPT[next(iter(_KEPT))]
        return answer

    def forget(self) -> None:
        with _KEPT_LOCK:
            for key in [k for k in _KEPT if k[0] == self.run]:
                del _KEPT[key]

    def _key(self, prompt: str) -> tuple[str, str]:
        return (self.run or "", stable_hash(self.options, prompt))


def _counted(usage: MomentsUsage, response: types.GenerateContentResponse) -> MomentsUsage:
    return _with_tokens(usage, *token_counts(response))


def _with_tokens(usage: MomentsUsage, tokens_in: int, tokens_out: int) -> MomentsUsage:
    """One more request, with its tokens and the running cost."""
    total_in, total_out = usage.tokens_in + tokens_in, usage.tokens_out + tokens_out
    return usage.model_copy(
        update={
            "requests": usage.requests + 1,
            "tokens_in": total_in,
            "tokens_out": total_out,
            "estimated_cost_usd": estimate_cost(usage.model or "", total_in, total_out),
        }
    )


def _moment(answer: GeminiMoment) -> Moment:
    tags = []
    for tag in answer.hashtags:
        tag = "#" + "".join(tag.split()).lstrip("#")
        if len(tag) > 1 and tag.lower() not in {t.lower() for t in tags}:
            tags.append(tag)
    return Moment(
        start_s=answer.start_s,
        end_s=answer.end_s,
        title=answer.title,
        hook=first_words(answer.hook, HOOK_WORDS),
        description_tiktok=answer.description_tiktok.strip(),
        description_instagram=answer.description_instagram.strip(),
        hashtags=tags[:MAX_HASHTAGS],
        score=round(answer.score, 1),
        reason=answer.reason.strip(),
        source="gemini",
    )


def merge(found: list[Moment], opts: MomentOptions) -> list[Moment]:
    """Best first across windows; of two picks that share most of their time, the better stays.
    Smaller overlaps are left to boundary repair, which trims or drops the weaker one."""
    kept: list[Moment] = []
    for moment in sorted(found, key=lambda m: -m.score):  # stable: ties keep the model's order
        if all(_shared(moment, other) < DUPLICATE_SHARE for other in kept):
            kept.append(moment)
    return kept[: opts.clips or AUTO_MAX]


def _shared(a: Moment, b: Moment) -> float:
    shorter = min(a.duration_s, b.duration_s)
    if not shorter > 0:
        return 0.0
    return max(0.0, min(a.end_s, b.end_s) - max(a.start_s, b.start_s)) / shorter


def transcript_windows(
    transcript: Transcript, options: GeminiOptions, overlap_s: float
) -> list[Window]:
    """Overlapping runs of sentence lines, even in length, each within window_s and the token
    budget. One window for anything up to window_s."""
    lines = [(s.start_s, s.end_s, _line(transcript, k)) for k, s in enumerate(transcript.sentences)]
    if not lines:
        return []
    total = lines[-1][1] - lines[0][0]
    step = max(1.0, options.window_s - overlap_s)
    count = max(1, math.ceil((total - overlap_s) / step))
    target = (total + (count - 1) * overlap_s) / count  # even windows: no 2-minute stub at the end
    budget = options.window_tokens * CHARS_PER_TOKEN
    windows: list[Window] = []
    first = 0
    while True:
        last, chars = first, len(lines[first][2])
        while last + 1 < len(lines):
            nxt = lines[last + 1]
            if nxt[1] - lines[first][0] > target + 1e-6 or chars + len(nxt[2]) > budget:
                break
            last, chars = last + 1, chars + len(nxt[2]) + 1
        windows.append(
            Window(lines[first][0], lines[last][1], [t for _, _, t in lines[first : last + 1]])
        )
        if last + 1 >= len(lines):
            return windows
        # The next window starts overlap_s before this one ends, and always moves forward.
        back = lines[last][1] - overlap_s
        first = next((k for k in range(first + 1, last + 1) if lines[k][0] >= back), last + 1)


def _line(transcript: Transcript, k: int) -> str:
    s = transcript.sentences[k]
    head = f"[{s.start_s:.1f}-{s.end_s:.1f}]"
    words = transcript.words[max(0, s.first_word) : s.last_word + 1]
    if s.end_s - s.start_s <= LONG_SENTENCE_S or not words:
        return f"{head} {' '.join(s.text.split())}"
    parts, mark = [], words[0].start_s
    for w in words:
        if w.start_s - mark >= MARK_EVERY_S:
            parts.append(f"{{{w.start_s:.1f}}}")
            mark = w.start_s
        parts.append(w.text.strip())
    return f"{head} {' '.join(p for p in parts if p)}"


def build_prompt(
    transcript: Transcript,
    scene_cuts: list[float],
    opts: MomentOptions,
    window: Window,
    part: int,
    parts: int,
) -> str:
    cuts = [c for c in scene_cuts if window.start_s - 1 <= c <= window.end_s + 1]
    language = f"{name_of(transcript.language)} ({transcript.language})"
    lines = [
        f"Video duration: {transcript.duration_s:.1f} s. Spoken language: {language}.",
        f"Write title, hook, descriptions, hashtags and reason in {name_of(transcript.language)}.",
    ]
    if parts > 1:
        lines.append(
            f"This is part {part + 1} of {parts} of the transcript "
            f"({window.start_s:.1f}-{window.end_s:.1f} s); the parts overlap."
        )
    lines += [
        _count_line(opts, parts),
        f"Each moment lasts {opts.min_seconds:g} to {opts.max_seconds:g} seconds.",
        "Scene cuts (s): " + (", ".join(f"{c:.1f}" for c in cuts) or "none"),
        "",
        "Transcript, one sentence per line as [start-end] text; {t} inside a long sentence is "
        "the time the next word starts:",
        *window.lines,
    ]
    return "\n".join(lines)


def _count_line(opts: MomentOptions, parts: int) -> str:
    if parts > 1:
        most = opts.clips or AUTO_MAX
        return (
            f"Pick up to {most} moments from this part: its strongest ones, and only strong ones."
        )
    if opts.clips:
        return f"Pick exactly {opts.clips} moments (fewer only if the transcript cannot hold them)."
    return (
        f"Pick {AUTO_MIN} to {AUTO_MAX} moments: as many as are genuinely strong "
        f"(fewer than {AUTO_MIN} only if the transcript cannot hold them)."
    )


def _trim(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0] if " " in text[: limit + 1] else text[:limit]
    return cut[:limit].rstrip(" ,;:-\u2013\u2014")


def _log() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)
