"""The 10 ms envelope and the quiet-point cut search: pure functions on made-up levels."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.cutpoints import VOICED_DB, cut_at, quietest_cut, speech_level
from reelflow.envelope import FLOOR_DB, HOP_S, Envelope, EnvelopeBuilder, chunked, levels_of

SPEECH, NOISE = -20.0, -62.0


def envelope(speech: list[tuple[float, float]], seconds: float = 10.0, noise=NOISE) -> Envelope:
    """Speech at SPEECH dB in the given spans, a noise floor elsewhere."""
    db = np.full(round(seconds / HOP_S), noise, np.float32)
    for a, b in speech:
        db[round(a / HOP_S) : round(b / HOP_S)] = SPEECH
    return Envelope(db)


def test_the_cut_goes_into_the_pause_nearest_the_ideal_point() -> None:
    env = envelope([(1.0, 3.0), (3.6, 6.0)])  # a 0.6 s pause at 3.0-3.6
    cut = quietest_cut(env, 2.8, 3.8, ideal=3.45)
    assert cut is not None and 3.04 <= cut.t <= 3.56
    assert cut.t == pytest.approx(3.445, abs=0.006)  # quiet everywhere there: nearest wins
    assert cut.in_pause and cut.level_db == NOISE and cut.speech_db == SPEECH


def test_the_ideal_point_inside_a_word_gives_way_to_the_pause() -> None:
    # Whisper put the next word's start at 3.78 (180 ms late): the padded point, 3.63, is
    # inside the word's sound; the cut stays clear of it by the smoothing radius.
    env = envelope([(1.0, 3.0), (3.6, 6.0)])
    cut = quietest_cut(env, 2.9, 3.98, ideal=3.63)
    assert cut is not None and cut.in_pause
    assert 3.0 < cut.t <= 3.6 - 0.04


def test_a_short_dip_inside_a_word_is_not_a_pause() -> None:
    # A 30 ms stop closure at digital silence inside speech, and a real 0.3 s pause at -62 dB.
    env = envelope([(1.0, 3.0), (3.3, 6.0)])
    env.db[round(2.0 / HOP_S) : round(2.03 / HOP_S)] = FLOOR_DB
    cut = quietest_cut(env, 1.9, 3.4, ideal=2.0)
    assert cut is not None and 3.0 < cut.t < 3.3


def test_no_pause_in_the_window_is_reported_as_voiced() -> None:
    env = envelope([(1.0, 6.0)])
    cut = quietest_cut(env, 3.0, 3.4, ideal=3.2)
    assert cut is not None and not cut.in_pause
    assert cut.level_db > cut.speech_db - VOICED_DB


def test_no_speech_around_is_a_pause() -> None:
    assert quietest_cut(envelope([], noise=FLOOR_DB), 1.0, 2.0, ideal=1.5).in_pause


@pytest.mark.parametrize(("lo", "hi"), [(3.0, 2.0), (20.0, 21.0), (-2.0, -1.0)])
def test_a_window_without_frames_has_no_cut(lo, hi) -> None:
    assert quietest_cut(envelope([(1.0, 2.0)]), lo, hi, ideal=lo) is None
    assert quietest_cut(Envelope(np.empty(0, np.float32)), 0.0, 1.0, ideal=0.5) is None


def test_cut_at_and_speech_level_describe_a_given_point() -> None:
    env = envelope([(1.0, 3.0), (3.6, 6.0)])
    assert cut_at(env, 2.0).in_pause is False
    assert cut_at(env, 3.3).in_pause is True
    assert speech_level(env, 3.3) == SPEECH
    assert cut_at(env, 0.0).level_db == NOISE  # the track's edges repeat, never fail


def test_levels_do_not_depend_on_how_the_samples_are_chunked() -> None:
    rate = 16000
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, rate * 3) * np.repeat(rng.uniform(0, 1, 30), rate // 10)
    audio = audio.astype(np.float32)
    whole = levels_of([audio], rate)
    builder = EnvelopeBuilder(rate)
    i = 0
    while i < audio.size:  # odd chunk sizes, so hops straddle chunk edges
        step = int(rng.integers(1, 2000))
        builder.feed(audio[i : i + step])
        i += step
    assert np.array_equal(builder.finish(), whole)
    assert np.array_equal(levels_of(chunked(audio, rate, chunk_s=0.37), rate), whole)
    assert whole.dtype == np.int8 and whole.size == 300


def test_levels_are_dbfs_per_10_ms() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)  # RMS 1/sqrt(2): -3 dBFS
    levels = levels_of([np.concatenate([tone, np.zeros(rate // 2, np.float32)])], rate)
    assert levels.size == 150
    assert set(levels[:100].tolist()) == {-3}
    assert set(levels[100:].tolist()) == {int(FLOOR_DB)}
    assert levels_of([np.zeros(50, np.float32)], rate).tolist() == [-100]  # a partial hop
    assert levels_of([], rate).size == 0
