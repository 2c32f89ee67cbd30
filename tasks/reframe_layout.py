"""Per-scene shot planning for tasks/reframe.py: who is in each scene, which shots follow
from who speaks (tasks/reframe_speakers.py), and each shot's windows with their camera paths
(tasks/reframe_camera.py). Times are seconds from the clip's start."""

from __future__ import annotations

import itertools
import statistics

import numpy as np

from reelflow.models import CropKey, CropPane, CropSegment, SpeechTurn
from tasks.face_tracks import TrackPoint
from tasks.reframe_camera import CameraLimits, plan_axis, smooth_target, value_at
from tasks.reframe_speakers import (
    BOTH,
    Person,
    Shot,
    SpeakerRules,
    cover_scene,
    plan_shots,
    set_baselines,
    speaker_turns,
)

# Cuts closer than this to each other or to a clip edge would make empty-looking segments.
_MIN_SEGMENT_S = 0.01


def crop_size(width: int, height: int) -> tuple[int, int]:
    """Full-height 9:16 window, even width, never wider than the source."""
    # Half-up rather than round()'s half-to-even, so 720p gives 406 like 405 suggests.
    crop_w = int(height * 9 / 16 / 2 + 0.5) * 2
    return min(crop_w, width), height


def pane_size(width: int, height: int, face_h: float, ratio: float) -> tuple[int, int]:
    """A split pane's window: 9:8 (one half of 1080x1920), `ratio` face heights tall."""
    h = min(float(height), max(face_h * ratio, height / 3))  # at most 4x up in a 1080 px half
    w = h * 9 / 8
    if w > width:
        w, h = width, width * 8 / 9
    return int(w / 2) * 2, int(h / 2) * 2


def scene_bounds(cuts: list[float], duration_s: float) -> list[tuple[float, float]]:
    """[0, duration] split at the cuts that fall strictly inside it, in order."""
    inner: list[float] = []
    for c in sorted(cuts):
        if _MIN_SEGMENT_S <= c <= duration_s - _MIN_SEGMENT_S and (
            not inner or c - inner[-1] >= _MIN_SEGMENT_S
        ):
            inner.append(c)
    edges = [0.0, *inner, duration_s]
    return list(itertools.pairwise(edges))


class Decision:
    """One scene's people, shots and speech turns (shot times are the scene's own)."""

    def __init__(self, people, shots, turns, faces, reason=""):
        self.people: list[Person] = people
        self.shots: list[Shot] = shots
        self.turns = turns
        self.faces: int = faces
        self.reason = reason


class Planner:
    """Plans the scenes of one clip. `opts` is a tasks.reframe.ReframeOptions (not imported:
    tasks/reframe.py imports this module)."""

    def __init__(self, width: int, height: int, duration: float, fps: float, opts):
        self.w, self.h, self.duration, self.fps, self.opts = width, height, duration, fps, opts
        self.crop_w, self.crop_h = crop_size(width, height)
        self.rules = SpeakerRules(
            min_motion=opts.min_mouth_motion, switch_ratio=opts.switch_ratio,
            min_turn_s=opts.min_turn_s, window_s=opts.turn_window_s, step_s=1 / fps,
            switch_lead_s=opts.switch_lead_s, solo_min_s=opts.solo_min_s,
            min_shot_s=opts.min_shot_s,
        )  # fmt: skip
        self.scene_people: dict[int, list[Person]] = {}

    def box_at(self, turn: SpeechTurn, t: float):
        people = self.scene_people.get(turn.scene or 0, [])
        if turn.person is None or not 0 <= turn.person < len(people):
            return None
        return people[turn.person].at(t)

    def decide(self, i, scenes, tracks, regions) -> Decision | None:
        start, end = scenes[i]
        guard = (i > 0, i < len(scenes) - 1)  # the clip's own edges are not shot changes
        if end - start < 1 / self.fps:
            return None  # too short to judge: borrowed from a neighbour
        return self.decide_span(start, end, tracks, regions, guard)

    def decide_span(self, start, end, tracks, regions, guard) -> Decision | None:
        lo = start + self.opts.cut_guard_s if guard[0] else float("-inf")
        hi = end - self.opts.cut_guard_s if guard[1] else float("inf")
        pieces = [[p for p in tr if lo <= p.t < hi] for tr in tracks]
        pieces = [pc for pc in pieces if pc]
        faces = _faces_per_frame(pieces)
        if self.crop_w >= self.w:
            return Decision([], [Shot(start, end, "centre")], [], faces, "vertical source")
        seen = min(hi, end) - max(lo, start)
        if seen < 1 / self.fps:
            return None  # only frames next to the cuts: borrowed from a neighbour
        if not pieces:
            return Decision([], [], [], 0, "no face")
        frames = max(1.0, seen * self.fps)
        people = self._people(pieces, frames)
        if not people:
            return Decision([], [], [], faces, "no steady face")
        set_baselines(people, regions)
        turns = speaker_turns(people, regions, start, end, self.rules)
        if len(people) == 1:
            # The only face on screen is taken to be the one talking, though a still mouth
            # (a photo, a listener to someone off screen) cannot say so.
            turns = [(a, b, 0 if label is None else label) for a, b, label in turns]
        return Decision(people, self._shots(people, turns, start, end), turns, faces)

    def _people(self, pieces, frames: float) -> list[Person]:
        persons = [Person(pc) for pc in _chain(pieces, self.w)]
        if not persons or max(len(p.t) for p in persons) < self.opts.min_face_presence * frames:
            return []
        tallest = max(float(np.median(p.h)) for p in persons)
        keep = [
            p
            for p in persons
            if len(p.t) >= self.opts.speaker_presence * frames
            and float(np.median(p.h)) >= self.opts.speaker_min_relative_size * tallest
        ]
        return sorted(keep, key=lambda p: float(np.median(p.cx)))  # fmt: skip

    def _shots(self, people, turns, start, end) -> list[Shot]:
        if self._fit_together(people):
            return [Shot(start, end, "group", tuple(range(len(people))))]
        cover = cover_scene(turns, start, end, self.rules.switch_lead_s)
        shots = plan_shots(cover, len(people), self.rules) if cover else []
        if shots:
            return shots
        # Nobody's mouth tells who talks: show both, or the wide shot for a group.
        if len(people) == 2:
            return [Shot(start, end, "split", (0, 1))]
        return [Shot(start, end, "fit")]

    def _fit_together(self, people: list[Person]) -> bool:
        boxes = [p.box for p in people]
        left = min(b.cx - b.w / 2 for b in boxes)
        right = max(b.cx + b.w / 2 for b in boxes)
        return right - left <= self.opts.max_face_spread * self.crop_w

    def segments(self, scene: int, start, end, d: Decision):
        self.scene_people[scene] = d.people
        boxes = [p.box for p in d.people]
        turns = [SpeechTurn(start_s=round(a, 3), end_s=round(b, 3), scene=scene,
                            person=None if lab in (None, BOTH) else lab)
                 for a, b, lab in d.turns]  # fmt: skip
        shots = [Shot(max(s.start_s, start), min(s.end_s, end), s.kind, s.persons)
                 for s in d.shots] or [Shot(start, end, "fit")]  # fmt: skip
        # Shots of a borrowed decision (or rounding) must still tile the scene exactly.
        shots[0] = Shot(start, shots[0].end_s, shots[0].kind, shots[0].persons)
        shots[-1] = Shot(shots[-1].start_s, end, shots[-1].kind, shots[-1].persons)
        segs = []
        for shot in shots:
            if shot.end_s - shot.start_s <= 0:
                continue
            seg = self._segment(shot, d)
            segs.append(seg.model_copy(update={"scene": scene, "people": boxes,
                                               "faces": d.faces}))  # fmt: skip
        return segs, turns

    def _segment(self, shot: Shot, d: Decision) -> CropSegment:
        base = {"start_s": shot.start_s, "end_s": shot.end_s}
        if shot.kind == "centre":
            key = CropKey(t=shot.start_s, cx=self.w / 2, cy=_clamp(self.h / 2, self.crop_h, self.h))
            return CropSegment(**base, layout="crop", path=[key], reason=d.reason)
        if shot.kind == "fit" or not d.people:
            reason = d.reason or ("group" if len(d.people) > 2 else "no face")
            return CropSegment(**base, layout="fit", reason=reason)
        if shot.kind == "split":
            return CropSegment(**base, layout="split", reason=self._split_reason(d),
                               panes=self._panes(shot, d))  # fmt: skip
        return self._crop(shot, d, base)

    def _split_reason(self, d: Decision) -> str:
        return (
            "two people alternating"
            if any(t[2] is not None for t in d.turns)
            else ("two people, speaker unknown")
        )

    def _crop(self, shot: Shot, d: Decision, base: dict) -> CropSegment:
        people = [d.people[i] for i in shot.persons]
        times, centres = _group_centres(people, shot.start_s, shot.end_s)
        keys = self._axis(times, centres, shot, self.crop_w, self.w)
        cy = _clamp(self.h / 2, self.crop_h, self.h)
        path = [CropKey(t=round(t, 3), cx=round(x, 1), cy=cy) for t, x in keys]
        if shot.kind == "group":
            reason = "one face" if len(people) == 1 else "people side by side"
            return CropSegment(**base, layout="crop", path=path, person=0 if len(people) == 1
                               else None, reason=reason)  # fmt: skip
        return CropSegment(**base, layout="crop", path=path, person=shot.persons[0],
                           reason="speaker")  # fmt: skip

    def _panes(self, shot: Shot, d: Decision) -> list[CropPane]:
        persons = sorted(shot.persons, key=lambda i: float(np.median(d.people[i].cx)))
        face_h = max(float(np.median(d.people[i].h)) for i in persons)
        pw, ph = pane_size(self.w, self.h, face_h, self.opts.pane_face_ratio)
        panes = []
        for i in persons:
            p = d.people[i]
            sel = _around(p.t, shot.start_s, shot.end_s)
            xs = self._axis(p.t[sel], p.cx[sel], shot, pw, self.w)
            down = (0.5 - self.opts.pane_face_y) * ph
            ys = self._axis(p.t[sel], p.cy[sel] + down, shot, ph, self.h)
            times = sorted({t for t, _ in xs} | {t for t, _ in ys})
            path = [CropKey(t=round(t, 3), cx=round(value_at(xs, t), 1),
                            cy=round(value_at(ys, t), 1)) for t in times]  # fmt: skip
            panes.append(CropPane(width=pw, height=ph, path=path, person=i))
        return panes

    def _axis(self, times, values, shot: Shot, size: int, limit: int):
        low, high = size / 2, limit - size / 2
        if len(times) == 0:
            return [(shot.start_s, (low + high) / 2)]
        values = smooth_target(np.asarray(times), np.asarray(values),
                               self.opts.target_smoothing_s)  # fmt: skip
        limits = CameraLimits(
            dead_zone=self.opts.dead_zone * size, max_speed=self.opts.max_speed * size,
            max_accel=self.opts.max_accel * size, lead_s=self.opts.camera_lead_s,
        )  # fmt: skip
        return plan_axis(np.asarray(times), values, shot.start_s, shot.end_s, limits, low, high)


def _around(t: np.ndarray, start: float, end: float, margin: float = 0.5) -> np.ndarray:
    """Samples of a shot (with a little margin for anticipation); the nearest ones when a
    borrowed decision has none inside."""
    sel = (t >= start - margin) & (t <= end + margin)
    if not sel.any() and len(t):
        sel = np.zeros(len(t), bool)
        sel[int(np.argmin(np.abs(t - (start + end) / 2)))] = True
    return sel


def _group_centres(people: list[Person], start: float, end: float):
    """Per analysed frame, the middle of the faces present (one face: its centre)."""
    times = np.unique(np.concatenate([p.t[_around(p.t, start, end)] for p in people]))
    centres = []
    for t in times:
        boxes = [b for b in (p.at(t, slack_s=0.0) for p in people) if b is not None]
        if not boxes:
            boxes = [b for b in (p.at(t, slack_s=1e9) for p in people) if b is not None]
        left = min(b.cx - b.w / 2 for b in boxes)
        right = max(b.cx + b.w / 2 for b in boxes)
        centres.append((left + right) / 2)
    return times, np.asarray(centres)


def _faces_per_frame(pieces) -> int:
    counts: dict[float, int] = {}
    for pc in pieces:
        for p in pc:
            counts[p.t] = counts.get(p.t, 0) + 1
    return round(statistics.median(counts.values())) if counts else 0


def _chain(pieces: list[list[TrackPoint]], width: int) -> list[list[TrackPoint]]:
    """Join track fragments of one person (one ends, another starts near it soon after)."""
    pieces = sorted(pieces, key=lambda pc: pc[0].t)
    out: list[list[TrackPoint]] = []
    for pc in pieces:
        for chain in out:
            end, first = chain[-1], pc[0]
            gap = first.t - end.t
            if 0 < gap <= 2.0 and abs(end.cx - first.cx) <= max(end.w, first.w) * 1.5:
                chain.extend(pc)
                break
        else:
            out.append(list(pc))
    return out


def inherit(decisions: list[Decision | None]) -> list[Decision]:
    """Fill undecided scenes from the previous decided one (what the viewer just saw), or
    the next one for a clip that opens with a short scene; borrowed as one still shot."""
    out: list[Decision | None] = list(decisions)
    for i, d in enumerate(out):
        if d is None and i > 0 and out[i - 1] is not None:
            out[i] = _borrow(out[i - 1], last=True)
    first = next(d for d in out if d is not None)
    return [d if d is not None else _borrow(first, last=False) for d in out]


def _borrow(d: Decision, *, last: bool) -> Decision:
    shot = (d.shots[-1] if last else d.shots[0]) if d.shots else None
    shots = [Shot(0, 0, shot.kind, shot.persons)] if shot else []
    return Decision(d.people, shots, [], d.faces, d.reason)


def _clamp(centre: float, size: int, limit: int) -> float:
    """Window centre moved so the window [centre - size/2, centre + size/2] is in [0, limit]."""
    return min(max(centre, size / 2), limit - size / 2)
