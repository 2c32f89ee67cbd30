"""Language detection hears as little as decides (tasks.language): the speech is found without
running the VAD over three minutes, 12 s of it decide when whisper is sure, and otherwise the
first 30 s of speech decide exactly as faster-whisper's own detector does. Real base model,
real espeak-ng talks (testkit), nothing stubbed."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.media import decode_audio
from tasks.language import (
    DETECT_WITHIN_S,
    FIRST_SPEECH_S,
    SAMPLE_RATE,
    SURE_AT,
    detect_language,
    language_of,
    opening_speech,
)
from testkit.languages import make_language_video
from testkit.speech import make_speech_video
from tests.helpers.media import SAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def talks(tmp_path_factory, ffmpeg) -> dict[str, np.ndarray]:
    """16 kHz audio of the test talks: English, German, Spanish, and English in espeak's
    Caribbean voice, which base names only hesitantly."""
    d = tmp_path_factory.mktemp("talks")
    videos = {
        "en": make_speech_video(d / "en", ffmpeg).video,
        "de": make_language_video(d / "de", ffmpeg, "de", SAMPLE).video,
        "es": make_language_video(d / "es", ffmpeg, "es", SAMPLE).video,
        "en-029": make_speech_video(d / "en-029", ffmpeg, voice="en-029").video,
    }
    return {name: decode_audio(video) for name, video in videos.items()}


@pytest.fixture(scope="module")
def base():
    from reelflow.settings import get_settings
    from tasks.transcribe import load_model

    s = get_settings()
    return load_model(s.whisper_multilingual_model, s.whisper_device, s.whisper_compute_type, 0)


def _whispers_own(model, audio: np.ndarray) -> tuple[str, float]:
    """What the detection was before: faster-whisper's detector over the opening, VAD on."""
    language, probability, _ = model.detect_language(
        audio[: DETECT_WITHIN_S * SAMPLE_RATE], vad_filter=True
    )
    return language, float(probability)


def _all_speech(audio: np.ndarray) -> np.ndarray:
    from faster_whisper.vad import collect_chunks, get_speech_timestamps

    return np.concatenate(collect_chunks(audio, get_speech_timestamps(audio))[0])


def test_the_opening_speech_is_what_the_vad_keeps_of_the_whole_opening(talks):
    """Found in a growing window, the speech is the same samples, to the last one, as a VAD
    run over all of the audio keeps: also after a long quiet opening (noise alone for 50 s,
    so the window has to grow), when a window ends in a long pause (the VAD closes the speech
    before it only 2 s into the pause), and all of the speech when there is less than asked."""
    quiet = np.random.default_rng(3).normal(0, 10 ** (-62 / 20), 50 * SAMPLE_RATE)
    quiet = quiet.astype(np.float32)
    late = np.concatenate([quiet, talks["de"]])
    s = SAMPLE_RATE
    # 11 s of speech from 11.5 s, then 4 s of pause: the first window (24 s) ends 1.5 s into
    # it, where the VAD still counts the pause as speech and so finds 12 s of it there.
    paused = np.concatenate([quiet[: 23 * s // 2], talks["en"][: 11 * s], quiet[: 4 * s],
                             talks["en"][11 * s :]])  # fmt: skip
    for audio in (talks["en"], talks["de"], late, paused):
        everything = _all_speech(audio)
        for seconds in (FIRST_SPEECH_S, 30):
            found = opening_speech(audio, seconds)
            assert found.size == seconds * SAMPLE_RATE
            assert np.array_equal(found, everything[: found.size])
    short = talks["es"][: 9 * SAMPLE_RATE]
    assert np.array_equal(opening_speech(short, FIRST_SPEECH_S), _all_speech(short))
    assert opening_speech(quiet.astype(np.float32), 30).size == 0  # noise: no speech


def test_sure_languages_are_named_from_twelve_seconds_of_speech(talks, base):
    """English, German and Spanish are named from their first 12 s of speech, as faster-whisper's
    detector names them from 30 s."""
    for code in ("en", "de", "es"):
        audio = talks[code]
        heard = language_of(base, opening_speech(audio, FIRST_SPEECH_S))
        assert heard[0] == code and heard[1] >= SURE_AT, (code, heard)
        assert detect_language(base, audio) == heard
        assert _whispers_own(base, audio)[0] == code


def test_an_unsure_opening_is_heard_again_as_before(talks, base):
    """Caribbean English is not sure from 12 s: the first 30 s of speech then decide, with
    the answer faster-whisper's own detector gives. So does audio without speech."""
    audio = talks["en-029"]
    assert language_of(base, opening_speech(audio, FIRST_SPEECH_S))[1] < SURE_AT
    assert detect_language(base, audio) == pytest.approx(_whispers_own(base, audio))
    noise = np.random.default_rng(4).normal(0, 1e-3, 40 * SAMPLE_RATE).astype(np.float32)
    assert detect_language(base, noise) == pytest.approx(_whispers_own(base, noise))
