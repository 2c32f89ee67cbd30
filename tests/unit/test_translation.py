"""Translation and dubbing providers against stand-ins on 127.0.0.1 driven through the real
clients (google-genai; httpx against ElevenLabs' REST API), and the phrase timing that keeps a
translated line on screen while its source phrase is spoken."""

from __future__ import annotations

import itertools
import json

import pytest

from reelflow.errors import DubbingError, DubbingKeyError, DubbingUnavailable, GeminiBadAnswer
from reelflow.gemini import GeminiOptions
from reelflow.manifest import ClipTexts
from reelflow.models import Word
from tasks.dub import DubbingOptions, dub_audio
from tasks.translate.dispatch import translate_clip_text
from tasks.translate.gemini import GeminiTranslator
from tasks.translate.offline import OfflineUnavailable
from tasks.translate.phrases import clip_phrases, timed_words
from tasks.translate.types import Phrase, TranslationJob
from testkit.elevenlabs import ElevenLabsStandIn
from testkit.gemini import GeminiStandIn
from testkit.translation import translate_prompt, translator


def _words(*specs: tuple[str, float, float]) -> list[Word]:
    return [Word(start_s=a, end_s=b, text=t) for t, a, b in specs]


def test_phrases_end_on_marks_pauses_and_length():
    words = _words(("Hallo", 0.0, 0.3), ("zusammen,", 0.35, 0.7), ("heute", 0.8, 1.0),
                   ("geht", 1.05, 1.2), ("es", 1.25, 1.3), ("los.", 1.35, 1.6),
                   ("Wirklich", 2.5, 2.9))  # fmt: skip
    phrases = clip_phrases(words)
    assert [p.text for p in phrases] == ["Hallo zusammen,", "heute geht es los.", "Wirklich"]
    assert (phrases[1].start_s, phrases[1].end_s) == (0.8, 1.6)
    long = _words(*[(f"w{i}", i * 0.3, i * 0.3 + 0.25) for i in range(30)])
    assert max(len(p.text.split()) for p in clip_phrases(long)) == 12


def test_translated_words_stay_inside_their_phrase():
    phrase = Phrase(start_s=2.0, end_s=4.0, text="heute geht es los")
    words = timed_words(phrase, "today it all begins")
    assert words[0].start_s == 2.0 and words[-1].end_s == pytest.approx(4.0, abs=0.002)
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in itertools.pairwise(words))
    assert timed_words(phrase, "  ") == []


JOB = TranslationJob(
    source_language="de", target_language="es",
    phrases=[Phrase(start_s=0, end_s=1, text="Hallo zusammen,"),
             Phrase(start_s=1.2, end_s=2.5, text="heute geht es los.")],
    texts=ClipTexts(title="Los geht's", hook="Jetzt geht es los", hashtags=["#start"]),
)  # fmt: skip


def _options(server) -> GeminiOptions:
    return GeminiOptions(model="gemini-2.5-flash", base_url=server.url, timeout_s=10)


def test_gemini_translates_every_phrase_and_the_texts():
    with GeminiStandIn(responder=translator()) as server:
        result = GeminiTranslator(_options(server), "k-123").translate(JOB)
    assert result.phrases == ["[es] Hallo zusammen,", "[es] heute geht es los."]
    assert result.texts.title == "[es] Los geht's" and result.texts.hashtags == ["#esclip"]
    assert result.tokens_in == 800 and result.estimated_cost_usd > 0
    (sent,) = server.requests
    assert sent.headers.get("x-goog-api-key") == "k-123"
    schema = sent.body["generationConfig"]
    assert schema["responseMimeType"] == "application/json" and schema["temperature"] == 0
    assert "German (de) into Spanish (es)" in sent.prompt


def test_an_answer_missing_phrases_is_asked_again_then_refused():
    with GeminiStandIn() as server:
        good = translate_prompt(
            "Target language: Spanish (es)\n1| Hallo zusammen,\n2| heute geht es los.\nTitle: T"
        )
        short = {**good, "phrases": good["phrases"][:1]}
        server.text(json.dumps(short))
        server.text(json.dumps(good))
        assert GeminiTranslator(_options(server), "k").translate(JOB).phrases[1].startswith("[es]")
        assert "expected 1-2" in server.requests[1].prompt
        server.text(json.dumps(short))
        server.text("not json")
        with pytest.raises(GeminiBadAnswer, match="asked twice"):
            GeminiTranslator(_options(server), "k").translate(JOB)


def test_offline_translation_names_what_it_needs():
    with pytest.raises(OfflineUnavailable, match=r"translation model .* gemini provider"):
        translate_clip_text(JOB, "offline")


@pytest.fixture
def clip_audio(tmp_path, ffmpeg):
    import subprocess

    path = tmp_path / "clip.m4a"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=f=300:d=2", "-c:a", "aac",
                    str(path)], check=True)  # fmt: skip
    return path


def _dub_options(server) -> DubbingOptions:
    return DubbingOptions(base_url=server.url, timeout_s=10, poll_s=0.01, max_wait_s=5)


def test_a_dub_is_submitted_polled_downloaded_and_deleted(tmp_path, clip_audio):
    with ElevenLabsStandIn(key="el-key", polls_before_ready=2) as server:
        out = dub_audio(clip_audio, "de", "es", tmp_path / "dubs", _dub_options(server), "el-key")
        assert out.read_bytes()[:4] == b"RIFF"
        (record,) = server.dubs.values()
        assert (record.source_lang, record.target_lang, record.polls) == ("de", "es", 3)
        assert record.file_bytes == clip_audio.stat().st_size and record.deleted
        assert all(r["has_key"] for r in server.requests)
        calls = len(server.requests)
        again = dub_audio(clip_audio, "de", "es", tmp_path / "dubs", _dub_options(server), "el-key")
        assert again == out and len(server.requests) == calls  # from the cache: nothing paid


def test_dubbing_errors_say_what_happened(tmp_path, clip_audio):
    dubs = tmp_path / "dubs"
    with ElevenLabsStandIn(key="el-key") as server:
        gone = _dub_options(server)
        with pytest.raises(DubbingKeyError, match="rejected the API key"):
            dub_audio(clip_audio, "de", "es", dubs, _dub_options(server), "wrong")
        server.errors.append(429)
        with pytest.raises(DubbingUnavailable, match="429"):
            dub_audio(clip_audio, "de", "es", dubs, _dub_options(server), "el-key")
        server.fail_with = "The audio has no speech"
        with pytest.raises(DubbingError, match="could not dub the clip: The audio has no speech"):
            dub_audio(clip_audio, "de", "fr", dubs, _dub_options(server), "el-key")
    assert not list(dubs.glob("*.audio"))  # nothing half-made is kept
    # Nobody answering is worth a retry, not a failed job.
    with pytest.raises(DubbingUnavailable, match="Could not reach"):
        dub_audio(clip_audio, "de", "es", dubs, gone, "el-key")
