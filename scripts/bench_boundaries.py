"""Benchmark: do clip boundaries fall in true pauses and on whole sentences, per provider?

Runs the real stages on read speech whose truth is known: the committed sample
(tests/data/sample.mp4, sentence times in sample.json) and espeak-ng speech made here with
tests/speech_truth.py (two voices, speeds and pause lengths). Whisper tiny.en transcribes
each (storing the 10 ms envelope); the `local` provider picks moments, and the stand-in
Gemini (tests/gemini_server.py, through the real google-genai client) answers with
sentence windows quoted up to 3 s off, several seeds each. tasks.boundaries repairs both.

Prints, per provider: the share of cuts in a true pause, the share of clips starting right
before a sentence's speech and ending right after one, and what the facts say of the rest;
the same picks repaired on word times alone (no envelope) for comparison, and with
`--baseline-rev REV` the boundaries module of that git revision too. It prints, it does not
assert.

    .venv/bin/python scripts/bench_boundaries.py [--seeds 6] [--baseline-rev 2fd6782]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPTS = {"min_seconds": 8.0, "max_seconds": 25.0}
SHIFT_S = 3.0

SECOND_TEXTS = (
    "Most of us check our phones more than a hundred times a day.",
    "That number surprised me, so I tried an experiment.",
    "For one week, I kept my phone in a drawer until noon.",
    "The first morning was awful, and I reached for it every few minutes.",
    "By Wednesday, something changed.",
    "I finished a chapter of a book before breakfast, which I had not done in years.",
    "My colleague, Mrs. Ortega, noticed that I answered emails faster, too.",
    "Why would less time online make me quicker?",
    "Because every switch between tasks costs attention, roughly 20 minutes to recover.",
    "I am not saying phones are evil.",
    "Maps, music, messages, etc. are genuinely useful tools.",
    "But a tool should wait for you, not the other way round.",
    "On Friday I measured my screen time again: it had fallen by 40 percent.",
    "The weekend was harder, I admit.",
    "Still, I kept the drawer rule, and I slept better.",
    "So here is the challenge for you.",
    "Try one phone-free morning this week and write down what you notice.",
    "You might be surprised by how much time comes back.",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6, help="sloppy Gemini answers per video")
    parser.add_argument("--baseline-rev", help="also run tasks/boundaries.py of this revision")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelflow-bench-boundaries-"))
    os.environ["REELFLOW_DATA_DIR"] = str(work / "data")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    try:
        return _bench(work, args.seeds, args.baseline_rev)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _corpora(work: Path):
    """(short name, what it is, truth) per video."""
    from reelflow.media import ffmpeg_path
    from testkit.speech import SpeechTruth, make_speech_video

    sample = json.loads((ROOT / "tests" / "data" / "sample.json").read_text())
    spans = [(s["start_s"], s["end_s"]) for s in sample["sentences"]]
    video = ROOT / "tests" / "data" / "sample.mp4"
    about = "tests/data/sample.mp4, en-us 150 wpm, pauses 0.4-1.0 s"
    yield "sample", about, SpeechTruth.from_spans(video, spans, sample["duration_s"])
    ffmpeg = ffmpeg_path()
    about = "espeak-ng en-us 165 wpm, pauses 0.45-0.9 s"
    yield "espeak-us", about, make_speech_video(work / "a", ffmpeg)
    about = "espeak-ng en-gb 185 wpm, pauses 0.3-0.7 s"
    yield "espeak-gb", about, make_speech_video(
        work / "b", ffmpeg, texts=SECOND_TEXTS, voice="en-gb", speed_wpm=185,
        pauses_s=(0.3, 0.7), seed=7,
    )  # fmt: skip


def _bench(work: Path, seeds: int, baseline_rev: str | None) -> int:
    from reelflow.envelope import load_envelope
    from reelflow.media import probe
    from reelflow.settings import get_settings
    from tasks.boundaries import repair_moments
    from tasks.moments.types import MomentOptions
    from tasks.transcribe import transcribe_media

    opts = MomentOptions(**OPTS)
    repairers = {"audio cuts": repair_moments, "word times only": _without_envelope}
    if baseline_rev:
        repairers[f"boundaries @ {baseline_rev}"] = _old_repair(baseline_rev, work)
    totals: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    per_video: dict[tuple[str, str, str], _Tally] = defaultdict(_Tally)
    for name, about, truth in _corpora(work):
        media = probe(truth.video)
        transcript = transcribe_media(media)
        envelope = load_envelope(media, get_settings().cache_dir)
        _whisper_error(f"{name} ({about})", truth, transcript)
        for provider, picks in _picks(truth, transcript, opts, seeds):
            for how, repair in repairers.items():
                for batch in picks:
                    kept, dropped = repair(batch, transcript, [], media.duration_s, opts,
                                           envelope)  # fmt: skip
                    totals[(provider, how)].add(truth, kept, dropped)
                    per_video[(name, provider, how)].add(truth, kept, dropped)
    print(f"\nclips {OPTS['min_seconds']:g}-{OPTS['max_seconds']:g} s; sloppy Gemini: sentence "
          f"windows quoted up to +-{SHIFT_S:g} s off, {seeds} answers per video\n")  # fmt: skip
    print(f"{'video':<10} {'provider':<14} {'repair':<24} {'clips':>5} "
          f"{'cuts in true pauses':>21} {'clips on sentences':>19} {'facts: sentence':>16}"
          "  dropped")  # fmt: skip
    for (video, provider, how), tally in per_video.items():
        print(tally.row(video, provider, how))
    for (provider, how), tally in totals.items():
        print(tally.row("ALL", provider, how))
    print("\nClips not on true sentence edges, or cut outside a true pause (a transcript")
    print("sentence edge that is none in the truth is whisper's punctuation):")
    for (provider, how), tally in totals.items():
        for line in tally.misses[:8]:
            print(f"  {provider} / {how}: {line}")
    return 0


def _without_envelope(moments, transcript, cuts, duration_s, opts, envelope):
    from tasks.boundaries import repair_moments

    del envelope
    return repair_moments(moments, transcript, cuts, duration_s, opts)


def _old_repair(rev: str, work: Path):
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:tasks/boundaries.py"],
                            check=True, capture_output=True, text=True).stdout  # fmt: skip
    path = work / f"boundaries_{rev}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"boundaries_{rev}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)

    def repair(moments, transcript, cuts, duration_s, opts, envelope):
        del envelope
        return module.repair_moments(moments, transcript, cuts, duration_s, opts)

    return repair


def _picks(truth, transcript, opts, seeds: int):
    """(provider, [batches of moments]): the local scorer's picks, and sloppy Gemini answers
    from the stand-in through the real client."""
    from reelflow.settings import get_settings
    from tasks.moments.dispatch import find_moments
    from testkit.gemini import GeminiStandIn

    local = find_moments(transcript, [], opts.model_copy(update={"clips": None}), "local")
    yield "local", [local.moments]
    batches = []
    with GeminiStandIn() as gemini:
        os.environ.update({"GEMINI_API_KEY": "AIzaBENCH", "GEMINI_BASE_URL": gemini.url})
        get_settings.cache_clear()
        for seed in range(seeds):
            gemini.sloppy(_windows(truth, opts, seed), shift_s=SHIFT_S, seed=seed)
            batches.append(find_moments(transcript, [], opts, "gemini").moments)
    get_settings.cache_clear()
    yield "sloppy gemini", batches


def _windows(truth, opts, seed: int) -> list[tuple[float, float]]:
    """Non-overlapping runs of whole true sentences that fit the length range with room."""
    rng = random.Random(seed)
    spans, k, out = truth.spans, rng.randrange(3), []
    while k < len(spans):
        for n in rng.sample(range(1, 7), 6):
            if k + n <= len(spans):
                a, b = truth.window(k, k + n - 1)
                if opts.min_seconds + 1 <= b - a <= opts.max_seconds - 2 * SHIFT_S:
                    out.append((a, b))
                    k += n + rng.randrange(2)
                    break
        else:
            k += 1
    return out


class _Tally:
    def __init__(self) -> None:
        self.clips = self.cuts = self.quiet = self.on_sentences = self.facts_ok = 0
        self.dropped = 0
        self.misses: list[str] = []

    def add(self, truth, kept, dropped) -> None:
        self.dropped += len(dropped)
        for item in kept:
            m, f = item.moment, item.facts
            self.clips += 1
            self.cuts += 2
            quiet = [truth.in_pause(m.start_s), truth.in_pause(m.end_s)]
            self.quiet += sum(quiet)
            whole = (truth.sentence_after(m.start_s) is not None
                     and truth.sentence_before(m.end_s) is not None)  # fmt: skip
            self.on_sentences += whole
            self.facts_ok += f.starts_on_sentence_start and f.ends_on_sentence_end
            if not (all(quiet) and whole):
                self.misses.append(
                    f"{m.start_s:.2f}-{m.end_s:.2f} s in true pause {quiet}, whole sentences "
                    f"{whole}; facts: on {f.start_on}/{f.end_on}, in pause "
                    f"{f.starts_in_pause}/{f.ends_in_pause}, pause s {f.start_pause_s}/"
                    f"{f.end_pause_s}"
                )

    def row(self, video: str, provider: str, how: str) -> str:
        def share(n: int, of: int) -> str:
            return f"{n}/{of} = {100 * n / of:5.1f}%" if of else "-"

        return (f"{video:<10} {provider:<14} {how:<24} {self.clips:>5} "
                f"{share(self.quiet, self.cuts):>21} {share(self.on_sentences, self.clips):>19} "
                f"{share(self.facts_ok, self.clips):>16}  {self.dropped}")  # fmt: skip


def _whisper_error(name: str, truth, transcript) -> None:
    """How far whisper's sentence edges are from the truth (nearest true edge)."""
    starts = [s for s, _ in truth.spans]
    ends = [e for _, e in truth.spans]
    err = [min(abs(s.start_s - t) for t in starts) for s in transcript.sentences]
    err += [min(abs(s.end_s - t) for t in ends) for s in transcript.sentences]
    err.sort()
    print(f"{name}: {truth.duration_s:.0f} s, {len(truth.spans)} sentences, whisper found "
          f"{len(transcript.sentences)}; sentence-edge error median "
          f"{1000 * err[len(err) // 2]:.0f} ms, worst {1000 * err[-1]:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
