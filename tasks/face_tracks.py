"""Face tracks: who is where over time in the clips of a job, and how much each mouth moves.

One pass over the video per job, not per clip: the clips' spans are merged (overlapping or
close ones become one range) and each range is decoded once, small (320 px wide by default)
and at a few frames per second, the decoder cutting corners no small frame shows and running
ahead of the analysis in a thread of its own. CenterFace
(reelflow/faces.py) runs once a second and at once after a cut; detections are linked
into tracks by centre distance relative to the face's size (an IoU-like test that does not
fail for small, fast faces), and boxes are interpolated in between. On every analysed frame
each track gets a mouth-motion figure: the mean frame difference in the lower face minus
that in the eye band, so a nodding or moving head scores low and a talking mouth high.

Every clip's reframe plan reads the same cached result (tasks/reframe.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from prefect import task
from pydantic import BaseModel, ConfigDict, Field

from reelflow.caching import content_key
from reelflow.faces import Face, get_face_detector
from reelflow.media import iter_frames, read_ahead, scaled_size
from reelflow.models import MediaInfo
from reelflow.settings import get_settings

VERSION = "faces-1"
READ_AHEAD_FRAMES = 48  # decoded ahead of the analysis: 8 MB at 320x180


class FaceTrackOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    analysis_fps: float = Field(
        8.0,
        gt=0,
        le=30,
        description="Frames analysed per second (mouth motion is measured "
        "between consecutive ones: 8 resolves syllables).",
    )
    detect_every: int = Field(
        8,
        ge=1,
        le=60,
        description="Faces are detected on every Nth analysed frame (once a second by "
        "default) and interpolated between: detection is the costly part.",
    )
    cut_change: float = Field(
        10.0,
        gt=0,
        description="A frame that differs from the one before by more than this (mean gray "
        "levels) is a cut: faces are detected on it at once, not up to a second later.",
    )
    analysis_width: int = Field(
        320,
        ge=64,
        le=1920,
        description="Analysis frames are this wide (aspect kept). CenterFace finds faces "
        "from about 20 px tall: at 320, faces under 11% of a 16:9 frame's height are missed "
        "(crowds; a two-shot's faces are 14% and more). Wider costs more: 384 finds 9%.",
    )
    min_face_score: float = Field(0.5, ge=0.05, le=1, description="Detector confidence floor.")
    min_face_height: float = Field(
        0.04,
        ge=0,
        lt=1,
        description="Faces shorter than this share of the frame height "
        "(crowds, posters) are ignored.",
    )
    max_jump: float = Field(
        1.5,
        gt=0,
        description="A detection whose centre is within this many face widths of "
        "a track's last box (and of similar size) continues that track.",
    )
    max_gap_s: float = Field(
        2.0, ge=0, description="A track survives missed detections for this long."
    )
    merge_gap_s: float = Field(
        5.0,
        ge=0,
        description="Clip spans closer than this are decoded as one range: "
        "decoding the gap costs less than a fresh seek.",
    )


class TrackPoint(BaseModel):
    """A face's box on one analysed frame (source pixels, top-left x/y), and mouth motion."""

    model_config = ConfigDict(frozen=True)

    t: float = Field(description="Seconds in the source video.")
    x: float
    y: float
    w: float
    h: float
    motion: float = Field(0.0, description="Lower-face minus eye-band frame difference, 0-255.")
    detected: bool = Field(True, description="False where the box is interpolated or held.")

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


class FaceTrack(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    points: list[TrackPoint]


class FaceTracks(BaseModel):
    """The faces of the analysed ranges of one video, with the options that made them."""

    model_config = ConfigDict(frozen=True)

    width: int
    height: int
    fps: float = Field(description="Analysed frames per second.")
    spans: list[tuple[float, float]] = Field(description="Source ranges analysed.")
    tracks: list[FaceTrack]
    options: FaceTrackOptions = Field(default_factory=FaceTrackOptions)

    def within(self, start_s: float, end_s: float) -> FaceTracks:
        """The part inside [start_s, end_s]: what one clip's plan needs."""
        tracks = []
        for tr in self.tracks:
            pts = [p for p in tr.points if start_s <= p.t <= end_s]
            if pts:
                tracks.append(FaceTrack(id=tr.id, points=pts))
        spans = [
            (max(a, start_s), min(b, end_s)) for a, b in self.spans if a < end_s and b > start_s
        ]
        return self.model_copy(update={"tracks": tracks, "spans": spans})


def merge_spans(
    spans: list[tuple[float, float]], gap_s: float, duration_s: float | None = None
) -> list[tuple[float, float]]:
    """Sorted, clamped, with overlapping or nearly touching spans joined."""
    out: list[list[float]] = []
    limit = duration_s if duration_s is not None else float("inf")
    for a, b in sorted((max(0.0, a), min(b, limit)) for a, b in spans):
        if b <= a:
            continue
        if out and a - out[-1][1] <= gap_s:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def track_faces(
    video_path: str,
    width: int,
    height: int,
    spans: list[tuple[float, float]],
    opts: FaceTrackOptions | None = None,
    duration_s: float | None = None,
) -> FaceTracks:
    """Face tracks over the given source spans (seconds), one decode per merged range."""
    opts = opts or FaceTrackOptions()
    if width <= 0 or height <= 0:
        raise ValueError("video size unknown, cannot look for faces")
    ranges = merge_spans(spans, opts.merge_gap_s, duration_s)
    aw, ah = scaled_size(width, height, opts.analysis_width)
    tracker = _Tracker(opts, width / aw, height / ah, height)
    detector = get_face_detector()
    timeout = get_settings().subprocess_timeout_s
    for start, end in ranges:
        frames = iter_frames(video_path, width=aw, height=ah, fps=opts.analysis_fps,
                             start_s=start, duration_s=end - start, timeout_s=timeout,
                             fast_decode=True)  # fmt: skip
        # Decoding goes on while a frame is searched for faces: about half the wall time.
        frames = read_ahead(frames, READ_AHEAD_FRAMES)
        since, prev = opts.detect_every, None
        # ffmpeg's fps filter emits frame i for time i/fps after the seek point.
        for i, frame in enumerate(frames):
            t = start + i / opts.analysis_fps
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            cut = prev is not None and cv2.absdiff(prev, gray).mean() > opts.cut_change
            if since >= opts.detect_every or cut:
                tracker.detections(t, gray, detector.detect(frame, threshold=opts.min_face_score))
                since = 0
            else:
                tracker.frame(t, gray)
            since += 1
            prev = gray
        tracker.end_range()
    return FaceTracks(width=width, height=height, fps=opts.analysis_fps, spans=ranges,
                      tracks=tracker.finished(), options=opts)  # fmt: skip


def mouth_motion(
    prev: np.ndarray, cur: np.ndarray, box: tuple[float, float, float, float]
) -> float:
    """Mean absolute change in the lower face minus that in the eye band (gray frames, box
    x, y, w, h in their pixels). Head motion moves both bands and cancels; speech moves the
    mouth only."""
    x, y, w, h = box
    mouth = _band(prev, cur, x + 0.25 * w, x + 0.75 * w, y + 0.62 * h, y + 0.95 * h)
    eyes = _band(prev, cur, x + 0.15 * w, x + 0.85 * w, y + 0.2 * h, y + 0.5 * h)
    if mouth is None or eyes is None:
        return 0.0
    return max(0.0, mouth - eyes)


def _band(prev, cur, x0, x1, y0, y1) -> float | None:
    rows, cols = cur.shape[:2]
    x0, x1 = max(0, round(x0)), min(cols, round(x1))
    y0, y1 = max(0, round(y0)), min(rows, round(y1))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return float(cv2.absdiff(prev[y0:y1, x0:x1], cur[y0:y1, x0:x1]).mean())


@dataclass
class _Open:
    """A track being built: its points so far and its last detection."""

    id: int
    last_t: float
    last: Face
    points: list[TrackPoint] = field(default_factory=list)
    detections: int = 1


class _Tracker:
    """Links detections into tracks as frames stream by. Frames between two detection frames
    wait in a small buffer until the next detection tells where each face went."""

    def __init__(self, opts: FaceTrackOptions, sx: float, sy: float, height: int):
        self.opts, self.sx, self.sy = opts, sx, sy
        self.min_h = opts.min_face_height * height
        self.open: list[_Open] = []
        self.done: list[_Open] = []
        self.pending: list[tuple[float, np.ndarray]] = []  # frames since the last detection
        self.prev: np.ndarray | None = None  # the frame before pending[0]
        self.next_id = 1

    def frame(self, t: float, gray: np.ndarray) -> None:
        self.pending.append((t, gray))

    def detections(self, t: float, gray: np.ndarray, faces: list[Face]) -> None:
        faces = [f.scaled(self.sx, self.sy) for f in faces]
        faces = [f for f in faces if f.h >= self.min_h]
        matches = self._match(t, faces)
        self.pending.append((t, gray))
        frames, self.pending = self.pending, []
        for tr in self.open:
            new = matches.get(tr.id)
            self._fill(tr, frames, new, t)
            if new is not None:
                tr.last_t, tr.last = t, new
                tr.detections += 1
        matched = {id(f) for f in matches.values()}
        for f in faces:
            if id(f) not in matched:
                tr = _Open(self.next_id, t, f)
                self.next_id += 1
                prev = frames[-2][1] if len(frames) > 1 else self.prev
                tr.points.append(self._point(t, f, prev, gray, True))
                self.open.append(tr)
        self.prev = gray
        self._close_stale(t)

    def end_range(self) -> None:
        for tr in self.open:
            self._fill(tr, self.pending, None, None)
        self.done.extend(self.open)
        self.open, self.pending, self.prev = [], [], None

    def finished(self) -> list[FaceTrack]:
        tracks = []
        for tr in sorted(self.done, key=lambda tr: tr.id):
            # Held boxes after the last detection claim a face that may have gone.
            pts = [p for p in tr.points if p.t <= tr.last_t + 1e-6]
            if tr.detections >= 2 and pts:
                tracks.append(FaceTrack(id=tr.id, points=pts))
        return tracks

    def _match(self, t: float, faces: list[Face]) -> dict[int, Face]:
        pairs = []
        for tr in self.open:
            for f in faces:
                size = max(tr.last.w, f.w)
                ratio = f.h / max(tr.last.h, 1e-6)
                dist = ((tr.last.cx - f.cx) ** 2 + (tr.last.cy - f.cy) ** 2) ** 0.5 / size
                if dist <= self.opts.max_jump and 0.6 <= ratio <= 1.6:
                    pairs.append((dist, tr.id, id(f), f))
        out: dict[int, Face] = {}
        used: set[int] = set()
        for _, tid, fid, f in sorted(pairs, key=lambda p: p[0]):
            if tid not in out and fid not in used:
                out[tid] = f
                used.add(fid)
        return out

    def _fill(self, tr: _Open, frames, new: Face | None, t_new: float | None) -> None:
        """Points for the buffered frames: boxes interpolated towards the new detection, or
        held at the last one."""
        prev = self.prev
        for t, gray in frames:
            if new is not None and t_new is not None and t_new > tr.last_t:
                k = (t - tr.last_t) / (t_new - tr.last_t)
                box = _lerp(tr.last, new, min(max(k, 0.0), 1.0))
            else:
                box = tr.last
            detected = new is not None and t == t_new
            tr.points.append(self._point(t, box, prev, gray, detected))
            prev = gray

    def _point(self, t, box: Face, prev, gray, detected: bool) -> TrackPoint:
        motion = 0.0
        if prev is not None:
            analysis_box = (box.x / self.sx, box.y / self.sy, box.w / self.sx, box.h / self.sy)
            motion = mouth_motion(prev, gray, analysis_box)
        return TrackPoint(t=round(t, 4), x=round(box.x, 1), y=round(box.y, 1),
                          w=round(box.w, 1), h=round(box.h, 1), motion=round(motion, 3),
                          detected=detected)  # fmt: skip

    def _close_stale(self, t: float) -> None:
        stale = [tr for tr in self.open if t - tr.last_t > self.opts.max_gap_s]
        self.open = [tr for tr in self.open if t - tr.last_t <= self.opts.max_gap_s]
        self.done.extend(stale)


def _lerp(a: Face, b: Face, k: float) -> Face:
    return Face(a.x + (b.x - a.x) * k, a.y + (b.y - a.y) * k, a.w + (b.w - a.w) * k,
                a.h + (b.h - a.h) * k, b.score)  # fmt: skip


def _faces_run_name() -> str:
    from prefect.runtime import task_run

    spans = task_run.parameters.get("spans") or []
    return f"faces in {len(spans)} clip span(s)"


@task(
    name="faces",
    task_run_name=_faces_run_name,
    cache_key_fn=content_key("faces", VERSION, file_param="media"),
    result_serializer="json",
)
def face_tracks(
    media: MediaInfo, spans: list[tuple[float, float]], opts: FaceTrackOptions | None = None
) -> FaceTracks:
    """Face tracks over all clips of a job in one pass; every clip's plan reads this result."""
    return track_faces(media.path, media.width, media.height, spans, opts, media.duration_s)
