"""Speaker-aware reframing end to end, judged on the rendered clips, never on the plan.

Footage (tests/reframe_footage.py) is generated once: two real faces taking turns with
synthetic speech and mouth motion, then a close-up; and a face panning across the frame.
Each output frame is matched back into its source frame to see which window (and whose face)
the viewer got.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

import tests.helpers.reframe_footage as footage_lib
from reelflow.media import probe
from tasks.face_tracks import FaceTrackOptions, merge_spans, track_faces
from tasks.reframe import plan_reframe
from tasks.render import RenderOptions, render_clip
from tasks.transcribe import transcribe_media

FAST = RenderOptions(preset="ultrafast")


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reframe-footage")
    return {
        "two": footage_lib.make_two_people(folder / "two_people.mp4"),
        "pan": footage_lib.make_pan(folder / "pan.mp4"),
    }


def _render(f, tmp_path, words=()):
    media = probe(f.path)
    tracks = track_faces(str(f.path), media.width, media.height, [(0, media.duration_s)],
                         duration_s=media.duration_s)  # fmt: skip
    plan = plan_reframe(str(f.path), media, 0.0, media.duration_s, f.cuts, words=list(words),
                        tracks=tracks)  # fmt: skip
    out = tmp_path / "clip.mp4"
    render_clip(media, 0.0, media.duration_s, plan, out, tmp_path / "clip.jpg", FAST)
    return media, plan, out


@pytest.mark.slow
def test_two_people_the_speaker_is_on_screen(footage, tmp_path):
    f = footage["two"]
    words = transcribe_media(probe(f.path)).words
    media, plan, out = _render(f, tmp_path, words)
    rows = footage_lib.output_faces(f, out, 0.0, media.duration_s)
    share, letterboxed = footage_lib.speaker_in_frame(f, rows, 0.0)
    assert share >= 0.95
    assert letterboxed == 0  # every face is shown larger than in the source: never "fit"
    # The close-up after the cut is cropped on its face, shown large.
    close = [found for t, found in rows if t > f.cuts[0] + 0.5]
    assert close and all(len(fs) == 1 and fs[0][0] == 1 and fs[0][1] > 2 for fs in close)
    # Quick exchanges show both people at once (the split screen), long turns one.
    counts = [len(found) for t, found in rows if 11.5 <= t <= 17.5]
    assert np.mean([c == 2 for c in counts]) >= 0.9
    assert all(len(found) == 1 for t, found in rows if 1.0 <= t <= 5.0)
    assert plan.report.speaker_in_frame >= 0.95 and plan.report.layout_s.get("fit", 0) == 0


@pytest.mark.slow
def test_moving_face_stays_in_the_window_and_a_still_one_is_not_jittered(footage, tmp_path):
    f = footage["pan"]
    media, _, out = _render(f, tmp_path)
    offsets = footage_lib.crop_offsets(f, out, 0.0, media.duration_s)
    assert min(score for _, _, score in offsets) > 0.9  # one full-height window throughout
    assert footage_lib.face_inside_share(f, offsets, 0.0) >= 0.95
    still = [(t, x, s) for t, x, s in offsets if t < 2.8 or t > 20.5]
    before = [x for t, x, _ in still if t < 2.8]
    after = [x for t, x, _ in still if t > 20.5]
    assert len(set(before)) == 1 and len(set(after)) == 1  # 0 px/s while the face rests
    speeds = footage_lib.crop_speeds(offsets)
    assert max(speeds) <= 0.6 * 406 + 20  # the camera's speed limit (2 px crop steps)
    # The two still stretches in the one encode: their windows 720 px apart, the face's path.
    assert after[0] - before[0] == pytest.approx(720, abs=12)


def _astronaut_video(path, fps=10, seconds=6):
    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    frame = np.full((720, 1280, 3), 60, np.uint8)
    frame[100:612, 700:1212] = photo
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1280, 720))
    for _ in range(fps * seconds):
        writer.write(frame)
    writer.release()


def test_one_pass_serves_every_clip(tmp_path):
    video = tmp_path / "still.mp4"
    _astronaut_video(video)
    media = probe(video)
    spans = [(0.5, 2.0), (4.0, 5.5)]
    tracks = track_faces(str(video), media.width, media.height, spans,
                         FaceTrackOptions(merge_gap_s=1.0), media.duration_s)  # fmt: skip
    assert tracks.spans == spans  # two ranges: the gap is longer than merge_gap_s
    assert len(tracks.tracks) == 2  # one per range: a track never spans a gap
    for start, end in spans:
        part = tracks.within(start, end)
        [tr] = part.tracks
        assert all(start <= p.t <= end for p in tr.points)
        assert tr.points[0].cx == pytest.approx(700 + 226, abs=20)
        assert max(p.motion for p in tr.points) < 1.0  # a photo does not talk
        plan = plan_reframe(str(video), media, start, end, [], tracks=tracks)
        assert plan.segments[0].layout == "crop"
        assert plan.segments[0].path[0].cx == pytest.approx(926, abs=20)


def test_merge_spans():
    spans = [(5, 8), (0, 2), (7, 9), (3, 4)]
    assert merge_spans(spans, 0.9) == [(0, 2), (3, 4), (5, 9)]
    assert merge_spans(spans, 1.0) == [(0, 9)]
    assert merge_spans([(0, 2), (3, 4)], 0.5, duration_s=3.5) == [(0, 2), (3, 3.5)]
    assert merge_spans([(2, 2), (-1, 1)], 0) == [(0, 1)]


def test_no_video_size_is_refused():
    with pytest.raises(ValueError, match="video size unknown"):
        track_faces("x.mp4", 0, 0, [(0, 1)])
