"""Which whisper model transcribes a video, and in which language.

English keeps the fast English-only `tiny.en`; every other language goes to the multilingual
model (`base` by default, WHISPER_MULTILINGUAL_MODEL). With `language="auto"` (the default)
the multilingual model listens to the first 30 s of speech and names the language; the
transcription then runs in that language with the model for it. A WHISPER_MODEL set by hand
transcribes everything (a multilingual one detects the language itself, while transcribing).
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
# Detection hears the first 30 s of speech; the VAD looks for it in this much audio, not in a
# whole 3-hour track.
DETECT_WITHIN_S = 180
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
    """(code, probability) from the first 30 s of speech (whisper's own detector)."""
    head = audio[: DETECT_WITHIN_S * SAMPLE_RATE]
    try:
        language, probability, _ = model.detect_language(head, vad_filter=True)
    except ValueError:  # the VAD heard no speech there: listen to the opening as it is
        language, probability, _ = model.detect_language(head[: 30 * SAMPLE_RATE])
    return language, float(probability)
