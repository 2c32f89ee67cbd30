"""Reframe planning: the policy on synthetic detections, then once on a real video."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
from skimage import data

from reelflow.faces import Face
from reelflow.media import probe
from reelflow.models import ReframePlan
from tasks.reframe import ReframeOptions, crop_size, plan_from_detections, plan_reframe

W, H = 1920, 1080
CROP_W = 608  # round(1080 * 9 / 16) made even


def face_at(cx: float, cy: float = 400, size: float = 150, score: float = 0.9) -> Face:
    return Face(cx - size / 2, cy - size / 2, size, size, score)


def samples(
    duration: float, faces: Callable[[float], list[Face]], fps: float = 3.0
) -> list[tuple[float, list[Face]]]:
    return [(i / fps, faces(i / fps)) for i in range(int(duration * fps))]


def plan(smp, cuts, duration, width=W, height=H, **opts) -> ReframePlan:
    return plan_from_detections(smp, cuts, duration, width, height, ReframeOptions(**opts))


def assert_covers(p: ReframePlan, duration: float) -> None:
    assert p.segments[0].start_s == 0
    assert p.segments[-1].end_s == pytest.approx(duration)
    for a, b in zip(p.segments, p.segments[1:], strict=False):
        assert a.end_s == b.start_s and a.start_s < a.end_s


def test_crop_size():
    assert crop_size(1920, 1080) == (CROP_W, 1080)
    assert crop_size(1280, 720) == (406, 720)
    assert crop_size(1080, 1920) == (1080, 1920)
    assert crop_size(600, 1920) == (600, 1920)


def test_one_face_centres_the_window():
    p = plan(samples(10, lambda t: [face_at(800 + 10 * t)]), [], 10)
    assert (p.crop_width, p.crop_height) == (CROP_W, H)
    [seg] = p.segments
    assert seg.layout == "crop" and seg.faces == 1 and seg.person == 0
    # The camera starts on the face and follows its slow drift (100 px) once it leaves the
    # dead zone, never running ahead of the face by more than that zone.
    first, last = seg.path[0], seg.path[-1]
    assert first.t == 0 and first.cx == pytest.approx(805, abs=10) and first.cy == H / 2
    assert last.cx == pytest.approx(895, abs=15)
    assert all(abs(k.cx - (800 + 10 * k.t)) <= 0.12 * CROP_W + 10 for k in seg.path)


def test_face_near_the_edge_is_clamped_inside_the_frame():
    left = plan(samples(6, lambda t: [face_at(120)]), [], 6)
    right = plan(samples(6, lambda t: [face_at(1850)]), [], 6)
    assert left.segments[0].path[0].cx == CROP_W / 2
    assert right.segments[0].path[0].cx == W - CROP_W / 2


def test_no_faces_fits():
    p = plan(samples(8, lambda t: []), [], 8)
    [seg] = p.segments
    assert seg.layout == "fit" and seg.path == [] and seg.faces == 0


def test_face_in_too_few_samples_fits():
    p = plan(samples(9, lambda t: [face_at(900)] if t < 3 else []), [], 9)
    assert p.segments[0].layout == "fit"


def test_two_far_apart_people_with_no_speech_share_a_split_screen():
    p = plan(samples(8, lambda t: [face_at(300), face_at(1600)]), [], 8)
    [seg] = p.segments
    assert seg.layout == "split" and seg.faces == 2
    top, bottom = seg.panes
    assert top.path[0].cx == pytest.approx(300) and bottom.path[0].cx == pytest.approx(1600)
    assert top.width * 8 == pytest.approx(top.height * 9, abs=16)


def test_three_far_apart_people_fit():
    p = plan(samples(8, lambda t: [face_at(300), face_at(960), face_at(1600)]), [], 8)
    [seg] = p.segments
    assert seg.layout == "fit" and seg.faces == 3


def test_two_close_faces_both_stay_in_the_window():
    # Main face (larger) at 900, a second person at 1150: both fit in 608 px.
    p = plan(samples(8, lambda t: [face_at(900, size=200), face_at(1150, size=140)]), [], 8)
    seg = p.segments[0]
    assert seg.layout == "crop" and seg.faces == 2
    cx = seg.path[0].cx
    assert cx - CROP_W / 2 <= 900 - 100 and cx + CROP_W / 2 >= 1150 + 70


def test_tiny_background_faces_and_low_scores_are_ignored():
    def faces(t: float) -> list[Face]:
        return [face_at(1000), face_at(200, size=20), face_at(1800, score=0.3)]

    seg = plan(samples(6, faces), [], 6).segments[0]
    assert seg.layout == "crop" and seg.faces == 1
    assert seg.path[0].cx == pytest.approx(1000)


def test_main_face_is_the_persistent_one():
    # A passer-by crosses for a moment; the speaker is there all the time.
    def faces(t: float) -> list[Face]:
        return [face_at(700)] + ([face_at(1500, size=220)] if 2 <= t < 3 else [])

    seg = plan(samples(10, faces), [], 10).segments[0]
    assert seg.layout == "crop" and seg.path[0].cx == pytest.approx(700)


def test_cuts_split_segments_exactly():
    def faces(t: float) -> list[Face]:
        return [face_at(500)] if t < 4 else [] if t < 7 else [face_at(1400)]

    p = plan(samples(12, faces), [-3.0, 4.0, 7.0, 12.0, 15.0], 12)
    assert [(s.start_s, s.end_s) for s in p.segments] == [(0, 4), (4, 7), (7, 12)]
    assert [s.layout for s in p.segments] == ["crop", "fit", "crop"]
    assert p.segments[0].path[0].cx == pytest.approx(500)
    assert p.segments[2].path[0].cx == pytest.approx(1400)
    assert p.segments[2].path[0].t == 7
    assert_covers(p, 12)


def test_samples_at_a_cut_are_not_counted_for_either_side():
    # The frame sampled exactly at the cut still shows the old shot.
    def faces(t: float) -> list[Face]:
        return [face_at(500)] if t <= 3 else [face_at(1400)]

    p = plan(samples(6, faces), [3.0], 6)
    assert [s.path[0].cx for s in p.segments] == [pytest.approx(500), pytest.approx(1400)]


def test_short_scene_inherits_its_neighbour():
    def faces(t: float) -> list[Face]:
        return [face_at(600)] if t < 5 else [face_at(1500)]

    p = plan(samples(10, faces), [5.0, 5.2, 0.1], 10)
    assert [(s.start_s, s.end_s) for s in p.segments] == [(0, 0.1), (0.1, 5), (5, 5.2), (5.2, 10)]
    cxs = [s.path[0].cx for s in p.segments]
    # The opening flash borrows from the next scene, the mid flash from the previous one.
    assert cxs == [pytest.approx(600), pytest.approx(600), pytest.approx(600), pytest.approx(1500)]
    assert_covers(p, 10)


def test_coverage_with_odd_durations_and_many_cuts():
    duration = 37.45
    cuts = [1.1, 1.105, 9.87, 20.0, 20.0, 36.0, 37.449]
    p = plan(samples(duration, lambda t: [face_at(300 + 40 * t)]), cuts, duration)
    assert_covers(p, duration)
    assert [s.start_s for s in p.segments[1:]] == [1.1, 9.87, 20.0, 36.0]


def test_vertical_source_keeps_the_whole_frame():
    p = plan(samples(6, lambda t: [face_at(200, cy=900)]), [2.0], 6, width=1080, height=1920)
    assert (p.crop_width, p.crop_height) == (1080, 1920)
    assert [s.layout for s in p.segments] == ["crop", "crop"]
    for s in p.segments:
        assert (s.path[0].cx, s.path[0].cy) == (540, 960)
    empty = plan([], [], 6, width=720, height=1280)
    assert empty.segments[0].layout == "crop" and empty.segments[0].path[0].cx == 360


def _write_video(path, size=(1280, 720), fps=10, seconds=6, cut_s=3.0) -> None:
    # The astronaut photo on the left, then (hard cut) on the right.
    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    width, height = size
    left = np.full((height, width, 3), 60, np.uint8)
    left[100:612, 40:552] = photo
    right = np.full((height, width, 3), 60, np.uint8)
    right[100:612, 728:1240] = photo
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for i in range(int(seconds * fps)):
        writer.write(left if i < cut_s * fps else right)
    writer.release()


def test_plan_follows_the_face_in_a_real_video(tmp_path):
    video = tmp_path / "two_shots.mp4"
    _write_video(video)
    media = probe(video)
    p = plan_reframe(str(video), media, 0.0, media.duration_s, [3.0, 10.0])
    assert (p.source_width, p.source_height, p.crop_width, p.crop_height) == (1280, 720, 406, 720)
    assert [(s.start_s, s.layout, s.faces) for s in p.segments] == [
        (0, "crop", 1),
        (3.0, "crop", 1),
    ]
    assert_covers(p, media.duration_s)
    # The face centre is at x 40+226 in the first shot, 728+226 in the second.
    assert p.segments[0].path[0].cx == pytest.approx(266, abs=20)
    assert p.segments[1].path[0].cx == pytest.approx(954, abs=20)


def test_plan_of_a_clip_inside_a_video(tmp_path):
    # Only the clip's range is decoded: a clip wholly in the second shot sees only it.
    video = tmp_path / "two_shots.mp4"
    _write_video(video)
    media = probe(video)
    p = plan_reframe(str(video), media, 3.5, 5.5, [3.0])
    [seg] = p.segments
    assert (seg.start_s, seg.end_s, seg.layout) == (0, pytest.approx(2.0), "crop")
    assert seg.path[0].cx == pytest.approx(954, abs=20)
