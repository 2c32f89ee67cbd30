"""A clip's speech as phrases, and translated phrases back on the clip's timeline.

A phrase ends after a sentence or clause mark, before a pause of PAUSE_S, or at MAX_WORDS: short
enough that a translated line on screen while it is spoken reads as a subtitle of it, long
enough that a translator has a thought to translate (word order differs between languages, so
words are never translated one by one). A translated phrase keeps its source phrase's time
span; inside it, its words share the span by their length, so captions can still light up
word by word.
"""

from __future__ import annotations

from reelflow.models import Word
from reelflow.scripts import join_words, split_words
from reelflow.sentences import CLAUSE_MARKS, END_MARKS, strip_closers
from tasks.translate.types import Phrase

PAUSE_S = 0.45
MAX_WORDS = 12


def clip_phrases(words: list[Word]) -> list[Phrase]:
    """`words` in clip time (tasks.effects.local.clip_words) as phrases, in order."""
    phrases: list[Phrase] = []
    group: list[Word] = []
    for i, word in enumerate(words):
        group.append(word)
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt is None or _ends_phrase(group, word, nxt):
            text = join_words(w.text.strip() for w in group)
            if text:
                phrases.append(Phrase(start_s=group[0].start_s, end_s=group[-1].end_s, text=text))
            group = []
    return phrases


def _ends_phrase(group: list[Word], word: Word, nxt: Word) -> bool:
    mark = strip_closers(word.text.strip())[-1:]
    return (
        len(group) >= MAX_WORDS
        or nxt.start_s - word.end_s >= PAUSE_S
        or (mark != "" and mark in END_MARKS + CLAUSE_MARKS)
    )


def timed_words(phrase: Phrase, text: str) -> list[Word]:
    """The translated `text` as words spread over the source phrase's span, each by its
    length (plus one for the space), so none is shown before its phrase begins or after it
    ends."""
    parts = split_words(text)
    if not parts:
        return []
    weights = [len(p) + 1 for p in parts]
    total = sum(weights)
    span = max(phrase.end_s - phrase.start_s, 0.01 * len(parts))
    out, at = [], phrase.start_s
    for part, weight in zip(parts, weights, strict=True):
        end = at + span * weight / total
        out.append(Word(start_s=round(at, 3), end_s=round(end, 3), text=part))
        at = end
    return out
