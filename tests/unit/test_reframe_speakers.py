"""Speaker-aware reframing policy on synthetic tracks: camera paths, who speaks, shots, report."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.reframe import ReframeOptions, plan_from_tracks
from tasks.reframe_camera import CameraLimits, path_speeds, plan_axis
from tests.helpers.reframe_tracks import (
    A_TALKS,
    B_TALKS,
    FPS,
    talking,
    track,
    two_people,
    words_in,
)

W, H = 1280, 720
CROP_W = 406


def plan(tracks, speech, duration, cuts=(), **opts):
    return plan_from_tracks(tracks, words_in(speech), list(cuts), duration, W, H,
                            ReframeOptions(**opts), FPS)  # fmt: skip


def layouts(p):
    return [(round(s.start_s, 1), round(s.end_s, 1), s.layout, s.person) for s in p.segments]


# -------------------------------------------------------------------------------- camera


def test_camera_rests_on_a_jittery_still_subject():
    times = np.arange(0, 10, 1 / FPS)
    rng = np.random.default_rng(1)
    targets = 600 + rng.normal(0, 6, len(times))  # detection noise, well inside the dead zone
    limits = CameraLimits(dead_zone=48, max_speed=240, max_accel=480)
    keys = plan_axis(times, targets, 0, 10, limits, 203, 1077)
    assert len(keys) == 1 and keys[0][1] == pytest.approx(600, abs=5)
    assert max(v for _, v in path_speeds(keys, 0, 10)) == 0


def test_camera_follows_a_moving_subject_within_its_limits():
    times = np.arange(0, 20, 1 / FPS)
    targets = np.clip(300 + 45 * (times - 3), 300, 300 + 45 * 14)
    limits = CameraLimits(dead_zone=48, max_speed=240, max_accel=480)
    keys = plan_axis(times, targets, 0, 20, limits, 203, 1077)
    grid = np.arange(0, 20, 0.04)
    xs = np.interp(grid, [k[0] for k in keys], [k[1] for k in keys])
    assert np.all(np.abs(xs - np.interp(grid, times, targets)) <= 48 + 15)
    v = np.diff(xs) / 0.04
    assert np.abs(v).max() <= 240 + 1
    # Eased: acceleration (over 0.2 s, as thinning the keys concentrates it) stays bounded.
    v5 = np.diff(xs[::5]) / 0.2
    assert np.abs(np.diff(v5) / 0.2).max() <= 480 * 1.2
    assert xs[0] == pytest.approx(300) and xs[-1] == pytest.approx(930, abs=10)
    still = grid < 3.5
    assert np.all(xs[still] == xs[0])  # nothing moves before the subject does


def test_camera_stays_inside_the_frame():
    times = np.arange(0, 5, 1 / FPS)
    keys = plan_axis(times, np.full(len(times), 50.0), 0, 5, CameraLimits(40, 200, 400), 203, 1077)
    assert keys == [(0.0, 203.0)]


# ----------------------------------------------------------------------------- speakers


def test_camera_holds_on_whoever_talks():
    p = plan(two_people(), A_TALKS + B_TALKS, 20.0)
    assert [(s.layout, s.person) for s in p.segments] == [("crop", 0), ("crop", 1), ("crop", 0)]
    # Cuts land in the pauses, just before the next speaker's first word.
    assert p.segments[1].start_s == pytest.approx(6.3, abs=0.35)
    assert p.segments[2].start_s == pytest.approx(13.8, abs=0.35)
    assert p.segments[0].path[0].cx == pytest.approx(330)
    assert p.segments[1].path[0].cx == pytest.approx(950)
    report = p.report
    assert report.speaker_in_frame == 1.0 and report.crop_speed_max_px_s == 0
    assert report.switches_per_min == pytest.approx(2 / 20 * 60)


def test_quick_alternation_is_a_split_screen():
    a = [(0.5, 6.0), (7.5, 8.7), (10.5, 11.7), (13.5, 19.5)]
    b = [(6.3, 7.3), (8.9, 10.3), (11.9, 13.3)]
    p = plan(two_people(a_talks=a, b_talks=b), a + b, 20.0)
    kinds = [s.layout for s in p.segments]
    assert kinds == ["crop", "split", "crop"], layouts(p)
    split = p.segments[1]
    assert [pane.person for pane in split.panes] == [0, 1]  # the left person on top
    assert split.panes[0].path[0].cx == pytest.approx(330)
    assert split.panes[1].path[0].cx == pytest.approx(950)
    assert all(s.end_s - s.start_s >= 2.0 for s in p.segments)
    assert p.report.speaker_in_frame >= 0.95


def test_talking_at_once_is_a_split_screen():
    both = [(0.5, 9.5)]
    p = plan(two_people(10.0, both, both), both, 10.0)
    assert [s.layout for s in p.segments] == ["split"]


def test_a_short_interjection_does_not_move_the_camera():
    a = [(0.5, 5.0), (6.0, 12.0)]
    b = [(5.1, 5.8)]  # "yeah"
    p = plan(two_people(12.0, a, b), a + b, 12.0)
    assert [(s.layout, s.person) for s in p.segments] == [("crop", 0)]


def test_mouth_moving_in_silence_is_not_speech():
    # B chews all the time, A talks: the camera stays on A.
    a = [(0.5, 4.0), (5.0, 9.5)]
    chewing = talking([(0, 10)], level=9.0)
    tracks = [track(10, lambda t: 330.0, talking(a)), track(10, lambda t: 950.0, chewing)]
    p = plan(tracks, a, 10.0)
    assert [(s.layout, s.person) for s in p.segments] == [("crop", 0)]


def test_no_motion_means_no_known_speaker_so_both_stay_in_view():
    tracks = [track(8, lambda t: 330.0), track(8, lambda t: 950.0)]
    p = plan(tracks, [(0.5, 7.5)], 8.0)
    assert [s.layout for s in p.segments] == ["split"]
    assert p.report.speaker_known_s == 0 and p.report.speaker_in_frame is None


def test_three_people_in_quick_exchange_get_the_wide_shot_but_long_turns_a_close_one():
    talks = [[(0.5, 1.5), (3.5, 4.5)], [(1.7, 2.5), (4.7, 5.5)], [(2.7, 3.3), (5.7, 6.5)]]
    tracks = [track(7, lambda t, x=x: x, talking(s)) for x, s in zip((200, 640, 1080), talks,
                                                                     strict=True)]  # fmt: skip
    p = plan(tracks, [s for t in talks for s in t], 7.0)
    assert [s.layout for s in p.segments] == ["fit"]
    long = [[(0.5, 6.0)], [(6.5, 12.0)], []]
    tracks = [track(12, lambda t, x=x: x, talking(s)) for x, s in zip((200, 640, 1080), long,
                                                                     strict=True)]  # fmt: skip
    p = plan(tracks, [s for t in long for s in t], 12.0)
    assert [(s.layout, s.person) for s in p.segments] == [("crop", 0), ("crop", 1)]


def test_nothing_crosses_a_cut_and_each_scene_decides_alone():
    a = [(0.5, 9.0)]
    tracks = [
        track(5, lambda t: 330.0, talking(a)),
        track(5, lambda t: 950.0, talking([])),
        track(10, lambda t: 700.0, talking(a), size=300, start=5.0),  # close-up after the cut
    ]
    p = plan(tracks, a, 10.0, cuts=[5.0])
    assert layouts(p) == [(0, 5.0, "crop", 0), (5.0, 10.0, "crop", 0)]
    assert [s.scene for s in p.segments] == [1, 2]
    assert p.segments[1].path[0].cx == pytest.approx(700) and p.segments[1].path[0].t == 5.0
    assert p.report.switches_per_min == 0  # a cut is not a camera switch


def test_moving_speaker_is_followed_and_report_measures_the_pan():
    a = [(0.5, 19.5)]
    tracks = [track(20, lambda t: 250 + 45 * min(max(t - 3, 0), 14), talking(a))]
    p = plan(tracks, a, 20.0)
    [seg] = p.segments
    assert seg.layout == "crop" and len(seg.path) > 2
    assert p.report.speaker_in_frame >= 0.95
    assert 30 <= p.report.crop_speed_median_px_s <= 60
    assert p.report.crop_speed_max_px_s <= 0.6 * CROP_W + 1


def test_a_lone_face_is_taken_for_the_speaker_even_with_a_still_mouth():
    p = plan([track(10, lambda t: 640.0)], [(0.5, 9.5)], 10.0)
    assert [(s.layout, s.person) for s in p.segments] == [("crop", 0)]
    assert p.report.speaker_known_s == pytest.approx(p.report.speech_s)
    assert p.report.speech_s > 8
    assert p.report.speaker_in_frame == 1.0
