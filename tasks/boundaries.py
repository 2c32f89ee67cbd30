"""Validation and repair of every moment, whichever provider found it.

Providers give rough times. A clip must start and end cleanly (never mid-word, ideally on a
sentence and on a scene cut), fit the asked length, and not overlap another clip. Every change
is written to BoundaryFacts.adjustments, so the manifest says why a clip moved.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from prefect import task

from reelflow.models import BoundaryFacts, DroppedMoment, Moment, RepairedMoment, Transcript
from tasks.moments.types import MomentOptions

SNAP_S = 1.5  # a sentence boundary this close is where the speaker meant the cut to be
PAUSE_S = 0.3  # a gap this long after a word is a natural place to end
PAD_BEFORE_S = 0.15  # room before the first word and after the last, so no consonant is
PAD_AFTER_S = 0.25  # clipped; never more than half the gap to a neighbouring word
CUT_S = 0.4  # a scene cut this close is worth moving to: picture and sound change together
SENTENCE_TOL_S = 0.3  # facts: this close to a sentence boundary counts as on it (padding)
EPS = 1e-3  # float noise in times from JSON and arithmetic
NO_TRANSCRIPT = "no transcript: cut on scene cuts and length only"
_LABELS = {"sentence": "a sentence end", "pause": "a pause", "word": "a word's end"}


class _Span(NamedTuple):
    start: float
    end: float
    notes: tuple[str, ...] = ()

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass
class _Index:
    """Word and sentence boundaries as sorted lists, for bisecting."""

    starts: list[float]
    ends: list[float]
    sentence_first: list[int]  # first word index of each sentence, in time order
    sentence_last: list[int]
    sentence_starts: list[float]  # start of each sentence's first word
    sentence_ends: list[float]  # end of its last word
    cuts: list[float]

    @classmethod
    def build(cls, transcript: Transcript, scene_cuts: Iterable[float]) -> _Index:
        n = len(transcript.words)
        pairs = sorted(
            (s.first_word, s.last_word)
            for s in transcript.sentences
            if 0 <= s.first_word <= s.last_word < n
        )
        words = transcript.words
        return cls(
            starts=[w.start_s for w in words],
            ends=[w.end_s for w in words],
            sentence_first=[first for first, _ in pairs],
            sentence_last=[last for _, last in pairs],
            sentence_starts=[words[first].start_s for first, _ in pairs],
            sentence_ends=[words[last].end_s for _, last in pairs],
            cuts=sorted(c for c in scene_cuts if math.isfinite(c)),
        )

    def gap_before(self, k: int) -> float:
        return max(0.0, self.starts[k] - self.ends[k - 1]) if k > 0 else math.inf

    def gap_after(self, k: int) -> float:
        return max(0.0, self.starts[k + 1] - self.ends[k]) if k + 1 < len(self.starts) else math.inf

    def words_within(self, lo: float, hi: float) -> tuple[int, int]:
        """First and last index of the words lying wholly inside [lo, hi]."""
        return bisect_left(self.starts, lo), bisect_right(self.ends, hi) - 1

    def inside_word(self, t: float) -> bool:
        k = bisect_right(self.starts, t) - 1
        return any(self.starts[j] + EPS < t < self.ends[j] - EPS for j in (k - 1, k) if j >= 0)


def boundary_facts(
    start_s: float,
    end_s: float,
    transcript: Transcript,
    scene_cuts: Sequence[float],
    adjustments: Sequence[str] = (),
) -> BoundaryFacts:
    """What is true of a clip's edges: inside a word? on a sentence? how far from a cut?"""
    return _facts(_Index.build(transcript, scene_cuts), start_s, end_s, adjustments)


def _facts(idx: _Index, start: float, end: float, adjustments: Sequence[str]) -> BoundaryFacts:
    return BoundaryFacts(
        starts_inside_word=idx.inside_word(start),
        ends_inside_word=idx.inside_word(end),
        # Only the padding side counts: starting into the first word is not a sentence start.
        starts_on_sentence_start=_near(idx.sentence_starts, start, SENTENCE_TOL_S, EPS),
        ends_on_sentence_end=_near(idx.sentence_ends, end, EPS, SENTENCE_TOL_S),
        start_to_scene_cut_s=_distance(idx.cuts, start) if idx.cuts else None,
        end_to_scene_cut_s=_distance(idx.cuts, end) if idx.cuts else None,
        adjustments=list(adjustments),
    )


def _near(values: list[float], t: float, before: float, after: float) -> bool:
    """Whether t lies in [v - before, v + after] for one of the sorted values."""
    i = bisect_left(values, t)
    return any(
        values[j] - before <= t <= values[j] + after for j in (i - 1, i) if 0 <= j < len(values)
    )


def _distance(values: list[float], t: float) -> float:
    """Distance from t to the nearest of the sorted values (inf when there are none)."""
    i = bisect_left(values, t)
    return min((abs(values[j] - t) for j in (i - 1, i) if 0 <= j < len(values)), default=math.inf)


def repair_moments(
    moments: list[Moment],
    transcript: Transcript,
    scene_cuts: list[float],
    duration_s: float,
    opts: MomentOptions,
) -> tuple[list[RepairedMoment], list[DroppedMoment]]:
    """Clean, in-range, non-overlapping moments (best first), and the dropped ones with why."""
    idx = _Index.build(transcript, (c for c in scene_cuts if 0 <= c <= duration_s))
    accepted: list[tuple[Moment, _Span]] = []
    dropped: list[DroppedMoment] = []
    # Best first, so a weaker moment gives way where two overlap; sorted() keeps ties in order.
    for moment in sorted(moments, key=lambda m: -m.score):
        taken = sorted((span.start, span.end) for _, span in accepted)
        result = _repair_one(idx, moment, taken, opts, duration_s)
        if isinstance(result, str):
            dropped.append(DroppedMoment(moment=moment, reason=result))
        else:
            accepted.append((moment, result))
    repaired = [
        RepairedMoment(
            moment=moment.model_copy(update={"start_s": span.start, "end_s": span.end}),
            facts=_facts(idx, span.start, span.end, span.notes),
        )
        for moment, span in accepted
    ]
    return repaired, dropped


def _repair_one(
    idx: _Index,
    moment: Moment,
    taken: list[tuple[float, float]],
    opts: MomentOptions,
    duration_s: float,
) -> _Span | str:
    """Rules 1-6 for one moment: its new span, or why it was dropped."""
    clamped = _clamp(moment, duration_s)
    if isinstance(clamped, str):
        return clamped
    span = _fit(idx, clamped, opts, 0.0, duration_s)
    if isinstance(span, str):
        return span
    other = _overlapping(span, taken)
    if other is None:
        return span
    return _trim(idx, clamped, span, other, taken, opts, duration_s)


def _clamp(moment: Moment, duration_s: float) -> _Span | str:
    start, end = moment.start_s, moment.end_s
    if not (math.isfinite(start) and math.isfinite(end)):
        return f"start ({start}) or end ({end}) is not a number"
    if end <= start:
        return f"ends at {end:.1f} s, not after its start at {start:.1f} s"
    if end <= 0 or start >= duration_s:
        return f"{start:.1f}-{end:.1f} s lies outside the video (0-{duration_s:.1f} s)"
    notes = []
    if start < 0:
        notes.append(f"start clamped from {start:.2f} s to the video's start")
    if end > duration_s:
        notes.append(f"end clamped from {end:.2f} s to the video's end at {duration_s:.2f} s")
    return _Span(max(0.0, start), min(duration_s, end), tuple(notes))


def _overlapping(span: _Span, taken: list[tuple[float, float]]) -> tuple[float, float] | None:
    return next((t for t in taken if span.start < t[1] - EPS and t[0] < span.end - EPS), None)


def _trim(
    idx: _Index,
    original: _Span,
    repaired: _Span,
    other: tuple[float, float],
    taken: list[tuple[float, float]],
    opts: MomentOptions,
    duration_s: float,
) -> _Span | str:
    """Refit the moment inside a free stretch it touches, the one it covers most first."""
    gaps, lo = [], 0.0
    for a, b in [*taken, (duration_s, duration_s)]:
        if a - lo > EPS:
            gaps.append((lo, a))
        lo = max(lo, b)
    options = []
    for lo, hi in gaps:
        covered = min(original.end, hi) - max(original.start, lo)
        fallback = min(repaired.end, hi) - max(repaired.start, lo)
        if covered > EPS or fallback > EPS:
            target = original if covered > EPS else repaired
            inside = _Span(max(target.start, lo), min(target.end, hi), original.notes)
            options.append((-covered, -fallback, lo, hi, inside))
    for _, _, lo, hi, inside in sorted(options):
        span = _fit(idx, inside, opts, lo, hi)
        if isinstance(span, _Span):
            note = f"trimmed to avoid the clip starting at {other[0]:.1f} s"
            return span._replace(notes=(*span.notes, note))
    return f"overlaps clip starting at {other[0]:.1f} s"


def _fit(idx: _Index, span: _Span, opts: MomentOptions, lo: float, hi: float) -> _Span | str:
    """Rules 2-5 for one moment, using only words that lie inside [lo, hi]."""
    if not idx.starts:
        span = span._replace(notes=(*span.notes, NO_TRANSCRIPT))
        return _fit_without_speech(idx.cuts, span, opts, lo, hi, "video")
    first_allowed, last_allowed = idx.words_within(lo, hi)
    # The first allowed word that ends after the start: is any speech inside the moment?
    j = max(first_allowed, bisect_right(idx.ends, span.start))
    if j > last_allowed or idx.starts[j] >= span.end:
        silence_lo = max(lo, idx.ends[j - 1] if j > 0 else 0.0)
        silence_hi = min(hi, idx.starts[j] if j < len(idx.starts) else hi)
        note = f"no speech between {span.start:.1f} and {span.end:.1f} s"
        quiet = _fit_without_speech(
            idx.cuts,
            span._replace(notes=(*span.notes, note)),
            opts,
            silence_lo,
            silence_hi,
            "silence",
        )
        # Too little silence for a clip: the moment was meant for the speech beside it.
        a = j - 1 if j - 1 >= first_allowed else j
        b = j if j <= last_allowed else j - 1
        if isinstance(quiet, _Span) or not first_allowed <= a <= b <= last_allowed:
            return quiet
        note += f"; took the words at {idx.starts[a]:.1f}-{idx.ends[b]:.1f} s beside it"
        span, j = _Span(idx.starts[a], idx.ends[b], (*span.notes, note)), a
    first, start_note = _snap_start(idx, span, first_allowed, last_allowed, j)
    last, end_note = _snap_end(idx, span, first, last_allowed)
    notes = (*span.notes, *(n for n in (start_note, end_note) if n))
    return _fit_length(idx, first, last, notes, opts, lo, hi, span.start)


def _moved(what: str, old: float, new: float, why: str) -> str | None:
    delta = new - old
    if abs(delta) < 0.005:
        return None
    return f"{what} moved {abs(delta):.2f} s {'earlier' if delta < 0 else 'later'} to {why}"


def _snap_start(
    idx: _Index, span: _Span, first_allowed: int, last_allowed: int, first_spoken: int
) -> tuple[int, str | None]:
    """Rule 2: a nearby sentence start, else the word containing (or after) the start."""
    t = span.start
    i = bisect_left(idx.sentence_starts, t)
    near = [
        idx.sentence_first[j]
        for j in range(max(0, i - 2), min(len(idx.sentence_first), i + 2))
        if first_allowed <= idx.sentence_first[j] <= last_allowed
        and abs(idx.sentence_starts[j] - t) <= SNAP_S
        and idx.sentence_starts[j] < span.end
    ]
    if near:
        first = min(near, key=lambda k: abs(idx.starts[k] - t))
        return first, _moved("start", t, idx.starts[first], "the sentence start")
    why = "the start of the word it cut" if idx.starts[first_spoken] < t else "the next word"
    return first_spoken, _moved("start", t, idx.starts[first_spoken], why)


def _snap_end(idx: _Index, span: _Span, first: int, last_allowed: int) -> tuple[int, str | None]:
    """Rule 2: a nearby sentence end, else a nearby pause, else the end of the word cut."""
    t = span.end
    i = bisect_left(idx.sentence_ends, t)
    near = [
        idx.sentence_last[j]
        for j in range(max(0, i - 2), min(len(idx.sentence_last), i + 2))
        if first <= idx.sentence_last[j] <= last_allowed and abs(idx.sentence_ends[j] - t) <= SNAP_S
    ]
    if near:
        last = min(near, key=lambda k: abs(idx.ends[k] - t))
        return last, _moved("end", t, idx.ends[last], "the sentence end")
    lo_k = max(first, bisect_left(idx.ends, t - SNAP_S))
    hi_k = min(last_allowed, bisect_right(idx.ends, t + SNAP_S) - 1)
    pauses = [k for k in range(lo_k, hi_k + 1) if idx.gap_after(k) >= PAUSE_S]
    if pauses:
        last = min(pauses, key=lambda k: abs(idx.ends[k] - t))
        return last, _moved("end", t, idx.ends[last], "a pause after a word")
    last = min(last_allowed, max(first, bisect_left(idx.starts, t) - 1))
    why = "the end of the word it cut" if idx.ends[last] > t else "the last word's end"
    return last, _moved("end", t, idx.ends[last], why)


def _clean_cut(cuts: list[float], t: float, radius: float, lo: float, hi: float) -> float | None:
    """The scene cut nearest t within radius that lies in [lo, hi], if it is not t itself."""
    i = bisect_left(cuts, t - radius)
    near = [c for c in cuts[i : bisect_right(cuts, t + radius)] if lo <= c <= hi]
    best = min(near, key=lambda c: abs(c - t), default=None)
    return None if best is None or abs(best - t) < EPS else best


def _fits(length: float, opts: MomentOptions) -> bool:
    return opts.min_seconds <= length <= opts.max_seconds


def _place(
    idx: _Index, first: int, last: int, lo: float, hi: float, opts: MomentOptions
) -> tuple[_Span, bool]:
    """Rules 3-4: padded times for words first..last, on a clean scene cut where one is near.

    The bool says whether the length fits; a cut is skipped if taking it would break the length.
    """
    start = max(lo, idx.starts[first] - min(PAD_BEFORE_S, idx.gap_before(first) / 2))
    end = min(hi, idx.ends[last] + min(PAD_AFTER_S, idx.gap_after(last) / 2))
    pad = (
        f"padded {idx.starts[first] - start:.2f} s before the first word "
        f"and {end - idx.ends[last]:.2f} s after the last"
    )
    # A clean cut lies in the gap between the clip's edge word and its outside neighbour.
    prev_end = idx.ends[first - 1] if first > 0 else 0.0
    next_start = idx.starts[last + 1] if last + 1 < len(idx.starts) else hi
    start_cut = _clean_cut(idx.cuts, start, CUT_S, max(lo, prev_end), idx.starts[first])
    end_cut = _clean_cut(idx.cuts, end, CUT_S, idx.ends[last], min(hi, next_start))
    starts: list[tuple[float, str | None]] = [(start, None)]
    if start_cut is not None:
        starts.insert(0, (start_cut, f"start moved onto the scene cut at {start_cut:.2f} s"))
    ends: list[tuple[float, str | None]] = [(end, None)]
    if end_cut is not None:
        ends.insert(0, (end_cut, f"end moved onto the scene cut at {end_cut:.2f} s"))
    for s, start_note in starts:
        for e, end_note in ends:
            if _fits(e - s, opts):
                notes = tuple(n for n in (pad, start_note, end_note) if n)
                return _Span(s, e, notes), True
    return _Span(start, end, (pad,)), False


def _boundary_words(idx: _Index, kind: str, side: str, lo_k: int, hi_k: int) -> list[int]:
    """Word indexes in [lo_k, hi_k] that start (side="start") or end a sentence or a pause."""
    if lo_k > hi_k:
        return []
    sentence = idx.sentence_first if side == "start" else idx.sentence_last
    found = set(sentence[bisect_left(sentence, lo_k) : bisect_right(sentence, hi_k)])
    if kind != "sentence":
        gap = idx.gap_before if side == "start" else idx.gap_after
        found.update(k for k in range(lo_k, hi_k + 1) if kind == "word" or gap(k) >= PAUSE_S)
    return sorted(found)


def _fit_length(
    idx: _Index,
    first: int,
    last: int,
    notes: tuple[str, ...],
    opts: MomentOptions,
    lo: float,
    hi: float,
    where: float,
) -> _Span | str:
    """Rule 5: shorten to an earlier sentence/pause end, or grow by whole sentences/phrases.

    Word boundaries are the last resort either way: a clip cut between two words beats none.
    """
    span, ok = _place(idx, first, last, lo, hi, opts)
    if ok:
        return span._replace(notes=(*notes, *span.notes))
    first_allowed, last_allowed = idx.words_within(lo, hi)
    limits = f"clips must be {opts.min_seconds:g}-{opts.max_seconds:g} s"
    if span.length > opts.max_seconds:
        for kind in ("sentence", "pause", "word"):
            for k in reversed(_boundary_words(idx, kind, "end", first, last - 1)):
                shorter, ok = _place(idx, first, k, lo, hi, opts)
                if ok:
                    why = f"{_LABELS[kind]} to fit {opts.max_seconds:g} s"
                    note = _moved("end", span.end, shorter.end, why)
                    return shorter._replace(notes=(*notes, *shorter.notes, *filter(None, [note])))
                if shorter.length < opts.min_seconds:
                    break
        return (
            f"cannot shorten the {span.length:.1f} s clip at {where:.1f} s without cutting "
            f"a word; {limits}"
        )
    # Too short: following sentences first, then preceding ones; then phrases, then words.
    reach = opts.max_seconds + PAD_BEFORE_S + PAD_AFTER_S
    earliest = max(first_allowed, bisect_left(idx.starts, idx.ends[last] - reach))
    latest = min(last_allowed, bisect_right(idx.ends, idx.starts[first] + reach) - 1)
    most = span.length
    for kind in ("sentence", "pause", "word"):
        starts = [first, *reversed(_boundary_words(idx, kind, "start", earliest, first - 1))]
        ends = [last, *_boundary_words(idx, kind, "end", last + 1, latest)]
        for a in starts:
            for b in ends:
                longer, ok = _place(idx, a, b, lo, hi, opts)
                if ok:
                    why = f"take in more {kind}s to reach {opts.min_seconds:g} s"
                    moves = (
                        _moved("start", span.start, longer.start, why),
                        _moved("end", span.end, longer.end, why),
                    )
                    return longer._replace(notes=(*notes, *longer.notes, *filter(None, moves)))
                if longer.length > opts.max_seconds:
                    break
                most = max(most, longer.length)
            else:
                continue
            if b == last:  # this start alone is already too long: earlier ones are longer
                break
    return f"only {most:.1f} s of speech around {where:.1f} s; {limits}"


def _fit_without_speech(
    cuts: list[float], span: _Span, opts: MomentOptions, lo: float, hi: float, what: str
) -> _Span | str:
    """Rule 7: no words to respect, so only the video's edges, the length and scene cuts."""
    limits = f"clips must be {opts.min_seconds:g}-{opts.max_seconds:g} s"
    if hi - lo < opts.min_seconds:
        return f"only {hi - lo:.1f} s of {what} between {lo:.1f} and {hi:.1f} s; {limits}"
    notes = list(span.notes)
    start, end = max(lo, span.start), min(hi, span.end)
    cut = _clean_cut(cuts, start, SNAP_S, lo, end)
    if cut is not None:
        notes.append(f"start moved onto the scene cut at {cut:.2f} s")
        start = cut
    cut = _clean_cut(cuts, end, SNAP_S, start, hi)
    if cut is not None:
        notes.append(f"end moved onto the scene cut at {cut:.2f} s")
        end = cut
    old_start, old_end = start, end
    if end - start > opts.max_seconds:
        near = [c for c in cuts if start + opts.min_seconds <= c <= start + opts.max_seconds]
        end = near[-1] if near else start + opts.max_seconds
    elif end - start < opts.min_seconds:
        near = [
            c for c in cuts if start + opts.min_seconds <= c <= min(hi, start + opts.max_seconds)
        ]
        end = near[0] if near else min(hi, start + opts.min_seconds)
        if end - start < opts.min_seconds:
            near = [
                c for c in cuts if max(lo, end - opts.max_seconds) <= c <= end - opts.min_seconds
            ]
            start = near[-1] if near else end - opts.min_seconds
    # start + length can land a rounding error outside the range; step back by the last bit.
    for _ in range(4):
        if end - start > opts.max_seconds:
            end = math.nextafter(end, start)
        elif end - start < opts.min_seconds:
            start, end = max(lo, math.nextafter(start, -math.inf)), math.nextafter(end, hi)
    why = f"fit {opts.min_seconds:g}-{opts.max_seconds:g} s"
    notes += filter(
        None, (_moved("start", old_start, start, why), _moved("end", old_end, end, why))
    )
    return _Span(start, end, tuple(notes))


@task(name="boundaries", task_run_name="boundaries")
def boundaries(
    moments: list[Moment],
    transcript: Transcript,
    scene_cuts: list[float],
    duration_s: float,
    opts: MomentOptions,
) -> tuple[list[RepairedMoment], list[DroppedMoment]]:
    """Cheap and deterministic: not cached, so the manifest always shows today's rules."""
    return repair_moments(moments, transcript, scene_cuts, duration_s, opts)
