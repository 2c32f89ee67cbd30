"""Reframe planning: the shots of a clip, each with its layout and a camera path.

Input: the face tracks of the clip (tasks/face_tracks.py, one cached pass for all clips of
a job), the transcript's words (who speaks when: tasks/reframe_speakers.py) and the scene
cuts. Each scene is planned on its own (a hard cut can move anyone anywhere, so nothing is
carried across a cut):

- no steady face: the whole picture over a blurred copy ("fit");
- one face, or people who fit in one 9:16 window together: a full-height window whose camera
  follows them (tasks/reframe_camera.py: dead zone, limited speed and acceleration);
- people too far apart for one window: the camera follows the speaker, a stacked split
  screen ("split", each half a face-centred window) while two alternate quickly, talk at once
  or nobody's mouth tells who talks, and "fit" only for quick exchanges among more than two.

The policy lives in `plan_from_tracks`, which needs no video, so it is tested directly. The
plan carries a report (tasks/reframe_report.py) and can be corrected by hand
(tasks/reframe_override.py).
"""

from __future__ import annotations

import statistics

import numpy as np
from prefect import task
from pydantic import BaseModel, ConfigDict, Field

from reelflow.caching import content_key
from reelflow.faces import Face
from reelflow.models import MediaInfo, ReframePlan, Word
from tasks.face_tracks import FaceTrackOptions, FaceTracks, TrackPoint, track_faces
from tasks.reframe_layout import Planner, crop_size, inherit, pane_size, scene_bounds
from tasks.reframe_report import build_report
from tasks.reframe_speakers import speech_regions

__all__ = [
    "ReframeOptions", "crop_size", "pane_size", "plan_from_detections",
    "plan_from_tracks", "plan_reframe", "reframe", "scene_bounds",
]  # fmt: skip

VERSION = "reframe-2"


class ReframeOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    min_face_score: float = Field(0.5, ge=0.05, le=1, description="Detector confidence floor.")
    min_face_height: float = Field(
        0.04,
        ge=0,
        lt=1,
        description="Faces shorter than this share of the frame height "
        "(crowds, posters) are ignored.",
    )
    min_face_presence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Someone must be in at least this share of a scene's "
        "frames, else the scene is letterboxed (fit).",
    )
    speaker_presence: float = Field(
        0.3,
        ge=0,
        le=1,
        description="A face in at least this share of a scene's frames is a "
        "person the plan must show.",
    )
    speaker_min_relative_size: float = Field(
        0.5,
        ge=0,
        description="...and only if its height is at least this share of the "
        "largest face's (smaller ones are background).",
    )
    max_face_spread: float = Field(
        0.9,
        gt=0,
        description="People whose faces fit in this share of the crop width share "
        "one window; farther apart, the camera picks by who speaks.",
    )
    max_track_jump: float = Field(
        0.15,
        gt=0,
        description="plan_from_detections only: a face moving less than this share "
        "of the frame width between two samples is the same person.",
    )
    cut_guard_s: float = Field(
        0.1,
        ge=0,
        description="Frames this close to a cut are ignored: they may belong to "
        "either shot, and detected cut times are a frame or two off.",
    )
    dead_zone: float = Field(
        0.12,
        ge=0,
        le=0.5,
        description="The camera rests while its subject stays within this "
        "share of the window's width from its centre.",
    )
    max_speed: float = Field(0.6, gt=0, description="Fastest pan, in window widths per second.")
    max_accel: float = Field(1.2, gt=0, description="Pan acceleration, window widths per s^2.")
    camera_lead_s: float = Field(
        0.3,
        ge=0,
        le=2,
        description="A moving camera aims where its subject will be this much later.",
    )
    target_smoothing_s: float = Field(
        0.6, ge=0, le=5, description="Face positions are median-filtered over this window."
    )
    min_shot_s: float = Field(2.0, ge=0, description="No shot (speaker or layout) is shorter.")
    solo_min_s: float = Field(
        3.0,
        ge=0,
        description="A speaker who talks this long gets a single-face shot; shorter "
        "alternating turns share a split screen.",
    )
    min_turn_s: float = Field(
        0.5, ge=0, description="Speaker changes shorter than this are noise (a cough, a nod)."
    )
    switch_ratio: float = Field(
        1.5,
        ge=1,
        description="Hysteresis: a new speaker's mouth must move this many times "
        "more than the current speaker's.",
    )
    min_mouth_motion: float = Field(
        0.4,
        ge=0,
        description="Mouth motion (gray levels, above the face's level in silence) "
        "below which nobody is judged to be talking.",
    )
    speech_pad_s: float = Field(
        0.1,
        ge=0,
        description="Word times are widened by this much (whisper's are a little early or late).",
    )
    speech_join_s: float = Field(0.3, ge=0, description="Pauses shorter than this are speech.")
    turn_window_s: float = Field(
        0.6,
        gt=0,
        description="Who speaks is judged on the mouth motion of this long around "
        "each moment (never across a pause).",
    )
    switch_lead_s: float = Field(
        0.2, ge=0, description="The cut to a new speaker comes this long before their first word."
    )
    pane_face_ratio: float = Field(
        3.2, gt=1, description="A split pane is this many face heights tall (head and shoulders)."
    )
    pane_face_y: float = Field(
        0.42, gt=0, lt=1, description="In a pane, the face's centre sits this far down."
    )


def plan_reframe(
    video_path: str,
    media: MediaInfo,
    clip_start_s: float,
    clip_end_s: float,
    scene_cuts: list[float],
    opts: ReframeOptions | None = None,
    words: list[Word] | None = None,
    tracks: FaceTracks | None = None,
) -> ReframePlan:
    """Plan for the clip [clip_start_s, clip_end_s] of the video (source times). Without
    `tracks` (the job's faces stage), the clip's own span is analysed."""
    opts = opts or ReframeOptions()
    if media.width <= 0 or media.height <= 0:
        raise ValueError(f"{media.path}: video size unknown, cannot plan a crop")
    duration = clip_end_s - clip_start_s
    if duration <= 0:
        raise ValueError(f"empty clip: {clip_start_s:.3f}-{clip_end_s:.3f} s")
    crop_w, _ = crop_size(media.width, media.height)
    track_opts = FaceTrackOptions(min_face_score=opts.min_face_score,
                                  min_face_height=opts.min_face_height)  # fmt: skip
    if crop_w >= media.width:
        # A source already 9:16 or narrower is shown whole: no need to look for faces.
        tracks = FaceTracks(width=media.width, height=media.height, fps=track_opts.analysis_fps,
                            spans=[], tracks=[], options=track_opts)  # fmt: skip
    elif tracks is None:
        span = [(clip_start_s, clip_end_s)]
        tracks = track_faces(
            video_path, media.width, media.height, span, track_opts, media.duration_s
        )
    clip = tracks.within(clip_start_s, clip_end_s)
    shifted = [[p.model_copy(update={"t": p.t - clip_start_s}) for p in tr.points]
               for tr in clip.tracks]  # fmt: skip
    clip_words_ = [w.model_copy(update={"start_s": w.start_s - clip_start_s,
                                        "end_s": w.end_s - clip_start_s})
                   for w in words or []]  # fmt: skip
    cuts = [c - clip_start_s for c in scene_cuts]
    return plan_from_tracks(shifted, clip_words_, cuts, duration, media.width, media.height,
                            opts, tracks.fps)  # fmt: skip


def plan_from_detections(
    samples: list[tuple[float, list[Face]]],
    cuts: list[float],
    duration_s: float,
    source_width: int,
    source_height: int,
    opts: ReframeOptions | None = None,
    words: list[Word] | None = None,
) -> ReframePlan:
    """The policy on per-frame detections (seconds from clip start, faces in source pixels),
    linked into tracks by nearest centre; no mouth motion, so no speaker is known."""
    opts = opts or ReframeOptions()
    samples = [(t, [f for f in faces if f.score >= opts.min_face_score]) for t, faces in samples]
    tracks = _link(samples, opts.max_track_jump * source_width)
    fps = 1 / statistics.median(np.diff([t for t, _ in samples])) if len(samples) > 1 else 3.0
    return plan_from_tracks(tracks, words or [], cuts, duration_s, source_width, source_height,
                            opts, fps)  # fmt: skip


def plan_from_tracks(
    tracks: list[list[TrackPoint]],
    words: list[Word],
    cuts: list[float],
    duration_s: float,
    source_width: int,
    source_height: int,
    opts: ReframeOptions | None = None,
    fps: float = 8.0,
) -> ReframePlan:
    """The reframe policy. Tracks, words and cuts are in seconds from the clip's start."""
    opts = opts or ReframeOptions()
    planner = Planner(source_width, source_height, duration_s, fps, opts)
    min_h = opts.min_face_height * source_height
    tracks = [[p for p in tr if p.h >= min_h] for tr in tracks]
    regions = speech_regions(words, duration_s, opts.speech_pad_s, opts.speech_join_s)
    scenes = scene_bounds(cuts, duration_s)
    decisions = [planner.decide(i, scenes, tracks, regions) for i in range(len(scenes))]
    if all(d is None for d in decisions):
        whole = planner.decide_span(0.0, duration_s, tracks, regions, guard=(False, False))
        decisions = [whole] * len(scenes)
    segments, turns = [], []
    for n, ((start, end), d) in enumerate(zip(scenes, inherit(decisions), strict=True), 1):
        segs, scene_turns = planner.segments(n, start, end, d)
        segments += segs
        turns += scene_turns
    plan = ReframePlan(source_width=source_width, source_height=source_height,
                       crop_width=planner.crop_w, crop_height=planner.crop_h,
                       segments=segments, turns=turns)  # fmt: skip
    return plan.model_copy(update={"report": build_report(plan, planner.box_at)})


def _link(samples, max_jump: float) -> list[list[TrackPoint]]:
    """Greedy nearest-centre linking of per-frame detections into tracks."""
    tracks: list[list[TrackPoint]] = []
    for t, faces in samples:
        pts = [TrackPoint(t=t, x=f.x, y=f.y, w=f.w, h=f.h) for f in faces]
        pairs = sorted((abs(complex(tr[-1].cx - p.cx, tr[-1].cy - p.cy)), ti, pi)
                       for ti, tr in enumerate(tracks) for pi, p in enumerate(pts))  # fmt: skip
        used_t: set[int] = set()
        used_p: set[int] = set()
        for dist, ti, pi in pairs:
            if dist <= max_jump and ti not in used_t and pi not in used_p:
                tracks[ti].append(pts[pi])
                used_t.add(ti)
                used_p.add(pi)
        tracks += [[p] for pi, p in enumerate(pts) if pi not in used_p]
    return tracks


def _reframe_run_name() -> str:
    from prefect.runtime import task_run

    return f"reframe clip {task_run.parameters.get('index', '?')}"


@task(
    name="reframe",
    task_run_name=_reframe_run_name,
    cache_key_fn=content_key("reframe", VERSION, file_param="media", ignore=("index",)),
    result_serializer="json",
)
def reframe(
    media: MediaInfo,
    index: int,
    clip_start_s: float,
    clip_end_s: float,
    scene_cuts: list[float],
    tracks: FaceTracks | None = None,
    words: list[Word] | None = None,
    opts: ReframeOptions | None = None,
) -> ReframePlan:
    """`index` only names the run in the UI. `tracks`: the job's faces stage (else the clip's
    span is analysed here); `words`: the clip's words (`Transcript.words_between`), for who
    speaks."""
    return plan_reframe(media.path, media, clip_start_s, clip_end_s, scene_cuts, opts, words,
                        tracks)  # fmt: skip
