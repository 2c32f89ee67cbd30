"""Captions and the hook title: line breaking, timing, the safe area, fonts, hostile text.

Pixels come from the real `ass` filter drawing the ASS file alone over a flat frame
(tests/look_media.py), with the same filter string the render pass uses.
"""

from __future__ import annotations

import re
import subprocess

import pysubs2
import pytest
from pydantic import ValidationError

from reelflow.ass import (
    CENTRE_X,
    SAFE_BOTTOM,
    SAFE_LEFT,
    SAFE_RIGHT,
    SAFE_TOP,
    ass_filter,
    ass_text,
    new_document,
    write_ass,
)
from reelflow.fonts import FontNotAvailable, find_face, installed_faces
from reelflow.jobs import ClipRequest
from reelflow.media import ffmpeg_path, tool_env
from reelflow.styles import CAPTION_PRESETS, CaptionStyle, HookStyle, LookOptions
from tasks.captions import (
    add_captions,
    break_lines,
    caption_words,
    srt_text,
    vtt_text,
)
from tasks.effects.local import clip_words
from tasks.hook_title import add_hook, layout_hook
from tests.helpers.look_media import ass_frames, bbox, colour_mask, ink
from tests.helpers.transcript_factory import make_transcript

GREEN = "#00FF00"
TRANSCRIPT = make_transcript(
    [
        ("Why do ninety percent of people never save any money?", 0.3, 0.4, 0.9),
        ("Here's the secret, nobody tells you.", None, 0.35, 0.3),
        ("Incomprehensibilities notwithstanding everything works.", None, 0.5, 0.5),
    ]
)
WORDS = clip_words(TRANSCRIPT, 0.0, TRANSCRIPT.duration_s)


def lines_for(style: CaptionStyle, words=WORDS):
    return break_lines(caption_words(words, style), style)


def captions_file(style: CaptionStyle, words=WORDS):
    doc = new_document()
    lines = lines_for(style, words)
    add_captions(doc, lines, style)
    return write_ass(doc), lines


def test_lines_keep_words_whole_in_order_and_break_at_punctuation_and_pauses(data_dir):
    style = CaptionStyle(preset="bold", words_per_line=4)
    lines = lines_for(style)
    spoken = [w.text.upper() for w in WORDS]
    assert [w.text for line in lines for w in line.words] == spoken  # nothing split or lost
    for line in lines:
        assert 1 <= len(line.words) <= 4
        # Punctuation only ever ends a line.
        assert not any(w.text.endswith((",", ".", "?")) for w in line.words[:-1])
        gaps = [b.start_s - a.end_s for a, b in zip(line.words, line.words[1:], strict=False)]
        assert all(g < style.pause_s for g in gaps)
    # "MONEY?" ends a line, and the 0.9 s pause after it starts a new one.
    assert any(line.words[-1].text == "MONEY?" for line in lines)
    assert any(line.words[-1].text == "SECRET," for line in lines)


def test_each_line_is_shown_while_its_words_are_spoken(data_dir):
    lines = lines_for(CaptionStyle(preset="classic"))
    for line, nxt in zip(lines, [*lines[1:], None], strict=True):
        assert line.start_s == line.words[0].start_s
        assert line.end_s >= line.words[-1].end_s
        if nxt is not None:
            assert line.end_s <= nxt.start_s  # never two lines at once


def test_wide_lines_are_shortened_and_a_too_wide_word_is_scaled(data_dir):
    style = CaptionStyle(font="Anton", size=200, words_per_line=8, uppercase=True)
    lines = lines_for(style)
    face = find_face("Anton")
    for line in lines:
        width = face.text_width(line.text, style.size) * line.scale
        assert width <= SAFE_RIGHT - SAFE_LEFT - 2 * style.outline_width + 0.5
    assert any(line.scale < 1 for line in lines)  # INCOMPREHENSIBILITIES alone is too wide


@pytest.mark.parametrize("position", ["top", "middle", "bottom", 0, 37.5, 100])
@pytest.mark.parametrize("preset", list(CAPTION_PRESETS))
def test_captions_stay_inside_the_safe_area(data_dir, preset, position):
    style = CaptionStyle(preset=preset, position=position, size=150, words_per_line=8)
    ass, lines = captions_file(style)
    times = [(w.start_s + w.end_s) / 2 for line in lines for w in line.words[-1:]]
    for t, frame in zip(times, ass_frames(ass, times), strict=True):
        box = bbox(ink(frame))
        assert box is not None, f"nothing drawn at {t:.2f} s"
        left, top, right, bottom = box
        assert left >= SAFE_LEFT - 2 and right <= SAFE_RIGHT + 2, (preset, position, box)
        assert top >= SAFE_TOP - 2 and bottom <= SAFE_BOTTOM + 2, (preset, position, box)
        if position == "top":
            assert top < SAFE_TOP + 80
        if position == "bottom":
            assert bottom > SAFE_BOTTOM - 80


def test_the_highlight_sits_on_the_spoken_word_and_moves_with_time(data_dir):
    style = CaptionStyle(preset="bold", highlight_colour=GREEN, words_per_line=3)
    ass, lines = captions_file(style)
    line = lines[0]
    face = find_face(style.font)
    total = face.text_width(line.text, style.size)
    left = CENTRE_X - total / 2
    times = [(w.start_s + w.end_s) / 2 for w in line.words]
    centres = []
    for k, frame in enumerate(ass_frames(ass, times)):
        lit = colour_mask(frame, (0, 255, 0))
        assert lit.sum() > 200, f"no highlight while {line.words[k].text} is spoken"
        xs = lit.nonzero()[1]
        centres.append(xs.mean())
        before = face.text_width(" ".join(w.text for w in line.words[:k]) + " ", style.size)
        start = left + (before if k else 0)
        end = start + face.text_width(line.words[k].text, style.size)
        assert start - 5 <= xs.min() and xs.max() <= end + 5, (line.words[k].text, start, end)
    assert centres == sorted(centres), "the highlight must move left to right"


def test_karaoke_fills_each_word_while_it_is_spoken(data_dir):
    style = CaptionStyle(preset="karaoke", highlight_colour=GREEN)
    ass, lines = captions_file(style)
    word = lines[0].words[1]
    early, mid, late = (word.start_s + 0.02, (word.start_s + word.end_s) / 2, word.end_s + 0.02)
    filled = [colour_mask(f, (0, 255, 0)).sum() for f in ass_frames(ass, [early, mid, late])]
    assert filled[0] < filled[1] < filled[2], filled  # the fill grows through the word


def test_pop_shows_only_the_words_spoken_so_far(data_dir):
    style = CaptionStyle(preset="pop", words_per_line=3, outline_width=0)
    ass, lines = captions_file(style)
    line = lines[0]
    times = [(w.start_s + w.end_s) / 2 for w in line.words]
    widths = []
    for frame in ass_frames(ass, times):
        left, _, right, _ = bbox(ink(frame))
        widths.append(right - left)
    assert widths == sorted(widths) and widths[0] < widths[-1], widths


def test_caption_files_match_the_lines(data_dir):
    words = clip_words(make_transcript([("a <b> & c --> d", 0.5, 0.4, 0.5)]), 0, 5)
    style = CaptionStyle(preset="classic")
    lines = lines_for(style, words)
    srt = srt_text(lines)
    vtt = vtt_text(lines)
    assert srt.startswith("1\n00:00:00,500 --> ")
    assert "-->" not in srt.split("\n")[2]
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> ")
    assert "&lt;b&gt; &amp;" in vtt
    assert len(pysubs2.SSAFile.from_string(srt, format_="srt")) == len(lines)


# --- fonts ----------------------------------------------------------------------------------


def test_a_missing_font_is_refused_with_its_name_and_the_alternatives(data_dir):
    with pytest.raises(ValidationError, match=r"Font 'Comic Sans' is not installed.*Anton"):
        CaptionStyle(font="Comic Sans")
    with pytest.raises(ValidationError, match="not installed"):
        ClipRequest(source="x.mp4", captions={"preset": "bold", "font": "Papyrus"})
    with pytest.raises(ValidationError, match="not installed"):
        HookStyle(font="Nope Sans")
    # A style that skipped validation still fails before anything renders.
    sneaky = CaptionStyle.model_construct(**{**CaptionStyle().model_dump(), "font": "Nope"})
    with pytest.raises(FontNotAvailable, match="Nope"):
        lines_for(sneaky)


def test_the_shipped_fonts_are_what_libass_draws(data_dir):
    """libass logs which file it picked: every style font must come from our folder, never a
    system substitute."""
    assert {f.family for f in installed_faces()} >= {"Anton", "Rubik"}
    doc = new_document()
    for name in ("bold", "karaoke"):
        style = CaptionStyle(preset=name)
        add_captions(doc, lines_for(style)[:1], style)
    add_hook(doc, layout_hook("A hook", HookStyle(), 3.0), HookStyle())
    ass = write_ass(doc)
    args = [ffmpeg_path(), "-nostdin", "-v", "verbose", "-f", "lavfi", "-i",
            "color=s=1080x1920:d=1:r=5", "-vf", ass_filter(ass), "-f", "null", "-"]  # fmt: skip
    log = subprocess.run(args, capture_output=True, text=True, env=tool_env()).stderr
    picked = re.findall(r"fontselect: \((.+?), \d+, \d+\) -> (.+?), ", log)
    assert picked, log[-2000:]
    shipped = {f.path.stem for f in installed_faces()} | {
        name for f in installed_faces() for name in f.names
    }
    for requested, chosen in picked:
        assert chosen.lower() in shipped or chosen in {f.path.stem for f in installed_faces()}, (
            requested,
            chosen,
        )


# --- hostile text ---------------------------------------------------------------------------

HOSTILE = {
    "quotes": "He said \"don't\" — it's #1: 100% true",
    "backslashes": r"C:\temp\new {\b1}bold{\b0} \N \h \\",
    "override": r"{\pos(0,0)}{\fs400}{\c&H0000FF&}HUGE",
    "braces": "}{ {{ }} {",
    "emoji": "🔥 This changes everything 🔥👀",
    "rtl": "שלום עולם — مرحبا بالعالم — hello",
    "long": ("A very long hook that goes on and on " * 10)[:300],
    "one word": "Supercalifragilisticexpialidocious" * 8,
    "newlines": "line one\nline two\r\n\tline three",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_hook_text_renders_inside_the_safe_area_as_text(data_dir, name):
    text = HOSTILE[name][:300]
    style = HookStyle(text=text, position="middle")
    layout = layout_hook(style.text, style, 5.0)
    assert layout is not None
    doc = new_document()
    add_hook(doc, layout, style)
    (event,) = doc.events
    body = event.text.split("}", 1)[1]  # after our own positioning block
    assert not re.search(r"(?<!\\){", body), body  # no override block can open
    frame = ass_frames(write_ass(doc), [1.0])[0]
    left, top, right, bottom = bbox(ink(frame))
    assert left >= SAFE_LEFT - 2 and right <= SAFE_RIGHT + 2
    assert top >= SAFE_TOP - 2 and bottom <= SAFE_BOTTOM + 2
    assert bottom - top < 6 * layout.size  # at most 4 lines (and the box)


def test_hostile_caption_words_render_as_text(data_dir):
    words = clip_words(make_transcript([(r"{\fs300}big \N }{ 🔥 שלום #tag: \\", 0.2, 0.4, 0.2)]),
                       0, 5)  # fmt: skip
    style = CaptionStyle(preset="bold", words_per_line=8)
    lines = lines_for(style, words)
    assert "🔥" not in " ".join(line.text for line in lines)  # emoji-only words are dropped
    doc = new_document()
    add_captions(doc, lines, style)
    for event in doc.events:
        assert not re.search(r"(?<!\\){(?!\\(an5|1c|fn|fsc|alpha|k))", event.text), event.text
    frame = ass_frames(write_ass(doc), [0.5])[0]
    _, top, _, bottom = bbox(ink(frame))
    assert bottom - top < style.size * 2  # \fs300 did not act


def test_ass_text_neutralises_override_characters(data_dir):
    assert ass_text("{a}") == "\\{a\\}"
    assert "\\N" not in ass_text("\\N")
    assert ass_text("x\ny") == "x y"
    assert ass_text("🙂") == ""


def test_hook_text_over_300_characters_is_refused(data_dir):
    with pytest.raises(ValidationError, match="300"):
        HookStyle(text="x" * 301)


def test_emoji_only_hook_draws_nothing(data_dir):
    assert layout_hook("😀😀", HookStyle(), 3.0) is None
    assert LookOptions(hook=True).hook is not None


def test_hook_for_the_first_seconds_or_the_whole_clip(data_dir):
    assert layout_hook("Hi", HookStyle(duration_s=2), 10).end_s == 2
    assert layout_hook("Hi", HookStyle(duration_s=None), 10).end_s == 10
    assert layout_hook("Hi", HookStyle(duration_s=30), 10).end_s == 10
