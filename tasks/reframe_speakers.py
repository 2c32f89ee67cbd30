"""Who speaks when, and the shots that follows from it, for one scene of a clip.

Speech comes from the transcript's word times (voice activity); who is talking from each
face's mouth motion during that speech (tasks/face_tracks.py). Each stretch of speech is cut
into windows of about a second; a window goes to the face whose mouth moves most, with a
hysteresis (a new speaker must clearly out-move the current one) and no change shorter than
`min_turn_s`. Motion is measured against each face's own level in silence, so a face that
moves its mouth without voice (chewing, smiling) is not taken for the speaker.

Shots then follow the turns: a single face shot for someone who talks for a while, a split
screen while two people alternate quickly or talk at once, a wide (fit) shot for quick
exchanges among more than two, and no shot shorter than `min_shot_s`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from reelflow.models import PersonBox, Word

BOTH = -1  # two people talking at once


@dataclass(frozen=True)
class SpeakerRules:
    min_motion: float  # mouth motion (gray levels) below which nobody is judged to talk
    switch_ratio: float  # a new speaker must move their mouth this many times the current one
    min_turn_s: float  # shorter speaker changes are noise
    window_s: float  # mouth motion is averaged over this long around each moment
    step_s: float  # the speaker is judged this often
    switch_lead_s: float  # the cut to a new speaker comes this long before their first word
    solo_min_s: float  # a turn this long gets a shot of its own; shorter ones alternate
    min_shot_s: float  # no shot is shorter than this


@dataclass(frozen=True)
class Shot:
    start_s: float
    end_s: float
    kind: str  # solo / split / fit
    persons: tuple[int, ...] = ()

    @property
    def duration(self) -> float:
        return self.end_s - self.start_s


class Person:
    """One face across a scene (clip seconds), possibly from several track fragments."""

    def __init__(self, points):
        pts = sorted(points, key=lambda p: p.t)
        self.t = np.array([p.t for p in pts])
        self.cx = np.array([p.cx for p in pts])
        self.cy = np.array([p.cy for p in pts])
        self.w = np.array([p.w for p in pts])
        self.h = np.array([p.h for p in pts])
        self.motion = np.array([p.motion for p in pts])
        self.baseline = 0.0

    @property
    def box(self) -> PersonBox:
        return PersonBox(cx=round(float(np.median(self.cx)), 1),
                         cy=round(float(np.median(self.cy)), 1),
                         w=round(float(np.median(self.w)), 1),
                         h=round(float(np.median(self.h)), 1))  # fmt: skip

    def at(self, t: float, slack_s: float = 0.5) -> PersonBox | None:
        """The face box at clip time t, interpolated; None when the person is not there."""
        if len(self.t) == 0 or t < self.t[0] - slack_s or t > self.t[-1] + slack_s:
            return None

        def val(a):
            return float(np.interp(t, self.t, a))

        return PersonBox(cx=val(self.cx), cy=val(self.cy), w=val(self.w), h=val(self.h))

    def mean_motion(self, start_s: float, end_s: float) -> float:
        sel = (self.t >= start_s) & (self.t < end_s)
        if not sel.any():
            return 0.0
        return max(0.0, float(self.motion[sel].mean()) - self.baseline)


def speech_regions(words: list[Word], duration_s: float, pad_s: float, join_s: float):
    """Voiced stretches (clip seconds) from word times, padded because whisper's word times
    are often a little early or late, and joined across short gaps."""
    out: list[list[float]] = []
    for w in sorted(words, key=lambda w: w.start_s):
        a, b = max(0.0, w.start_s - pad_s), min(duration_s, w.end_s + pad_s)
        if b <= a:
            continue
        if out and a - out[-1][1] <= join_s:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def set_baselines(people: list[Person], regions: list[tuple[float, float]]) -> None:
    """Each face's mouth-motion level in silence: what it does when nobody talks."""
    for p in people:
        voiced = np.zeros(len(p.t), bool)
        for a, b in regions:
            voiced |= (p.t >= a) & (p.t < b)
        quiet = p.motion[~voiced]
        p.baseline = (
            float(np.median(quiet))
            if len(quiet) >= 8
            else float(np.percentile(p.motion, 20) if len(p.motion) else 0.0)
        )


def speaker_turns(
    people: list[Person],
    regions: list[tuple[float, float]],
    start_s: float,
    end_s: float,
    rules: SpeakerRules,
) -> list[tuple[float, float, int | None]]:
    """Voiced stretches of the scene [start_s, end_s) with the judged speaker (an index into
    `people`, BOTH, or None when nobody's mouth says), runs of one speaker joined.

    Judged every `step_s` on the mouth motion around that moment (`window_s` wide), never
    reaching across a pause: the next speaker's first words must not leak into this one's."""
    windows: list[tuple[float, float, int | None]] = []
    current: int | None = None
    half = rules.window_s / 2
    for a, b in regions:
        a, b = max(a, start_s), min(b, end_s)
        if b - a <= 0:
            continue
        n = max(1, round((b - a) / rules.step_s))
        edges = np.linspace(a, b, n + 1)
        for lo, hi in itertools.pairwise(edges):
            mid = (lo + hi) / 2
            w0, w1 = max(a, mid - half), min(b, mid + half)
            label = _judge([p.mean_motion(w0, w1) for p in people], current, rules)
            windows.append((float(lo), float(hi), label))
            if label is not None:
                current = label
    return _join(_drop_blips(_join(windows), rules.min_turn_s))


def _judge(scores: list[float], current: int | None, rules: SpeakerRules) -> int | None:
    if not scores:
        return None
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    best = order[0]
    top = scores[best]
    second = scores[order[1]] if len(order) > 1 else 0.0
    if top < rules.min_motion:
        return None
    if second >= 2 * rules.min_motion and second >= 0.75 * top:
        return BOTH
    if current is None or current == BOTH or best == current:
        return best if top >= rules.switch_ratio * second else current
    # A change of speaker needs a clear lead over the one on screen.
    held = scores[current] if 0 <= current < len(scores) else 0.0
    return best if top >= rules.switch_ratio * max(held, 1e-9) else current


def _join(windows):
    out: list[list] = []
    for lo, hi, label in windows:
        if out and out[-1][2] == label and lo - out[-1][1] < 1e-6:
            out[-1][1] = hi
        else:
            out.append([lo, hi, label])
    return [tuple(w) for w in out]


def _drop_blips(turns, min_turn_s: float):
    """A change of speaker shorter than min_turn_s (a cough, one noisy window) is given to
    the speaker before it (or after it, at the start)."""
    turns = [list(t) for t in turns]
    labels = [t[2] for t in turns]
    for i, (lo, hi, label) in enumerate(turns):
        if label is not None and hi - lo < min_turn_s:
            before = next((labels[j] for j in range(i - 1, -1, -1) if labels[j] is not None), None)
            after = next((labels[j] for j in range(i + 1, len(turns)) if labels[j] is not None),
                         None)  # fmt: skip
            replacement = before if before is not None else after
            if replacement is not None:
                labels[i] = replacement
    return [(lo, hi, lab) for (lo, hi, _), lab in zip(turns, labels, strict=True)]


def cover_scene(turns, start_s: float, end_s: float, lead_s: float):
    """Turns stretched over the whole scene: silence and unknown windows stay with the
    speaker before them; a new speaker's stretch starts `lead_s` before their first word
    (or where the previous one stopped talking, if that is later)."""
    known = [t for t in turns if t[2] is not None]
    if not known:
        return []
    merged: list[list] = []
    for lo, hi, label in known:
        if merged and merged[-1][2] == label:
            merged[-1][1] = hi
        else:
            merged.append([lo, hi, label])
    cover = []
    for i, (lo, hi, label) in enumerate(merged):
        begin = start_s if i == 0 else max(merged[i - 1][1], lo - lead_s)
        end = end_s if i == len(merged) - 1 else max(hi, merged[i + 1][0] - lead_s)
        cover.append((begin, end, label))
    # Make the stretches meet exactly.
    fixed = []
    for i, (lo, _hi, label) in enumerate(cover):
        hi = cover[i + 1][0] if i + 1 < len(cover) else end_s
        fixed.append((lo, hi, label))
    return fixed


def plan_shots(cover, n_people: int, rules: SpeakerRules) -> list[Shot]:
    """Shots from who speaks when (see the module docstring)."""
    shots: list[Shot | None] = []
    spans: list[tuple[float, float]] = []
    i = 0
    while i < len(cover):
        j = i
        while j < len(cover) and _quick(cover[j], rules):
            j += 1
        if j == i:  # a long turn
            lo, hi, label = cover[i]
            shots.append(_solo_or_split(label, n_people))
            spans.append((lo, hi))
            i += 1
            continue
        run = cover[i:j]
        lo, hi = run[0][0], run[-1][1]
        if len(run) >= 2:
            shots.append(_alternation({t[2] for t in run}, n_people))
        elif hi - lo >= rules.min_shot_s:
            shots.append(_solo_or_split(run[0][2], n_people))
        else:
            shots.append(None)  # too short for a shot: stays with a neighbour
        spans.append((lo, hi))
        i = j
    return _enforce_min_shot(_absorb(shots, spans), rules.min_shot_s)


def _quick(turn, rules: SpeakerRules) -> bool:
    return turn[2] == BOTH or turn[1] - turn[0] < rules.solo_min_s


def _solo_or_split(label: int, n_people: int) -> Shot:
    if label == BOTH:
        return Shot(0, 0, "split", (0, 1)) if n_people == 2 else Shot(0, 0, "fit")
    return Shot(0, 0, "solo", (label,))


def _alternation(labels: set, n_people: int) -> Shot:
    persons = sorted(label for label in labels if label != BOTH)
    if BOTH in labels and n_people == 2:
        persons = [0, 1]
    if len(persons) == 2:
        return Shot(0, 0, "split", tuple(persons))
    if len(persons) == 1:
        return Shot(0, 0, "solo", tuple(persons))
    return Shot(0, 0, "fit")


def _absorb(shots: list[Shot | None], spans) -> list[Shot]:
    out: list[Shot] = []
    pending_start = None
    for shot, (lo, hi) in zip(shots, spans, strict=True):
        if shot is None:
            if out:
                last = out[-1]
                out[-1] = Shot(last.start_s, hi, last.kind, last.persons)
            elif pending_start is None:
                pending_start = lo
            continue
        start = pending_start if pending_start is not None else lo
        pending_start = None
        if out and (out[-1].kind, out[-1].persons) == (shot.kind, shot.persons):
            out[-1] = Shot(out[-1].start_s, hi, shot.kind, shot.persons)
        else:
            out.append(Shot(start, hi, shot.kind, shot.persons))
    if pending_start is not None and not out:
        return []
    return out


def _enforce_min_shot(shots: list[Shot], min_shot_s: float) -> list[Shot]:
    shots = list(shots)
    while len(shots) > 1:
        short = [i for i, s in enumerate(shots) if s.duration < min_shot_s]
        if not short:
            break
        i = min(short, key=lambda k: shots[k].duration)
        # Prefer the neighbour that shows more people: a split already holds both.
        candidates = [k for k in (i - 1, i + 1) if 0 <= k < len(shots)]
        k = max(candidates, key=lambda c: (shots[c].kind == "split", c == i - 1))
        keep = shots[k]
        lo = min(keep.start_s, shots[i].start_s)
        hi = max(keep.end_s, shots[i].end_s)
        shots[k] = Shot(lo, hi, keep.kind, keep.persons)
        del shots[i]
        merged = []
        for s in shots:
            if merged and (merged[-1].kind, merged[-1].persons) == (s.kind, s.persons):
                merged[-1] = Shot(merged[-1].start_s, s.end_s, s.kind, s.persons)
            else:
                merged.append(s)
        shots = merged
    return shots
