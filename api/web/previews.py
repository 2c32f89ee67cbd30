"""A small picture of each caption preset for the submit form, drawn by the real thing.

The same code that captions a clip (tasks/captions.py: line breaking, styles, animation) writes
an ASS file for one short line, and the same libass `ass` filter burns it over a gradient: the
preview is what a clip will look like, not a CSS imitation. One ffmpeg call renders one frame
(a few hundred ms); the band around the caption is cut out, scaled to 336 px wide and kept in
the cache, named by the style and a version tag, so each preset is drawn once per install.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from reelflow.ass import (
    HEIGHT,
    SAFE_LEFT,
    SAFE_WIDTH,
    ass_filter,
    block_centre_y,
    new_document,
    write_ass,
)
from reelflow.caching import stable_hash
from reelflow.errors import NotFound
from reelflow.media import ffmpeg_path, run_tool
from reelflow.models import Word
from reelflow.settings import get_settings
from reelflow.styles import CAPTION_PRESETS, CaptionStyle
from tasks.captions import add_captions, block_height, break_lines, caption_words

VERSION = "2"  # bump when the picture changes for the same style
LINE = [("Clips", 0.0, 0.4), ("that", 0.45, 0.75), ("stop", 0.8, 1.2), ("the", 1.25, 1.4),
        ("scroll.", 1.45, 2.0)]  # fmt: skip
AT_S = 0.6  # inside the second word: highlight, fill and pop all show mid-animation
BAND_HEIGHT = 300  # of the 1920 px frame, around the caption, across the safe area's width
PREVIEW_WIDTH = 336
BACKGROUND = "gradients=s=1080x1920:c0=0x2b3a55:c1=0x7a5c4f:x0=0:y0=0:x1=1080:y1=1920:d=1:r=10"


def caption_preview(preset: str) -> Path:
    """The preview JPEG of a caption preset, rendered on first use."""
    if preset not in CAPTION_PRESETS:
        raise NotFound(f"No caption preset {preset}: use one of {', '.join(CAPTION_PRESETS)}")
    style = CaptionStyle(preset=preset)
    folder = get_settings().cache_dir / "previews"
    path = folder / f"captions-{preset}-{stable_hash(style.model_dump(mode='json'), VERSION)}.jpg"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        _render(style, path)
    return path


def _render(style: CaptionStyle, out: Path) -> None:
    words = [Word(text=t, start_s=s, end_s=e) for t, s, e in LINE]
    doc = new_document()
    add_captions(doc, break_lines(caption_words(words, style), style), style)
    centre = block_centre_y(style.position, block_height(style))
    top = min(max(round(centre - BAND_HEIGHT / 2), 0), HEIGHT - BAND_HEIGHT)
    graph = (
        f"{ass_filter(write_ass(doc))},crop={SAFE_WIDTH}:{BAND_HEIGHT}:{SAFE_LEFT}:{top},"
        f"scale={PREVIEW_WIDTH}:-2"
    )
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.jpg")
    args = [ffmpeg_path(), "-nostdin", "-v", "error", "-f", "lavfi", "-i", BACKGROUND,
            "-vf", graph, "-ss", f"{AT_S}", "-frames:v", "1", "-q:v", "3", "-y",
            str(tmp)]  # fmt: skip
    try:
        run_tool(args, timeout_s=60, what="caption preview")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
