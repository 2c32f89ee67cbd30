"""Stage 7, render: exactly one ffmpeg encode per clip, straight from the source video.

One command seeks to the clip, applies the reframe plan (per shot: a 9:16 crop whose position
follows the plan's keys, two stacked face windows, or a blurred background "fit" layout),
scales to 1080x1920, fades the audio in and out over a few ms (so a cut never clicks, even in
a pause that is not digital silence), brings it to the target loudness with one gain measured
beforehand in a quick audio-only pass (tasks/render_loudness.py), encodes H.264 + AAC with
`+faststart`, and writes the thumbnail from the same decoded frames. Later stages (captions, a
hook title, effects) join this graph as extra filters, never as a second encode.

Only numbers computed here ever reach the filter graph: no user or model text.
"""

from __future__ import annotations

import itertools
import time
import uuid
from pathlib import Path

from prefect import task
from pydantic import BaseModel, ConfigDict, Field

from reelflow.caching import content_key
from reelflow.media import ffmpeg_path, file_input, run_tool
from reelflow.models import ClipFile, CropKey, CropSegment, MediaInfo, ReframePlan
from reelflow.settings import get_settings
from tasks.render_loudness import gain_filters, measure_loudness, output_audio

VERSION = "render-4"  # 2: audio fades at both ends; 3: cut clips end with their content;
# 4: loudness by a measured static gain (and a limiter), not loudnorm
OUT_W, OUT_H = 1080, 1920


class RenderOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    preset: str = Field("veryfast", description="libx264 preset: speed against file size.")
    crf: int = Field(21, ge=0, le=51, description="libx264 quality; lower is better and bigger.")
    audio_bitrate_k: int = Field(128, ge=32, le=512, description="AAC bitrate in kb/s.")
    loudness_lufs: float = Field(-14.0, le=-5, ge=-40, description="Target integrated loudness.")
    ceiling_dbfs: float = Field(
        -1.5, le=0, ge=-12, description="Peaks a gain would push past this are limited (dBFS)."
    )
    max_gain_db: float = Field(
        24.0, ge=0, le=40, description="Most a quiet clip is raised (dB): no hiss pumped up."
    )
    max_fps: float = Field(60.0, gt=0, description="Sources above this are resampled down.")
    thumbnail_at_s: float = Field(1.0, ge=0, description="Thumbnail time from the clip start.")
    fade_s: float = Field(
        0.005, ge=0, le=0.1, description="Audio fade in and out at the clip's ends; 0: none."
    )

    @classmethod
    def from_settings(cls) -> RenderOptions:
        s = get_settings()
        return cls(preset=s.x264_preset, crf=s.x264_crf)


def render_clip(
    media: MediaInfo,
    start_s: float,
    end_s: float,
    plan: ReframePlan,
    out_path: Path,
    thumb_path: Path,
    opts: RenderOptions | None = None,
    extra_video_filters: list[str] | None = None,
    extra_audio_filters: list[str] | None = None,
    output_s: float | None = None,
) -> ClipFile:
    """Render one clip and its thumbnail; write through temporary names so a crash leaves none.

    Extra filters (tasks/look.py: effects, the ASS overlay, silence cuts) join the chains after
    the layout and before loudness normalisation. `output_s` is the clip's length once silence
    cuts shortened it (default: the source span)."""
    opts = opts or RenderOptions()
    duration = end_s - start_s
    length = output_s or duration
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Unique names: two jobs may render the same cached clip at once.
    tmp_out = out_path.with_name(f".{out_path.stem}.{uuid.uuid4().hex}.tmp.mp4")
    tmp_thumb = thumb_path.with_name(f".{thumb_path.stem}.{uuid.uuid4().hex}.tmp.jpg")
    level = _level(media, start_s, duration, extra_audio_filters or [], opts)
    graph = filter_graph(
        media, plan, opts, length, extra_video_filters or [], extra_audio_filters or [], level
    )
    # The input is held to the clip's span: filters never see what comes after it (silence cuts
    # once let the source run on past the clip's end to fill the uncut length). No output -t:
    # it cut the sound short of the picture; the graph itself ends both at the clip's length.
    args = [ffmpeg_path(), "-nostdin", "-v", "error", "-y", "-ss", f"{start_s:.3f}"]
    # Whitelisted formats only: the source came from outside.
    args += ["-t", f"{duration:.3f}", *file_input(media.path)]
    if not media.has_audio:
        args += ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"]
    args += ["-filter_complex", graph]
    args += ["-map", "[vout]", "-map", "[aout]", *encode_args(opts), str(tmp_out)]
    args += ["-map", "[vthumb]", "-frames:v", "1", "-q:v", "3", "-update", "1", str(tmp_thumb)]
    began = time.perf_counter()
    try:
        run_tool(args, timeout_s=max(120.0, duration * 20), what=f"render of clip {out_path.name}")
        tmp_out.replace(out_path)
        tmp_thumb.replace(thumb_path)
    finally:
        tmp_out.unlink(missing_ok=True)
        tmp_thumb.unlink(missing_ok=True)
    return ClipFile(
        index=0,
        path=str(out_path),
        thumbnail=str(thumb_path),
        duration_s=round(length, 3),
        width=OUT_W,
        height=OUT_H,
        render_seconds=round(time.perf_counter() - began, 3),
    )


def _level(
    media: MediaInfo, start_s: float, duration: float, audio_extra: list[str], opts: RenderOptions
) -> str:
    """The gain (and limiter) filters that bring the clip's audio to the target loudness."""
    if not media.has_audio:
        return ""
    measured = measure_loudness(media, start_s, duration, audio_extra,
                                timeout_s=max(60.0, duration * 4))  # fmt: skip
    return gain_filters(measured, opts.loudness_lufs, opts.ceiling_dbfs, opts.max_gain_db)


def encode_args(opts: RenderOptions) -> list[str]:
    """Output settings shared by clips and the benchmark's bare reference encode."""
    return [
        "-c:v", "libx264", "-preset", opts.preset, "-crf", str(opts.crf),
        "-pix_fmt", "yuv420p", "-profile:v", "high",
        "-c:a", "aac", "-b:a", f"{opts.audio_bitrate_k}k", "-ar", "48000",
        "-movflags", "+faststart",
    ]  # fmt: skip


def filter_graph(
    media: MediaInfo,
    plan: ReframePlan,
    opts: RenderOptions,
    duration: float,
    extra: list[str],
    audio_extra: list[str] | None = None,
    level: str = "",
) -> str:
    """Each segment is trimmed out and laid out on its own, then the pieces are concatenated,
    so every frame goes through exactly one layout chain. `duration` is the output's length
    (where the thumbnail is taken from); `level` the loudness filters (`_level`)."""
    segments = plan.segments
    fps = f",fps={opts.max_fps:g}" if media.fps > opts.max_fps else ""
    parts: list[str] = []
    if len(segments) == 1:
        parts.append(f"[0:v]{_layout_chain(segments[0], plan, 'vin', whole=True)}")
    else:
        labels = "".join(f"[s{i}]" for i in range(len(segments)))
        parts.append(f"[0:v]split={len(segments)}{labels}")
        for i, seg in enumerate(segments):
            parts.append(f"[s{i}]{_layout_chain(seg, plan, f'p{i}', whole=False)}")
        pieces = "".join(f"[p{i}]" for i in range(len(segments)))
        parts.append(f"{pieces}concat=n={len(segments)}:v=1:a=0[vin]")
    post = ",".join(["setsar=1", *extra]) + fps
    parts.append(f"[vin]{post},split=2[vout][vt]")
    # The thumbnail branch ends after its frame (duration=): a branch left open after its
    # one-frame output closes makes ffmpeg queue every later frame, which made renders 4x slower.
    parts.append(
        f"[vt]trim=start={min(opts.thumbnail_at_s, duration / 2):.3f}:duration=0.1,"
        f"scale={OUT_W // 2}:{OUT_H // 2}[vthumb]"
    )
    audio_in = "[0:a:0]" if media.has_audio else "[1:a]"
    chain = output_audio(audio_in, audio_extra or [], _fades(opts.fade_s, duration))
    chain += f",{level}" if level else ""
    # Padded to the clip's length, so sound and picture end together whatever a filter (a
    # silence cut's last piece, the source's own audio ending early) leaves short.
    parts.append(f"{chain},apad=whole_dur={duration:.3f}[aout]")
    return ";".join(parts)


def _fades(fade_s: float, duration: float) -> str:
    """Fade in from the clip's first sample and out to its last, on the output's timeline
    (after any silence cuts, which fade their own pieces)."""
    if fade_s <= 0 or duration <= 2 * fade_s:
        return ""
    return (
        f"afade=t=in:st=0:d={fade_s:.4f}:curve=tri,"
        f"afade=t=out:st={duration - fade_s:.4f}:d={fade_s:.4f}:curve=tri,"
    )


def _layout_chain(seg: CropSegment, plan: ReframePlan, label: str, *, whole: bool) -> str:
    # The last segment is left open-ended so rounding never drops the clip's final frames.
    trim = "" if whole else _trim(seg, last=seg is plan.segments[-1])
    if seg.layout == "fit" or (seg.layout == "split" and len(seg.panes) != 2):
        return f"{trim}{_fit_chain(label)}"
    clock = "t" if whole else f"(t+{seg.start_s:.3f})"
    if seg.layout == "split":
        return f"{trim}{_split_chain(seg, plan, label, clock)}"
    return (
        f"{trim}{_window(seg.path, plan.crop_width, plan.crop_height, plan, clock)},"
        f"scale={OUT_W}:{OUT_H}:flags=lanczos,setsar=1[{label}]"
    )


def _window(path: list[CropKey], w: int, h: int, plan: ReframePlan, clock: str) -> str:
    """A w x h crop whose centre follows the path (linear between keys)."""
    x_expr = _escape(_path_expr(path, w, plan.source_width, "x", clock))
    y_expr = _escape(_path_expr(path, h, plan.source_height, "y", clock))
    return f"crop=w={w}:h={h}:x='{x_expr}':y='{y_expr}'"


def _split_chain(seg: CropSegment, plan: ReframePlan, label: str, clock: str) -> str:
    """Two windows stacked: the first pane on top, each scaled to half the picture."""
    half = OUT_H // 2
    top, bottom = seg.panes
    return (
        f"split=2[{label}ta][{label}ba];"
        f"[{label}ta]{_window(top.path, top.width, top.height, plan, clock)},"
        f"scale={OUT_W}:{half}:flags=lanczos,setsar=1[{label}t];"
        f"[{label}ba]{_window(bottom.path, bottom.width, bottom.height, plan, clock)},"
        f"scale={OUT_W}:{half}:flags=lanczos,setsar=1[{label}b];"
        f"[{label}t][{label}b]vstack=inputs=2[{label}]"
    )


def _trim(seg: CropSegment, *, last: bool) -> str:
    end = "" if last else f":end={seg.end_s:.3f}"
    # concat wants every piece to start at 0; the crop expression adds the offset back.
    return f"trim=start={seg.start_s:.3f}{end},setpts=PTS-STARTPTS,"


def _fit_chain(label: str) -> str:
    # The background is blurred at quarter size: blurring 1080x1920 costs more than the encode.
    return (
        f"split=2[{label}bgsrc][{label}fgsrc];"
        f"[{label}bgsrc]scale={OUT_W // 4}:{OUT_H // 4}:force_original_aspect_ratio=increase,"
        f"crop={OUT_W // 4}:{OUT_H // 4},boxblur=12:2,eq=brightness=-0.08,"
        f"scale={OUT_W}:{OUT_H},setsar=1[{label}bg];"
        f"[{label}fgsrc]scale={OUT_W}:{OUT_H}:force_original_aspect_ratio=decrease:flags=lanczos,"
        f"setsar=1[{label}fg];"
        f"[{label}bg][{label}fg]overlay=(W-w)/2:(H-h)/2[{label}]"
    )


def _escape(expr: str) -> str:
    return expr.replace(",", r"\,")


def _path_expr(path: list[CropKey], size: int, limit: int, axis: str, clock: str = "t") -> str:
    """Window offset as an expression of clip time (`clock`): constant for one key, linear
    between keys, held before the first and after the last."""
    if not path:
        return str(_offset(limit / 2, size, limit))
    keys = sorted(path, key=lambda k: k.t)
    offsets = [(k.t, _offset(k.cx if axis == "x" else k.cy, size, limit)) for k in keys]
    expr = str(offsets[-1][1])
    for (t0, v0), (t1, v1) in reversed(list(itertools.pairwise(offsets))):
        slope = (v1 - v0) / max(t1 - t0, 1e-3)
        expr = f"if(lt({clock},{t1:.3f}),{v0}+({slope:.4f})*({clock}-{t0:.3f}),{expr})"
    if len(offsets) == 1:
        return expr
    return f"if(lt({clock},{offsets[0][0]:.3f}),{offsets[0][1]},{expr})"


def _offset(centre: float, size: int, limit: int) -> int:
    """Top-left offset of a window centred on `centre`, clamped inside the frame."""
    return int(min(max(round(centre - size / 2), 0), max(limit - size, 0)))


@task(
    name="render",
    task_run_name="render clip {index}",
    cache_key_fn=content_key("render", VERSION, file_param="media", ignore=("index",)),
    result_serializer="json",
)
def render(
    media: MediaInfo,
    index: int,
    start_s: float,
    end_s: float,
    plan: ReframePlan,
    out_path: str,
    thumb_path: str,
    opts: RenderOptions,
    extra_video_filters: list[str] | None = None,
    extra_audio_filters: list[str] | None = None,
    output_s: float | None = None,
) -> ClipFile:
    """`index` only names the run; the flow numbers the clips."""
    return render_clip(media, start_s, end_s, plan, Path(out_path), Path(thumb_path), opts,
                       extra_video_filters, extra_audio_filters, output_s)  # fmt: skip
