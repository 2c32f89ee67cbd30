"""Manual reframe corrections, plans from before this format, and the filter graph they make."""

from __future__ import annotations

import pytest

from reelflow.errors import InvalidRequest
from reelflow.models import MediaInfo, ReframeOverride, ReframePlan
from tasks.reframe import ReframeOptions, plan_from_tracks
from tasks.reframe_override import apply_override
from tasks.render import RenderOptions, filter_graph
from tests.helpers.reframe_tracks import A_TALKS, B_TALKS, track, two_people, words_in

W, H = 1280, 720


@pytest.fixture(scope="module")
def two_scene_plan() -> ReframePlan:
    """Scene 1 (0-20 s): two people taking turns; scene 2 (20-26 s): one face."""
    tracks = [*two_people(), track(26, lambda t: 700.0, size=300, start=20.0)]
    return plan_from_tracks(tracks, words_in(A_TALKS + B_TALKS), [20.0], 26.0, W, H,
                            ReframeOptions(), 8.0)  # fmt: skip


def override(**fields) -> ReframeOverride:
    return ReframeOverride.model_validate(fields)


def test_layout_per_scene(two_scene_plan):
    layouts = [{"scene": 1, "layout": "split"}, {"scene": 2, "layout": "fit"}]
    p = apply_override(two_scene_plan, override(layouts=layouts))
    assert [(s.start_s, s.end_s, s.layout, s.scene) for s in p.segments] == [
        (0, 20.0, "split", 1),
        (20.0, 26.0, "fit", 2),
    ]
    top, bottom = p.segments[0].panes
    assert top.path[0].cx == pytest.approx(330) and bottom.path[0].cx == pytest.approx(950)
    assert p.report.manual and p.report.layout_s == {"split": 20.0, "fit": 6.0}
    assert p.report.switches_per_min == 0


def test_crop_on_a_chosen_person(two_scene_plan):
    p = apply_override(two_scene_plan, override(layouts=[{"scene": 1, "layout": "crop",
                                                          "person": 2}]))  # fmt: skip
    first = p.segments[0]
    assert (first.layout, first.person, first.end_s) == ("crop", 1, 20.0)
    assert first.path == [first.path[0]] and first.path[0].cx == pytest.approx(950)
    # Person 2 is on screen only while they talk (B_TALKS of 17.5 s of speech).
    assert p.report.speaker_in_frame == pytest.approx(6.0 / 17.5, abs=0.06)
    assert p.segments[1:] == two_scene_plan.segments[-1:]  # scene 2 untouched


def test_keyframes_steer_the_window_in_their_scene_only(two_scene_plan):
    p = apply_override(two_scene_plan, override(keyframes=[{"t": 4, "x": 300},
                                                           {"t": 8, "x": 900}]))  # fmt: skip
    first = p.segments[0]
    assert first.layout == "crop" and first.reason == "manual keyframes"
    assert [(k.t, k.cx) for k in first.path] == [(0, 300), (4, 300), (8, 900)]
    assert p.report.crop_speed_max_px_s == pytest.approx(150)
    assert p.segments[1] == two_scene_plan.segments[-1]


def test_keys_are_clamped_inside_the_picture(two_scene_plan):
    p = apply_override(two_scene_plan, override(keyframes=[{"t": 21, "x": 0}]))
    assert [(k.t, k.cx) for k in p.segments[-1].path] == [(20.0, 203), (21, 203)]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"layouts": [{"scene": 3, "layout": "fit"}]}, "Scene 3 is not in this clip"),
        ({"layouts": [{"scene": 2, "layout": "split"}]}, "a split screen needs two"),
        ({"layouts": [{"scene": 1, "layout": "crop", "person": 3}]}, "there is no person 3"),
        ({"layouts": [{"scene": 1, "layout": "fit", "person": 1}]}, "for a crop only"),
        ({"layouts": [{"scene": 1, "layout": "fit"}, {"scene": 1, "layout": "crop"}]},
         "two layouts"),
        ({"keyframes": [{"t": 30, "x": 500}]}, "past the clip's end (26.00 s)"),
        ({"keyframes": [{"t": 3, "x": 5000}]}, "outside the 1280 px wide picture"),
        ({"layouts": [{"scene": 1, "layout": "split"}], "keyframes": [{"t": 3, "x": 500}]},
         "both a split layout and crop keyframes"),
    ],
)  # fmt: skip
def test_bad_overrides_say_what_is_wrong(two_scene_plan, fields, message):
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply_override(two_scene_plan, override(**fields))


def test_malformed_override_is_refused_by_the_model():
    with pytest.raises(ValueError):
        ReframeOverride.model_validate({"layouts": [{"scene": 0, "layout": "fit"}]})
    with pytest.raises(ValueError):
        ReframeOverride.model_validate({"layouts": [{"scene": 1, "layout": "zoom"}]})
    with pytest.raises(ValueError):
        ReframeOverride.model_validate({"keyframes": [{"t": -1, "x": 5}]})


OLD_PLAN = {  # as manifests of the previous format stored it
    "source_width": 1920,
    "source_height": 1080,
    "crop_width": 608,
    "crop_height": 1080,
    "segments": [
        {"start_s": 0, "end_s": 4.0, "layout": "crop", "faces": 1,
         "path": [{"t": 0, "cx": 500, "cy": 540}]},
        {"start_s": 4.0, "end_s": 9.0, "layout": "fit", "faces": 2, "path": []},
    ],
}  # fmt: skip


def test_old_plans_load_render_and_take_overrides():
    plan = ReframePlan.model_validate(OLD_PLAN)
    assert plan.report is None and plan.turns == [] and plan.segments[0].panes == []
    media = MediaInfo(path="x.mp4", sha256="0", size_bytes=1, duration_s=9, has_video=True,
                      has_audio=True, width=1920, height=1080, fps=25)  # fmt: skip
    graph = filter_graph(media, plan, RenderOptions(), 9.0, [])
    assert "crop=w=608:h=1080:x='196'" in graph and "boxblur" in graph
    fixed = apply_override(plan, override(layouts=[{"scene": 2, "layout": "crop"}]))
    assert [(s.layout, s.scene) for s in fixed.segments] == [("crop", 1), ("crop", 2)]
    assert fixed.segments[1].path[0].cx == 960  # nobody known there: the middle


def test_split_filter_graph_stacks_two_moving_windows(two_scene_plan):
    plan = apply_override(two_scene_plan, override(layouts=[{"scene": 1, "layout": "split"}]))
    media = MediaInfo(path="x.mp4", sha256="0", size_bytes=1, duration_s=26, has_video=True,
                      has_audio=True, width=W, height=H, fps=25)  # fmt: skip
    graph = filter_graph(media, plan, RenderOptions(), 26.0, [])
    pane = plan.segments[0].panes[0]
    assert f"crop=w={pane.width}:h={pane.height}" in graph
    assert "scale=1080:960" in graph and "vstack=inputs=2" in graph
