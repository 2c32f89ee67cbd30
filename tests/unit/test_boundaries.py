from __future__ import annotations

import itertools
import math
import random

import pytest

from reelflow.models import Moment, RepairedMoment, Sentence, Transcript
from tasks.boundaries import boundary_facts, repair_moments
from tasks.moments.types import MomentOptions
from tests.helpers.transcript_factory import make_transcript, random_transcript

OPTS = MomentOptions()  # 15-60 s

# Sentence k starts at 6k s: ten words, word j at 6k + 0.5j lasting 0.425 s (gaps of 0.075 s),
# so it ends at 6k + 4.925, then 1.075 s of pause. Padding: 0.15 s before a sentence,
# 0.25 s after it, and 0.0375 s (half the gap) next to a word inside one.
GRID = make_transcript(
    [(f"Sentence{k} two three four five six seven eight nine end.", 6.0 * k, 0.5, 1.075)
     for k in range(30)],
    duration_s=180,
)  # fmt: skip
EMPTY = make_transcript([], duration_s=300)


def _repair(
    moments: list[Moment],
    transcript: Transcript = GRID,
    cuts: list[float] | None = None,
    opts: MomentOptions = OPTS,
):
    return repair_moments(moments, transcript, cuts or [], transcript.duration_s, opts)


def _moment(start: float, end: float, score: float = 50) -> Moment:
    return Moment(start_s=start, end_s=end, score=score, title=f"at {start}")


def _assert_clean(repaired: list[RepairedMoment], transcript: Transcript, opts=OPTS) -> None:
    for r in repaired:
        m, f = r.moment, r.facts
        assert 0 <= m.start_s < m.end_s <= transcript.duration_s
        assert opts.min_seconds <= m.duration_s <= opts.max_seconds
        assert not f.starts_inside_word and not f.ends_inside_word
        for w in transcript.words:
            assert not w.start_s < m.start_s < w.end_s
            assert not w.start_s < m.end_s < w.end_s
    for a, b in itertools.combinations([r.moment for r in repaired], 2):
        assert a.end_s <= b.start_s or b.end_s <= a.start_s


KEPT = [
    pytest.param(32.6, 52.6, [], 32.4625, 53.175, "start of the word it cut", id="start-mid-word"),
    pytest.param(30.0, 50.7, [], 29.85, 50.9625, "end of the word it cut", id="end-mid-word"),
    pytest.param(29.2, 47.0, [], 29.85, 47.175, "to the sentence start", id="start-to-sentence"),
    pytest.param(-5.0, 20.0, [], 0.0, 19.9625, "start clamped", id="start-before-video"),
    pytest.param(160.0, 200.0, [], 159.9625, 179.175, "end clamped", id="end-after-video"),
    pytest.param(0.0, 100.0, [], 0.0, 59.175, "sentence end to fit 60 s", id="too-long"),
    pytest.param(60.0, 66.0, [], 59.85, 77.175, "more sentences to reach 15", id="too-short"),
    pytest.param(
        174.0, 178.0, [], 161.85, 179.175, "start moved 12.00 s earlier", id="too-short-at-end"
    ),
    pytest.param(60.0, 77.0, [59.6, 77.5], 59.6, 77.5, "scene cut at 59.60", id="cut-clean"),
    pytest.param(60.0, 77.0, [60.2, 76.8], 59.85, 77.175, None, id="cut-inside-word-ignored"),
    pytest.param(60.0, 77.0, [58.0, 79.0], 59.85, 77.175, None, id="cut-too-far-ignored"),
]


@pytest.mark.parametrize(("start", "end", "cuts", "new_start", "new_end", "note"), KEPT)
def test_repaired(start, end, cuts, new_start, new_end, note) -> None:
    repaired, dropped = _repair([_moment(start, end)], cuts=cuts)
    assert dropped == []
    (r,) = repaired
    assert r.moment.start_s == pytest.approx(new_start)
    assert r.moment.end_s == pytest.approx(new_end)
    notes = " | ".join(r.facts.adjustments)
    if note:
        assert note in notes
    else:
        assert "scene cut" not in notes
    assert r.moment.title == f"at {start}"  # everything but the times is kept
    _assert_clean(repaired, GRID)


def test_clean_cut_that_would_break_the_length_is_not_taken() -> None:
    # 29.85-44.9625 is 15.11 s; a clean cut at 29.99 (just before the first word) leaves 14.97 s.
    (r,), _ = _repair([_moment(30.0, 45.0)], cuts=[29.99])
    assert r.moment.start_s == pytest.approx(29.85)
    assert not any("scene cut" in note for note in r.facts.adjustments)
    (r,), _ = _repair([_moment(30.0, 50.0)], cuts=[29.99])  # room to spare: taken
    assert r.moment.start_s == pytest.approx(29.99)


DROPPED = [
    pytest.param(190.0, 220.0, "outside the video", id="entirely-after-video"),
    pytest.param(-30.0, -1.0, "outside the video", id="entirely-before-video"),
    pytest.param(math.nan, 30.0, "not a number", id="nan"),
    pytest.param(10.0, math.inf, "not a number", id="infinite"),
    pytest.param(40.0, 30.0, "not after its start", id="end-before-start"),
]


@pytest.mark.parametrize(("start", "end", "reason"), DROPPED)
def test_dropped(start, end, reason) -> None:
    repaired, (d,) = _repair([_moment(start, end)])
    assert repaired == []
    assert reason in d.reason
    assert d.moment.title == f"at {start}"


def test_too_little_speech_is_dropped_with_reason() -> None:
    isolated = make_transcript(
        [
            ("Hello there, a short one today.", 10.0, 0.5, 1.0),
            ("A lonely sentence.", 100.0, 0.5, 1.0),
        ],
        duration_s=300,
    )
    repaired, (d,) = _repair([_moment(100.0, 110.0)], isolated)
    assert repaired == []
    assert d.reason == "only 1.8 s of speech around 100.0 s; clips must be 15-60 s"


def test_moment_in_silence_is_cut_within_the_silence() -> None:
    isolated = make_transcript([("Some words here.", 10.0, 0.5, 1.0)], duration_s=300)
    (r,), _ = _repair([_moment(150.0, 170.0)], isolated)
    assert (r.moment.start_s, r.moment.end_s) == (150.0, 170.0)
    assert "no speech between 150.0 and 170.0 s" in r.facts.adjustments


def test_moment_in_a_short_silence_takes_the_speech_beside_it() -> None:
    (r,), _ = _repair([_moment(179.2, 179.9)])  # the last word ends at 178.925
    assert (r.moment.start_s, r.moment.end_s) == pytest.approx((161.85, 179.175))
    assert "took the words at 178.5-178.9 s beside it" in r.facts.adjustments[0]


def test_end_snaps_to_a_pause_when_no_sentence_end_is_near() -> None:
    # Sentences of three five-word phrases; 0.8 s pauses between phrases, 1.5 s between sentences.
    phrases = make_transcript(
        [(f"phrase{i} two three four five,", None, 0.5, 1.5 if i % 3 == 2 else 0.8)
         for i in range(30)],
        duration_s=200,
    )  # fmt: skip
    words = phrases.words
    sentences = [
        Sentence(
            start_s=words[15 * k].start_s,
            end_s=words[15 * k + 14].end_s,
            text=" ".join(w.text for w in words[15 * k : 15 * k + 15]),
            first_word=15 * k,
            last_word=15 * k + 14,
        )
        for k in range(10)
    ]
    transcript = phrases.model_copy(update={"sentences": sentences})
    pause_end = words[24].end_s  # the middle phrase of the second sentence
    (r,), _ = _repair([_moment(0.0, words[26].start_s + 0.1)], transcript)
    assert r.moment.end_s == pytest.approx(pause_end + 0.25)
    assert "a pause after a word" in r.facts.adjustments[0]
    _assert_clean([r], transcript)


def test_overlapping_moment_is_trimmed_to_the_free_side() -> None:
    best, weaker = _moment(60.0, 85.0, score=90), _moment(80.0, 110.0, score=50)
    repaired, dropped = _repair([weaker, best])
    assert dropped == []
    assert [r.moment.score for r in repaired] == [90, 50]
    first, second = repaired
    assert (first.moment.start_s, first.moment.end_s) == pytest.approx((59.85, 84.9625))
    assert second.moment.start_s == pytest.approx(84.9625)
    assert "trimmed to avoid the clip starting at 59.9 s" in second.facts.adjustments
    _assert_clean(repaired, GRID)


def test_moment_inside_another_is_dropped() -> None:
    repaired, (d,) = _repair([_moment(60.0, 85.0, score=90), _moment(65.0, 80.0, score=40)])
    assert len(repaired) == 1
    assert d.reason == "overlaps clip starting at 59.9 s"


def test_overlap_trimmed_side_is_extended_away_from_the_other_clip() -> None:
    # The free part on the left is only ~6 s of speech; it grows leftwards to reach 15 s.
    repaired, dropped = _repair([_moment(60.0, 85.0, score=90), _moment(54.0, 70.0, score=40)])
    assert dropped == []
    second = repaired[1].moment
    assert second.end_s <= 59.85 + 1e-9
    assert second.duration_s >= 15
    _assert_clean(repaired, GRID)


def test_empty_transcript_cuts_on_scene_cuts_and_length_only() -> None:
    moments = [_moment(10.0, 30.0, 50), _moment(100.0, 250.0, 40), _moment(290.0, 295.0, 30)]
    repaired, dropped = _repair(moments, EMPTY, cuts=[9.5, 31.0, 170.0])
    assert dropped == []
    spans = [(r.moment.start_s, r.moment.end_s) for r in repaired]
    assert spans == [(9.5, 31.0), (100.0, 160.0), (285.0, 300.0)]
    for r in repaired:
        assert r.facts.adjustments[0].startswith("no transcript")
        assert not r.facts.starts_on_sentence_start and not r.facts.ends_on_sentence_end
    assert repaired[0].facts.start_to_scene_cut_s == 0.0
    _assert_clean(repaired, EMPTY)


def test_empty_transcript_shorter_than_a_clip_is_dropped() -> None:
    short = make_transcript([], duration_s=9.0)
    repaired, (d,) = _repair([_moment(0.0, 9.0)], short)
    assert repaired == []
    assert "clips must be 15-60 s" in d.reason


def test_boundary_facts() -> None:
    facts = boundary_facts(30.2, 40.0, GRID, [29.0, 41.0])
    assert facts.starts_inside_word  # word 30.0-30.425
    assert not facts.ends_inside_word  # 40.0 is a word's start, not inside it
    assert not facts.starts_on_sentence_start  # 0.2 s into the first word
    facts = boundary_facts(29.75, 41.175, GRID, [])
    assert facts.starts_on_sentence_start and facts.ends_on_sentence_end
    assert not boundary_facts(29.6, 41.3, GRID, []).starts_on_sentence_start
    assert facts.start_to_scene_cut_s is None and facts.adjustments == []


@pytest.mark.parametrize("seed", range(5))
def test_invariants_hold_for_random_moments(seed: int) -> None:
    rng = random.Random(seed)
    transcript = GRID if seed % 2 else random_transcript(600, seed=seed)
    duration = transcript.duration_s
    cuts = sorted(rng.uniform(0, duration) for _ in range(40))
    moments = []
    for _ in range(25):
        start = rng.uniform(-20, duration + 5)
        moments.append(_moment(start, start + rng.uniform(1, 120), score=rng.uniform(0, 100)))
    repaired, dropped = _repair(moments, transcript, cuts)
    assert len(repaired) + len(dropped) == len(moments)
    assert repaired, "some random moments should survive"
    scores = [r.moment.score for r in repaired]
    assert scores == sorted(scores, reverse=True)
    _assert_clean(repaired, transcript)
