"""Validation and repair of every moment, whichever provider found it.

Providers give rough times: the local scorer's are word times, an LLM's are often 2-3 s off.
Every clip here is re-cut so a viewer never notices its edges:

1. Whole sentences. Among the sentence starts and ends around the pick, the pair that fits the
   length range and moves the pick's edges least (moving into the pick costs more than moving
   out: the pick's core is what the provider chose). Only when no sentence pair fits may an
   edge fall back to a clause (after a comma or the like) or a long pause, then to any word;
   BoundaryFacts.start_on / end_on say which. Two clips never share a sentence.
2. Cut in silence. Each cut goes to the quietest point of the gap between the clip's edge word
   and its neighbour, found on the audio's 10 ms envelope (reelflow.cutpoints), since whisper's
   word times are often 50-200 ms off; onto a scene cut there when that is quiet too. Without
   the envelope, cuts are padded word times. The level at each cut is in the facts.
3. In the video, in the length range, no overlaps; a pick in silence is cut in that silence.

Every change is written to BoundaryFacts.adjustments, so the manifest says why a clip moved.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import NamedTuple

from prefect import task

from reelflow.cutpoints import cut_at
from reelflow.envelope import Envelope, load_envelope
from reelflow.models import (
    BoundaryFacts,
    DroppedMoment,
    MediaInfo,
    Moment,
    RepairedMoment,
    Transcript,
)
from reelflow.settings import get_settings
from tasks.boundary_edges import (
    MAX_LEAD_S,
    PAD_AFTER_S,
    PAD_BEFORE_S,
    TOLERANCE_S,
    Cutter,
    Edge,
    WordIndex,
)
from tasks.boundary_silence import EPS, Span, fit_without_speech, moved
from tasks.moments.types import MomentOptions

INWARD_COST = 1.5  # moving an edge into the pick costs this much more than moving it out
# People pause longer between sentences than inside one; a full stop with hardly a pause after
# it is often whisper's guess (it splits "you: motivation" into two sentences). Such an edge
# costs SHORT_PAUSE_COST seconds of movement per second its pause falls short of WEAK_PAUSE_S.
WEAK_PAUSE_S = 0.5
SHORT_PAUSE_COST = 20.0
NO_TRANSCRIPT = "no transcript: cut on scene cuts and length only"
RANK = {"sentence": 0, "clause": 1, "pause": 1, "word": 2}
_START_LABEL = {"sentence": "a sentence start", "clause": "a clause start",
                "pause": "the end of a pause", "word": "a word's start"}  # fmt: skip
_END_LABEL = {"sentence": "a sentence end", "clause": "a clause end", "pause": "a pause",
              "word": "a word's end"}  # fmt: skip


class _Clip(NamedTuple):
    first: int  # word indexes, inclusive
    last: int
    start: Edge
    end: Edge
    notes: tuple[str, ...]

    @property
    def span(self) -> Span:
        return Span(self.start.t, self.end.t, self.notes)


def boundary_facts(
    start_s: float,
    end_s: float,
    transcript: Transcript,
    scene_cuts: Sequence[float],
    adjustments: Sequence[str] = (),
    envelope: Envelope | None = None,
) -> BoundaryFacts:
    """What is true of a clip's edges: inside a word? on a sentence? in a pause? near a cut?"""
    idx = WordIndex.build(transcript, scene_cuts)
    start = Edge(start_s, cut_at(envelope, start_s) if envelope is not None else None)
    end = Edge(end_s, cut_at(envelope, end_s) if envelope is not None else None)
    return _facts(idx, start, end, adjustments)


def _facts(
    idx: WordIndex, start: Edge, end: Edge, adjustments: Sequence[str], speech: bool = True
) -> BoundaryFacts:
    start_inside = _inside_word(idx, start)
    end_inside = _inside_word(idx, end)
    first, last = idx.first_inside(start.t), idx.last_inside(end.t)
    spoken = speech and 0 <= first <= last < len(idx.starts)
    start_on = idx.start_kind[first] if spoken and not start_inside else "none"
    end_on = idx.end_kind[last] if spoken and not end_inside else "none"
    if spoken and start_inside:
        start_on = "word"  # a cut word is no boundary at all; say so plainly
    if spoken and end_inside:
        end_on = "word"
    return BoundaryFacts(
        starts_inside_word=start_inside,
        ends_inside_word=end_inside,
        starts_on_sentence_start=start_on == "sentence",
        ends_on_sentence_end=end_on == "sentence",
        start_to_scene_cut_s=_distance(idx.cuts, start.t) if idx.cuts else None,
        end_to_scene_cut_s=_distance(idx.cuts, end.t) if idx.cuts else None,
        adjustments=list(adjustments),
        start_on=start_on,
        end_on=end_on,
        start_cut_level_db=start.cut.level_db if start.cut else None,
        end_cut_level_db=end.cut.level_db if end.cut else None,
        starts_in_pause=start.cut.in_pause if start.cut else None,
        ends_in_pause=end.cut.in_pause if end.cut else None,
        start_pause_s=round(start.cut.pause_s, 2) if start.cut else None,
        end_pause_s=round(end.cut.pause_s, 2) if end.cut else None,
    )


def _inside_word(idx: WordIndex, edge: Edge) -> bool:
    """Inside a word by whisper's times, unless the audio there is a pause: whisper's times
    are the less reliable of the two."""
    return idx.word_at(edge.t) is not None and not (edge.cut is not None and edge.cut.in_pause)


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
    envelope: Envelope | None = None,
    reserved: Sequence[tuple[float, float]] = (),
) -> tuple[list[RepairedMoment], list[DroppedMoment]]:
    """Clean, in-range, non-overlapping moments (best first), and the dropped ones with why.
    `envelope` (the audio's 10 ms levels) lets cuts go to the quietest point of each gap;
    `reserved` spans belong to clips kept before, and so do their sentences."""
    idx = WordIndex.build(transcript, (c for c in scene_cuts if 0 <= c <= duration_s))
    repair = _Repair(idx, Cutter(idx, envelope), opts, duration_s)
    for start, end in reserved:
        repair.reserve(start, end)
    accepted: list[tuple[Moment, tuple[float, float, BoundaryFacts]]] = []
    dropped: list[DroppedMoment] = []
    # Best first, so a weaker moment gives way where two overlap; sorted() keeps ties in order.
    for moment in sorted(moments, key=lambda m: -m.score):
        result = repair.one(moment)
        if isinstance(result, str):
            dropped.append(DroppedMoment(moment=moment, reason=result))
        else:
            accepted.append((moment, result))
    repaired = [
        RepairedMoment(
            moment=moment.model_copy(update={"start_s": start, "end_s": end}), facts=facts
        )
        for moment, (start, end, facts) in accepted
    ]
    return repaired, dropped


class _Repair:
    """The clips accepted so far (their spans and sentences), and the rules for the next."""

    def __init__(self, idx: WordIndex, cutter: Cutter, opts: MomentOptions, duration_s: float):
        self.idx, self.cutter, self.opts, self.duration_s = idx, cutter, opts, duration_s
        self.taken: list[tuple[float, float]] = []
        self.taken_sentences: set[int] = set()

    def reserve(self, start: float, end: float) -> None:
        first, last = self.idx.first_inside(start), self.idx.last_inside(end)
        self.taken_sentences.update(self.idx.sentence_of[first : last + 1])
        self.taken = sorted([*self.taken, (start, end)])

    def one(self, moment: Moment) -> tuple[float, float, BoundaryFacts] | str:
        clamped = _clamp(moment, self.duration_s)
        if isinstance(clamped, str):
            return clamped
        gaps = self._free_gaps(clamped)
        if not gaps:
            other = next((t for t in self.taken if t[0] < clamped.end and clamped.start < t[1]),
                         None)  # fmt: skip
            if other is None:
                return f"{clamped.length * 1000:.1f} ms long: too short to place"
            return f"overlaps clip starting at {other[0]:.1f} s"
        result: _Clip | Span | str = ""
        for lo, hi, trimmed in gaps:
            result = self._fit(clamped, lo, hi)
            if not isinstance(result, str):
                if trimmed is not None:
                    note = f"trimmed to avoid the clip starting at {trimmed:.1f} s"
                    result = result._replace(notes=(*result.notes, note))
                break
        if isinstance(result, str):
            return result
        return self._accept(result)

    def _accept(self, result: _Clip | Span) -> tuple[float, float, BoundaryFacts]:
        if isinstance(result, _Clip):
            self.taken_sentences.update(self.idx.sentence_of[result.first : result.last + 1])
            facts = _facts(self.idx, result.start, result.end, result.notes)
            span = result.span
        else:  # no speech: cut on scene cuts and the length only
            span = result
            facts = _facts(self.idx, Edge(span.start, None), Edge(span.end, None), span.notes,
                           speech=False)  # fmt: skip
        self.taken = sorted([*self.taken, (span.start, span.end)])
        return span.start, span.end, facts

    def _free_gaps(self, pick: Span) -> list[tuple[float, float, float | None]]:
        """Free stretches between accepted clips that the pick touches, the one it covers most
        first, each with the start of the clip it had to avoid (None: it overlapped none)."""
        gaps, lo = [], 0.0
        for a, b in [*self.taken, (self.duration_s, self.duration_s)]:
            if a - lo > EPS:
                gaps.append((lo, a))
            lo = max(lo, b)
        other = next((t for t in self.taken if pick.start < t[1] - EPS and t[0] < pick.end - EPS),
                     None)  # fmt: skip
        touched = [
            (min(pick.end, hi) - max(pick.start, lo), lo, hi)
            for lo, hi in gaps
            if min(pick.end, hi) - max(pick.start, lo) > EPS
        ]
        touched.sort(key=lambda g: -g[0])
        return [(lo, hi, other[0] if other else None) for _, lo, hi in touched]

    def _allowed(self, lo: float, hi: float) -> tuple[int, int]:
        """Words wholly inside [lo, hi] that belong to no sentence another clip holds."""
        first, last = self.idx.words_within(lo, hi)
        taken = self.taken_sentences
        while first <= last and self.idx.sentence_of[first] in taken:
            first += 1
        while last >= first and self.idx.sentence_of[last] in taken:
            last -= 1
        return first, last

    def _fit(self, pick: Span, lo: float, hi: float) -> _Clip | Span | str:
        idx, opts = self.idx, self.opts
        pick = Span(max(lo, pick.start), min(hi, pick.end), pick.notes)
        if not idx.starts:
            span = pick._replace(notes=(*pick.notes, NO_TRANSCRIPT))
            return fit_without_speech(idx.cuts, span, opts, lo, hi, "video")
        first_allowed, last_allowed = self._allowed(lo, hi)
        # The first allowed word that ends after the start: is any speech inside the pick?
        j = max(first_allowed, bisect_right(idx.ends, pick.start))
        if j > last_allowed or idx.starts[j] >= pick.end:
            held = idx.first_inside(pick.start)
            if held < len(idx.starts) and idx.starts[held] < pick.end:  # words, none free
                return (
                    f"its speech at {pick.start:.1f}-{pick.end:.1f} s belongs to sentences "
                    "another clip holds"
                )
            beside, final = self._in_silence(pick, j, first_allowed, last_allowed, lo, hi)
            if final:
                return beside
            pick = beside
        return _choose(idx, self.cutter, pick, first_allowed, last_allowed, lo, hi, opts)

    def _in_silence(
        self, pick: Span, j: int, first_allowed: int, last_allowed: int, lo: float, hi: float
    ) -> tuple[Span | str, bool]:
        """A pick between words: cut it in that silence when the silence holds a clip (final),
        else take the words beside it, the pick's new core (the pick was meant for them)."""
        idx = self.idx
        silence_lo = max(lo, idx.ends[j - 1] if j > 0 else 0.0)
        silence_hi = min(hi, idx.starts[j] if j < len(idx.starts) else hi)
        note = f"no speech between {pick.start:.1f} and {pick.end:.1f} s"
        span = pick._replace(notes=(*pick.notes, note))
        quiet = fit_without_speech(idx.cuts, span, self.opts, silence_lo, silence_hi, "silence")
        a = j - 1 if j - 1 >= first_allowed else j
        b = j if j <= last_allowed else j - 1
        if isinstance(quiet, Span) or not first_allowed <= a <= b <= last_allowed:
            return quiet, True
        note += f"; took the words at {idx.starts[a]:.1f}-{idx.ends[b]:.1f} s beside it"
        return Span(idx.starts[a], idx.ends[b], (*pick.notes, note)), False


def _clamp(moment: Moment, duration_s: float) -> Span | str:
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
    return Span(max(0.0, start), min(duration_s, end), tuple(notes))


def _choose(
    idx: WordIndex,
    cutter: Cutter,
    pick: Span,
    first_allowed: int,
    last_allowed: int,
    lo: float,
    hi: float,
    opts: MomentOptions,
) -> _Clip | str:
    """Sentence edges if any pair fits the length, else clause or pause edges, else words.
    Within one level: fewest lesser edges, then cuts in pauses, then the least movement."""
    reach = opts.max_seconds + 2 * MAX_LEAD_S
    a_lo = max(first_allowed, bisect_left(idx.starts, pick.start - reach))
    a_hi = min(last_allowed, bisect_left(idx.starts, pick.end) - 1)
    b_lo = max(first_allowed, bisect_right(idx.ends, pick.start))
    b_hi = min(last_allowed, bisect_right(idx.ends, pick.end + reach) - 1)
    for level in (0, 1, 2):
        starts = [k for k in range(a_lo, a_hi + 1) if RANK[idx.start_kind[k]] <= level]
        ends = [k for k in range(b_lo, b_hi + 1) if RANK[idx.end_kind[k]] <= level]
        best = _best_pair(idx, cutter, pick, starts, ends, lo, hi, opts)
        if best is not None:
            return best
    return _no_fit(idx, pick, a_lo, b_hi, opts)


def _cost(idx: WordIndex, pick: Span, a: int, b: int) -> float:
    start, end = idx.starts[a], idx.ends[b]
    out = max(0.0, pick.start - start) + max(0.0, end - pick.end)
    inward = max(0.0, start - pick.start) + max(0.0, pick.end - end)
    return round(out + INWARD_COST * inward, 6)


def _best_pair(
    idx: WordIndex,
    cutter: Cutter,
    pick: Span,
    starts: list[int],
    ends: list[int],
    lo: float,
    hi: float,
    opts: MomentOptions,
) -> _Clip | None:
    # Cuts lie up to MAX_LEAD_S outside the words' times and TOLERANCE_S inside them.
    shortest = opts.min_seconds - 2 * MAX_LEAD_S
    longest = opts.max_seconds + 2 * TOLERANCE_S
    pairs = [
        (RANK[idx.start_kind[a]] + RANK[idx.end_kind[b]], _cost(idx, pick, a, b),
         abs(idx.starts[a] - pick.start), a, b)
        for a in starts
        for b in ends
        if a <= b and shortest <= idx.ends[b] - idx.starts[a] <= longest
    ]  # fmt: skip
    pairs.sort()
    best: tuple | None = None
    for rank, cost, start_move, a, b in pairs:
        if best is not None and (rank, 0, cost, start_move) >= best[0]:
            break  # sorted: nothing later can beat it
        edges = _fit_pair(cutter, a, b, lo, hi, opts)
        if edges is None:
            continue
        weak = sum(max(0.0, WEAK_PAUSE_S - e.cut.pause_s) for e in edges if e.cut is not None)
        key = (rank, sum(e.voiced for e in edges), cost + SHORT_PAUSE_COST * weak, start_move)
        if best is None or key < best[0]:
            best = (key, a, b, edges)
    if best is None:
        return None
    _, a, b, (start, end) = best
    return _Clip(a, b, start, end, (*pick.notes, *_notes(idx, pick, a, b, start, end, opts)))


def _fit_pair(
    cutter: Cutter, a: int, b: int, lo: float, hi: float, opts: MomentOptions
) -> tuple[Edge, Edge] | None:
    """The cuts for words a..b, on scene cuts where that keeps the length in range."""
    for start in cutter.start_options(a, lo, hi):
        for end in cutter.end_options(b, lo, hi):
            if opts.min_seconds <= end.t - start.t <= opts.max_seconds:
                return start, end
    return None


def _notes(
    idx: WordIndex, pick: Span, a: int, b: int, start: Edge, end: Edge, opts: MomentOptions
) -> list[str]:
    too_long, too_short = pick.length > opts.max_seconds, pick.length < opts.min_seconds
    why = f" to fit {opts.max_seconds:g} s" if too_long else ""
    if too_short:
        why = f" to take in more {idx.end_kind[b]}s to reach {opts.min_seconds:g} s"
    # The length is why an edge moved only where it moved the way the length needed.
    start_why = why if (start.t < pick.start) == too_short else ""
    end_why = why if (end.t > pick.end) == too_short else ""
    notes = [
        moved("start", pick.start, start.t, _START_LABEL[idx.start_kind[a]] + start_why),
        moved("end", pick.end, end.t, _END_LABEL[idx.end_kind[b]] + end_why),
        start.note,
        end.note,
    ]
    if start.cut is None:
        notes.append(f"padded {idx.starts[a] - start.t:.2f} s before the first word and "
                     f"{end.t - idx.ends[b]:.2f} s after the last")  # fmt: skip
    for what, edge in (("start", start), ("end", end)):
        if edge.voiced:
            level, speech = edge.cut.level_db, edge.cut.speech_db
            notes.append(f"no pause at the {what}: cut where it is quietest ({level:.0f} dB, "
                         f"speech around it {speech:.0f} dB)")  # fmt: skip
    return [n for n in notes if n]


def _no_fit(idx: WordIndex, pick: Span, a_lo: int, b_hi: int, opts: MomentOptions) -> str:
    limits = f"clips must be {opts.min_seconds:g}-{opts.max_seconds:g} s"
    if a_lo > b_hi:
        return f"no free speech around {pick.start:.1f} s; {limits}"
    most = idx.ends[b_hi] - idx.starts[a_lo] + PAD_BEFORE_S + PAD_AFTER_S
    if most < opts.min_seconds:
        return f"only {most:.1f} s of speech around {pick.start:.1f} s; {limits}"
    return f"no cut between words gives a clip around {pick.start:.1f} s; {limits}"


@task(name="boundaries", task_run_name="boundaries")
def boundaries(
    moments: list[Moment],
    transcript: Transcript,
    scene_cuts: list[float],
    duration_s: float,
    opts: MomentOptions,
    media: MediaInfo | None = None,
) -> tuple[list[RepairedMoment], list[DroppedMoment]]:
    """Cheap and deterministic: not cached, so the manifest always shows today's rules.
    `media` finds the audio envelope transcription stored (or makes it again)."""
    envelope = load_envelope(media, get_settings().cache_dir) if media is not None else None
    return repair_moments(moments, transcript, scene_cuts, duration_s, opts, envelope)
