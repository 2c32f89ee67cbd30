"""Effects in the render's filter graph, built from a plan's numbers alone.

Rendering splits the reframed picture into pieces at segment, cut and scene boundaries (the
same trim-and-concat the reframe uses), each piece zoomed with a fixed crop+scale and graded
with `eq`; frames inside a cut are in no piece. Cuts snap to the frame grid and the audio is
cut at the same times (short fades, no clicks), so sound stays in sync. Captions use
`TimeMap` to move to the cut timeline.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from reelflow.models import ReframePlan
from tasks.effects.types import EffectsPlan, Grade

OUT_W, OUT_H = 1080, 1920
# The reframe keeps the face's horizontal centre; heads in talking-head framing sit at about
# 40% of the height (the plan's full-height crop does not carry the face's height).
FACE_Y = 0.4
FADE_S = 0.012  # audio fade at each cut edge


@dataclass(frozen=True)
class TimeMap:
    """Clip time (before cuts) to output time (after them), from the kept spans."""

    spans: tuple[tuple[float, float], ...]

    @property
    def duration_s(self) -> float:
        return sum(b - a for a, b in self.spans)

    def to_output(self, t: float) -> float:
        return sum(min(max(t - a, 0.0), b - a) for a, b in self.spans)


@dataclass(frozen=True)
class Piece:
    start_s: float
    end_s: float
    zoom: float
    grade: Grade
    centre: tuple[float, float]


def kept_spans(plan: EffectsPlan, fps: float) -> TimeMap:
    """The clip minus its cuts, edges on the frame grid so video and audio cut alike."""
    edges, t = [], 0.0
    for cut in plan.cuts:
        a, b = _snap(cut.start_s, fps), _snap(cut.end_s, fps)
        if b > a and a > t:
            edges.append((t, a))
            t = b
    edges.append((t, plan.duration_s))
    return TimeMap(tuple((a, b) for a, b in edges if b - a > 1e-6))


def effect_filters(
    plan: EffectsPlan, reframe: ReframePlan, fps: float
) -> tuple[list[str], list[str], TimeMap]:
    """(video filters for the reframed 1080x1920 picture, audio filters before loudness
    normalisation, the time map). Filters are built from the plan's numbers alone."""
    spans = kept_spans(plan, fps)
    pieces = _pieces(plan, reframe, spans, fps)
    video: list[str] = []
    if len(pieces) == 1 and pieces[0].zoom == 1.0 and len(spans.spans) == 1:
        if not pieces[0].grade.identity:
            video.append(pieces[0].grade.eq_filter())
    elif pieces:
        video.append(_video_pieces(pieces, plan.duration_s))
    audio = [_audio_spans(spans, plan.duration_s)] if len(spans.spans) > 1 else []
    return video, audio, spans


def _pieces(plan: EffectsPlan, reframe: ReframePlan, spans: TimeMap, fps: float) -> list[Piece]:
    zoomed = [s for s in plan.segments if s.zoom > 1.0]
    edges = {a for span in spans.spans for a in span}
    edges |= {_snap(t, fps) for s in plan.segments for t in (s.start_s, s.end_s)}
    edges |= {_snap(c.start_s, fps) for c in reframe.segments
              if any(s.start_s < c.start_s < s.end_s for s in zoomed)}  # fmt: skip
    pieces: list[Piece] = []
    for a, b in spans.spans:
        inner = sorted({a, b, *(e for e in edges if a < e < b)})
        for lo, hi in itertools.pairwise(inner):
            mid = (lo + hi) / 2
            seg = next((s for s in plan.segments if s.start_s <= mid < s.end_s), None)
            zoom, grade = (seg.zoom, seg.grade) if seg else (1.0, plan.base)
            if _layout_at(reframe, mid) == "split":
                zoom = 1.0  # a punch-in on two stacked faces would zoom into the seam
            centre = _face_centre(reframe, mid) if zoom > 1.0 else (OUT_W / 2, OUT_H / 2)
            last = pieces[-1] if pieces else None
            if (
                last
                and last.end_s == lo
                and (last.zoom, last.grade, last.centre) == (zoom, grade, centre)
            ):
                pieces[-1] = Piece(last.start_s, hi, zoom, grade, centre)
            else:
                pieces.append(Piece(lo, hi, zoom, grade, centre))
    return pieces


def _layout_at(reframe: ReframePlan, t: float) -> str:
    seg = next((s for s in reframe.segments if s.start_s <= t < s.end_s), reframe.segments[-1])
    return seg.layout


def _face_centre(reframe: ReframePlan, t: float) -> tuple[float, float]:
    """Where the face is in the 1080x1920 picture at clip time t: the crop window is centred
    on it, unless the window was pushed against the frame's edge."""
    seg = next((s for s in reframe.segments if s.start_s <= t < s.end_s), reframe.segments[-1])
    if seg.layout != "crop" or not seg.path:
        return OUT_W / 2, OUT_H / 2
    key = min(seg.path, key=lambda k: abs(k.t - t))
    w, limit = reframe.crop_width, reframe.source_width
    left = min(max(round(key.cx - w / 2), 0), max(limit - w, 0))
    return round((key.cx - left) * OUT_W / w), round(OUT_H * FACE_Y)


def _video_pieces(pieces: list[Piece], duration_s: float) -> str:
    n = len(pieces)
    parts = [f"split={n}" + "".join(f"[fx{i}]" for i in range(n))]
    for i, p in enumerate(pieces):
        chain = [_trim("trim", p.start_s, p.end_s, duration_s), "setpts=PTS-STARTPTS"]
        if p.zoom > 1.0:
            chain.append(_zoom(p))
        if not p.grade.identity:
            chain.append(p.grade.eq_filter())
        parts.append(f"[fx{i}]{','.join(chain)}[fxp{i}]")
    parts.append("".join(f"[fxp{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0")
    return ";".join(parts)


def _zoom(p: Piece) -> str:
    w = int(OUT_W / p.zoom) // 2 * 2
    h = int(OUT_H / p.zoom) // 2 * 2
    x = int(min(max(p.centre[0] - w / 2, 0), OUT_W - w))
    y = int(min(max(p.centre[1] - h / 2, 0), OUT_H - h))
    return f"crop={w}:{h}:{x}:{y},scale={OUT_W}:{OUT_H}:flags=bicubic,setsar=1"


def _audio_spans(spans: TimeMap, duration_s: float) -> str:
    n = len(spans.spans)
    parts = [f"asplit={n}" + "".join(f"[ax{i}]" for i in range(n))]
    for i, (a, b) in enumerate(spans.spans):
        fade_out = max(b - a - FADE_S, 0.0)
        parts.append(
            f"[ax{i}]{_trim('atrim', a, b, duration_s)},asetpts=PTS-STARTPTS,"
            f"afade=t=in:d={FADE_S}:curve=tri,afade=t=out:st={fade_out:.4f}:d={FADE_S}[axp{i}]"
        )
    # aresample=async=1 lays the pieces on their timestamps: without it, this ffmpeg's
    # loudnorm after an input seek (-ss) cut the joined audio short.
    parts.append("".join(f"[axp{i}]" for i in range(n)) + f"concat=n={n}:v=0:a=1,aresample=async=1")
    return ";".join(parts)


def _trim(name: str, start: float, end: float, duration_s: float) -> str:
    # The clip's last piece stays open-ended so rounding never drops its final frames.
    tail = "" if end >= duration_s - 1e-6 else f":end={end:.4f}"
    return f"{name}=start={start:.4f}{tail}"


def _snap(t: float, fps: float) -> float:
    return round(round(t * fps) / fps, 6) if fps > 0 else t
