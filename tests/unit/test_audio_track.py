"""The decoded audio read back in pieces: windows that cover the track exactly and cut in its
pauses, envelopes that do not depend on the chunking, and a transcription fed in windows that
places every word where it is in the source."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.audio_track import AudioTrack, decoded_audio
from tasks.transcribe import loudness_envelope, transcribe_windows

RATE = 1000  # samples per second: small tracks, the same arithmetic


def _track(tmp_path, samples: np.ndarray) -> AudioTrack:
    path = tmp_path / "track.f32"
    samples.astype(np.float32).tofile(path)
    return AudioTrack(path, RATE)


def _speech_with_pauses(seconds: int, pauses: list[float]) -> np.ndarray:
    """A loud noise with 0.5 s of silence at each pause time."""
    rng = np.random.default_rng(7)
    audio = rng.uniform(-0.5, 0.5, seconds * RATE)
    for t in pauses:
        audio[int(t * RATE) : int((t + 0.5) * RATE)] = 0.0
    return audio


def test_windows_cover_the_track_and_cut_in_its_pauses(tmp_path):
    # A pause every 4-4.5 s: every 5 s searched for a cut holds one.
    pauses = [float(t) for t in np.cumsum(np.tile([4.0, 4.5, 4.2, 4.4], 6))]
    audio = _speech_with_pauses(100, pauses)
    track = _track(tmp_path, audio)
    windows = list(track.windows(window_s=20.0, search_s=5.0))
    offsets = [offset for offset, _ in windows]
    assert offsets == sorted(offsets) and offsets[0] == 0.0
    assert np.array_equal(np.concatenate([w for _, w in windows]), audio.astype(np.float32))
    assert all(w.size <= 25 * RATE for _, w in windows)
    for cut in offsets[1:]:
        assert any(t <= cut <= t + 0.5 for t in pauses), f"cut at {cut} s is not in a pause"


def test_a_short_track_comes_whole(tmp_path):
    audio = _speech_with_pauses(24, [10.0])
    (only,) = _track(tmp_path, audio).windows(window_s=20.0, search_s=5.0)
    assert only[0] == 0.0 and only[1].size == audio.size


@pytest.mark.parametrize("chunk_s", [0.37, 1.0, 60.0])
def test_loudness_envelope_does_not_depend_on_the_chunking(tmp_path, chunk_s):
    audio = _speech_with_pauses(30, [5.0, 12.3])
    whole = loudness_envelope([audio.astype(np.float32)], 0.25, RATE)
    assert len(whole) == 120
    assert loudness_envelope(_track(tmp_path, audio).chunks(chunk_s), 0.25, RATE) == whole


def test_decoded_audio_is_read_back_and_removed(tmp_path, data_dir, short_video):
    from reelflow.media import decode_audio

    with decoded_audio(short_video, data_dir / "tmp") as track:
        path = track.path
        assert np.array_equal(track.read(0, track.samples), decode_audio(short_video))
        assert track.duration_s == pytest.approx(22, abs=0.1)
    assert not path.exists()


@pytest.mark.slow
def test_words_of_windows_are_placed_in_source_time(tmp_path, data_dir, short_video):
    """The same 22 s of speech transcribed whole and in windows of about 8 s: the windowed
    words are the same words at the same source times (a word at a cut may differ)."""
    from reelflow.settings import get_settings
    from reelflow.whisper_models import ENGLISH_MODEL
    from tasks.transcribe import load_model

    s = get_settings()
    model = load_model(ENGLISH_MODEL, s.whisper_device, s.whisper_compute_type, 0)
    with decoded_audio(short_video, data_dir / "tmp") as track:
        whole, _ = transcribe_windows(model, [(0.0, track.read(0, track.samples))], "en")
        pieces = list(track.windows(window_s=8.0, search_s=3.0))
        windowed, language = transcribe_windows(model, pieces, "en")
    assert len(pieces) >= 2 and language == "en"
    starts = [w.start_s for w in windowed]
    assert starts == sorted(starts) and starts[-1] > pieces[-1][0]
    by_text = {}
    for w in whole:
        by_text.setdefault(w.text.lower().strip(".,?!"), []).append(w.start_s)
    placed = [
        w for w in windowed
        if any(abs(t - w.start_s) < 0.3 for t in by_text.get(w.text.lower().strip(".,?!"), []))
    ]  # fmt: skip
    assert len(placed) >= 0.85 * len(whole), (len(placed), len(whole))
