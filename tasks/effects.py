"""Effects: a plan of timed segments per clip, rendered by deterministic code in the one pass.

A plan holds a clip-wide colour grade, punch-in segments (a zoom of at most 1.5x, centred on
the face the reframe crop is centred on, with their own grade) and optional cuts of long
silences. It comes from Gemini (tasks/effects_gemini.py) when asked and a key is there, else
from the local rules here: emphasis where the voice peaks above the clip's own level and on
emphatic words (never, secret, figures...). Either way `sanitize_plan` clamps every number,
and only those numbers reach the filter graph: nothing a model writes does.

Rendering splits the reframed picture into pieces at segment, cut and scene boundaries (the
same trim-and-concat the reframe uses), each piece zoomed with a fixed crop+scale and graded
with `eq`; frames inside a cut are in no piece. Cuts snap to the frame grid and the audio is
cut at the same times (short fades, no clicks), so sound stays in sync. Captions use
`TimeMap` to move to the cut timeline.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from dataclasses import dataclass
from typing import Literal

from prefect import task
from pydantic import BaseModel, ConfigDict, Field

from reelflow.caching import provider_key, retry_transient_only, with_service_retries
from reelflow.models import ReframePlan, Transcript, Word
from reelflow.styles import EffectsOptions

VERSION = "effects-1"
OUT_W, OUT_H = 1080, 1920
# The reframe keeps the face's horizontal centre; heads in talking-head framing sit at about
# 40% of the height (the plan's full-height crop does not carry the face's height).
FACE_Y = 0.4
MIN_SEGMENT_S = 0.3
KEEP_AROUND_CUT_S = 0.25  # silence left on each side of a cut, so speech never starts abruptly
FADE_S = 0.012  # audio fade at each cut edge

_EMPHATIC_WORDS = """never always every nothing everything everyone nobody secret secrets truth
biggest best worst most least huge massive insane incredible amazing crazy shocking must only
first last stop mistake mistakes wrong why how free million billion thousand percent double
impossible exactly literally seriously really"""
EMPHATIC = frozenset(_EMPHATIC_WORDS.split())
_FIGURE = re.compile(r"\d|[$€£%]")


class Grade(BaseModel):
    model_config = ConfigDict(frozen=True)

    brightness: float = Field(0.0, ge=-0.3, le=0.3, description="eq brightness, 0 = unchanged.")
    contrast: float = Field(1.0, ge=0.7, le=1.4, description="eq contrast, 1 = unchanged.")
    saturation: float = Field(1.0, ge=0.0, le=2.0, description="eq saturation, 1 = unchanged.")

    @property
    def identity(self) -> bool:
        return (self.brightness, self.contrast, self.saturation) == (0.0, 1.0, 1.0)

    def eq_filter(self) -> str:
        return (
            f"eq=brightness={self.brightness:.3f}:contrast={self.contrast:.3f}"
            f":saturation={self.saturation:.3f}"
        )


class EffectSegment(BaseModel):
    """A stretch of the clip (seconds from its start) with a punch-in and its own grade."""

    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float
    zoom: float = Field(1.0, ge=1.0, le=1.5)
    grade: Grade = Grade()
    reason: str = ""  # for people reading the manifest; never rendered


class SilenceCut(BaseModel):
    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float


class EffectsPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    duration_s: float = Field(description="The clip's length before cuts.")
    source: Literal["local", "gemini"] = "local"
    base: Grade = Grade()
    segments: list[EffectSegment] = Field(default_factory=list)
    cuts: list[SilenceCut] = Field(default_factory=list)
    note: str = ""


# -- the local rules --------------------------------------------------------------------------


def clip_words(transcript: Transcript, start_s: float, end_s: float) -> list[Word]:
    """The clip's words, in seconds from the clip start, clamped to it."""
    out = []
    for w in transcript.words:
        if w.end_s <= start_s or w.start_s >= end_s:
            continue
        a, b = max(w.start_s, start_s) - start_s, min(w.end_s, end_s) - start_s
        out.append(w.model_copy(update={"start_s": round(a, 3), "end_s": round(max(b, a), 3)}))
    return out


def clip_loudness(transcript: Transcript, start_s: float, end_s: float) -> list[float]:
    hop = transcript.loudness_hop_s
    first, last = int(start_s / hop), int(end_s / hop) + 1
    return transcript.loudness_db[first:last]


def local_plan(
    words: list[Word],
    loudness_db: list[float],
    hop_s: float,
    duration_s: float,
    opts: EffectsOptions,
) -> EffectsPlan:
    """Punch-ins on the clip's most emphatic words, a gentle clip-wide grade, and (if asked)
    cuts of long pauses. `words` and `loudness_db` start at the clip start."""
    base = Grade(brightness=0.02, contrast=1.06, saturation=1.15) if opts.colour else Grade()
    punch = base.model_copy(update={"contrast": base.contrast + 0.04}) if opts.colour else base
    segments: list[EffectSegment] = []
    if opts.zoom and words:
        scored = sorted(_emphasis(words, loudness_db, hop_s), key=lambda p: -p[0])
        budget = max(1, int(duration_s / 6))  # at most one punch-in per 6 s: more is tiring
        for score, word in scored:
            if score < 1.0 or len(segments) >= budget:
                break
            start = max(0.0, word.start_s - 0.12)
            end = min(duration_s, max(word.end_s + 0.8, start + 1.2), start + 2.0)
            if any(start < s.end_s + 2.0 and s.start_s < end + 2.0 for s in segments):
                continue
            zoom = 1 + (opts.max_zoom - 1) * min(1.0, 0.6 + 0.2 * (score - 1))
            reason = f"emphasis on '{word.text}'"
            segments.append(EffectSegment(start_s=start, end_s=end, zoom=zoom, grade=punch,
                                          reason=reason))  # fmt: skip
    cuts = silence_cuts(words, duration_s, opts.min_silence_s) if opts.cut_silences else []
    plan = EffectsPlan(duration_s=duration_s, base=base, segments=segments, cuts=cuts)
    return sanitize_plan(plan, opts)


def _emphasis(words: list[Word], loudness_db: list[float], hop_s: float):
    """(score, word): loudness above the clip's median in standard deviations, plus a point
    for an emphatic word, a figure or an exclamation."""
    levels = [_level(w, loudness_db, hop_s) for w in words]
    known = [v for v in levels if v is not None]
    centre = statistics.median(known) if known else 0.0
    spread = max(statistics.pstdev(known), 1.5) if len(known) > 1 else 1.0
    for word, level in zip(words, levels, strict=True):
        token = word.text.strip().lower().strip(".,!?;:\"'()…")
        score = 0.0 if level is None else (level - centre) / spread
        if token in EMPHATIC or _FIGURE.search(token):
            score += 1.0
        if word.text.rstrip().endswith("!"):
            score += 0.5
        yield score, word


def _level(word: Word, loudness_db: list[float], hop_s: float) -> float | None:
    """The loudest hop whose centre falls inside the word (else the hop at its middle), so
    neighbours rarely share a hop."""
    a = math.ceil(word.start_s / hop_s - 0.5)
    b = math.floor(word.end_s / hop_s - 0.5)
    middle = int((word.start_s + word.end_s) / 2 / hop_s)
    values = loudness_db[a : b + 1] if b >= a else loudness_db[middle : middle + 1]
    return max(values) if values else None


def silence_cuts(words: list[Word], duration_s: float, min_silence_s: float) -> list[SilenceCut]:
    """Pauses between words of at least min_silence_s, keeping a little silence either side.
    Silence before the first and after the last word is left: the cut already trims it."""
    cuts = []
    for prev, nxt in itertools.pairwise(words):
        if nxt.start_s - prev.end_s >= min_silence_s:
            a, b = prev.end_s + KEEP_AROUND_CUT_S, nxt.start_s - KEEP_AROUND_CUT_S
            if b - a > 0.1 and a > 0 and b < duration_s:
                cuts.append(SilenceCut(start_s=round(a, 3), end_s=round(b, 3)))
    return cuts


def sanitize_plan(plan: EffectsPlan, opts: EffectsOptions) -> EffectsPlan:
    """Every number inside its range and the options, segments inside the clip, sorted and
    without overlaps (an overlapping later one is trimmed or dropped)."""
    d = plan.duration_s
    base = plan.base if opts.colour else Grade()
    segments: list[EffectSegment] = []
    for seg in sorted(plan.segments, key=lambda s: s.start_s):
        start = min(max(seg.start_s, segments[-1].end_s if segments else 0.0, 0.0), d)
        end = min(max(seg.end_s, 0.0), d)
        if end - start < MIN_SEGMENT_S:
            continue
        zoom = min(max(seg.zoom, 1.0), opts.max_zoom) if opts.zoom else 1.0
        grade = seg.grade if opts.colour else Grade()
        if zoom == 1.0 and grade == base:
            continue
        segments.append(seg.model_copy(update={"start_s": round(start, 3),
                                                "end_s": round(end, 3), "zoom": round(zoom, 3),
                                                "grade": grade}))  # fmt: skip
    cuts: list[SilenceCut] = []
    for cut in sorted(plan.cuts, key=lambda c: c.start_s) if opts.cut_silences else []:
        a, b = max(cut.start_s, cuts[-1].end_s if cuts else 0.0, 0.0), min(cut.end_s, d)
        if b - a >= 0.1:
            cuts.append(SilenceCut(start_s=a, end_s=b))
    return plan.model_copy(update={"base": base, "segments": segments, "cuts": cuts})


# -- rendering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeMap:
    """Clip time (before cuts) to output time (after them), from the kept spans."""

    spans: tuple[tuple[float, float], ...]

    @property
    def duration_s(self) -> float:
        return sum(b - a for a, b in self.spans)

    def to_output(self, t: float) -> float:
        return sum(min(max(t - a, 0.0), b - a) for a, b in self.spans)


@dataclass(frozen=True)
class Piece:
    start_s: float
    end_s: float
    zoom: float
    grade: Grade
    centre: tuple[float, float]


def kept_spans(plan: EffectsPlan, fps: float) -> TimeMap:
    """The clip minus its cuts, edges on the frame grid so video and audio cut alike."""
    edges, t = [], 0.0
    for cut in plan.cuts:
        a, b = _snap(cut.start_s, fps), _snap(cut.end_s, fps)
        if b > a and a > t:
            edges.append((t, a))
            t = b
    edges.append((t, plan.duration_s))
    return TimeMap(tuple((a, b) for a, b in edges if b - a > 1e-6))


def effect_filters(
    plan: EffectsPlan, reframe: ReframePlan, fps: float
) -> tuple[list[str], list[str], TimeMap]:
    """(video filters for the reframed 1080x1920 picture, audio filters before loudness
    normalisation, the time map). Filters are built from the plan's numbers alone."""
    spans = kept_spans(plan, fps)
    pieces = _pieces(plan, reframe, spans, fps)
    video: list[str] = []
    if len(pieces) == 1 and pieces[0].zoom == 1.0 and len(spans.spans) == 1:
        if not pieces[0].grade.identity:
            video.append(pieces[0].grade.eq_filter())
    elif pieces:
        video.append(_video_pieces(pieces, plan.duration_s))
    audio = [_audio_spans(spans, plan.duration_s)] if len(spans.spans) > 1 else []
    return video, audio, spans


def _pieces(plan: EffectsPlan, reframe: ReframePlan, spans: TimeMap, fps: float) -> list[Piece]:
    zoomed = [s for s in plan.segments if s.zoom > 1.0]
    edges = {a for span in spans.spans for a in span}
    edges |= {_snap(t, fps) for s in plan.segments for t in (s.start_s, s.end_s)}
    edges |= {_snap(c.start_s, fps) for c in reframe.segments
              if any(s.start_s < c.start_s < s.end_s for s in zoomed)}  # fmt: skip
    pieces: list[Piece] = []
    for a, b in spans.spans:
        inner = sorted({a, b, *(e for e in edges if a < e < b)})
        for lo, hi in itertools.pairwise(inner):
            mid = (lo + hi) / 2
            seg = next((s for s in plan.segments if s.start_s <= mid < s.end_s), None)
            zoom, grade = (seg.zoom, seg.grade) if seg else (1.0, plan.base)
            centre = _face_centre(reframe, mid) if zoom > 1.0 else (OUT_W / 2, OUT_H / 2)
            last = pieces[-1] if pieces else None
            if (
                last
                and last.end_s == lo
                and (last.zoom, last.grade, last.centre) == (zoom, grade, centre)
            ):
                pieces[-1] = Piece(last.start_s, hi, zoom, grade, centre)
            else:
                pieces.append(Piece(lo, hi, zoom, grade, centre))
    return pieces


def _face_centre(reframe: ReframePlan, t: float) -> tuple[float, float]:
    """Where the face is in the 1080x1920 picture at clip time t: the crop window is centred
    on it, unless the window was pushed against the frame's edge."""
    seg = next((s for s in reframe.segments if s.start_s <= t < s.end_s), reframe.segments[-1])
    if seg.layout != "crop" or not seg.path:
        return OUT_W / 2, OUT_H / 2
    key = min(seg.path, key=lambda k: abs(k.t - t))
    w, limit = reframe.crop_width, reframe.source_width
    left = min(max(round(key.cx - w / 2), 0), max(limit - w, 0))
    return round((key.cx - left) * OUT_W / w), round(OUT_H * FACE_Y)


def _video_pieces(pieces: list[Piece], duration_s: float) -> str:
    n = len(pieces)
    parts = [f"split={n}" + "".join(f"[fx{i}]" for i in range(n))]
    for i, p in enumerate(pieces):
        chain = [_trim("trim", p.start_s, p.end_s, duration_s), "setpts=PTS-STARTPTS"]
        if p.zoom > 1.0:
            chain.append(_zoom(p))
        if not p.grade.identity:
            chain.append(p.grade.eq_filter())
        parts.append(f"[fx{i}]{','.join(chain)}[fxp{i}]")
    parts.append("".join(f"[fxp{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0")
    return ";".join(parts)


def _zoom(p: Piece) -> str:
    w = int(OUT_W / p.zoom) // 2 * 2
    h = int(OUT_H / p.zoom) // 2 * 2
    x = int(min(max(p.centre[0] - w / 2, 0), OUT_W - w))
    y = int(min(max(p.centre[1] - h / 2, 0), OUT_H - h))
    return f"crop={w}:{h}:{x}:{y},scale={OUT_W}:{OUT_H}:flags=bicubic,setsar=1"


def _audio_spans(spans: TimeMap, duration_s: float) -> str:
    n = len(spans.spans)
    parts = [f"asplit={n}" + "".join(f"[ax{i}]" for i in range(n))]
    for i, (a, b) in enumerate(spans.spans):
        fade_out = max(b - a - FADE_S, 0.0)
        parts.append(
            f"[ax{i}]{_trim('atrim', a, b, duration_s)},asetpts=PTS-STARTPTS,"
            f"afade=t=in:d={FADE_S}:curve=tri,afade=t=out:st={fade_out:.4f}:d={FADE_S}[axp{i}]"
        )
    # aresample=async=1 lays the pieces on their timestamps: without it, this ffmpeg's
    # loudnorm after an input seek (-ss) cut the joined audio short.
    parts.append("".join(f"[axp{i}]" for i in range(n)) + f"concat=n={n}:v=0:a=1,aresample=async=1")
    return ";".join(parts)


def _trim(name: str, start: float, end: float, duration_s: float) -> str:
    # The clip's last piece stays open-ended so rounding never drops its final frames.
    tail = "" if end >= duration_s - 1e-6 else f":end={end:.4f}"
    return f"{name}=start={start:.4f}{tail}"


def _snap(t: float, fps: float) -> float:
    return round(round(t * fps) / fps, 6) if fps > 0 else t


# -- the stage --------------------------------------------------------------------------------


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
        from tasks.effects_gemini import GeminiOptions, gemini_plan

        plan = gemini_plan(words, loudness_db, hop_s, duration_s, opts,
                           GeminiOptions.from_settings(), gemini_key_block)  # fmt: skip
        cuts = silence_cuts(words, duration_s, opts.min_silence_s) if opts.cut_silences else []
        return sanitize_plan(plan.model_copy(update={"cuts": cuts}), opts)
    return local_plan(words, loudness_db, hop_s, duration_s, opts)


def _gemini_identity() -> list:
    from tasks.effects_gemini import PROMPT_VERSION, GeminiOptions

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
