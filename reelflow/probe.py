"""What a media file holds, read with PyAV (no ffprobe), or one sentence on why reelflow will
not open it.

Uploads and downloads are hostile until proven otherwise. Some formats are not media but
pointers to more input: an HLS playlist or a concat list names other files (another job's
clip, say) that the demuxer then reads, an image2 pattern reads a whole folder, an SDP file
opens network sockets. So a file is first sniffed for those (to say clearly what it is),
then opened with the same demuxer and protocol whitelists as every ffmpeg input
(`reelflow.ffmpeg_tool`), then held to the server's limits on streams, size and frame rate,
and checked for a header that promises more than the data holds.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

import av
from av.stream import Disposition

from reelflow.errors import NotAVideo, SourceUnavailable
from reelflow.ffmpeg_tool import FORMAT_WHITELIST, INPUT_FORMATS
from reelflow.filehash import file_sha256
from reelflow.models import MediaInfo
from reelflow.settings import Settings, get_settings

_SNIFF_BYTES = 4096
_READ_TIMEOUT_S = 30.0  # any one blocking open or read; local files never need that long
_MAX_PACKETS_FOR_A_FRAME = 300  # decoders with a delay still give a frame well within this
_ACCEPTED = "MP4/MOV, MKV/WebM, AVI, MPEG-TS, MPEG-PS, FLV, WMV, Ogg or MXF"
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\0", b"MM\0*", b"\0\0\1\0")
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ico"}


@dataclass(frozen=True)
class _Streams:
    video: av.video.stream.VideoStream
    audio: av.audio.stream.AudioStream | None
    width: int
    height: int
    fps: float
    duration_s: float


def probe(
    path: str | Path, *, source: str = "", title: str | None = None, checksum: bool = True
) -> MediaInfo:
    """Describe a media file, or explain in one sentence why it is not a usable video.
    `checksum=False` leaves `sha256` empty: a quick look that reads no more than probing does."""
    p = Path(path)
    if not p.exists():
        raise SourceUnavailable(f"File not found: {p.name}")
    if not p.is_file():
        raise SourceUnavailable(f"Not a regular file: {p.name}")
    size = p.stat().st_size
    if size == 0:
        raise NotAVideo(f"The file {p.name} is empty (0 bytes)")
    _refuse_indirect(p)
    settings = get_settings()
    with _open(p) as container:
        _check_stream_count(len(container.streams), settings)
        streams = _streams(p, container)
        _check_limits(streams, settings)
        width, height = streams.width, streams.height
        if _rotation(container, streams.video) in (90, 270):
            # ffmpeg auto-rotates on decode, so every later stage sees the turned picture.
            width, height = height, width
        _check_complete(p, container, streams.duration_s)
    return MediaInfo(
        path=str(p.resolve()),
        sha256=file_sha256(p) if checksum else "",
        size_bytes=size,
        duration_s=streams.duration_s,
        has_video=True,
        has_audio=streams.audio is not None,
        width=width,
        height=height,
        fps=streams.fps,
        video_codec=_codec_name(streams.video),
        audio_codec=_codec_name(streams.audio),
        title=title,
        source=source or str(path),
    )


def _refuse_indirect(p: Path) -> None:
    """Name what a file that points elsewhere is, before any demuxer sees it."""
    with p.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    kind = _indirect_kind(head.lstrip(b"\xef\xbb\xbf \t\r\n"), p.suffix.lower())
    if kind:
        raise NotAVideo(f"{p.name} is {kind}, not a video")


def _indirect_kind(head: bytes, suffix: str) -> str | None:
    lowered = head[:_SNIFF_BYTES].lower()
    if head.startswith(b"#EXTM3U") or b"#EXT-X-" in head or suffix in {".m3u8", ".m3u"}:
        return "a playlist"
    if head.startswith(b"ffconcat") or suffix in {".ffconcat", ".concat"}:
        return "a concat list"
    if b"<mpd" in lowered or suffix == ".mpd":
        return "a DASH manifest"
    if lowered.startswith(b"<?xml") or lowered.startswith(b"<"):
        return "an XML or HTML document"
    if head.startswith(b"v=0") or suffix == ".sdp":
        return "a stream description (SDP)"
    is_webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if head.startswith(_IMAGE_MAGIC) or is_webp or suffix in _IMAGE_SUFFIXES:
        return "an image"
    return None


def _open(p: Path) -> av.container.InputContainer:
    options = {"format_whitelist": FORMAT_WHITELIST, "protocol_whitelist": "file"}
    try:
        container = av.open(str(p.absolute()), options=options, timeout=_READ_TIMEOUT_S)
    except av.FFmpegError as exc:
        if exc.errno == errno.EINVAL:  # a format outside the whitelist
            raise NotAVideo(
                f"{p.name} is not a video format reelflow accepts (it takes {_ACCEPTED})"
            ) from exc
        raise NotAVideo(f"{p.name} is not a readable video file ({exc.strerror})") from exc
    if not set(container.format.name.split(",")) & set(INPUT_FORMATS):
        container.close()  # cannot happen with the whitelist; kept so it never silently can
        raise NotAVideo(f"{p.name} is not a video format reelflow accepts (it takes {_ACCEPTED})")
    return container


def _check_stream_count(count: int, settings: Settings) -> None:
    if count > settings.max_source_streams:
        raise NotAVideo(
            f"The file has {count} streams; the limit is {settings.max_source_streams} "
            "(MAX_SOURCE_STREAMS)"
        )


def _streams(p: Path, container: av.container.InputContainer) -> _Streams:
    # Cover art in an MP3/M4A shows up as a one-frame "video" stream.
    videos = [s for s in container.streams.video if not s.disposition & Disposition.attached_pic]
    audio = next(iter(container.streams.audio), None)
    if not videos:
        kind = "an audio-only file" if audio else "not a video"
        raise NotAVideo(f"{p.name} has no video stream: it is {kind}")
    video = videos[0]
    context = video.codec_context
    if context is None or not context.width or not context.height:
        raise NotAVideo(f"{p.name} has a video stream reelflow cannot decode")
    duration = _duration(container, video)
    if duration <= 0:
        raise NotAVideo(f"{p.name} has no playable duration (truncated or damaged file?)")
    return _Streams(video, audio, context.width, context.height, _fps(video), duration)


def _check_limits(streams: _Streams, settings: Settings) -> None:
    side = settings.max_source_side
    if max(streams.width, streams.height) > side:
        raise NotAVideo(
            f"The video is {streams.width}x{streams.height}; the limit is {side} pixels on its "
            "long side (MAX_SOURCE_SIDE)"
        )
    if streams.fps > settings.max_source_fps:
        raise NotAVideo(
            f"The video runs at {_number(streams.fps)} fps; the limit is "
            f"{_number(settings.max_source_fps)} fps (MAX_SOURCE_FPS)"
        )


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _duration(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> float:
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    return 0.0


def _fps(video: av.video.stream.VideoStream) -> float:
    for rate in (video.average_rate, video.guessed_rate, video.base_rate):
        if rate and rate > 0:
            return float(rate)
    return 0.0


def _codec_name(stream: av.stream.Stream | None) -> str | None:
    context = stream.codec_context if stream is not None else None
    return context.name if context is not None else None


def _rotation(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> int:
    """The display rotation, read from the first key frame (where FFmpeg puts the stream's
    display matrix); 0 when none decodes. Only the one frame is decoded, after the limits."""
    video.codec_context.skip_frame = "NONKEY"
    video.codec_context.thread_count = 1
    try:
        for count, packet in enumerate(container.demux(video)):
            for frame in packet.decode():
                return abs(round(frame.rotation)) % 360
            if count >= _MAX_PACKETS_FOR_A_FRAME:
                break
    except av.FFmpegError:
        pass
    return 0


def _check_complete(p: Path, container: av.container.InputContainer, duration: float) -> None:
    """A file cut short keeps its header's full duration; its last seconds hold no packets."""
    window = min(10.0, duration / 2)
    needed = duration - max(2.0, window)
    start = (container.start_time or 0) / av.time_base
    reached = 0.0
    try:
        container.seek(int((start + duration - window) * av.time_base))
        for packet in container.demux():
            if packet.pts is None or packet.time_base is None:
                continue
            reached = max(reached, float(packet.pts * packet.time_base) - start)
            if reached >= needed:
                return
    except av.FFmpegError:
        pass  # a read error near the end is what a damaged file looks like
    raise NotAVideo(
        f"{p.name} is truncated or damaged: its header says {duration:.1f} s but the data "
        "stops well before that"
    )
