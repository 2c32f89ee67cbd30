"""Writing systems that put no spaces between words, and how text in them is joined, split
and measured.

Whisper writes Chinese, Japanese, Thai, Lao, Khmer and Burmese without spaces: each of its
"words" is a character or a few, and joining them with spaces (as for English) puts a gap
between every syllable of a caption or a sentence. Korean keeps spaces between words, so
Hangul is not listed here. A character in one of these scripts, or CJK punctuation and
full-width forms, sits directly against its neighbours.
"""

from __future__ import annotations

from collections.abc import Iterable

# (first, last) code points of the scripts and marks written without spaces between words.
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation (。、「」)
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31C0, 0x31FF),  # CJK strokes, Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # full-width and half-width forms (full-width marks, half-width kana)
    (0x20000, 0x3134F),  # CJK extensions B to G
)


def unspaced(char: str) -> bool:
    """Whether `char` belongs to a script (or is a mark) written without spaces."""
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in _UNSPACED)


def spaced_between(left: str, right: str) -> bool:
    """Whether a space goes between two words written one after the other."""
    if not left or not right:
        return False
    return not (unspaced(left[-1]) or unspaced(right[0]))


def join_words(words: Iterable[str]) -> str:
    """Words as running text: spaces where the script has them, none where it has not
    ("我们 今天" -> "我们今天", "I said 你好" -> "I said你好" as whisper writes it)."""
    out = ""
    for word in words:
        if not word:
            continue
        if out and spaced_between(out, word):
            out += " "
        out += word
    return out


def split_words(text: str) -> list[str]:
    """Running text as words: at spaces, and in unspaced scripts one character a word, each
    keeping the marks that follow it ("你好。" -> ["你", "好。"]).
    `join_words` gives the text back, so a translated line can be timed word by word."""
    words: list[str] = []
    for token in text.split():
        start = len(words)
        for char in token:
            if len(words) > start and _continues(words[-1], char):
                words[-1] += char
            else:
                words.append(char)
    return words


def _continues(word: str, char: str) -> bool:
    if not char.isalnum() or not any(c.isalnum() for c in word):
        return True  # a mark stays with the letter before it, an opening mark with the next
    return not (unspaced(char) or unspaced(word[-1]))


def reading_weight(word: str) -> float:
    """How much of a caption line's word budget `word` takes: one for a spaced word, half a
    letter for unspaced scripts (a line of four words holds about eight Chinese characters),
    nothing for punctuation alone."""
    letters = sum(c.isalnum() for c in word)
    if not letters:
        return 0.0
    if any(unspaced(c) for c in word):
        return letters / 2
    return 1.0


def first_words(text: str, limit: float) -> str:
    """The start of `text` that reads as at most `limit` words (by `reading_weight`): a hook
    of ten words is ten English words or about twenty Chinese characters."""
    kept: list[str] = []
    total = 0.0
    for word in split_words(text):
        total += reading_weight(word)
        if total > limit:
            break
        kept.append(word)
    return join_words(kept)
