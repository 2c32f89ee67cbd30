"""The stored 10 ms envelope: written by transcription's samples, read back, made again."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.audio_track import decoded_audio
from reelflow.envelope import envelope_file, levels_of, load_envelope
from reelflow.media import probe
from reelflow.settings import get_settings
from tasks.transcribe import SAMPLE_RATE, store_envelope
from tests.helpers.media import make_media


@pytest.fixture
def tone_video(tmp_path, ffmpeg):
    """2 s of tone, 1 s of silence, 1 s of tone, over a small picture."""
    return probe(make_media(
        ffmpeg, tmp_path / "tone.mp4", "-f", "lavfi", "-i", "color=c=gray:s=64x64:r=10:d=4",
        "-f", "lavfi", "-i",
        "aevalsrc='0.5*sin(2*PI*440*t)*(lt(t,2)+gte(t,3))':s=48000:d=4",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest",
    ))  # fmt: skip


def test_transcription_samples_and_a_streamed_decode_give_the_same_levels(
    data_dir, tone_video
) -> None:
    cache = get_settings().cache_dir
    with decoded_audio(tone_video.path, data_dir / "tmp", rate=SAMPLE_RATE) as track:
        store_envelope(tone_video, track, cache)
    stored = envelope_file(cache, tone_video.sha256)
    assert stored.exists()
    written = np.load(stored)
    env = load_envelope(tone_video, cache)  # read back
    assert np.array_equal(env.db, written.astype(np.float32))
    assert env.level_at(1.0) > -10 and env.level_at(2.5) < -80  # tone, then the silence
    stored.unlink()
    again = load_envelope(tone_video, cache)  # streamed from the video
    assert np.array_equal(again.db, env.db) and stored.exists()


@pytest.mark.parametrize("damage", [b"", b"not an npy file", b"\x93NUMPY\x01\x00garbage"])
def test_a_damaged_file_is_made_again(data_dir, tone_video, damage) -> None:
    cache = get_settings().cache_dir
    stored = envelope_file(cache, tone_video.sha256)
    stored.parent.mkdir(parents=True)
    stored.write_bytes(damage)
    env = load_envelope(tone_video, cache)
    assert env is not None and env.duration_s == pytest.approx(4.0, abs=0.05)
    assert np.load(stored).dtype == np.int8


def test_the_wrong_kind_of_array_is_made_again(data_dir, tone_video) -> None:
    cache = get_settings().cache_dir
    stored = envelope_file(cache, tone_video.sha256)
    stored.parent.mkdir(parents=True)
    np.save(stored, np.zeros((3, 3), np.float64))
    assert load_envelope(tone_video, cache).db.ndim == 1


def test_no_audio_no_envelope(data_dir, tmp_path, ffmpeg) -> None:
    silent = probe(make_media(ffmpeg, tmp_path / "mute.mp4", "-f", "lavfi", "-i",
                              "color=c=gray:s=64x64:r=10:d=2", "-c:v", "libx264"))  # fmt: skip
    assert load_envelope(silent, get_settings().cache_dir) is None
    assert levels_of([], SAMPLE_RATE).size == 0
