"""The ffmpeg reelflow runs, and how it runs it.

Which binary: FFMPEG_BINARY when set, else the one inside the imageio-ffmpeg wheel (a static
ffmpeg 9 build with libx264, libass and every filter used here). Never whatever `ffmpeg` the
PATH holds: under `uv run` or an activated venv that can be a Python console script, which
exits 0 when ffmpeg fails and, killed on a timeout, leaves the real ffmpeg running. A script
is refused even when named explicitly, for the same reasons.

How it runs: in a process group of its own, killed as a group when its time is up (so no
grandchild outlives it), with an environment that names no proxy bypass. A file that came from
outside is opened through `file_input`: only container formats a video upload can be (no HLS
playlists, concat lists, image sequences or other formats that open further files) and only
the file protocol.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from reelflow.errors import ToolFailed
from reelflow.proxy_env import without_proxy_bypass
from reelflow.settings import get_settings

# Demuxers a video upload can need, by their ffmpeg names: mov is mp4/m4a/3gp/mj2, matroska is
# also webm, mpeg is MPEG-PS (.mpg, .vob), asf is .wmv. The audio-only ones are here so that an
# audio file is told apart from a non-video ("it is an audio-only file"). Every one of them
# reads the one file it is given and nothing else.
INPUT_FORMATS = (
    "mov", "matroska", "webm", "avi", "mpegts", "flv", "asf", "mpeg", "ogg", "mxf",
    "mp3", "wav", "aac", "flac",
)  # fmt: skip
FORMAT_WHITELIST = ",".join(INPUT_FORMATS)

_SCRIPT_MAGIC = b"#!"


def ffmpeg_path() -> str:
    """The ffmpeg binary to run; ToolFailed saying why when there is none fit to run."""
    return _binary(get_settings().ffmpeg_binary)


def clear_cache() -> None:
    """Forget the binary found (tests that change FFMPEG_BINARY or PATH)."""
    _binary.cache_clear()


@lru_cache(maxsize=4)
def _binary(configured: str | None) -> str:
    if configured:
        return _checked(shutil.which(configured) or configured, "FFMPEG_BINARY")
    try:
        import imageio_ffmpeg

        found = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise ToolFailed(
            "No ffmpeg: install the imageio-ffmpeg package, or set FFMPEG_BINARY"
        ) from exc
    # get_ffmpeg_exe falls back to the venv's bin/ and to PATH when its own binary is missing.
    return _checked(shutil.which(found) or found, "imageio-ffmpeg")


def _checked(path: str, origin: str) -> str:
    p = Path(path)
    if not p.is_file() or not os.access(p, os.X_OK):
        raise ToolFailed(f"ffmpeg from {origin} ({path}) is not an executable file")
    with p.open("rb") as fh:
        if fh.read(2) == _SCRIPT_MAGIC:
            raise ToolFailed(
                f"ffmpeg from {origin} ({path}) is a script, not the ffmpeg binary: a wrapper "
                "can report success when ffmpeg fails and outlive a timeout. Name the binary."
            )
    return str(p)


def file_input(path: str | Path) -> list[str]:
    """`-i` for a file from outside: whitelisted demuxers, file protocol only."""
    absolute = Path(path).absolute()
    return [
        "-format_whitelist", FORMAT_WHITELIST, "-protocol_whitelist", "file",
        "-i", f"file:{absolute}",
    ]  # fmt: skip


def tool_env() -> dict[str, str]:
    """The environment for ffmpeg: no proxy bypass, and without what `import cv2` injects.

    OpenCV's wheel prepends its own library folder to LD_LIBRARY_PATH (and sets Qt paths) at
    import; a child ffmpeg then loaded the wrong libraries (ffprobe misread seeks with it).
    """
    env = without_proxy_bypass(os.environ)
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        if "cv2" in env.get(name, ""):
            env.pop(name)
    paths = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p and "cv2" not in p]
    if paths:
        env["LD_LIBRARY_PATH"] = ":".join(paths)
    else:
        env.pop("LD_LIBRARY_PATH", None)
    return env


def start_tool(args: Sequence[str], *, stdout: int, stderr: int) -> subprocess.Popen:
    """Start a tool in its own process group, so `stop_tool` can end it with its children."""
    return subprocess.Popen(
        list(args), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=tool_env(),
        process_group=0,
    )  # fmt: skip


def kill_tool(proc: subprocess.Popen) -> None:
    """Kill the tool's whole process group (it may have children of its own)."""
    if proc.returncode is None:  # once reaped, its pid may belong to someone else
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def stop_tool(proc: subprocess.Popen) -> None:
    """Kill the tool's whole process group, close its pipes and reap it."""
    kill_tool(proc)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    proc.wait()


def run_tool(args: Sequence[str], *, timeout_s: float | None = None, what: str) -> bytes:
    """Run ffmpeg; return stdout, or raise ToolFailed with the tool's last words."""
    return run_tool_logged(args, timeout_s=timeout_s, what=what)[0]


def run_tool_logged(
    args: Sequence[str], *, timeout_s: float | None = None, what: str
) -> tuple[bytes, bytes]:
    """`run_tool` that also returns stderr, where ffmpeg's filters print their summaries."""
    limit = timeout_s or get_settings().subprocess_timeout_s
    proc = start_tool(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired as exc:
        stop_tool(proc)
        raise ToolFailed(f"{what} took longer than {limit:.0f} s and was stopped") from exc
    except BaseException:
        stop_tool(proc)
        raise
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise ToolFailed(f"{what} failed: {' | '.join(tail) or f'exit code {proc.returncode}'}")
    return out, err
