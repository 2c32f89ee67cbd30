"""Videos in other languages, end to end: espeak-ng German, Spanish and Japanese over the
sample's pictures are detected, transcribed in their language and clipped on that language's
sentence boundaries; the German clips are translated into Spanish (Gemini stand-in) and dubbed
(ElevenLabs stand-in), each a new version beside the original, through the CLI."""

from __future__ import annotations

import re

import pytest

from reelflow.cli import main
from reelflow.manifest import read_manifest
from reelflow.media import probe
from reelflow.models import Transcript
from tasks.effects.local import clip_words
from tasks.translate.phrases import clip_phrases
from testkit.elevenlabs import ElevenLabsStandIn
from testkit.languages import make_language_video
from testkit.speech import SpeechTruth
from testkit.translation import translator
from tests.helpers.gemini_server import gemini_stand_in
from tests.helpers.media import SAMPLE

_CUE = re.compile(r"(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n(.*)")


def _cues(path) -> list[tuple[float, float, str]]:
    def seconds(h, m, s, ms):
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    return [(seconds(*g[0:4]), seconds(*g[4:8]), g[8]) for g in
            (m.groups() for m in _CUE.finditer(path.read_text()))]  # fmt: skip


def _heard(tmp_path, ffmpeg, language: str) -> tuple[SpeechTruth, Transcript]:
    """The talk in `language` over the sample's pictures, and whisper's transcript of it, which
    must have detected that language and used the multilingual model."""
    from tasks.transcribe import transcribe_media

    truth = make_language_video(tmp_path / language, ffmpeg, language, SAMPLE)
    transcript = transcribe_media(probe(truth.video))
    assert (transcript.language, transcript.model) == (language, "base")
    assert transcript.language_detected
    return truth, transcript


def _missed_ends(truth: SpeechTruth, transcript: Transcript) -> list[float]:
    """True sentence ends with no transcript sentence end within the pause after them (0.6 s).

    Whisper's punctuation differs a little between CPUs (one machine ends the first Spanish
    sentence a clause early and joins two others), so the tests hold the split to the true
    sentences as a whole, allowing a few misses."""
    ends = [sentence.end_s for sentence in transcript.sentences]
    return [end for _, end in truth.spans if min(abs(e - end) for e in ends) >= 0.6]


@pytest.mark.slow
def test_spanish_is_detected_and_split_on_its_sentences(data_dir, tmp_path, ffmpeg):
    truth, transcript = _heard(tmp_path, ffmpeg, "es")
    assert transcript.language_probability > 0.8
    assert len(_missed_ends(truth, transcript)) <= 2, (transcript.sentences, truth.spans)
    assert abs(len(transcript.sentences) - len(truth.texts)) <= 2
    question = next((s.text for s in transcript.sentences if "qué" in s.text), "")
    assert question.startswith("¿")  # Spanish punctuation kept


@pytest.mark.slow
def test_japanese_is_detected_split_on_its_marks_and_tagged_in_its_scripts(
    data_dir, tmp_path, ffmpeg
):
    """Japanese speech: whisper writes it without spaces, a character or two a token; its
    sentences end on its own marks, and its hashtags are runs of katakana or kanji."""
    from tasks.moments.local import find_local_moments
    from tasks.moments.types import MomentOptions

    truth, transcript = _heard(tmp_path, ffmpeg, "ja")
    assert transcript.language_probability > 0.6
    assert len(_missed_ends(truth, transcript)) <= 3, (transcript.sentences, truth.spans)
    between = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff] [\u3040-\u30ff\u4e00-\u9fff]")
    assert not any(between.search(s.text) for s in transcript.sentences), transcript.text
    options = MomentOptions(clips=1, min_seconds=15, max_seconds=30)
    (moment,) = find_local_moments(transcript, [], options)
    assert moment.hashtags, moment
    for tag in moment.hashtags:
        assert re.fullmatch(r"#([\u30a1-\u30fc]+|[\u3400-\u9fff\u3005]+)", tag), moment.hashtags
    assert not between.search(moment.title) and not between.search(moment.hook), moment


@pytest.mark.slow
def test_a_german_video_is_clipped_translated_and_dubbed(
    prefect_server, data_dir, tmp_path, ffmpeg, monkeypatch, capsys, caplog
):
    truth = make_language_video(tmp_path / "de", ffmpeg, "de", SAMPLE)
    out = tmp_path / "out"
    with gemini_stand_in(monkeypatch, "AIza-test-key") as gemini:
        gemini.responder = translator()
        code = main(["process", str(truth.video), "--clips", "2", "--max-seconds", "30",
                     "--out", str(out), "--translate", "es"])  # fmt: skip
        assert code == 0, capsys.readouterr().err
    manifest = read_manifest(out)
    assert manifest.language.code == "de" and manifest.language.detected
    assert manifest.language.model == "base"
    assert len(manifest.clips) == 2
    for clip in manifest.clips:  # cut on German sentence ends, in the pauses
        assert truth.sentence_after(clip.start) is not None, clip.start
        assert truth.sentence_before(clip.end) is not None, clip.end
        assert clip.boundaries.start_on == "sentence" and clip.boundaries.end_on == "sentence"
    assert {"und", "die", "der"} & set(manifest.clips[0].description_tiktok.lower().split())

    # Translated: a version per clip, captions timed phrase by phrase, texts translated.
    transcript = Transcript.model_validate_json((out / "transcript.json").read_text())
    for clip in manifest.clips:
        (version,) = clip.versions
        assert (version.kind, version.language) == ("translation", "es")
        assert version.file == f"clip_{clip.index:02d}.es.mp4"
        assert version.texts.title.startswith("[es] ") and version.texts.hashtags == ["#esclip"]
        video = probe(out / version.file)
        assert (video.width, video.height, video.has_audio) == (1080, 1920, True)
        phrases = clip_phrases(clip_words(transcript, clip.start, clip.end))
        starts = [c for c in _cues(out / version.captions_srt) if c[2].startswith("[ES]")]
        assert len(starts) == len(phrases)  # each phrase's translation opens its own line
        for (start, _, _), phrase in zip(starts, phrases, strict=True):
            assert start == pytest.approx(phrase.start_s, abs=0.02)
    assert len(gemini.requests) == 2  # one request per clip and language

    # Dubbed, through the CLI: the dub's own words time the captions.
    with ElevenLabsStandIn(key="el-secret") as eleven:
        monkeypatch.setenv("ELEVENLABS_BASE_URL", eleven.url)
        monkeypatch.setenv("ELEVENLABS_API_KEY", "el-secret")
        monkeypatch.setenv("DUBBING_POLL_S", "0.05")
        from reelflow.settings import get_settings

        get_settings.cache_clear()
        assert main(["restyle", str(out), "1", "--translate", "es", "--dub"]) == 0
        assert capsys.readouterr().out.strip().endswith("clip_01.es.dub.mp4")
    (record,) = eleven.dubs.values()
    assert (record.source_lang, record.target_lang) == ("de", "es") and record.deleted
    versions = read_manifest(out).clip(1).versions
    dubbed = versions[-1]
    assert (dubbed.kind, dubbed.language, dubbed.version) == ("dub", "es", 3)
    assert probe(out / dubbed.file).has_audio
    spoken = " ".join(c[2] for c in _cues(out / dubbed.captions_srt)).lower()
    assert "voz" in spoken or "clip" in spoken, spoken  # whisper heard the Spanish dub
    # Its texts: the translation made above, from the cache (the Gemini stand-in is gone).
    assert dubbed.texts == versions[0].texts

    # Translating into the language the clip already speaks is refused with the reason.
    caplog.errors_expected = True  # the refused re-render ends its run Failed
    assert main(["restyle", str(out), "1", "--translate", "de"]) == 1
    assert "already in German" in capsys.readouterr().err
