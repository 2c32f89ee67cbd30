"""Synthetic face tracks and words for the reframe policy tests: faces at fixed or moving
places, mouths that move while their owner talks, words that fill the talking spans."""

from __future__ import annotations

import numpy as np

from reelflow.models import Word
from tasks.face_tracks import TrackPoint

FPS = 8.0


def track(duration, cx, motion=lambda t: 0.0, cy=300.0, size=140.0, start=0.0):
    """Points of one face at FPS; cx and motion are functions of clip time."""
    n = int((duration - start) * FPS)
    return [
        TrackPoint(t=start + i / FPS, x=cx(start + i / FPS) - size / 2, y=cy - size / 2,
                   w=size, h=size, motion=motion(start + i / FPS))
        for i in range(n)
    ]  # fmt: skip


def words_in(spans):
    """Words of 0.3 s with 0.05 s gaps filling each (start, end)."""
    out = []
    for a, b in spans:
        t = a
        while t + 0.3 <= b + 1e-9:
            out.append(Word(start_s=t, end_s=t + 0.3, text="word"))
            t += 0.35
    return out


def talking(spans, level=12.0, rest=0.3):
    """Mouth motion: syllable-like during the spans, a little noise otherwise."""

    def motion(t):
        inside = any(a <= t < b for a, b in spans)
        return level * (0.6 + 0.4 * np.sin(t * 19)) if inside else rest * (1 + np.sin(t * 7))

    return motion


A_TALKS = [(0.5, 6.0), (14.0, 20.0)]
B_TALKS = [(6.5, 12.5)]


def two_people(duration=20.0, a_talks=A_TALKS, b_talks=B_TALKS, **kw):
    return [
        track(duration, lambda t: 330.0, talking(a_talks), **kw),
        track(duration, lambda t: 950.0, talking(b_talks), **kw),
    ]
