"""ASS subtitle files for libass, and the one `ass` filter that burns them into the render.

Captions and the hook title are events of one ASS file per clip (written with pysubs2) that
the clip's single ffmpeg pass draws with `ass=<file>:fontsdir=<fonts>`. Text, whoever wrote
it, goes only into that file and only through `ass_text`, which neutralises ASS's override
characters (`{`, `}`, `\\`) so text can never become a tag; the filter string holds nothing
but two escaped paths of files this code named itself.

Layout is in the output's pixels (PlayRes 1080x1920, no scaling), inside the 9:16 safe area:
the top and bottom of a short are covered by the platforms' own buttons and text.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

import pysubs2

from reelflow.fonts import FontFace, drawable, fonts_dir
from reelflow.settings import get_settings

WIDTH, HEIGHT = 1080, 1920
# Safe area: TikTok/Reels/Shorts put the search bar and tabs over the top ~15%, the caption,
# music line and buttons over the bottom ~25%, and the like/share column on the right edge.
SAFE_TOP, SAFE_BOTTOM = 288, 1440
SAFE_LEFT, SAFE_RIGHT = 120, 960
SAFE_WIDTH = SAFE_RIGHT - SAFE_LEFT
CENTRE_X = (SAFE_LEFT + SAFE_RIGHT) // 2
# What `ass_text` removes from text: control characters and the joiners/selectors of emoji.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200d\ufe0e\ufe0f\u2028\u2029]")
_WORD_JOINER = "\u2060"


def ass_text(text: str, *, uppercase: bool = False) -> str:
    """Any text made safe to be an ASS event's literal text.

    A backslash is followed by an invisible word joiner, so `\\N`, `\\h` or `\\{` in the text
    are no escapes; braces become libass's literal `\\{` and `\\}`, so no override block can
    open. Characters no installed font can draw (emoji) and control characters are dropped.
    """
    text = " ".join(_CONTROL.sub(" ", text).split())
    text = drawable(text.upper() if uppercase else text)
    text = text.replace("\\", "\\" + _WORD_JOINER)
    return text.replace("{", "\\{").replace("}", "\\}")


def colour(hex_rgb: str, opacity: float = 1.0) -> pysubs2.Color:
    value = hex_rgb.lstrip("#")
    alpha = round((1 - opacity) * 255)
    return pysubs2.Color(int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), alpha)


def colour_tag(hex_rgb: str) -> str:
    """Inline `&HBBGGRR&` for `\\c`/`\\1c`/`\\2c` overrides."""
    value = hex_rgb.lstrip("#").upper()
    return f"&H{value[4:6]}{value[2:4]}{value[0:2]}&"


def new_document() -> pysubs2.SSAFile:
    doc = pysubs2.SSAFile()
    doc.info.update(
        {"PlayResX": str(WIDTH), "PlayResY": str(HEIGHT), "WrapStyle": "2",
         "ScaledBorderAndShadow": "yes"}
    )  # fmt: skip
    # pysubs2 adds an Arial "Default" style; nothing may fall back to a font we did not ship.
    doc.styles.clear()
    return doc


def make_style(
    face: FontFace,
    size: float,
    *,
    bold: bool,
    text_colour: str,
    outline_colour: str,
    outline_width: float,
    box_colour: str,
    box_opacity: float,
    secondary_colour: str | None = None,
) -> pysubs2.SSAStyle:
    """A centre-anchored style; events place themselves with `\\pos`. With a box, libass's
    BorderStyle 4 draws it in the back colour and keeps the outline."""
    return pysubs2.SSAStyle(
        fontname=face.ass_name,
        fontsize=size,
        bold=bold,
        italic=face.italic,
        primarycolor=colour(text_colour),
        secondarycolor=colour(secondary_colour or text_colour),
        outlinecolor=colour(outline_colour),
        backcolor=colour(box_colour, box_opacity),
        borderstyle=4 if box_opacity > 0 else 1,
        outline=outline_width,
        shadow=0,
        alignment=pysubs2.Alignment.MIDDLE_CENTER,
        marginl=0,
        marginr=0,
        marginv=0,
    )


def block_centre_y(position: str | float, block_height: float) -> float:
    """Vertical centre of a text block of this height at a position, kept in the safe area."""
    half = block_height / 2
    if position == "top":
        centre = SAFE_TOP + half
    elif position == "middle":
        centre = HEIGHT / 2
    elif position == "bottom":
        centre = SAFE_BOTTOM - half
    else:
        centre = HEIGHT * float(position) / 100
    low, high = SAFE_TOP + half, SAFE_BOTTOM - half
    return round(min(max(centre, low), high) if low <= high else (SAFE_TOP + SAFE_BOTTOM) / 2)


def write_ass(doc: pysubs2.SSAFile) -> Path:
    """Write under the cache, named by content: the path (in the filter string, so in the
    render's cache key) changes exactly when what is drawn changes."""
    content = doc.to_string("ass")
    digest = hashlib.sha256(content.encode()).hexdigest()[:24]
    folder = get_settings().cache_dir / "overlays"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.ass"
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, path)
    return path


def ass_filter(path: Path) -> str:
    """The filter that burns `path` with the installed fonts, paths escaped for both levels
    of ffmpeg's parsing (option value, then filter graph)."""
    fonts = fonts_dir()
    return f"ass=filename={_escape(str(path.resolve()))}:fontsdir={_escape(str(fonts.resolve()))}"


def _escape(value: str) -> str:
    for char in "\\':":
        value = value.replace(char, "\\" + char)
    for char in "\\'[],;":
        value = value.replace(char, "\\" + char)
    return value
