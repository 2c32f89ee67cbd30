"""Reframe planning: where the 9:16 window sits in each scene of a clip, or whether to letterbox.

The plan is computed from faces found on a few downscaled frames per second of the clip only,
then decided scene by scene (a hard cut can move the speaker anywhere, so nothing is carried
across a cut). Each scene gets one still window centred on its main face: a steady crop looks
better than a jittery follower and the path format lets later work add moving keys. Scenes
where no single face dominates, or whose people do not fit in one window, are letterboxed
("fit") instead of cutting someone out.

The policy lives in `plan_from_detections`, which needs no video, so it is tested directly.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from typing import Literal

from prefect import task
from pydantic import BaseModel, ConfigDict, Field

from reelflow.caching import content_key
from reelflow.faces import Face, get_face_detector
from reelflow.media import iter_frames, scaled_size
from reelflow.models import CropKey, CropSegment, MediaInfo, ReframePlan
from reelflow.settings import get_settings

VERSION = "reframe-1"

# Cuts closer than this to each other or to a clip edge would make empty-looking segments.
_MIN_SEGMENT_S = 0.01


class ReframeOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    sample_fps: float = Field(
        3.0, gt=0, le=30, description="Frames analysed per second of clip; 3 keeps 60 s < 10 s."
    )
    analysis_width: int = Field(
        640, ge=64, le=1920, description="Analysis frames are this wide (aspect kept)."
    )
    min_face_score: float = Field(
        0.5, ge=0.05, le=1, description="Detector confidence below which a face is ignored."
    )
    min_face_height: float = Field(
        0.04,
        ge=0,
        lt=1,
        description="Faces shorter than this share of the frame height (crowds, posters) are "
        "ignored.",
    )
    min_face_presence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="The main face must be in at least this share of a scene's samples, "
        "else the scene is letterboxed.",
    )
    speaker_presence: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Another face in at least this share of a scene's samples is a person "
        "who must stay in the window too.",
    )
    speaker_min_relative_size: float = Field(
        0.5,
        ge=0,
        description="...and only if its height is at least this share of the main face's "
        "(smaller ones are background).",
    )
    max_face_spread: float = Field(
        0.9,
        gt=0,
        description="Those people's boxes must fit in this share of the crop width, else "
        "the scene is letterboxed rather than cutting someone out.",
    )
    max_track_jump: float = Field(
        0.15,
        gt=0,
        description="A face moving less than this share of the frame width between two "
        "samples is taken to be the same person.",
    )
    cut_guard_s: float = Field(
        0.1,
        ge=0,
        description="Samples this close to a cut are ignored: the frame there may belong to "
        "either shot, and detected cut times are a frame or two off.",
    )


@dataclass
class _Track:
    """One person's face across a scene's samples (at most one box per sample)."""

    faces: list[Face] = field(default_factory=list)

    @property
    def last(self) -> Face:
        return self.faces[-1]

    def median(self, attr: str) -> float:
        return statistics.median(getattr(f, attr) for f in self.faces)


@dataclass(frozen=True)
class _Decision:
    layout: Literal["crop", "fit"]
    cx: float = 0.0
    cy: float = 0.0
    faces: int = 0


def plan_reframe(
    video_path: str,
    media: MediaInfo,
    clip_start_s: float,
    clip_end_s: float,
    scene_cuts: list[float],
    opts: ReframeOptions | None = None,
) -> ReframePlan:
    """Crop plan for the clip [clip_start_s, clip_end_s] of the video (source times)."""
    opts = opts or ReframeOptions()
    if media.width <= 0 or media.height <= 0:
        raise ValueError(f"{media.path}: video size unknown, cannot plan a crop")
    duration = clip_end_s - clip_start_s
    if duration <= 0:
        raise ValueError(f"empty clip: {clip_start_s:.3f}-{clip_end_s:.3f} s")
    crop_w, _ = crop_size(media.width, media.height)
    # A source already 9:16 or narrower is shown whole: no need to look for faces.
    if crop_w >= media.width:
        samples = []
    else:
        samples = sample_faces(video_path, media.width, media.height, clip_start_s, duration, opts)
    cuts = [c - clip_start_s for c in scene_cuts]
    return plan_from_detections(samples, cuts, duration, media.width, media.height, opts)


def sample_faces(
    video_path: str,
    width: int,
    height: int,
    start_s: float,
    duration_s: float,
    opts: ReframeOptions,
) -> list[tuple[float, list[Face]]]:
    """(time from start_s, faces in source pixels) for each analysed frame of the range."""
    aw, ah = scaled_size(width, height, opts.analysis_width)
    sx, sy = width / aw, height / ah
    detector = get_face_detector()
    frames = iter_frames(
        video_path,
        width=aw,
        height=ah,
        fps=opts.sample_fps,
        start_s=start_s,
        duration_s=duration_s,
        timeout_s=get_settings().subprocess_timeout_s,
    )
    samples = []
    # ffmpeg's fps filter emits frame i for time i/fps after the seek point.
    for i, frame in enumerate(frames):
        faces = detector.detect(frame, threshold=opts.min_face_score)
        samples.append((i / opts.sample_fps, [f.scaled(sx, sy) for f in faces]))
    return samples


def crop_size(width: int, height: int) -> tuple[int, int]:
    """Full-height 9:16 window, even width, never wider than the source."""
    # Half-up rather than round()'s half-to-even, so 720p gives 406 like 405 suggests.
    crop_w = int(height * 9 / 16 / 2 + 0.5) * 2
    return min(crop_w, width), height


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


def plan_from_detections(
    samples: list[tuple[float, list[Face]]],
    cuts: list[float],
    duration_s: float,
    source_width: int,
    source_height: int,
    opts: ReframeOptions | None = None,
) -> ReframePlan:
    """The reframe policy on detections already made.

    samples: (seconds from clip start, faces in source pixels), in time order.
    cuts: scene cuts in seconds from clip start (ones outside the clip are ignored).
    """
    opts = opts or ReframeOptions()
    crop_w, crop_h = crop_size(source_width, source_height)
    min_h = opts.min_face_height * source_height
    samples = [
        (t, [f for f in faces if f.score >= opts.min_face_score and f.h >= min_h])
        for t, faces in samples
    ]
    scenes = scene_bounds(cuts, duration_s)
    interval = 1 / opts.sample_fps

    def decide(group: list[list[Face]]) -> _Decision:
        return _decide_scene(group, source_width, source_height, crop_w, crop_h, opts)

    decisions: list[_Decision | None] = []
    for i, (start, end) in enumerate(scenes):
        # Guard only real cuts; the clip's own edges are not shot changes.
        lo = start + opts.cut_guard_s if i > 0 else float("-inf")
        hi = end - opts.cut_guard_s if i < len(scenes) - 1 else float("inf")
        group = [faces for t, faces in samples if lo <= t < hi]
        # Too short to judge (one sample or none): borrowed from a neighbour below.
        decisions.append(decide(group) if end - start >= interval and group else None)

    if all(d is None for d in decisions):
        whole = decide([faces for _, faces in samples])
        decisions = [whole] * len(scenes)
    filled = _inherit(decisions)

    segments = []
    for (start, end), d in zip(scenes, filled, strict=True):
        path = [CropKey(t=start, cx=d.cx, cy=d.cy)] if d.layout == "crop" else []
        segments.append(
            CropSegment(start_s=start, end_s=end, layout=d.layout, path=path, faces=d.faces)
        )
    return ReframePlan(
        source_width=source_width,
        source_height=source_height,
        crop_width=crop_w,
        crop_height=crop_h,
        segments=segments,
    )


def _inherit(decisions: list[_Decision | None]) -> list[_Decision]:
    """Fill undecided scenes from the previous decided one (what the viewer just saw), or
    the next one for a clip that opens with a short scene."""
    out = list(decisions)
    for i, d in enumerate(out):
        if d is None and i > 0:
            out[i] = out[i - 1]
    first = next(d for d in out if d is not None)
    return [d if d is not None else first for d in out]


def _decide_scene(
    group: list[list[Face]],
    width: int,
    height: int,
    crop_w: int,
    crop_h: int,
    opts: ReframeOptions,
) -> _Decision:
    """One scene's layout from the faces of its samples (one list per sample)."""
    n = len(group)
    faces = round(statistics.median(len(fs) for fs in group)) if group else 0
    centre_x, centre_y = width / 2, height / 2
    if crop_w >= width:
        return _Decision("crop", centre_x, _clamp(centre_y, crop_h, height), faces)
    tracks = _link_tracks(group, opts.max_track_jump * width)
    if not tracks:
        return _Decision("fit", faces=faces)
    # Main face: persistent and large; a face twice as tall counts like one seen twice as often.
    main = max(tracks, key=lambda tr: len(tr.faces) * tr.median("h"))
    if len(main.faces) < opts.min_face_presence * n:
        return _Decision("fit", faces=faces)
    people = [main] + [
        tr
        for tr in tracks
        if tr is not main
        and len(tr.faces) >= opts.speaker_presence * n
        and tr.median("h") >= opts.speaker_min_relative_size * main.median("h")
    ]
    left = min(tr.median("cx") - tr.median("w") / 2 for tr in people)
    right = max(tr.median("cx") + tr.median("w") / 2 for tr in people)
    if right - left > opts.max_face_spread * crop_w:
        return _Decision("fit", faces=faces)
    # Centre on the main face, then slide just enough to keep the other people in view.
    cx = main.median("cx")
    if left < cx - crop_w / 2:
        cx = left + crop_w / 2
    if right > cx + crop_w / 2:
        cx = right - crop_w / 2
    cx = _clamp(cx, crop_w, width)
    cy = _clamp(main.median("cy"), crop_h, height)
    return _Decision("crop", cx, cy, faces)


def _clamp(centre: float, size: int, limit: int) -> float:
    """Window centre moved so the window [centre - size/2, centre + size/2] is in [0, limit]."""
    return min(max(centre, size / 2), limit - size / 2)


def _link_tracks(group: list[list[Face]], max_jump: float) -> list[_Track]:
    """Greedy nearest-centre linking of faces from sample to sample."""
    tracks: list[_Track] = []
    for faces in group:
        pairs = sorted(
            (_distance(tr.last, f), ti, fi)
            for ti, tr in enumerate(tracks)
            for fi, f in enumerate(faces)
        )
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        for dist, ti, fi in pairs:
            if dist > max_jump or ti in used_tracks or fi in used_faces:
                continue
            tracks[ti].faces.append(faces[fi])
            used_tracks.add(ti)
            used_faces.add(fi)
        tracks.extend(_Track([f]) for fi, f in enumerate(faces) if fi not in used_faces)
    return tracks


def _distance(a: Face, b: Face) -> float:
    return ((a.cx - b.cx) ** 2 + (a.cy - b.cy) ** 2) ** 0.5


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
    opts: ReframeOptions | None = None,
) -> ReframePlan:
    """`index` only names the run in the UI."""
    return plan_reframe(media.path, media, clip_start_s, clip_end_s, scene_cuts, opts)
