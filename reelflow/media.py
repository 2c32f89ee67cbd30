"""ffmpeg for the media stages: decoding audio and downscaled frames from a source video.

Every call has a time limit: Prefect's task timeout cannot interrupt a blocking subprocess in
a worker thread, so the subprocess itself must be bounded (and is killed with its children,
see `reelflow.ffmpeg_tool`). Every source is opened as `file_input`: whitelisted container
formats only, so a playlist posing as a video reads nothing else.

Which binary and how it runs live in `reelflow.ffmpeg_tool`, probing in `reelflow.probe`;
their names are re-exported here, where the stages have always found them.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Full, Queue
from typing import TypeVar

import numpy as np

from reelflow.errors import ToolFailed
from reelflow.ffmpeg_tool import (
    ffmpeg_path,
    file_input,
    kill_tool,
    run_tool,
    start_tool,
    stop_tool,
    tool_env,
)
from reelflow.filehash import file_sha256
from reelflow.probe import probe

T = TypeVar("T")
__all__ = [
    "decode_audio",
    "ffmpeg_path",
    "file_input",
    "file_sha256",
    "iter_frames",
    "probe",
    "read_ahead",
    "run_tool",
    "scaled_size",
    "tool_env",
]


def decode_audio(path: str | Path, *, rate: int = 16000, timeout_s: float = 1800) -> np.ndarray:
    """Mono float32 samples at `rate`; an empty array when the file has no audio stream."""
    args = [ffmpeg_path(), "-nostdin", "-v", "error", *file_input(path), "-map", "0:a:0?"]
    args += ["-vn", "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]
    raw = run_tool(args, timeout_s=timeout_s, what="audio decode")
    return np.frombuffer(raw, dtype=np.float32).copy()


def iter_audio(
    path: str | Path, *, rate: int = 16000, chunk_s: float = 30.0, timeout_s: float = 1800
) -> Iterator[np.ndarray]:
    """Mono float32 samples at `rate` in chunks of `chunk_s`, so a 3-hour track is never held
    whole; nothing when the file has no audio stream."""
    args = [ffmpeg_path(), "-nostdin", "-v", "error", *file_input(path), "-map", "0:a:0?"]
    args += ["-vn", "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]
    for buf in _read_pipe(args, max(1, int(rate * chunk_s)) * 4, timeout_s, "audio decode"):
        yield np.frombuffer(buf[: len(buf) // 4 * 4], dtype=np.float32)


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
    deblock: bool = True,
) -> Iterator[np.ndarray]:
    """Decode downscaled frames (BGR or gray) from ffmpeg's raw pipe, one array per frame.

    fast_decode: the decoder drops frames no other frame refers to (the fps filter then picks
    from the frames that are left) and skips the deblocking filter: half the decoding work
    for H.264. Only for small analysis frames: at 320 px the missing deblocking is invisible
    (face boxes and mouth motion came out the same within 0.3 gray levels), at full size not.
    deblock=False skips only the deblocking filter (every frame is decoded): 15% of the work.
    """
    filters = [f"fps={fps:.6f}"] if fps else []
    filters.append(f"scale={width}:{height}:flags=area")
    args = [ffmpeg_path(), "-nostdin", "-v", "error"]
    if fast_decode:
        args += ["-skip_frame", "noref"]
    if fast_decode or not deblock:
        args += ["-skip_loop_filter", "all"]
    if start_s > 0:
        args += ["-ss", f"{start_s:.3f}"]
    args += file_input(path)
    if duration_s is not None:
        args += ["-t", f"{duration_s:.3f}"]
    pix = "gray" if gray else "bgr24"
    args += ["-map", "0:v:0", "-an", "-vf", ",".join(filters), "-pix_fmt", pix, "-f", "rawvideo"]
    args.append("-")
    yield from _read_frames(args, (height, width) if gray else (height, width, 3), timeout_s)


def read_ahead(items: Iterator[T], size: int) -> Iterator[T]:
    """`items`, pulled by a thread of its own up to `size` ahead of the reader: a decode then
    runs on while the reader works on what came before (a face detection, a whisper window),
    instead of the two taking turns. Errors reach the reader in order; a reader that stops
    early stops the thread, which closes `items` (and with it an ffmpeg pipe)."""
    queue: Queue = Queue(maxsize=max(1, size))
    stop = threading.Event()
    done = object()

    def pull() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the reader, raised there
            queue.put(_Raised(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
            queue.put(done)

    thread = threading.Thread(target=pull, name="read-ahead", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a put, then let the thread close its source
            with contextlib.suppress(Empty):
                queue.get(timeout=0.1)
        thread.join()


@dataclass(frozen=True)
class _Raised:
    exc: BaseException


def _read_frames(args: list[str], shape: tuple[int, ...], timeout_s: float) -> Iterator[np.ndarray]:
    frame_bytes = int(np.prod(shape))
    for buf in _read_pipe(args, frame_bytes, timeout_s, "frame decode"):
        if len(buf) < frame_bytes:  # a frame cut short is no frame
            break
        yield np.frombuffer(buf, dtype=np.uint8).reshape(shape)


def _read_pipe(args: list[str], chunk_bytes: int, timeout_s: float, what: str) -> Iterator[bytes]:
    """ffmpeg's output in chunks of chunk_bytes (only the last may be shorter). The process is
    killed after timeout_s, and when the reader stops early; a failure raises ToolFailed."""
    # stderr goes to a file: a pipe nobody reads fills up on a damaged file and stalls ffmpeg.
    with tempfile.TemporaryFile() as log:
        proc = start_tool(args, stdout=subprocess.PIPE, stderr=log.fileno())
        _grow_pipe(proc.stdout, 8 * chunk_bytes)
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            kill_tool(proc)  # ends the read below; the pipe is closed by this thread only

        timer = threading.Timer(timeout_s, expire)
        timer.daemon = True
        timer.start()
        try:
            while buf := proc.stdout.read(chunk_bytes):
                yield buf
            code = proc.wait()
        finally:
            timer.cancel()
            stop_tool(proc)  # also when the consumer stopped early
        if timed_out.is_set():
            raise ToolFailed(f"{what} took longer than {timeout_s:.0f} s and was stopped")
        if code != 0:
            log.seek(0)
            tail = log.read().decode(errors="replace").strip().splitlines()[-3:]
            raise ToolFailed(f"{what} failed: {' | '.join(tail) or f'exit code {code}'}")


def _grow_pipe(pipe, size: int) -> None:
    """Let ffmpeg decode a few frames ahead while the reader works on one: the default 64 KiB
    pipe holds less than one frame, so decoding and analysis would take turns."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, min(size, 1 << 20))
    except (ImportError, AttributeError, OSError):
        pass  # not Linux, or above the system's limit: only slower


def scaled_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """Even-sized (w, h) with w <= target_width, keeping the aspect ratio."""
    w = min(target_width, width) // 2 * 2
    h = max(2, round(height * w / max(width, 1) / 2) * 2)
    return w, h
