"""Manual corrections to a clip's reframe plan: a layout per scene, or a hand-made camera path.

`apply_override(plan, override)` returns a new plan; the render takes it like any other, so a
correction is one re-render from the source. Scenes are numbered from 1 in the clip, as the
plan's segments show them (`scene`), and people from 1 = leftmost, as in their `people`.

- A layout for a scene replaces all of that scene's shots: `fit` shows the whole picture,
  `crop` a still window on one person (`person`, else on everyone in the scene, else the
  middle), `split` the scene's two leftmost people stacked.
- Keyframes (`{"t": s, "x": px}`, t in clip seconds, x the window's centre in source pixels)
  steer the window in the scenes they fall in: held at the first key from the scene's start,
  linear between keys, held after the last; the camera never moves across a cut.

Every mistake (an unknown scene or person, a key past the clip's end or outside the picture,
a scene given both a non-crop layout and keyframes) is an InvalidRequest saying which.
"""

from __future__ import annotations

from reelflow.errors import InvalidRequest
from reelflow.models import (
    CropKey,
    CropKeyframe,
    CropPane,
    CropSegment,
    LayoutOverride,
    PersonBox,
    ReframeOverride,
    ReframePlan,
)
from tasks.reframe import ReframeOptions
from tasks.reframe_layout import pane_size
from tasks.reframe_report import build_report, scene_box_at


def apply_override(plan: ReframePlan, override: ReframeOverride) -> ReframePlan:
    """The plan with the override's layouts and keyframes applied, and its report redone."""
    if not plan.segments:
        raise InvalidRequest("This clip has no reframe plan to correct")
    plan = _numbered(plan)
    scenes = _scenes(plan)
    layouts = _layouts_by_scene(override.layouts, scenes)
    keys = _keys_by_scene(override.keyframes, plan, scenes)
    for n in layouts.keys() & keys.keys():
        if layouts[n].layout != "crop":
            raise InvalidRequest(
                f"Scene {n} has both a {layouts[n].layout} layout and crop keyframes; "
                "keyframes steer a crop: drop one of the two"
            )
    segments: list[CropSegment] = []
    for n, segs in scenes.items():
        start, end = segs[0].start_s, segs[-1].end_s
        if n in keys:
            segments.append(_keyed(segs[0], start, end, keys[n], plan))
        elif n in layouts:
            segments.append(_laid_out(segs[0], start, end, layouts[n], plan))
        else:
            segments += segs
    plan = plan.model_copy(update={"segments": segments})
    manual = bool(layouts or keys)
    return plan.model_copy(update={"report": build_report(plan, scene_box_at(plan), manual=manual)})


def _numbered(plan: ReframePlan) -> ReframePlan:
    """Plans from before scenes were numbered held one segment per scene."""
    if all(s.scene is not None for s in plan.segments):
        return plan
    segs = [s.model_copy(update={"scene": i}) for i, s in enumerate(plan.segments, 1)]
    return plan.model_copy(update={"segments": segs})


def _scenes(plan: ReframePlan) -> dict[int, list[CropSegment]]:
    out: dict[int, list[CropSegment]] = {}
    for s in plan.segments:
        out.setdefault(s.scene, []).append(s)
    return out


def _layouts_by_scene(layouts: list[LayoutOverride], scenes) -> dict[int, LayoutOverride]:
    out: dict[int, LayoutOverride] = {}
    for item in layouts:
        if item.scene not in scenes:
            raise InvalidRequest(
                f"Scene {item.scene} is not in this clip: it has scenes 1-{len(scenes)}"
            )
        if item.scene in out:
            raise InvalidRequest(f"Scene {item.scene} is given two layouts; keep one")
        people = scenes[item.scene][0].people
        if item.person is not None and item.layout != "crop":
            raise InvalidRequest(f"Scene {item.scene}: a person is chosen for a crop only")
        if item.person is not None and item.person > len(people):
            raise InvalidRequest(
                f"Scene {item.scene} shows {len(people)} person(s); there is no person "
                f"{item.person}"
            )
        if item.layout == "split" and len(people) < 2:
            raise InvalidRequest(
                f"Scene {item.scene} shows {len(people)} person(s); a split screen needs two"
            )
        out[item.scene] = item
    return out


def _keys_by_scene(keys: list[CropKeyframe], plan: ReframePlan, scenes):
    duration = plan.segments[-1].end_s
    out: dict[int, list[CropKeyframe]] = {}
    for key in sorted(keys, key=lambda k: k.t):
        if key.t > duration:
            raise InvalidRequest(
                f"Crop keyframe at {key.t:g} s is past the clip's end ({duration:.2f} s)"
            )
        if key.x > plan.source_width:
            raise InvalidRequest(
                f"Crop keyframe x={key.x:g} is outside the {plan.source_width} px wide picture"
            )
        scene = next(
            (n for n, segs in scenes.items() if segs[0].start_s <= key.t < segs[-1].end_s),
            list(scenes)[-1],
        )
        out.setdefault(scene, []).append(key)
    return out


def _keyed(first: CropSegment, start, end, keys: list[CropKeyframe], plan) -> CropSegment:
    cy = plan.source_height / 2
    lo, hi = plan.crop_width / 2, plan.source_width - plan.crop_width / 2
    path = [CropKey(t=k.t, cx=min(max(k.x, lo), hi), cy=cy) for k in keys]
    if path[0].t > start:  # held from the scene's start: no pan in from the previous scene
        path.insert(0, path[0].model_copy(update={"t": start}))
    return _like(first, start, end, "crop", path=path, reason="manual keyframes")


def _laid_out(first: CropSegment, start, end, item: LayoutOverride, plan) -> CropSegment:
    people = first.people
    if item.layout == "fit":
        return _like(first, start, end, "fit", reason="manual layout")
    if item.layout == "split":
        face_h = max(p.h for p in people[:2])
        panes = [_pane(p, i, face_h, start, plan) for i, p in enumerate(people[:2])]
        return _like(first, start, end, "split", panes=panes, reason="manual layout")
    chosen = [people[item.person - 1]] if item.person else people
    if chosen:
        left = min(p.cx - p.w / 2 for p in chosen)
        right = max(p.cx + p.w / 2 for p in chosen)
        cx = (left + right) / 2
    else:
        cx = plan.source_width / 2
    lo, hi = plan.crop_width / 2, plan.source_width - plan.crop_width / 2
    key = CropKey(t=start, cx=min(max(cx, lo), hi), cy=plan.source_height / 2)
    person = item.person - 1 if item.person else None
    return _like(first, start, end, "crop", path=[key], person=person, reason="manual layout")


def _pane(person: PersonBox, index: int, face_h: float, start: float, plan) -> CropPane:
    opts = ReframeOptions()
    w, h = pane_size(plan.source_width, plan.source_height, face_h, opts.pane_face_ratio)
    cx = min(max(person.cx, w / 2), plan.source_width - w / 2)
    cy = person.cy + (0.5 - opts.pane_face_y) * h
    cy = min(max(cy, h / 2), plan.source_height - h / 2)
    return CropPane(width=w, height=h, path=[CropKey(t=start, cx=cx, cy=cy)], person=index)


def _like(first: CropSegment, start, end, layout, **fields) -> CropSegment:
    base = {"path": [], "panes": [], "person": None}
    return first.model_copy(
        update={"start_s": start, "end_s": end, "layout": layout, **base, **fields}
    )
