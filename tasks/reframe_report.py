"""The per-clip reframe report the manifest carries: layout per shot, how much of the speech
shows the speaker's face, how fast the crop moves, how often the camera switches.

It is computed from the plan (where each window is at each moment) and from where the judged
speaker's face is: the face tracks while planning, the scene's median boxes after a manual
override (tasks/reframe_override.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from reelflow.models import (
    CropKey,
    CropSegment,
    PersonBox,
    ReframePlan,
    ReframeReport,
    ShotReport,
    SpeechTurn,
)
from tasks.reframe_camera import path_speeds, value_at

BoxAt = Callable[[SpeechTurn, float], PersonBox | None]

_STEP_S = 0.1  # speech is checked this often
_INSIDE_SLACK = 0.1  # a face may stick out of the window by this share of its width


def build_report(plan: ReframePlan, box_at: BoxAt, *, manual: bool = False) -> ReframeReport:
    segs = plan.segments
    duration = segs[-1].end_s - segs[0].start_s if segs else 0.0
    layout_s: dict[str, float] = {}
    for s in segs:
        layout_s[s.layout] = round(layout_s.get(s.layout, 0.0) + s.end_s - s.start_s, 3)
    speech, known, shown = _speech_figures(plan, box_at)
    median, fastest = _speeds(plan)
    return ReframeReport(
        shots=[
            ShotReport(start_s=s.start_s, end_s=s.end_s, layout=s.layout, reason=s.reason)
            for s in segs
        ],
        layout_s=layout_s,
        speech_s=round(speech, 3),
        speaker_known_s=round(known, 3),
        speaker_in_frame=round(shown / known, 4) if known > 0 else None,
        crop_speed_median_px_s=round(median, 1),
        crop_speed_max_px_s=round(fastest, 1),
        switches_per_min=round(_switches(segs) / duration * 60, 2) if duration > 0 else 0.0,
        manual=manual,
    )


def scene_box_at(plan: ReframePlan) -> BoxAt:
    """Where a turn's speaker is, from the scene's median boxes stored in the plan."""
    people = {s.scene: s.people for s in plan.segments if s.scene is not None}

    def box_at(turn: SpeechTurn, _t: float) -> PersonBox | None:
        boxes = people.get(turn.scene, [])
        if turn.person is None or not 0 <= turn.person < len(boxes):
            return None
        return boxes[turn.person]

    return box_at


def face_visible(plan: ReframePlan, seg: CropSegment, box: PersonBox, t: float) -> bool:
    """Is the face wholly inside a window the viewer sees at clip time t?"""
    if seg.layout == "fit":
        return True
    if seg.layout == "crop":
        return _inside(box, seg.path, t, plan.crop_width, plan.crop_height, plan)
    return any(_inside(box, p.path, t, p.width, p.height, plan) for p in seg.panes)


def _inside(box: PersonBox, path: list[CropKey], t, w: int, h: int, plan: ReframePlan) -> bool:
    if not path:
        cx, cy = plan.source_width / 2, plan.source_height / 2
    else:
        cx = value_at([(k.t, k.cx) for k in path], t)
        cy = value_at([(k.t, k.cy) for k in path], t)
    # The render clamps the window inside the frame; so does this.
    left = min(max(cx - w / 2, 0), max(plan.source_width - w, 0))
    top = min(max(cy - h / 2, 0), max(plan.source_height - h, 0))
    sx, sy = box.w * _INSIDE_SLACK, box.h * _INSIDE_SLACK
    return (box.cx - box.w / 2 >= left - sx and box.cx + box.w / 2 <= left + w + sx
            and box.cy - box.h / 2 >= top - sy and box.cy + box.h / 2 <= top + h + sy)  # fmt: skip


def _speech_figures(plan: ReframePlan, box_at: BoxAt) -> tuple[float, float, float]:
    speech = known = shown = 0.0
    for turn in plan.turns:
        speech += turn.end_s - turn.start_s
        if turn.person is None:
            continue
        steps = max(1, round((turn.end_s - turn.start_s) / _STEP_S))
        dt = (turn.end_s - turn.start_s) / steps
        for k in range(steps):
            t = turn.start_s + (k + 0.5) * dt
            box = box_at(turn, t)
            if box is None:
                continue
            known += dt
            seg = _segment_at(plan, t)
            if seg is not None and face_visible(plan, seg, box, t):
                shown += dt
    return speech, known, shown


def _segment_at(plan: ReframePlan, t: float) -> CropSegment | None:
    for s in plan.segments:
        if s.start_s <= t < s.end_s:
            return s
    return plan.segments[-1] if plan.segments and t >= plan.segments[-1].start_s else None


def _speeds(plan: ReframePlan) -> tuple[float, float]:
    """Time-weighted median and maximum speed of the window centres (source px/s), over the
    time windows are on screen; fit shots have no window and do not count."""
    pieces: list[tuple[float, float]] = []
    for s in plan.segments:
        paths = [s.path] if s.layout == "crop" else [p.path for p in s.panes]
        for path in paths:
            pieces += _path_pieces(path, s.start_s, s.end_s)
    if not pieces:
        return 0.0, 0.0
    pieces.sort(key=lambda p: p[1])
    half = sum(d for d, _ in pieces) / 2
    run = 0.0
    median = pieces[-1][1]
    for d, v in pieces:
        run += d
        if run >= half:
            median = v
            break
    return median, max(v for _, v in pieces)


def _path_pieces(path: list[CropKey], start: float, end: float):
    if not path:
        return [(end - start, 0.0)]
    xs = path_speeds([(k.t, k.cx) for k in path], start, end)
    ys = path_speeds([(k.t, k.cy) for k in path], start, end)
    if len(xs) != len(ys):
        return xs
    return [(d, (vx**2 + vy**2) ** 0.5) for (d, vx), (_, vy) in zip(xs, ys, strict=True)]


def _switches(segs: list[CropSegment]) -> int:
    """Changes of layout or subject that are not scene cuts."""
    return sum(1 for a, b in itertools.pairwise(segs) if a.scene is not None and a.scene == b.scene)
