from __future__ import annotations

import itertools
import re
import string
import time

import pytest
from pydantic import ValidationError

from reelflow.models import Moment, Transcript
from tasks.moments.local import find_local_moments
from tasks.moments.types import MomentOptions
from tests.helpers.transcript_factory import (
    WORD_FILL,
    SentenceSpec,
    make_transcript,
    random_transcript,
)

FILLER = (
    "The team met in the office on a grey morning.",
    "The garden needs water every second day in summer.",
    "Engineers measured the bridge with lasers and drones.",
)


def _segment(opener: str, start: float, closer: str | None = None) -> list[SentenceSpec]:
    """Four 4.5 s sentences with 0.5 s pauses: 19.5 s in all, so only the whole fits 15-60 s."""
    texts = [opener, *FILLER[:2], closer or FILLER[2]]
    specs: list[SentenceSpec] = []
    for i, text in enumerate(texts):
        seconds_per_word = 4.5 / (len(text.split()) - 1 + WORD_FILL)
        specs.append((text, start if i == 0 else None, seconds_per_word, 0.5))
    return specs


def _two_segments(a: list[SentenceSpec], b: list[SentenceSpec]) -> Transcript:
    return make_transcript([*a, *b], duration_s=200)


def _tokens(text: str) -> set[str]:
    return {t.strip(string.punctuation).lower() for t in text.split()} - {""}


def _window_tokens(transcript: Transcript, moment: Moment) -> set[str]:
    inside = (w.text for w in transcript.words if moment.start_s <= w.start_s < moment.end_s)
    return _tokens(" ".join(inside))


@pytest.mark.parametrize(
    "opener",
    [
        pytest.param("Why do ninety percent of people never save any money?", id="question"),
        pytest.param("We spent 3 years and $40,000 building the first prototype.", id="figures"),
        pytest.param("Here's the secret nobody tells you about compound interest.", id="emphatic"),
    ],
)
def test_strong_opener_beats_dangling_opener(opener: str) -> None:
    transcript = _two_segments(
        _segment("And so it went on like that for a while.", 0.0), _segment(opener, 100.0)
    )
    moments = find_local_moments(transcript, [], MomentOptions(clips=2))
    assert [m.start_s for m in moments] == [100.0, 0.0]
    assert moments[0].score > moments[1].score
    assert "opens mid-thought" in moments[1].reason.lower()


@pytest.mark.parametrize(
    ("opener", "closer"),
    [
        pytest.param("Welcome to the channel, and don't forget to subscribe.", None, id="intro"),
        pytest.param(FILLER[0], "Thanks for watching, see you next time.", id="outro"),
    ],
)
def test_intro_and_outro_talk_is_penalised(opener: str, closer: str | None) -> None:
    neutral = _segment("Most people think marathon training starts with running.", 100.0)
    transcript = _two_segments(_segment(opener, 0.0, closer), neutral)
    moments = find_local_moments(transcript, [], MomentOptions(clips=2))
    assert moments[0].start_s == 100.0
    assert moments[0].score - moments[1].score >= 20
    assert "intro/outro" in moments[1].reason


def test_question_is_named_in_the_reason() -> None:
    transcript = make_transcript(
        _segment("Why do ninety percent of people never save any money?", 0.0)
    )
    (moment,) = find_local_moments(transcript, [], MomentOptions())
    assert moment.reason.startswith("Opens with a question")
    assert moment.reason.endswith(".")


def test_chosen_clips_do_not_overlap_and_keep_a_gap() -> None:
    transcript = random_transcript(20 * 60, seed=3)
    moments = find_local_moments(transcript, [], MomentOptions())
    spans = sorted((m.start_s, m.end_s) for m in moments)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end + 1.0


@pytest.mark.parametrize("clips", [1, 4, 9])
def test_clips_count_is_respected(clips: int) -> None:
    transcript = random_transcript(15 * 60, seed=4)
    moments = find_local_moments(transcript, [], MomentOptions(clips=clips))
    assert len(moments) == clips


def test_asking_for_more_clips_than_fit_gives_as_many_as_fit() -> None:
    transcript = random_transcript(100, seed=5)
    moments = find_local_moments(transcript, [], MomentOptions(clips=15))
    assert 2 <= len(moments) <= 100 // 16


@pytest.mark.parametrize("minutes", [10, 60])
def test_automatic_count_is_between_3_and_15(minutes: int) -> None:
    transcript = random_transcript(minutes * 60, seed=6)
    moments = find_local_moments(transcript, [], MomentOptions())
    assert 3 <= len(moments) <= 15


def test_automatic_count_gives_fewer_than_3_only_when_no_more_fit() -> None:
    transcript = _two_segments(_segment(FILLER[0], 0.0), _segment(FILLER[1], 100.0))
    assert len(find_local_moments(transcript, [], MomentOptions())) == 2


@pytest.mark.parametrize(
    "specs",
    [
        pytest.param([], id="no-words"),
        pytest.param([("Just one short sentence here.", 5.0, 0.4, 0.5)], id="one-sentence"),
        pytest.param(
            [("A short sentence here.", 5.0, 0.4, 0.5), ("Another one far away.", 90.0, 0.4, 0.5)],
            id="sentences-too-far-apart",
        ),
    ],
)
def test_too_little_speech_gives_no_moments(specs: list[SentenceSpec]) -> None:
    transcript = make_transcript(specs, duration_s=120)
    assert find_local_moments(transcript, [], MomentOptions()) == []


def test_text_fields_fit_their_limits_and_come_from_the_window() -> None:
    long_opener = " ".join(["Honestly the biggest mistake"] + ["people make with money"] * 8) + "."
    specs = _segment(long_opener, 0.0) + _segment(FILLER[0], 100.0)
    transcript = random_transcript(10 * 60, seed=7)
    for t in (transcript, make_transcript(specs, duration_s=200)):
        moments = find_local_moments(t, [], MomentOptions())
        assert moments
        for m in moments:
            window = _window_tokens(t, m)
            assert m.source == "local"
            assert 0 < len(m.title) <= 100
            assert m.title[0].isupper()
            assert 0 < len(m.hook.split()) <= 10
            assert 3 <= len(m.hashtags) <= 6
            assert all(re.fullmatch(r"#[^\W_]+", tag) for tag in m.hashtags)
            assert {tag[1:] for tag in m.hashtags} <= window
            for text in (m.title, m.hook, m.description_tiktok, m.description_instagram):
                assert _tokens(text) - {tag.lower() for tag in m.hashtags} <= window | {
                    tag[1:] for tag in m.hashtags
                }
            assert m.description_tiktok.endswith(" ".join(m.hashtags))
            assert len(m.description_instagram) >= len(m.description_tiktok)
            assert m.reason.endswith(".")
            assert m.score == round(m.score, 1)


def test_moments_are_sorted_best_first_and_scored_0_to_100() -> None:
    moments = find_local_moments(random_transcript(30 * 60, seed=8), [], MomentOptions(clips=10))
    scores = [m.score for m in moments]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 100 for s in scores)


def test_lengths_follow_the_options() -> None:
    opts = MomentOptions(clips=5, min_seconds=20, max_seconds=30)
    for m in find_local_moments(random_transcript(15 * 60, seed=9), [], opts):
        assert 20 <= m.duration_s <= 30


def test_deterministic() -> None:
    transcript = random_transcript(15 * 60, seed=10)
    first = find_local_moments(transcript, [], MomentOptions())
    again = find_local_moments(transcript, [], MomentOptions())
    assert [m.model_dump() for m in first] == [m.model_dump() for m in again]


def test_three_hour_transcript_scores_quickly() -> None:
    transcript = random_transcript(3 * 3600, seed=11)
    assert len(transcript.words) > 20_000
    began = time.perf_counter()
    moments = find_local_moments(transcript, [], MomentOptions())
    assert time.perf_counter() - began < 5  # a guard against quadratic blow-ups, not a benchmark
    assert 3 <= len(moments) <= 15


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"clips": 0}, id="no-clips"),
        pytest.param({"clips": 16}, id="too-many-clips"),
        pytest.param({"min_seconds": 4}, id="min-too-small"),
        pytest.param({"max_seconds": 181}, id="max-too-big"),
        pytest.param({"min_seconds": 30, "max_seconds": 30}, id="min-not-below-max"),
        pytest.param({"min_seconds": float("nan")}, id="nan"),
    ],
)
def test_options_are_validated(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        MomentOptions(**kwargs)
