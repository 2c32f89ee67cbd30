"""Hook title: the clip's hook line as a title card, an ASS event drawn in the render pass.

The text (the moment's hook, or the style's own text: either may come from a model or a user)
is wrapped into lines that fit the safe area, measured with the font's advances; a long text
is set smaller (down to MIN_SIZE) and, past MAX_LINES there, shortened with an ellipsis. A
word wider than a line on its own is broken inside: a title is not speech. Everything goes
through `ass_text`, so no character of it can act as an ASS tag.
"""

from __future__ import annotations

from dataclasses import dataclass

import pysubs2

from reelflow.ass import CENTRE_X, SAFE_WIDTH, ass_text, block_centre_y, make_style
from reelflow.fonts import FontFace, drawable, fallback_face, find_face
from reelflow.scripts import join_words, split_words
from reelflow.styles import HookStyle

STYLE_NAME = "Hook"
MAX_LINES = 4
MIN_SIZE = 36
LINE_HEIGHT = 1.0  # libass stacks \N lines one font size apart
FADE_MS = (150, 200)


@dataclass(frozen=True)
class HookLayout:
    lines: tuple[str, ...]  # display text per line, not yet escaped
    size: float
    face: FontFace
    centre_y: float
    start_s: float
    end_s: float


def layout_hook(text: str, style: HookStyle, clip_duration_s: float) -> HookLayout | None:
    """Lines, size and place of the title; None when there is nothing drawable to show."""
    text = " ".join(drawable(text).split())
    text = text.upper() if style.uppercase else text
    if not text:
        return None
    face = fallback_face(text, find_face(style.font, bold=style.bold))
    faux = style.bold and face.weight < 600
    size = float(style.font_size)
    while True:
        limit = _max_width(style, size)
        lines = _wrap(text, face, size, limit, faux)
        if len(lines) <= MAX_LINES or size <= MIN_SIZE:
            break
        size = max(MIN_SIZE, size * 0.9)
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], _ellipsis(lines[MAX_LINES - 1], face, size, limit, faux)]
    height = len(lines) * size * LINE_HEIGHT + 2 * style.outline_width + 2 * _box_pad(style, size)
    end = clip_duration_s if style.duration_s is None else min(style.duration_s, clip_duration_s)
    return HookLayout(
        lines=tuple(lines),
        size=round(size, 1),
        face=face,
        centre_y=block_centre_y(style.position, height),
        start_s=0.0,
        end_s=end,
    )


def add_hook(doc: pysubs2.SSAFile, layout: HookLayout, style: HookStyle) -> None:
    doc.styles[STYLE_NAME] = make_style(
        layout.face,
        layout.size,
        bold=style.bold,
        text_colour=style.colour,
        outline_colour=style.outline_colour,
        outline_width=style.outline_width,
        box_colour=style.box_colour,
        box_opacity=style.box_opacity,
    )
    body = "\\N".join(ass_text(line) for line in layout.lines)
    head = f"{{\\an5\\pos({CENTRE_X},{layout.centre_y:.0f})\\fad({FADE_MS[0]},{FADE_MS[1]})}}"
    doc.events.append(
        pysubs2.SSAEvent(
            start=round(layout.start_s * 1000),
            end=round(layout.end_s * 1000),
            text=head + body,
            style=STYLE_NAME,
            layer=1,  # above the captions if they ever meet
        )
    )


def _box_pad(style: HookStyle, size: float) -> float:
    return size * 0.2 if style.box_opacity > 0 else 0.0


def _max_width(style: HookStyle, size: float) -> float:
    return SAFE_WIDTH - 2 * style.outline_width - 2 * _box_pad(style, size)


def _wrap(text: str, face: FontFace, size: float, limit: float, faux: bool) -> list[str]:
    def width(s: str) -> float:
        return face.text_width(s, size, faux_bold=faux)

    lines: list[str] = []
    current = ""
    for word in split_words(text):  # Chinese or Japanese wraps between any two characters
        for piece in _pieces(word, width, limit):
            candidate = join_words((current, piece))
            if current and width(candidate) > limit:
                lines.append(current)
                current = piece
            else:
                current = candidate
    if current:
        lines.append(current)
    return lines


def _pieces(word: str, width, limit: float) -> list[str]:
    """A word as it is, or cut into pieces that each fit a line."""
    if width(word) <= limit:
        return [word]
    pieces, current = [], ""
    for char in word:
        if current and width(current + char) > limit:
            pieces.append(current)
            current = ""
        current += char
    return [*pieces, current] if current else pieces


def _ellipsis(line: str, face: FontFace, size: float, limit: float, faux: bool) -> str:
    while line and face.text_width(line + "…", size, faux_bold=faux) > limit:
        line = line[:-1]
    return line.rstrip() + "…"
