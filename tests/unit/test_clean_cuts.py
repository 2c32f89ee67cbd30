"""Clip edges a viewer never notices, checked against speech whose truth the test made itself.

tests/speech_truth.py lays espeak-ng sentences out with pauses at known samples over a faint
noise floor and muxes them over a still picture. The real stages run on it: transcription
(whisper tiny.en, which also stores the 10 ms envelope), the local provider and the Gemini
provider (the real google-genai client against the stand-in, answering with spans up to 3 s
off, as LLMs quote times), boundaries, and render. Every cut must fall in a true pause, right
before a sentence's speech (start) or right after it (end), and no two clips may share a
sentence; the rendered files must open and close quietly.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from reelflow.envelope import envelope_file
from reelflow.media import decode_audio, probe
from reelflow.models import CropSegment, ReframePlan, RepairedMoment
from reelflow.settings import get_settings
from tasks.boundaries import boundaries
from tasks.moments.dispatch import find_moments
from tasks.moments.types import MomentOptions
from tasks.render import RenderOptions, render_clip
from tasks.transcribe import transcribe_media
from testkit.speech import SpeechTruth, make_speech_video
from tests.helpers.gemini_server import gemini_stand_in

pytestmark = pytest.mark.slow

OPTS = MomentOptions(clips=3, min_seconds=8, max_seconds=20)
WHISPER_SLACK_S = 0.7  # whisper's sentence times against the truth, at worst on this speech


@pytest.fixture(scope="session")
def speech(tmp_path_factory, ffmpeg) -> SpeechTruth:
    return make_speech_video(tmp_path_factory.mktemp("speech"), ffmpeg)


@pytest.fixture(scope="session")
def transcribed(speech):
    """The media and its real transcript, once per session (whisper is the slow part)."""
    media = probe(speech.video)
    return media, transcribe_media(media)


def _assert_clean_cuts(kept: list[RepairedMoment], truth: SpeechTruth) -> None:
    assert kept
    held = []
    for item in kept:
        m, f = item.moment, item.facts
        first, last = truth.sentence_after(m.start_s), truth.sentence_before(m.end_s)
        where = f"clip {m.start_s:.3f}-{m.end_s:.3f} s ({f.adjustments})"
        assert truth.in_pause(m.start_s) and truth.in_pause(m.end_s), where
        assert first is not None, f"{where} does not start right before a sentence"
        assert last is not None, f"{where} does not end right after a sentence"
        assert (f.start_on, f.end_on) == ("sentence", "sentence"), where
        assert f.starts_in_pause and f.ends_in_pause, where
        assert f.start_cut_level_db < -50 and f.end_cut_level_db < -50, where
        assert OPTS.min_seconds <= m.duration_s <= OPTS.max_seconds
        held.append(set(range(first, last + 1)))
    for a, b in itertools.combinations(held, 2):
        assert not a & b, "two clips share a sentence"


def test_whisper_sentences_match_the_truth(speech, transcribed) -> None:
    """The splitter keeps "Dr. Patel", "etc. before" and "1.5" inside their sentences."""
    _, transcript = transcribed
    found = [s.start_s for s in transcript.sentences]
    assert len(found) == len(speech.spans)
    for (true_start, _), start in zip(speech.spans, found, strict=True):
        assert abs(start - true_start) < WHISPER_SLACK_S


def test_local_clips_cut_in_pauses_on_sentences_and_render_quiet_edges(
    speech, transcribed, tmp_path
) -> None:
    media, transcript = transcribed
    picks = find_moments(transcript, [], OPTS, "local").moments
    # A scene cut inside the first sentence must not pull a cut into speech.
    cuts = [sum(speech.spans[0]) / 2]
    kept, dropped = boundaries.fn(picks, transcript, cuts, media.duration_s, OPTS, media)
    assert not dropped
    _assert_clean_cuts(kept, speech)
    for i, item in enumerate(kept):
        _assert_rendered_edges_quiet(media, item, tmp_path / f"clip{i}.mp4")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sloppy_gemini_spans_become_whole_sentences_cut_in_pauses(
    speech, transcribed, monkeypatch, seed
) -> None:
    media, transcript = transcribed
    windows = [speech.window(0, 2), speech.window(4, 6), speech.window(8, 10)]
    with gemini_stand_in(monkeypatch, "AIzaTEST-key") as gemini:
        sent = gemini.sloppy(windows, shift_s=3.0, seed=seed)
        picks = find_moments(transcript, [], OPTS, "gemini").moments
    assert [(m.start_s, m.end_s) for m in picks] == [(round(a, 2), round(b, 2)) for a, b in sent]
    kept, dropped = boundaries.fn(picks, transcript, [], media.duration_s, OPTS, media)
    assert len(kept) == 3, [d.reason for d in dropped]
    _assert_clean_cuts(kept, speech)


def test_a_lost_envelope_is_made_again_from_the_video(speech, transcribed) -> None:
    media, transcript = transcribed
    stored = envelope_file(get_settings().cache_dir, media.sha256)
    assert stored.exists(), "transcription stores the envelope"
    before = stored.read_bytes()
    stored.unlink()
    picks = find_moments(transcript, [], OPTS, "local").moments
    kept, _ = boundaries.fn(picks, transcript, [], media.duration_s, OPTS, media)
    _assert_clean_cuts(kept, speech)
    assert stored.read_bytes() == before  # streamed from the video: the same levels


def _assert_rendered_edges_quiet(media, item: RepairedMoment, out) -> None:
    m = item.moment
    plan = ReframePlan(
        source_width=media.width, source_height=media.height, crop_width=100, crop_height=178,
        segments=[CropSegment(start_s=0.0, end_s=m.duration_s, layout="crop")],
    )  # fmt: skip
    opts = RenderOptions(preset="ultrafast", crf=35)
    clip = render_clip(media, m.start_s, m.end_s, plan, out, out.with_suffix(".jpg"), opts)
    audio = decode_audio(clip.path, rate=16000)
    assert abs(audio.size / 16000 - m.duration_s) < 0.06
    speech_db = _db(audio)
    edge = 320  # 20 ms
    for name, part in (("start", audio[:edge]), ("end", audio[-edge:])):
        assert _db(part) < speech_db - 30, f"{name} of {m.start_s:.2f}-{m.end_s:.2f} s is loud"
    # The fade: the very first and last samples are (nearly) silent.
    assert np.max(np.abs(audio[:8])) < 10 ** (-50 / 20)
    assert np.max(np.abs(audio[-8:])) < 10 ** (-50 / 20)


def _db(x: np.ndarray) -> float:
    return float(10 * np.log10(max(np.mean(np.square(x, dtype=np.float64)), 1e-12)))
