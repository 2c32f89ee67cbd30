"""Captions: word-by-word subtitles from the transcript's word timings, as ASS events for
libass to burn in the render pass, and as `.srt`/`.vtt` files for platforms that take them.

Words are grouped into lines of at most `words_per_line` words, never splitting a word (in
scripts written without spaces, such as Chinese, Japanese and Thai, two letters count as a
word and words are joined without spaces: reelflow/scripts.py); a line also ends after
punctuation, before a pause of `pause_s`, and before it would grow wider than the safe area
(measured with the font's own advances, see reelflow/fonts.py). A single word too wide on its
own is scaled down to fit. Each line is on screen from its first word's start
until its last word's end (held a little longer, never past the next line), and the
animation marks each word exactly while it is spoken:

- none: the line as it is;
- highlight: the spoken word in the highlight colour, one event per word and per pause;
- karaoke: `\\kf` fills each word over its own duration (the style's secondary colour is
  the not-yet-spoken one);
- pop: words appear one by one at their start, growing into place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pysubs2

from reelflow.ass import (
    CENTRE_X,
    SAFE_WIDTH,
    ass_text,
    block_centre_y,
    colour_tag,
    make_style,
)
from reelflow.fonts import FontFace, fallback_face, find_face
from reelflow.models import Word
from reelflow.scripts import join_words, reading_weight, spaced_between
from reelflow.styles import CaptionStyle

STYLE_NAME = "Caption"
KARAOKE_STYLE_NAME = "CaptionKaraoke"
LINGER_S = 0.4  # a line stays this long after its last word, unless the next one comes first
BREAK_AFTER = tuple(".,!?;:\u2026\u3002\u3001\uff0c\uff01\uff1f\uff1b\uff1a")  # and CJK marks
POP_FROM = 70  # % size a popping word starts at; it only grows, so the line never overflows
POP_MS = 120
# A gap between two words shorter than this keeps the earlier word lit: switching the
# highlight off for a frame or two reads as flicker, not as a pause.
FLICKER_GAP_S = 0.25


@dataclass(frozen=True)
class CaptionWord:
    start_s: float
    end_s: float
    text: str  # as displayed (uppercase applied), not yet escaped for ASS


@dataclass(frozen=True)
class CaptionLine:
    start_s: float
    end_s: float
    words: tuple[CaptionWord, ...]
    face: FontFace
    scale: float = 1.0  # < 1 when one word alone is wider than the safe area

    @cached_property
    def spaces(self) -> tuple[bool, ...]:
        """Whether a space stands before each word (never before the first); worked out once
        per line, however many events its animation makes."""
        pairs = zip(self.words, self.words[1:], strict=False)
        return (False, *(spaced_between(a.text, b.text) for a, b in pairs))

    @property
    def text(self) -> str:
        return _join([w.text for w in self.words], self.spaces)


def caption_words(words: list[Word], style: CaptionStyle) -> list[CaptionWord]:
    """Display words (already in output time), without the ones that have nothing to draw."""
    out = []
    for w in words:
        text = " ".join(w.text.split())
        text = text.upper() if style.uppercase else text
        if ass_text(text):  # an emoji-only "word" draws nothing: no empty highlight for it
            out.append(CaptionWord(round(w.start_s, 3), round(max(w.end_s, w.start_s), 3), text))
    return out


def break_lines(words: list[CaptionWord], style: CaptionStyle) -> list[CaptionLine]:
    face = find_face(style.font, bold=style.bold)
    limit = _max_width(style)
    groups: list[list[CaptionWord]] = []
    for word in words:
        current = groups[-1] if groups else None
        if current is None or _breaks(current, word, style, face, limit):
            groups.append([word])
        else:
            current.append(word)
    lines = []
    for i, group in enumerate(groups):
        text = join_words(w.text for w in group)
        line_face = fallback_face(text, face)
        width = line_face.text_width(text, style.size, faux_bold=_faux_bold(style, line_face))
        nxt = groups[i + 1][0].start_s if i + 1 < len(groups) else float("inf")
        end = max(min(group[-1].end_s + LINGER_S, nxt), group[-1].end_s)
        scale = min(1.0, limit / width) if width > 0 else 1.0
        lines.append(CaptionLine(group[0].start_s, round(end, 3), tuple(group), line_face, scale))
    return lines


def _breaks(
    current: list[CaptionWord], word: CaptionWord, style: CaptionStyle, face: FontFace, limit: float
) -> bool:
    last = current[-1]
    weight = sum(reading_weight(w.text) for w in [*current, word])
    if weight > style.words_per_line or word.start_s - last.end_s >= style.pause_s:
        return True
    if last.text.endswith(BREAK_AFTER):
        return True
    text = join_words(w.text for w in [*current, word])
    line_face = fallback_face(text, face)
    return line_face.text_width(text, style.size, faux_bold=_faux_bold(style, line_face)) > limit


def _max_width(style: CaptionStyle) -> float:
    box_pad = style.size * 0.2 if style.box_opacity > 0 else 0.0
    return SAFE_WIDTH - 2 * style.outline_width - 2 * box_pad


def _faux_bold(style: CaptionStyle, face: FontFace) -> bool:
    return style.bold and face.weight < 600


def block_height(style: CaptionStyle, scale: float = 1.0) -> float:
    box_pad = style.size * 0.2 if style.box_opacity > 0 else 0.0
    return style.size * scale + 2 * style.outline_width + 2 * box_pad


def add_captions(doc: pysubs2.SSAFile, lines: list[CaptionLine], style: CaptionStyle) -> None:
    """Add the caption styles and one or more events per line to `doc`."""
    face = find_face(style.font, bold=style.bold)
    common = {
        "bold": style.bold, "outline_colour": style.outline_colour,
        "outline_width": style.outline_width, "box_colour": style.box_colour,
        "box_opacity": style.box_opacity,
    }  # fmt: skip
    doc.styles[STYLE_NAME] = make_style(face, style.size, text_colour=style.colour, **common)
    if style.animation == "karaoke":  # \kf fills from secondary (to come) to primary (spoken)
        doc.styles[KARAOKE_STYLE_NAME] = make_style(
            face, style.size, text_colour=style.highlight_colour,
            secondary_colour=style.colour, **common,
        )  # fmt: skip
    for line in lines:
        for start, end, text, name in _line_events(line, style):
            if end > start:
                doc.events.append(
                    pysubs2.SSAEvent(start=_ms(start), end=_ms(end), text=text, style=name)
                )


def _line_events(line: CaptionLine, style: CaptionStyle):
    """(start, end, ASS text, style name) for one line under the style's animation."""
    y = block_centre_y(style.position, block_height(style, line.scale))
    head = f"{{\\an5\\pos({CENTRE_X},{y})"
    if line.face.ass_name != find_face(style.font, bold=style.bold).ass_name:
        head += f"\\fn{line.face.ass_name}"
    if line.scale < 1.0:
        head += f"\\fscx{line.scale * 100:.1f}\\fscy{line.scale * 100:.1f}"
    head += "}"
    words = [ass_text(w.text) for w in line.words]
    if style.animation == "none":
        yield line.start_s, line.end_s, head + _join(words, line.spaces), STYLE_NAME
    elif style.animation == "karaoke":
        yield line.start_s, line.end_s, head + _karaoke(line, words), KARAOKE_STYLE_NAME
    elif style.animation == "highlight":
        yield from _highlight(line, words, head, colour_tag(style.highlight_colour))
    else:
        yield from _pop(line, words, head, colour_tag(style.highlight_colour))


def _highlight(line: CaptionLine, words: list[str], head: str, tag: str):
    plain = head + _join(words, line.spaces)
    t = line.start_s
    for k, w in enumerate(line.words):
        if w.start_s > t:
            yield t, w.start_s, plain, STYLE_NAME  # a pause inside the line: nothing lit
        nxt = line.words[k + 1].start_s if k + 1 < len(line.words) else line.end_s
        end = nxt if nxt - w.end_s < FLICKER_GAP_S else w.end_s
        lit = [f"{{\\1c{tag}}}{x}{{\\1c}}" if i == k else x for i, x in enumerate(words)]
        yield w.start_s, end, head + _join(lit, line.spaces), STYLE_NAME
        t = end
    if line.end_s > t:
        yield t, line.end_s, plain, STYLE_NAME


def _pop(line: CaptionLine, words: list[str], head: str, tag: str):
    # Words still to come are drawn fully transparent, so the line never re-centres.
    for k, w in enumerate(line.words):
        end = line.words[k + 1].start_s if k + 1 < len(line.words) else line.end_s
        shown = words[:k]
        new = (
            f"{{\\1c{tag}\\fscx{POP_FROM}\\fscy{POP_FROM}\\t(0,{POP_MS},\\fscx100\\fscy100)}}"
            f"{words[k]}{{\\1c\\fscx100\\fscy100}}"
        )
        if line.scale < 1.0:
            pct = f"{line.scale * 100:.1f}"
            new = new.replace("fscx100", f"fscx{pct}").replace("fscy100", f"fscy{pct}")
        hidden = words[k + 1 :]
        if hidden:
            hidden[0] = "{\\alpha&HFF&}" + hidden[0]
        yield w.start_s, end, head + _join([*shown, new, *hidden], line.spaces), STYLE_NAME


def _karaoke(line: CaptionLine, words: list[str]) -> str:
    """`\\k` waits and `\\kf` fills, in centiseconds from the event start (rounded from the
    absolute times, so errors never add up along the line)."""
    origin = _ms(line.start_s) / 1000
    parts, at = [], 0
    for w, text in zip(line.words, words, strict=True):
        start, end = round((w.start_s - origin) * 100), round((w.end_s - origin) * 100)
        wait = f"{{\\k{start - at}}}" if start > at else ""
        parts.append(f"{wait}{{\\kf{max(end - max(start, at), 1)}}}{text}")
        at = max(end, at + 1)
    return _join(parts, line.spaces)


def _join(pieces: list[str], spaces: tuple[bool, ...]) -> str:
    """Pieces of a line (words with their ASS tags) with a space where `spaces` has one."""
    return "".join(" " + p if space else p for p, space in zip(pieces, spaces, strict=True))


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


# -- caption files ---------------------------------------------------------------------------


def srt_text(lines: list[CaptionLine]) -> str:
    cues = []
    for i, line in enumerate(lines, start=1):
        text = _plain(line).replace("-->", "->")
        cues.append(f"{i}\n{_stamp(line.start_s, ',')} --> {_stamp(line.end_s, ',')}\n{text}\n")
    return "\n".join(cues)


def vtt_text(lines: list[CaptionLine]) -> str:
    cues = ["WEBVTT\n"]
    for line in lines:
        text = _plain(line).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        cues.append(f"{_stamp(line.start_s, '.')} --> {_stamp(line.end_s, '.')}\n{text}\n")
    return "\n".join(cues)


def _plain(line: CaptionLine) -> str:
    return " ".join(line.text.split()) or "…"


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, _ms(seconds))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"
