"""Where a clip can start and end: the words, their sentences and clauses, and the cuts.

WordIndex says, for each word, what a clip starting or ending there starts or ends on (a
sentence, a clause after a comma or the like, a long pause, or just a word). Cutter places the
cut before or after a word: at the quietest point of the gap on the audio's 10 ms envelope,
in a window widened by whisper's timing error (reelflow.cutpoints); onto a scene cut there when
that is quiet too; at padded word times when there is no envelope. Used by tasks.boundaries.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from reelflow.cutpoints import SLACK_DB, Cut, cut_at, quietest_cut
from reelflow.envelope import Envelope
from reelflow.models import Transcript
from reelflow.sentences import ends_clause
from tasks.boundary_silence import EPS, clean_cut

PAUSE_S = 0.3  # a gap this long between words is a natural place to cut inside a sentence
PAD_BEFORE_S = 0.15  # where an editor cuts: this long before the first word and after the
PAD_AFTER_S = 0.25  # last (never more than half the gap to the neighbouring word)
TOLERANCE_S = 0.2  # whisper's word times are this far off: the cut search reaches into words
MAX_LEAD_S = 1.0  # at most this much pause before the first word and after the last
CUT_S = 0.4  # a scene cut this close is worth moving to: picture and sound change together


class Edge(NamedTuple):
    t: float
    cut: Cut | None  # None: placed on word times alone (no envelope there)
    note: str | None = None  # why it is not at the quietest point (a scene cut)

    @property
    def voiced(self) -> bool:
        return self.cut is not None and not self.cut.in_pause


@dataclass
class WordIndex:
    """Words, sentences and the kind of boundary before/after each word, for bisecting."""

    starts: list[float]
    ends: list[float]
    sentence_of: list[int]  # sentence index of each word, -1 for none
    start_kind: list[str]  # what a clip starting at word k starts on
    end_kind: list[str]  # what a clip ending at word k ends on
    cuts: list[float]

    @classmethod
    def build(cls, transcript: Transcript, scene_cuts: Iterable[float]) -> WordIndex:
        words = transcript.words
        n = len(words)
        sentence_of = [-1] * n
        firsts, lasts = set(), set()
        for i, s in enumerate(transcript.sentences):
            if 0 <= s.first_word <= s.last_word < n:
                firsts.add(s.first_word)
                lasts.add(s.last_word)
                sentence_of[s.first_word : s.last_word + 1] = [i] * (s.last_word - s.first_word + 1)
        idx = cls([w.start_s for w in words], [w.end_s for w in words], sentence_of, [], [],
                  sorted(c for c in scene_cuts if math.isfinite(c)))  # fmt: skip
        for k, w in enumerate(words):
            if k in firsts:
                idx.start_kind.append("sentence")
            elif k > 0 and ends_clause(words[k - 1].text):
                idx.start_kind.append("clause")
            else:
                idx.start_kind.append("pause" if idx.gap_before(k) >= PAUSE_S else "word")
            if k in lasts:
                idx.end_kind.append("sentence")
            elif ends_clause(w.text):
                idx.end_kind.append("clause")
            else:
                idx.end_kind.append("pause" if idx.gap_after(k) >= PAUSE_S else "word")
        return idx

    def gap_before(self, k: int) -> float:
        return max(0.0, self.starts[k] - self.ends[k - 1]) if k > 0 else math.inf

    def gap_after(self, k: int) -> float:
        return max(0.0, self.starts[k + 1] - self.ends[k]) if k + 1 < len(self.starts) else math.inf

    def words_within(self, lo: float, hi: float) -> tuple[int, int]:
        """First and last index of the words lying wholly inside [lo, hi]."""
        return bisect_left(self.starts, lo), bisect_right(self.ends, hi) - 1

    def word_at(self, t: float) -> int | None:
        """The word whose span holds t (strictly inside), if any."""
        k = bisect_right(self.starts, t) - 1
        return next(
            (j for j in (k - 1, k) if j >= 0 and self.starts[j] + EPS < t < self.ends[j] - EPS),
            None,
        )

    def first_inside(self, t: float) -> int:
        """The first word a clip starting at t holds: the first whose middle is after t."""
        k = max(0, bisect_left(self.ends, t))
        while k < len(self.starts) and (self.starts[k] + self.ends[k]) / 2 < t:
            k += 1
        return k

    def last_inside(self, t: float) -> int:
        k = min(len(self.starts) - 1, bisect_right(self.starts, t) - 1)
        while k >= 0 and (self.starts[k] + self.ends[k]) / 2 > t:
            k -= 1
        return k


class Cutter:
    """Where a clip starting (or ending) at a word is cut: memoised, as pairs share edges."""

    def __init__(self, idx: WordIndex, envelope: Envelope | None):
        self.idx, self.env = idx, envelope
        self._memo: dict[tuple, list[Edge]] = {}

    def start_options(self, k: int, lo: float, hi: float) -> list[Edge]:
        """The cut before word k, on a quiet scene cut first if there is one."""
        key = ("start", k, lo, hi)
        if key not in self._memo:
            idx = self.idx
            prev_end = idx.ends[k - 1] if k > 0 else lo
            prev_mid = (idx.starts[k - 1] + prev_end) / 2 if k > 0 else lo
            ideal = max(lo, idx.starts[k] - min(PAD_BEFORE_S, idx.gap_before(k) / 2))
            window = (
                max(lo, prev_mid, prev_end - TOLERANCE_S, idx.starts[k] - MAX_LEAD_S),
                min(hi, idx.starts[k] + TOLERANCE_S, (idx.starts[k] + idx.ends[k]) / 2),
            )
            near = (max(lo, prev_end), idx.starts[k])
            self._memo[key] = self._options("start", ideal, window, near)
        return self._memo[key]

    def end_options(self, k: int, lo: float, hi: float) -> list[Edge]:
        key = ("end", k, lo, hi)
        if key not in self._memo:
            idx = self.idx
            last = k + 1 >= len(idx.starts)
            next_start = hi if last else idx.starts[k + 1]
            next_mid = hi if last else (next_start + idx.ends[k + 1]) / 2
            ideal = min(hi, idx.ends[k] + min(PAD_AFTER_S, idx.gap_after(k) / 2))
            window = (
                max(lo, idx.ends[k] - TOLERANCE_S, (idx.starts[k] + idx.ends[k]) / 2),
                min(hi, next_mid, next_start + TOLERANCE_S, idx.ends[k] + MAX_LEAD_S),
            )
            near = (idx.ends[k], min(hi, next_start))
            self._memo[key] = self._options("end", ideal, window, near)
        return self._memo[key]

    def _measure(self, t: float) -> Cut | None:
        if self.env is None or not 0 <= t < self.env.duration_s:
            return None
        return cut_at(self.env, t)

    def _options(
        self, side: str, ideal: float, window: tuple[float, float], near: tuple[float, float]
    ) -> list[Edge]:
        cut = quietest_cut(self.env, *window, ideal) if self.env is not None else None
        plain = Edge(cut.t, cut) if cut else Edge(ideal, self._measure(ideal))
        lo, hi = window if cut else near
        scene = clean_cut(self.idx.cuts, plain.t, CUT_S, lo, hi)
        if scene is None:
            return [plain]
        on_scene = cut_at(self.env, scene) if cut else None
        if on_scene and not (on_scene.in_pause or on_scene.quiet_db <= cut.quiet_db + SLACK_DB):
            return [plain]  # a picture cut in a word: the sound would click
        return [Edge(scene, on_scene, f"{side} moved onto the scene cut at {scene:.2f} s"), plain]
