"""Boundaries with the audio envelope: whole sentences for any pick, cuts in true pauses.

Synthetic transcripts (tests/transcript_factory.py) against made-up envelopes whose speech is
where the words really are, while the transcript's times are off as whisper's are.
"""

from __future__ import annotations

import itertools
import random
import time

import numpy as np
import pytest

from reelflow.envelope import HOP_S, Envelope
from reelflow.models import Moment, Sentence, Transcript
from tasks.boundaries import boundary_facts, repair_moments
from tasks.moments.types import MomentOptions
from tests.helpers.transcript_factory import make_transcript, random_transcript

SPEECH, NOISE = -20.0, -60.0
OPTS = MomentOptions(min_seconds=15, max_seconds=40)
# Sentence k: ten words from 6k s, 0.5 s apart, ending at 6k + 4.925; 1.075 s pauses.
GRID = make_transcript(
    [(f"Sentence{k} two three four five six seven eight nine end.", 6.0 * k, 0.5, 1.075)
     for k in range(40)],
    duration_s=240,
)  # fmt: skip


def _moment(start: float, end: float, score: float = 50) -> Moment:
    return Moment(start_s=start, end_s=end, score=score)


def envelope_of(spans: list[tuple[float, float]], seconds: float) -> Envelope:
    db = np.full(round(seconds / HOP_S), NOISE, np.float32)
    for a, b in spans:
        db[round(a / HOP_S) : round(b / HOP_S)] = SPEECH
    return Envelope(db)


def true_speech(transcript: Transcript, seed: int, error_s: float = 0.2):
    """Each sentence's real sound: its word times moved by up to error_s at both ends."""
    rng = random.Random(seed)
    return [
        (s.start_s + rng.uniform(-error_s, error_s), s.end_s + rng.uniform(-error_s, error_s))
        for s in transcript.sentences
    ]


def _in_speech(t: float, spans) -> bool:
    return any(a - 0.02 <= t <= b + 0.02 for a, b in spans)


@pytest.mark.parametrize("seed", range(6))
def test_sloppy_picks_become_whole_sentences_cut_in_true_pauses(seed) -> None:
    rng = random.Random(seed)
    speech = true_speech(GRID, seed)
    env = envelope_of(speech, GRID.duration_s)
    picks = []
    for first in range(0, 36, 6):  # sentence windows, quoted up to 3 s off
        a, b = GRID.sentences[first].start_s, GRID.sentences[first + 3].end_s
        picks.append(_moment(a + rng.uniform(-3, 3), b + rng.uniform(-3, 3), 90 - first))
    kept, dropped = repair_moments(picks, GRID, [], GRID.duration_s, OPTS, env)
    assert not dropped
    for item in kept:
        m, f = item.moment, item.facts
        assert not _in_speech(m.start_s, speech) and not _in_speech(m.end_s, speech)
        assert (f.start_on, f.end_on) == ("sentence", "sentence")
        assert f.starts_in_pause and f.ends_in_pause
        assert f.start_cut_level_db == f.end_cut_level_db == NOISE
        assert OPTS.min_seconds <= m.duration_s <= OPTS.max_seconds
    spans = sorted((k.moment.start_s, k.moment.end_s) for k in kept)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_word_times_alone_would_cut_into_the_sound() -> None:
    """The same transcript without the envelope pads word times: whisper's error shows."""
    speech = [(s.start_s - 0.2, s.end_s + 0.2) for s in GRID.sentences]  # whisper 200 ms in
    pick = [_moment(60.0, 77.0)]
    (plain,), _ = repair_moments(pick, GRID, [], GRID.duration_s, OPTS)
    assert _in_speech(plain.moment.start_s, speech)  # padded 0.15 s: still in the sound
    env = envelope_of(speech, GRID.duration_s)
    (heard,), _ = repair_moments(pick, GRID, [], GRID.duration_s, OPTS, env)
    assert not _in_speech(heard.moment.start_s, speech)
    assert not _in_speech(heard.moment.end_s, speech)


def _long_sentences() -> Transcript:
    """Sentences of three five-word clauses (~8.9 s), 0.8 s pauses after commas, 1.5 s after
    a sentence: at 12-16 s no sentence pair fits, so clips end on clauses."""
    phrases = make_transcript(
        [(f"phrase{i} two three four five,", None, 0.5, 1.5 if i % 3 == 2 else 0.8)
         for i in range(30)],
        duration_s=200,
    )  # fmt: skip
    words = phrases.words
    sentences = [
        Sentence(start_s=words[15 * k].start_s, end_s=words[15 * k + 14].end_s, text="...",
                 first_word=15 * k, last_word=15 * k + 14)
        for k in range(10)
    ]  # fmt: skip
    return phrases.model_copy(update={"sentences": sentences})


def test_two_clips_never_share_a_sentence() -> None:
    transcript = _long_sentences()
    opts = MomentOptions(min_seconds=12, max_seconds=16)
    words = transcript.words
    # The first clip ends on a clause inside sentence 1 (words 15-29); the second is asked
    # to start right after it, in the same sentence.
    first = _moment(0.0, words[19].end_s + 0.5, score=90)
    second = _moment(words[20].start_s, words[20].start_s + 14, score=50)
    kept, dropped = repair_moments([first, second], transcript, [], transcript.duration_s, opts)
    assert not dropped
    a, b = kept
    assert a.facts.end_on == "clause" and a.moment.end_s < words[20].start_s
    assert b.moment.start_s > words[29].end_s  # not a word of sentence 1
    assert b.facts.start_on == "sentence"


def test_a_pick_inside_a_held_sentence_is_dropped_with_why() -> None:
    transcript = _long_sentences()
    opts = MomentOptions(min_seconds=12, max_seconds=16)
    words = transcript.words
    first = _moment(0.0, words[19].end_s + 0.5, score=90)  # ends inside sentence 1
    rest = _moment(words[21].start_s, words[28].end_s, score=50)  # the rest of sentence 1
    kept, (d,) = repair_moments([first, rest], transcript, [], transcript.duration_s, opts)
    assert len(kept) == 1
    assert d.reason.endswith("belongs to sentences another clip holds")


def test_reserved_clips_keep_their_sentences() -> None:
    transcript = _long_sentences()
    opts = MomentOptions(min_seconds=12, max_seconds=16)
    words = transcript.words
    reserved = [(0.0, words[19].end_s + 0.2)]  # ends inside sentence 1
    pick = _moment(words[20].start_s, words[20].start_s + 14)
    (item,), _ = repair_moments([pick], transcript, [], 200, opts, reserved=reserved)
    assert item.moment.start_s > words[29].end_s


def test_a_scene_cut_in_speech_is_refused_and_one_in_the_pause_taken() -> None:
    speech = [(s.start_s, s.end_s) for s in GRID.sentences]
    env = envelope_of(speech, GRID.duration_s)
    pick = [_moment(60.0, 77.0)]
    (r,), _ = repair_moments(pick, GRID, [60.1], GRID.duration_s, OPTS, env)
    assert r.moment.start_s < 60.0 and "scene cut" not in " ".join(r.facts.adjustments)
    (r,), _ = repair_moments(pick, GRID, [59.7], GRID.duration_s, OPTS, env)
    assert r.moment.start_s == 59.7 and r.facts.starts_in_pause
    assert "onto the scene cut at 59.70 s" in " ".join(r.facts.adjustments)


def test_a_sentence_start_with_a_pause_beats_a_nearer_one_without() -> None:
    # The audio runs on through the gap before sentence 10 (at 60 s): nowhere quiet to cut
    # there, so the clip starts at sentence 9 (54 s) rather than in someone's breath.
    speech = [(s.start_s, s.end_s) for s in GRID.sentences] + [(58.0, 61.0)]
    env = envelope_of(speech, GRID.duration_s)
    (r,), _ = repair_moments([_moment(60.0, 77.0)], GRID, [], GRID.duration_s, OPTS, env)
    assert 52.925 < r.moment.start_s < 54.0
    assert r.facts.start_on == "sentence" and r.facts.starts_in_pause


def test_a_cut_where_nothing_is_quiet_is_reported() -> None:
    env = Envelope(np.full(round(GRID.duration_s / HOP_S), SPEECH, np.float32))
    (r,), _ = repair_moments([_moment(60.0, 77.0)], GRID, [], GRID.duration_s, OPTS, env)
    f = r.facts
    assert (f.start_on, f.end_on) == ("sentence", "sentence")  # still whole sentences
    assert f.starts_in_pause is False and f.ends_in_pause is False
    assert f.start_cut_level_db == SPEECH
    assert any(n.startswith("no pause at the start") for n in f.adjustments)


def test_facts_measure_a_given_span_on_the_envelope() -> None:
    speech = [(s.start_s, s.end_s) for s in GRID.sentences]
    env = envelope_of(speech, GRID.duration_s)
    facts = boundary_facts(29.6, 41.3, GRID, [], envelope=env)
    assert facts.starts_in_pause and facts.ends_in_pause
    assert (facts.start_cut_level_db, facts.end_cut_level_db) == (NOISE, NOISE)
    facts = boundary_facts(30.2, 41.3, GRID, [], envelope=env)
    assert facts.starts_inside_word and facts.start_on == "word"
    assert facts.starts_in_pause is False and facts.start_cut_level_db == SPEECH


def test_three_hours_of_speech_repair_in_well_under_a_second_per_pick() -> None:
    transcript = random_transcript(3 * 3600, seed=1)
    speech = [(s.start_s, s.end_s) for s in transcript.sentences]
    env = envelope_of(speech, transcript.duration_s)
    rng = random.Random(1)
    picks = []
    for _ in range(15):
        start = rng.uniform(0, transcript.duration_s - 60)
        picks.append(_moment(start, start + rng.uniform(10, 70), rng.uniform(0, 100)))
    began = time.perf_counter()
    kept, dropped = repair_moments(picks, transcript, [], transcript.duration_s,
                                   MomentOptions(), env)  # fmt: skip
    assert time.perf_counter() - began < 5.0
    assert len(kept) + len(dropped) == 15 and kept
