"""The local effects rules: punch-ins where the voice peaks above the clip's own level and on
emphatic words (never, secret, figures...), a gentle clip-wide grade, cuts of long pauses; and
`sanitize_plan`, which clamps any planner's plan to the limits and options.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics

from reelflow.models import Transcript, Word
from reelflow.styles import EffectsOptions
from tasks.effects.types import EffectSegment, EffectsPlan, Grade, SilenceCut

MIN_SEGMENT_S = 0.3
KEEP_AROUND_CUT_S = 0.25  # silence left on each side of a cut, so speech never starts abruptly

_EMPHATIC_WORDS = """never always every nothing everything everyone nobody secret secrets truth
biggest best worst most least huge massive insane incredible amazing crazy shocking must only
first last stop mistake mistakes wrong why how free million billion thousand percent double
impossible exactly literally seriously really"""
EMPHATIC = frozenset(_EMPHATIC_WORDS.split())
_FIGURE = re.compile(r"\d|[$€£%]")


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
