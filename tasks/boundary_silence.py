"""Clips where there is no speech to respect: a video without a transcript, or a pick that
lies wholly in a long silence. Only the video's edges, the length range and scene cuts count.

Shared by tasks.boundaries with the small span type and helpers both need.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from typing import NamedTuple

from tasks.moments.types import MomentOptions

SNAP_S = 1.5  # without speech, a scene cut this close is where the clip should start or end
EPS = 1e-3  # float noise in times from JSON and arithmetic


class Span(NamedTuple):
    start: float
    end: float
    notes: tuple[str, ...] = ()

    @property
    def length(self) -> float:
        return self.end - self.start


def clean_cut(cuts: list[float], t: float, radius: float, lo: float, hi: float) -> float | None:
    """The scene cut nearest t within radius that lies in [lo, hi], if it is not t itself."""
    i = bisect_left(cuts, t - radius)
    near = [c for c in cuts[i : bisect_right(cuts, t + radius)] if lo <= c <= hi]
    best = min(near, key=lambda c: abs(c - t), default=None)
    return None if best is None or abs(best - t) < EPS else best


def moved(what: str, old: float, new: float, why: str) -> str | None:
    delta = new - old
    if abs(delta) < 0.005:
        return None
    return f"{what} moved {abs(delta):.2f} s {'earlier' if delta < 0 else 'later'} to {why}"


def fit_without_speech(
    cuts: list[float], span: Span, opts: MomentOptions, lo: float, hi: float, what: str
) -> Span | str:
    """Rule 7: no words to respect, so only the video's edges, the length and scene cuts."""
    limits = f"clips must be {opts.min_seconds:g}-{opts.max_seconds:g} s"
    if hi - lo < opts.min_seconds:
        return f"only {hi - lo:.1f} s of {what} between {lo:.1f} and {hi:.1f} s; {limits}"
    notes = list(span.notes)
    start, end = max(lo, span.start), min(hi, span.end)
    cut = clean_cut(cuts, start, SNAP_S, lo, end)
    if cut is not None:
        notes.append(f"start moved onto the scene cut at {cut:.2f} s")
        start = cut
    cut = clean_cut(cuts, end, SNAP_S, start, hi)
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
    notes += filter(None, (moved("start", old_start, start, why), moved("end", old_end, end, why)))
    return Span(start, end, tuple(notes))
