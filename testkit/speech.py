"""Read speech with known truth, made on the spot for the boundary tests and benchmark.

espeak-ng reads each sentence on its own; the sentences are laid end to end with pauses of
known length (so every sentence's speech starts and ends at a known sample), a faint noise
floor is added (real rooms are never digitally silent, and a cut search must find the quiet,
not the zeros), and the track is muxed over a still picture with ffmpeg. The truth says, for
any time, whether it lies in a pause and between which sentences.

Needs espeak-ng on PATH (`apt-get install espeak-ng`) and ffmpeg.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPEECH_DB = -20.0  # RMS of each sentence, before its small random gain
NOISE_DB = -62.0  # RMS of the noise floor under everything
PAUSE_PEAK_DB = -40.0  # clean speech quieter than this around a point: a pause there
TRUTH_RADIUS_S = 0.01  # a cut is in a pause when the clean speech is quiet this far around it

TEXTS = (
    "Good typography is invisible when it works, and painful when it fails.",
    "Dr. Patel spent three years studying how readers move through a page.",
    "She found that most people skim headings, captions, lists, etc. before they read a "
    "single paragraph.",
    "Why does that matter for anyone who designs a website?",
    "Because a reader decides in about 1.5 seconds whether a page is worth the effort.",
    "Line length is the first thing to check.",
    "Lines longer than about seventy characters make the eye lose its place.",
    "Short lines, on the other hand, break the rhythm of reading.",
    "The second thing is contrast between the text and its background.",
    "Grey text on a white page looks elegant, but many readers simply cannot see it.",
    "Now think about the spacing between the lines.",
    "A little extra space lets each line breathe, and the page feels calmer.",
    "None of these rules are new, yet most pages still ignore them.",
    "Fix these three things and your readers will stay longer.",
)


@dataclass(frozen=True)
class SpeechTruth:
    video: Path
    rate: int
    clean: np.ndarray  # the speech alone, without the noise floor
    spans: list[tuple[float, float]]  # each sentence's speech, in seconds
    texts: tuple[str, ...]

    @property
    def duration_s(self) -> float:
        return len(self.clean) / self.rate

    def in_pause(self, t: float) -> bool:
        """No speech within TRUTH_RADIUS_S of t (the clean track's peak stays quiet)."""
        r = round(TRUTH_RADIUS_S * self.rate)
        i = round(t * self.rate)
        around = self.clean[max(0, i - r) : i + r + 1]
        return around.size == 0 or float(np.max(np.abs(around))) < 10 ** (PAUSE_PEAK_DB / 20)

    def sentence_after(self, t: float) -> int | None:
        """The sentence a clip cut at t starts with, if t lies in the pause before it."""
        k = bisect_right([s for s, _ in self.spans], t)
        if k >= len(self.spans) or (k > 0 and t <= self.spans[k - 1][1]):
            return None
        return k

    def sentence_before(self, t: float) -> int | None:
        """The sentence a clip cut at t ends with, if t lies in the pause after it."""
        k = bisect_right([s for s, _ in self.spans], t) - 1
        if k < 0 or t <= self.spans[k][1]:
            return None
        return k

    @classmethod
    def from_spans(cls, video: Path, spans: list[tuple[float, float]], duration_s: float):
        """Truth known only as sentence spans (tests/data/sample.json): speech fills each."""
        rate = 1000
        clean = np.zeros(round(duration_s * rate), np.float32)
        for a, b in spans:
            clean[round(a * rate) : round(b * rate)] = 1.0
        return cls(video, rate, clean, list(spans), ())

    def window(self, first: int, last: int) -> tuple[float, float]:
        """The true span of sentences first..last."""
        return self.spans[first][0], self.spans[last][1]


def make_speech_video(
    folder: Path,
    ffmpeg: str,
    *,
    texts: tuple[str, ...] = TEXTS,
    voice: str = "en-us",
    speed_wpm: int = 165,
    pauses_s: tuple[float, float] = (0.45, 0.9),
    seed: int = 12,
    pictures: Path | None = None,
) -> SpeechTruth:
    """Synthesise the texts, lay them out with seeded pauses, mux over a still picture (or
    over `pictures`, a video whose frames are looped under the speech)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pieces, rate = [], 0
    for i, text in enumerate(texts):
        wav = folder / f"s{i:02d}.wav"
        args = [espeak, "-v", voice, "-s", str(speed_wpm), "-w", str(wav), text]
        subprocess.run(args, check=True, capture_output=True, timeout=60)
        x, rate = _read_wav(wav)
        wav.unlink()
        x = _trim(x, rate)
        gain = 10 ** ((SPEECH_DB + rng.uniform(-3, 2)) / 20) / max(_rms(x), 1e-9)
        pieces.append(np.clip(x * gain, -0.97, 0.97))
    clean, spans = _lay_out(pieces, rate, rng, pauses_s)
    noise = rng.normal(0, 10 ** (NOISE_DB / 20), clean.size).astype(np.float32)
    track = folder / "speech.wav"
    _write_wav(track, clean + noise, rate)
    video = folder / "speech.mp4"
    duration = f"{clean.size / rate:.3f}"
    picture = ["-f", "lavfi", "-i", f"color=c=0x2a4d69:s=320x180:r=10:d={duration}"]
    if pictures is not None:
        picture = ["-stream_loop", "-1", "-i", str(pictures)]
    subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-y", *picture, "-i", str(track),
         "-map", "0:v:0", "-map", "1:a:0", "-t", duration, "-vf", "scale=-2:360,fps=10",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-shortest", str(video)],
        check=True, timeout=120,
    )  # fmt: skip
    track.unlink()
    return SpeechTruth(video, rate, clean, spans, tuple(texts))


def _lay_out(
    pieces: list[np.ndarray], rate: int, rng: np.random.Generator, pauses_s: tuple[float, float]
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    out = [np.zeros(round(0.6 * rate), np.float32)]
    cursor, spans = out[0].size, []
    for i, x in enumerate(pieces):
        spans.append(_speech_span(x, rate, cursor))
        out.append(x.astype(np.float32))
        cursor += x.size
        pause = 1.2 if i == len(pieces) - 1 else float(rng.uniform(*pauses_s))
        out.append(np.zeros(round(pause * rate), np.float32))
        cursor += out[-1].size
    return np.concatenate(out), spans


def _speech_span(x: np.ndarray, rate: int, offset: int) -> tuple[float, float]:
    loud = np.flatnonzero(np.abs(x) >= 10 ** (PAUSE_PEAK_DB / 20))
    return (offset + loud[0]) / rate, (offset + loud[-1] + 1) / rate


def _trim(x: np.ndarray, rate: int) -> np.ndarray:
    """espeak's own leading and trailing silence off, keeping 10 ms of its fade."""
    loud = np.flatnonzero(np.abs(x) > 0.005)
    pad = round(0.01 * rate)
    return x[max(0, loud[0] - pad) : loud[-1] + pad] if loud.size else x


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        return data.astype(np.float32) / 32768, w.getframerate()


def _write_wav(path: Path, data: np.ndarray, rate: int) -> None:
    pcm = np.clip(np.round(data * 32767), -32768, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
