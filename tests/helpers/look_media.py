"""Helpers for the caption and effects tests: draw an ASS file alone over a flat frame, find
the pixels that changed, make a short synthetic source video."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from reelflow.ass import ass_filter
from reelflow.media import ffmpeg_path, tool_env

FPS = 25
W, H = 1080, 1920


def ass_frames(ass: Path, times: list[float], background: str = "0x808080") -> list[np.ndarray]:
    """RGB frames of `ass` burned over a flat background at the given times (one ffmpeg call,
    through the same `ass` filter string the render uses)."""
    frames = sorted({round(t * FPS) for t in times})
    select = "+".join(f"eq(n,{n})" for n in frames)
    duration = max(times) + 0.5
    args = [
        ffmpeg_path(), "-nostdin", "-v", "error",
        "-f", "lavfi", "-i", f"color=c={background}:s={W}x{H}:r={FPS}:d={duration:.2f}",
        "-vf", f"{ass_filter(ass)},select='{select}'", "-vsync", "0",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
    ]  # fmt: skip
    raw = subprocess.run(args, capture_output=True, check=True, env=tool_env()).stdout
    stack = np.frombuffer(raw, np.uint8).reshape(-1, H, W, 3)
    by_frame = dict(zip(frames, stack, strict=True))
    return [by_frame[round(t * FPS)] for t in times]


def ink(frame: np.ndarray, background=(128, 128, 128), threshold: int = 40) -> np.ndarray:
    """Mask of pixels that differ from the flat background."""
    diff = np.abs(frame.astype(np.int16) - np.array(background, np.int16)).max(axis=2)
    return diff > threshold


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the True pixels, or None."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def colour_mask(frame: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 60) -> np.ndarray:
    return (np.abs(frame.astype(np.int16) - np.array(rgb, np.int16)) < tolerance).all(axis=2)


def make_source(out: Path, seconds: float = 6.0, colour: str = "0x808080") -> Path:
    """A flat-colour 1280x720 30 fps video with a tone: layout and captions are easy to see."""
    if out.exists():
        return out
    args = [
        ffmpeg_path(), "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"color=c={colour}:s=1280x720:r=30:d={seconds}",
        "-f", "lavfi", "-i", f"sine=f=300:d={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", str(out),
    ]  # fmt: skip
    subprocess.run(args, check=True, env=tool_env(), timeout=120)
    return out


def grab(video: Path, t: float) -> np.ndarray:
    """The RGB frame of a rendered 1080x1920 clip at time t."""
    args = [ffmpeg_path(), "-nostdin", "-v", "error", "-ss", f"{t:.3f}", "-i", str(video),
            "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]  # fmt: skip
    raw = subprocess.run(args, capture_output=True, check=True, env=tool_env()).stdout
    return np.frombuffer(raw, np.uint8).reshape(H, W, 3)
