"""The offline `local` moment provider: scores sentence-aligned windows of the transcript.

No model and no network: each window gets a weighted sum of features that tend to make a short
clip work on its own (a hooky opener, figures, emphatic words, a lively pace, varied loudness,
a clean start and end), minus intro/outro talk. Deterministic, so one video always gives the
same clips. Per-sentence prefix sums keep a 3-hour transcript to well under a second.
"""

from __future__ import annotations

import math
import string
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from reelflow.models import Moment, Transcript
from reelflow.scripts import first_words, join_words, split_words, unspaced
from reelflow.sentences import (
    CLAUSE_MARKS,
    CLOSERS,
    END_MARKS,
    EXCLAMATION_MARKS,
    OPENERS,
    QUESTION_MARKS,
    ends_clause,
    strip_closers,
)
from tasks.moments.lexicons import Lexicon, lexicon_for
from tasks.moments.types import AUTO_MAX, AUTO_MIN, MIN_GAP_S, MomentOptions

# Punctuation of every script whisper writes, stripped from a word to make its token.
_PUNCT = string.punctuation + END_MARKS + CLAUSE_MARKS + CLOSERS + OPENERS
_APOSTROPHE = "\u2019"


# Points out of 100 per feature; a window that maxes every feature scores 100.
W_HOOK = 25  # first sentence: a question, a hook opener, a figure, short and punchy
W_STANDALONE = 15  # does not open mid-thought (0.6) and ends on . ? ! (0.4)
W_EMPHATIC = 15  # emphatic/emotional words; full marks at EMPHATIC_RATE of the words
W_PACE = 15  # words per second; full marks for lively speech (LIVELY_WPS)
W_FIGURES = 10  # numbers and figures anywhere; full marks at 3
W_LOUDNESS = 10  # loudness varies more than is usual for this video
W_DURATION = 10  # 10 in the middle of the length range, 5 at its edges: a slight preference
INTRO_PENALTY = 30  # per intro/outro phrase ("subscribe", "welcome to"), up to the cap
INTRO_PENALTY_CAP = 60

EMPHATIC_RATE = 0.05
LIVELY_WPS = (2.5, 3.5)
SILENCE_DB = -50.0  # hops quieter than this are pauses, not speech, for loudness variation

AUTO_MARGIN = 15  # automatic count: every clip within this many points of the best one
HASHTAGS = 5


class _Window(NamedTuple):
    score: float
    first: int  # sentence indexes, inclusive
    last: int
    start_s: float
    end_s: float


class _Features(NamedTuple):
    hook: float
    hook_label: str
    figures: int
    emphatic: int
    words: int
    wps: float
    loudness: float  # window's loudness spread over the video's; 0 when unknown
    dangling: bool
    ends_clean: bool
    intro: int
    duration: float


@dataclass
class _Stats:
    """Per-sentence facts, with prefix sums so any window's totals cost two lookups."""

    lex: Lexicon  # the transcript language's word lists
    tokens: list[str]  # one per word: lower case, edge punctuation stripped
    texts: list[str]  # one per sentence, rebuilt from its words
    first_word: list[int]
    last_word: list[int]
    start: list[float]
    end: list[float]
    words: list[int]  # prefix sums, len = sentences + 1
    figures: list[int]
    emphatic: list[int]
    intro: list[int]
    hook: list[float]
    hook_label: list[str]
    dangling: list[bool]
    ends_clean: list[bool]
    terms: list[list[str]]  # per sentence: its hashtag candidates, in order

    def count(self, prefix: list[int], first: int, last: int) -> int:
        return prefix[last + 1] - prefix[first]


def find_local_moments(
    transcript: Transcript, scene_cuts: list[float], opts: MomentOptions
) -> list[Moment]:
    """The best non-overlapping sentence-aligned windows, best first; [] when none fits.

    `scene_cuts` is accepted for parity with other providers; boundaries.py aligns the cuts.
    """
    del scene_cuts
    stats = _sentence_stats(transcript)
    loudness = _Loudness(transcript)
    windows = _score_windows(stats, loudness, opts)
    chosen = _select(windows, opts)
    df = _document_frequency(stats) if chosen else Counter()
    return [_moment(stats, loudness, df, w, opts) for w in chosen]


def _token(text: str) -> str:
    return text.strip().lower().replace(_APOSTROPHE, "'").strip(_PUNCT)


def _is_figure(text: str, token: str, lex: Lexicon) -> bool:
    return any(c.isdigit() for c in text) or lex.is_number(token)


def _sentence_stats(transcript: Transcript) -> _Stats:
    words = transcript.words
    tokens = [_token(w.text) for w in words]
    lex = lexicon_for(
        transcript.language, [tokens[x.first_word : x.last_word + 1] for x in transcript.sentences]
    )
    figure = [_is_figure(w.text, t, lex) for w, t in zip(words, tokens, strict=True)]
    s = _Stats(lex, tokens, [], [], [], [], [], [0], [0], [0], [0], [], [], [], [], [])
    for sentence in transcript.sentences:
        first = max(0, sentence.first_word)
        last = min(len(words) - 1, sentence.last_word)
        text = join_words(w.text.strip() for w in words[first : last + 1])
        lowered = text.lower().replace(_APOSTROPHE, "'")
        start = lowered.lstrip(_PUNCT + " ")  # where an opener or a dangling word would be
        n = max(0, last - first + 1)
        figures = sum(figure[first : last + 1])
        dangling = n > 0 and lex.dangles(tokens[first], start)
        phrase = lex.opener(tokens[first : first + 3], start)
        hook, label = _opener(phrase, text, n, figures, dangling)
        s.texts.append(text)
        s.first_word.append(first)
        s.last_word.append(last)
        s.start.append(sentence.start_s)
        s.end.append(sentence.end_s)
        s.words.append(s.words[-1] + n)
        s.figures.append(s.figures[-1] + figures)
        emphatic = _emphatic(words[first : last + 1], tokens[first : last + 1], lowered, lex)
        s.emphatic.append(s.emphatic[-1] + emphatic)
        s.intro.append(s.intro[-1] + sum(lowered.count(p) for p in lex.intro))
        s.hook.append(hook)
        s.hook_label.append(label)
        s.dangling.append(dangling)
        s.ends_clean.append(_ends_with(text, END_MARKS))
        terms = lex.terms(tokens[first : last + 1], lowered)
        s.terms.append([t for t in terms if _taggable(t, lex)])
    return s


def _ends_with(text: str, marks: str) -> bool:
    """Whether `text`'s last mark, before any closing quote or bracket, is one of `marks`."""
    last = strip_closers(text)[-1:]
    return last != "" and last in marks


def _emphatic(words: list, tokens: list[str], text: str, lex: Lexicon) -> int:
    """Emphatic words, and words shouted with "!" (a signal in every language)."""
    shouted = [_ends_with(w.text, EXCLAMATION_MARKS) for w in words]
    if lex.unspaced:  # its emphatic words span tokens: counted in the text
        return len(lex.emphatic_in(tokens, text)) + sum(shouted)
    return sum(t in lex.emphatic or loud for t, loud in zip(tokens, shouted, strict=True))


def _opener(
    phrase: str | None, text: str, n_words: int, figures: int, dangling: bool
) -> tuple[float, str]:
    """How well a sentence works as a clip's first line (0-1), and a label for the reason;
    `phrase`: the hook opener it starts with, if any."""
    question = _ends_with(text, QUESTION_MARKS)
    # Brevity only helps a line that makes sense on its own ("And so." is short, not punchy).
    short = 3 <= n_words <= 12 and not dangling
    strength = 0.45 * question + 0.35 * bool(phrase) + 0.25 * (figures > 0) + 0.2 * short
    if question:
        label = "opens with a question"
    elif phrase:
        label = f'opens with "{phrase}"'
    elif figures:
        label = "opens with a figure"
    else:
        label = "short punchy opener" if short else ""
    return min(1.0, strength), label


class _Loudness:
    """Spread (std-dev, dB) of the speaking hops in a window, relative to the whole video's."""

    def __init__(self, transcript: Transcript):
        self.hop = transcript.loudness_hop_s if transcript.loudness_hop_s > 0 else 0.25
        self.count, self.total, self.squares = [0], [0.0], [0.0]
        for db in transcript.loudness_db:
            loud = math.isfinite(db) and db > SILENCE_DB
            self.count.append(self.count[-1] + loud)
            self.total.append(self.total[-1] + (db if loud else 0.0))
            self.squares.append(self.squares[-1] + (db * db if loud else 0.0))
        self.reference = self._std(0, len(self.count) - 1)

    def _std(self, a: int, b: int) -> float:
        n = self.count[b] - self.count[a]
        if n < 4:
            return 0.0
        mean = (self.total[b] - self.total[a]) / n
        return math.sqrt(max(0.0, (self.squares[b] - self.squares[a]) / n - mean * mean))

    def ratio(self, start_s: float, end_s: float) -> float:
        if self.reference <= 0:
            return 0.0
        last = len(self.count) - 1
        a = min(last, max(0, int(start_s / self.hop)))
        b = min(last, max(a, math.ceil(end_s / self.hop)))
        return self._std(a, b) / self.reference


def _features(s: _Stats, loudness: _Loudness, first: int, last: int) -> _Features:
    duration = s.end[last] - s.start[first]
    words = s.count(s.words, first, last)
    return _Features(
        hook=s.hook[first],
        hook_label=s.hook_label[first],
        figures=s.count(s.figures, first, last),
        emphatic=s.count(s.emphatic, first, last),
        words=words,
        wps=words / duration if duration > 0 else 0.0,
        loudness=loudness.ratio(s.start[first], s.end[last]),
        dangling=s.dangling[first],
        ends_clean=s.ends_clean[last],
        intro=s.count(s.intro, first, last),
        duration=duration,
    )


def _pace_score(wps: float) -> float:
    low, high = LIVELY_WPS
    if wps < low:
        return max(0.0, (wps - 1.0) / (low - 1.0))
    if wps > high:
        return max(0.0, (5.5 - wps) / (5.5 - high))
    return 1.0


def _points(f: _Features, opts: MomentOptions) -> dict[str, float]:
    middle = (opts.min_seconds + opts.max_seconds) / 2
    half_range = (opts.max_seconds - opts.min_seconds) / 2
    return {
        "hook": W_HOOK * f.hook,
        "figures": W_FIGURES * min(1.0, f.figures / 3),
        "emphatic": W_EMPHATIC * min(1.0, f.emphatic / max(1, f.words) / EMPHATIC_RATE),
        "pace": W_PACE * _pace_score(f.wps),
        "loudness": W_LOUDNESS * min(1.0, max(0.0, (f.loudness - 0.8) / 0.5)),
        "standalone": W_STANDALONE * (0.6 * (not f.dangling) + 0.4 * f.ends_clean),
        "duration": W_DURATION * (1 - 0.5 * min(1.0, abs(f.duration - middle) / half_range)),
        "intro": -min(INTRO_PENALTY_CAP, INTRO_PENALTY * f.intro),
    }


def _score(points: dict[str, float]) -> float:
    return min(100.0, max(0.0, sum(points.values())))


def _score_windows(s: _Stats, loudness: _Loudness, opts: MomentOptions) -> list[_Window]:
    windows = []
    n = len(s.start)
    for first in range(n):
        if s.count(s.words, first, first) == 0:
            continue
        for last in range(first, n):
            duration = s.end[last] - s.start[first]
            if duration > opts.max_seconds:
                break
            if duration >= opts.min_seconds:
                f = _features(s, loudness, first, last)
                score = _score(_points(f, opts))
                windows.append(_Window(score, first, last, s.start[first], s.end[last]))
    # Ties go to the earlier window, so the order never depends on anything but the input.
    windows.sort(key=lambda w: (-w.score, w.start_s, w.end_s))
    return windows


def _select(windows: list[_Window], opts: MomentOptions) -> list[_Window]:
    """Greedy best-first, skipping windows within MIN_GAP_S of one already chosen."""
    if not windows:
        return []
    spans: list[tuple[float, float]] = []
    chosen: list[_Window] = []
    limit = opts.clips or AUTO_MAX
    floor = windows[0].score - AUTO_MARGIN
    for w in windows:
        if len(chosen) >= limit:
            break
        if opts.clips is None and len(chosen) >= AUTO_MIN and w.score < floor:
            break
        if any(w.start_s < b + MIN_GAP_S and a < w.end_s + MIN_GAP_S for a, b in spans):
            continue
        spans.append((w.start_s, w.end_s))
        chosen.append(w)
    return chosen


def _moment(
    s: _Stats, loudness: _Loudness, df: Counter[str], w: _Window, opts: MomentOptions
) -> Moment:
    f = _features(s, loudness, w.first, w.last)
    points = _points(f, opts)
    sentences = range(w.first, w.last + 1)
    hashtags = _hashtags(s, df, w)
    tags = " ".join(hashtags)
    return Moment(
        start_s=w.start_s,
        end_s=w.end_s,
        title=_sentence_case(_trim(s.texts[_strongest(s, sentences)], 100)),
        hook=_hook(s, sentences),
        description_tiktok=f"{_lead(s, sentences, 2, 150)} {tags}".strip(),
        description_instagram=f"{_lead(s, sentences, 3, 300)}\n\n{tags}".strip(),
        hashtags=hashtags,
        score=round(_score(points), 1),
        reason=_reason(s, f, points, w),
        source="local",
    )


def _interest(s: _Stats, k: int) -> float:
    """How quotable one sentence is, for picking the title and the hook."""
    n = s.count(s.words, k, k)
    return (
        3.0 * s.hook_label[k].startswith("opens with a question")
        + 2.0 * s.hook[k]
        + s.count(s.figures, k, k)
        + s.count(s.emphatic, k, k)
        + (4 <= n <= 16)
        - 3.0 * s.dangling[k]
        - 5.0 * s.count(s.intro, k, k)
    )


def _strongest(s: _Stats, sentences: range) -> int:
    # max() keeps the first of equals: ties go to the earlier sentence.
    return max(sentences, key=lambda k: _interest(s, k))


def _hook(s: _Stats, sentences: range) -> str:
    """The opening line when it is short and stands alone, else the strongest short sentence."""
    first = sentences[0]
    if s.count(s.words, first, first) <= 10 and not s.dangling[first]:
        return _sentence_case(s.texts[first])
    short = [k for k in sentences if 3 <= s.count(s.words, k, k) <= 10]
    if short:
        return _sentence_case(s.texts[max(short, key=lambda k: _interest(s, k))])
    words = split_words(first_words(s.texts[first], 10))  # Chinese: twenty characters
    # Cut at a comma (or another clause mark) when it leaves a phrase of at least four words.
    for i in range(len(words) - 1, 3, -1):
        if ends_clause(words[i - 1]):
            words = words[:i]
            break
    return _sentence_case(join_words(words).rstrip(CLAUSE_MARKS + "-"))


def _lead(s: _Stats, sentences: range, most: int, limit: int) -> str:
    """The window's first sentences, as many as fit in `limit` characters (at least one)."""
    text = _trim(s.texts[sentences[0]], limit)
    for k in sentences[1:most]:
        longer = join_words((text, s.texts[k]))
        if len(longer) > limit:
            break
        text = longer
    return _sentence_case(text)


def _trim(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0] if " " in text[: limit + 1] else text[:limit]
    return cut[:limit].rstrip(" ,;:-\u2013\u2014")


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _emphatic_words(s: _Stats, w: _Window) -> list[str]:
    return [
        word
        for k in range(w.first, w.last + 1)
        for word in s.lex.emphatic_in(
            s.tokens[s.first_word[k] : s.last_word[k] + 1], s.texts[k].lower()
        )
    ]


def _taggable(token: str, lex: Lexicon) -> bool:
    # A Chinese or Japanese word of two characters is as much a topic as "money".
    shortest = 2 if token and unspaced(token[0]) else 3
    return (
        len(token) >= shortest and token.isalnum() and not token.isdigit() and token not in lex.stop
    )


def _document_frequency(s: _Stats) -> Counter[str]:
    df: Counter[str] = Counter()
    for terms in s.terms:
        df.update(set(terms))
    return df


def _hashtags(s: _Stats, df: Counter[str], w: _Window) -> list[str]:
    """The window's most distinctive content words (tf-idf against the whole transcript)."""
    tf = Counter(t for k in range(w.first, w.last + 1) for t in s.terms[k])
    n = len(s.start)
    weight = {t: c * (math.log((1 + n) / (1 + df[t])) + 1) for t, c in tf.items()}
    ranked = sorted(weight, key=lambda t: (-weight[t], -tf[t], -len(t), t))
    return [f"#{t}" for t in ranked[:HASHTAGS]]


def _reason(s: _Stats, f: _Features, points: dict[str, float], w: _Window) -> str:
    """One sentence naming the features that earned the most points."""
    found: list[tuple[float, str]] = []
    if f.hook_label and points["hook"] > 0:
        found.append((points["hook"], f.hook_label))
    if f.figures:
        found.append((points["figures"], f"{f.figures} figure{'s' * (f.figures > 1)}"))
    if f.emphatic:
        examples = list(dict.fromkeys(_emphatic_words(s, w)))[:2]
        words = f"emphatic words ({', '.join(examples)})" if examples else "exclamations"
        found.append((points["emphatic"], words))
    if points["pace"] >= 0.6 * W_PACE:
        lively = LIVELY_WPS[0] <= f.wps <= LIVELY_WPS[1]
        found.append(
            (points["pace"], f"{'lively' if lively else 'good'} pace ({f.wps:.1f} words/s)")
        )
    if points["loudness"] >= 0.5 * W_LOUDNESS:
        found.append((points["loudness"], "strong loudness variation"))
    if not f.dangling and f.ends_clean:
        found.append((points["standalone"], "stands on its own"))
    found.sort(key=lambda item: -item[0])  # stable: equal points keep the order above
    phrases = [text for _, text in found[:4]]
    if f.dangling:
        phrases.append("opens mid-thought")
    if f.intro:
        phrases.append("has intro/outro talk")
    if not phrases:
        return "No standout features; the best stretch of speech available."
    return _sentence_case("; ".join(phrases)) + "."
