"""Which whisper model transcribes a video, and in which language.

English keeps the fast English-only `tiny.en`; every other language goes to the multilingual
model (`base` by default, WHISPER_MULTILINGUAL_MODEL). With `language="auto"` (the default)
the multilingual model listens to the opening speech and names the language; the
transcription then runs in that language with the model for it. A WHISPER_MODEL set by hand
transcribes everything (a multilingual one detects the language itself, while transcribing).

Detection is paid by every job, English ones too, so it hears as little as decides: the VAD
runs over a growing opening instead of three minutes, and the encoder first hears 12 s of
speech at their own length (a fifth of the cost of whisper's padded 30 s window); only an
answer below SURE_AT is asked again of the first 30 s of speech, as faster-whisper's own
`detect_language(vad_filter=True)` would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reelflow.errors import InvalidRequest
from reelflow.languages import AUTO, name_of
from reelflow.settings import Settings
from reelflow.whisper_models import ENGLISH_MODEL, is_english_only

SAMPLE_RATE = 16000
# Detection hears at most the first 30 s of speech (whisper's window), found within this much
# of the opening audio, not in a whole 3-hour track.
DETECT_WITHIN_S = 180
DETECT_SPEECH_S = 30
# Heard first. Measured on espeak talks (English in four voices, German, Spanish, Italian,
# Polish, ...): 12 s named the same language as 30 s whenever it was this sure, at about a
# fifth of the encoder's time (0.4 s against 1.8 s of CPU for base, int8).
FIRST_SPEECH_S = 12
SURE_AT = 0.9
# Silero's verdicts on the start of a track do not depend on what follows, but where a speech
# chunk ends does, for up to min_silence (2 s) plus twice the padding (0.4 s) after it: speech
# this far before the end of the audio the VAD has seen is final.
VAD_SETTLE_S = 4.0
UNSURE_BELOW = 0.5  # a detected language this unlikely gets a warning in the manifest


@dataclass(frozen=True)
class ModelChoice:
    model: str
    language: str | None  # None: the model detects it while transcribing
    detected: bool = False
    probability: float | None = None
    warning: str | None = None


def choose_model(
    option: str, settings: Settings, detect: Callable[[str], tuple[str, float]]
) -> ModelChoice:
    """`detect(model_name)` runs language detection with that model on the audio."""
    if settings.whisper_model:
        return _fixed_model(option, settings.whisper_model)
    multilingual = settings.whisper_multilingual_model
    if option != AUTO:
        return ModelChoice(ENGLISH_MODEL if option == "en" else multilingual, option)
    language, probability = detect(multilingual)
    warning = None
    if probability < UNSURE_BELOW:
        warning = (
            f"The spoken language is unclear ({name_of(language)} at {probability:.0%}); "
            "set the job's language if the transcript is wrong"
        )
    model = ENGLISH_MODEL if language == "en" else multilingual
    return ModelChoice(model, language, True, round(probability, 3), warning)


def models_needed(option: str, settings: Settings) -> list[str]:
    """The models `choose_model` and the transcription after it will load, in that order (a
    job with `auto` may need only the first)."""
    if settings.whisper_model:
        return [settings.whisper_model]
    multilingual = settings.whisper_multilingual_model
    if option == AUTO:  # detection needs the multilingual one; English then takes tiny.en
        return [multilingual, ENGLISH_MODEL]
    return [ENGLISH_MODEL if option == "en" else multilingual]


def _fixed_model(option: str, model: str) -> ModelChoice:
    if not is_english_only(model):
        return ModelChoice(model, None if option == AUTO else option)
    if option not in (AUTO, "en"):
        raise InvalidRequest(
            f"WHISPER_MODEL={model} only knows English, and the job asks for "
            f"{name_of(option)}: unset WHISPER_MODEL or set a multilingual model (base, small)"
        )
    return ModelChoice(model, "en")


def detect_language(model, audio: np.ndarray) -> tuple[str, float]:
    """(code, probability) from the speech at the start of `audio` (its first DETECT_WITHIN_S)
    by whisper's own detector: FIRST_SPEECH_S of speech when that is sure, else the first
    30 s of speech, as faster-whisper's `detect_language(audio, vad_filter=True)` hears them."""
    head = audio[: DETECT_WITHIN_S * SAMPLE_RATE]
    speech = opening_speech(head, FIRST_SPEECH_S)
    if speech.size == FIRST_SPEECH_S * SAMPLE_RATE:  # else that is all the speech there is
        language, probability = language_of(model, speech)
        if probability >= SURE_AT:
            return language, probability
        speech = opening_speech(head, DETECT_SPEECH_S)
    # Padded to 30 s, as faster-whisper does. No speech at all: whisper hears the padding
    # alone, as before (English at about 56%; the transcription then finds no words).
    try:
        language, probability, _ = model.detect_language(speech)
    except ValueError:  # a faster-whisper that refuses empty audio: the opening as it is
        language, probability, _ = model.detect_language(head[: DETECT_SPEECH_S * SAMPLE_RATE])
    return language, float(probability)


def language_of(model, speech: np.ndarray) -> tuple[str, float]:
    """The likeliest language of `speech` (under 30 s), encoded at its own length rather
    than padded to whisper's 30 s window: the encoder's cost follows the frames it gets (as
    with faster-whisper's `chunk_length`)."""
    features = model.feature_extractor(speech)[
        ..., : speech.size // model.feature_extractor.hop_length
    ]
    (token, probability), *_ = model.model.detect_language(model.encode(features))[0]
    return token[2:-2], float(probability)  # "<|de|>" -> "de"


def opening_speech(audio: np.ndarray, seconds: float) -> np.ndarray:
    """The first `seconds` of speech in `audio` (all of it when there is less), as
    faster-whisper's VAD filter keeps it (empty when the VAD hears none). Silero runs over
    twice that much audio, doubled until it holds enough settled speech (VAD_SETTLE_S), not
    over all of `audio`: the samples are the ones a run over all of it gives."""
    from faster_whisper.vad import collect_chunks, get_speech_timestamps

    need, settle = int(seconds * SAMPLE_RATE), int(VAD_SETTLE_S * SAMPLE_RATE)
    size = 2 * need
    while True:
        part = audio[:size]
        found = get_speech_timestamps(part)
        whole = part.size == audio.size
        settled = part.size if whole else part.size - settle
        heard = sum(max(0, min(c["end"], settled) - c["start"]) for c in found)
        if whole or heard >= need:
            break
        size *= 2
    chunks, _ = collect_chunks(part, found)
    return np.concatenate(chunks)[:need]
