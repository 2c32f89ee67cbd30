"""Sentences from timed words: which full stops end a sentence, and which only look like it.

A clip must start on a sentence start and end on a sentence end, so the splitter decides what a
viewer hears as whole. Whisper's punctuation is the main signal, read with some knowledge of
text: abbreviations (etc., e.g., Dr., U.S.; per language for en/de/es/fr), decimals and times
split across words ("3." "30"), German ordinals ("am 1. Mai"), ellipses, and quotes or brackets
after the final mark. Where punctuation is missing, timing decides: a long pause ends a
sentence, and a run longer than MAX_SENTENCE_S is split at its longest pause. Nothing here
assumes English or a cased script: a script without capitals simply gives no case evidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reelflow.models import Sentence, Word
from reelflow.scripts import join_words

# Marks that end a sentence in the scripts whisper writes (Latin, CJK, Arabic, Devanagari).
QUESTION_MARKS = "?\uff1f\u061f"
EXCLAMATION_MARKS = "!\uff01"
END_MARKS = ".\u2026\u3002\u0964" + QUESTION_MARKS + EXCLAMATION_MARKS
# Marks that may follow the final mark: quotes and brackets ("He said so." / (see above.)).
CLOSERS = "\"')]}\u201d\u2019\u00bb\u203a\u300d\u300f\uff09"
OPENERS = "\"'([{\u201c\u2018\u00ab\u00bf\u00a1\u300c\u300e\uff08"  # may stand before a word
# Marks that end a clause: the fallback cut points inside a sentence.
CLAUSE_MARKS = ",;:\u3001\uff0c\uff1b\uff1a\u2013\u2014"

SENTENCE_PAUSE_S = 1.0  # a pause this long ends a sentence that whisper left unpunctuated
ABBREVIATION_PAUSE_S = 0.3  # "etc." ends a sentence only before a pause this long (and a capital)
MAX_SENTENCE_S = 20.0  # a longer run is split at its longest pause

# Per language: `titles` stand before a name and never end a sentence ("Dr. Smith");
# `abbreviations` usually continue the sentence but may end it ("...pears, etc. Then we").
# Lower case, without the final full stop.
_COMMON_TITLES = {"dr", "prof", "st"}
_LANGUAGES: dict[str, dict[str, set[str]]] = {
    "en": {
        "titles": {"mr", "mrs", "ms", "messrs", "sr", "rev", "hon", "gen", "col", "capt",
                   "lt", "sgt", "mt", "ft", "nos", "vol", "fig", "figs", "e.g", "i.e", "cf",
                   "vs", "approx", "dept"},
        "abbreviations": {"etc", "inc", "ltd", "co", "corp", "jr", "a.m", "p.m", "u.s", "u.k",
                          "u.n", "e.u", "ph.d", "al"},
    },
    "de": {
        "titles": {"hr", "hrn", "fr", "z.b", "d.h", "vgl", "bzw", "ca", "nr", "evtl", "inkl",
                   "bspw", "sog", "str", "z.t", "i.d.r"},
        "abbreviations": {"usw", "etc", "u.s.w", "u.a", "u.ä", "o.ä", "ggf", "gmbh", "mio",
                          "mrd"},
    },
    "es": {
        "titles": {"sr", "sra", "srta", "sres", "dra", "ud", "uds", "vd", "vds",
                   "p.ej", "pág", "págs", "núm", "nº", "av", "avda", "aprox", "vs", "lic",
                   "ing", "arq"},
        "abbreviations": {"etc", "ee.uu", "s.a", "cía", "hnos"},
    },
    "fr": {
        "titles": {"m", "mm", "mme", "mmes", "mlle", "mlles", "pr", "p.ex", "cf", "av",
                   "bd", "env", "ste", "n°", "vol", "chap", "p"},
        "abbreviations": {"etc", "cie", "s.a", "c.-à-d", "c.à.d"},
    },
}  # fmt: skip
_INITIALISM = re.compile(r"^(?:\w\.){2,}$|^\w$")  # U.S. / a.m. / J (of "J. R. R.")
_NUMBER_END = re.compile(r"\d\.$")  # "3." as in "3. 30" or German "1. Mai"


def abbreviations(language: str) -> tuple[frozenset[str], frozenset[str]]:
    """(titles, abbreviations) for a language; unknown languages get the common titles only."""
    table = _LANGUAGES.get(language.lower().split("-")[0], {})
    titles = frozenset(_COMMON_TITLES | table.get("titles", set()))
    return titles, frozenset(table.get("abbreviations", set()))


def strip_closers(text: str) -> str:
    return text.strip().rstrip(CLOSERS)


def ends_clause(text: str) -> bool:
    """Whether a word closes a clause (a comma, semicolon, colon or dash after it)."""
    core = strip_closers(text)
    return bool(core) and core[-1] in CLAUSE_MARKS


def split_sentences(words: Sequence[Word], language: str = "en") -> list[Sentence]:
    """Group words into sentences: at end marks that really end one, at long pauses where
    whisper left no mark, and inside runs longer than MAX_SENTENCE_S at the longest pause."""
    titles, abbrevs = abbreviations(language)
    spans: list[tuple[int, int]] = []
    first = 0
    for i in range(len(words)):
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt is None or _ends_here(words[i], nxt, language, titles, abbrevs):
            spans.extend(_split_long(words, first, i))
            first = i + 1
    return [_sentence(words, a, b) for a, b in spans]


def _ends_here(
    word: Word, nxt: Word, language: str, titles: frozenset[str], abbrevs: frozenset[str]
) -> bool:
    core = strip_closers(word.text)
    gap = nxt.start_s - word.end_s
    if not core or core[-1] not in END_MARKS:
        # Unpunctuated: a long pause ends it, unless the word asked for more (a comma).
        return gap >= SENTENCE_PAUSE_S and not (core and core[-1] in CLAUSE_MARKS)
    if core.endswith(("...", "…")):
        return _looks_like_a_new_sentence(nxt, gap)
    if core[-1] != ".":
        return True  # ? ! and the marks of other scripts are unambiguous
    stem = core[:-1].lower().lstrip(OPENERS)
    next_text = nxt.text.strip().lstrip(OPENERS)
    if _NUMBER_END.search(core):
        if next_text[:1].isdigit():
            return False  # a decimal or a time split across two words: "3." "30"
        if language.startswith("de"):
            return _looks_like_a_new_sentence(nxt, gap)  # "am 1. Mai" is an ordinal
        return True
    if stem in titles:
        return False
    if stem in abbrevs or _INITIALISM.match(stem):
        return _looks_like_a_new_sentence(nxt, gap)
    # A lower-case word straight after a full stop: an abbreviation this table does not know.
    return gap >= ABBREVIATION_PAUSE_S or not next_text[:1].islower()


def _looks_like_a_new_sentence(nxt: Word, gap: float) -> bool:
    """After an ambiguous mark: a pause, and no lower-case word carrying the sentence on."""
    first = next((c for c in nxt.text if c.isalpha()), "")
    return gap >= ABBREVIATION_PAUSE_S and not first.islower()


def _split_long(words: Sequence[Word], first: int, last: int) -> list[tuple[int, int]]:
    """[first, last] as one span, or cut at the longest pause (a clause mark breaks ties)
    until every piece is at most MAX_SENTENCE_S long."""
    if last <= first or words[last].end_s - words[first].start_s <= MAX_SENTENCE_S:
        return [(first, last)]
    k = max(
        range(first, last),
        key=lambda j: (words[j + 1].start_s - words[j].end_s, ends_clause(words[j].text)),
    )
    return _split_long(words, first, k) + _split_long(words, k + 1, last)


def _sentence(words: Sequence[Word], first: int, last: int) -> Sentence:
    chunk = words[first : last + 1]
    return Sentence(
        start_s=chunk[0].start_s,
        end_s=chunk[-1].end_s,
        text=join_words(w.text.strip() for w in chunk),
        first_word=first,
        last_word=last,
    )
