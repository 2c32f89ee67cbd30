"""A video's audio decoded once to a temporary file (mono float32), and read back in pieces.

Transcription used to hold the whole track in memory: 3 hours at 16 kHz are 690 MB as float32,
and faster-whisper then took a spectrogram of all of it at once and copied the speech out
again, so a long video's peak memory grew far past 1 GB. Now the decode goes to a temporary
file under the data dir (never /tmp, which may be memory itself), so ffmpeg's time limit covers
the decode alone and not whisper's work after it, and everything reads the file back in
pieces: the envelopes a minute at a time, whisper in windows of a few minutes, each cut at
the quietest moment near its end (`windows`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelflow.media import ffmpeg_path, file_input, run_tool

_SAMPLE_BYTES = 4  # float32


@dataclass(frozen=True)
class AudioTrack:
    path: Path
    rate: int

    @property
    def samples(self) -> int:
        return self.path.stat().st_size // _SAMPLE_BYTES

    @property
    def duration_s(self) -> float:
        return self.samples / self.rate

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) as a float32 array of their own."""
        start, stop = max(0, start), min(stop, self.samples)
        if stop <= start:
            return np.empty(0, np.float32)
        return np.fromfile(self.path, np.float32, count=stop - start,
                           offset=start * _SAMPLE_BYTES)  # fmt: skip

    def chunks(self, chunk_s: float = 60.0) -> Iterator[np.ndarray]:
        step = max(1, int(self.rate * chunk_s))
        for start in range(0, self.samples, step):
            yield self.read(start, start + step)

    def windows(
        self, window_s: float = 600.0, search_s: float = 30.0, hop_s: float = 0.1
    ) -> Iterator[tuple[float, np.ndarray]]:
        """(offset in seconds, samples) pieces of at most window_s + search_s covering the
        track in order. Each cut lies in the quietest hop_s of the last search_s before
        window_s, so it falls in a pause rather than in a word; a track that fits one window
        comes whole."""
        total, size = self.samples, int(window_s * self.rate)
        search, hop = int(search_s * self.rate), max(1, int(hop_s * self.rate))
        pos = 0
        while pos < total:
            stop = total
            if total - pos > size + search:
                region_start = pos + size - search
                stop = region_start + _quietest(self.read(region_start, pos + size), hop)
            yield pos / self.rate, self.read(pos, stop)
            pos = stop


def _quietest(samples: np.ndarray, hop: int) -> int:
    """The middle of the quietest whole hop of `samples` (an index into it)."""
    frames = samples[: samples.size // hop * hop].reshape(-1, hop).astype(np.float64)
    if frames.size == 0:
        return samples.size
    return int(np.argmin(np.mean(frames * frames, axis=1))) * hop + hop // 2


@contextmanager
def decoded_audio(
    path: str | Path, folder: Path, *, rate: int = 16000, timeout_s: float = 1800
) -> Iterator[AudioTrack]:
    """The file's first audio stream as mono float32 at `rate` in a temporary file under
    `folder`, removed afterwards; an empty track when the file has no audio stream."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f".audio-{uuid.uuid4().hex}.f32"
    args = [ffmpeg_path(), "-nostdin", "-v", "error", *file_input(path), "-map", "0:a:0?"]
    args += ["-vn", "-ac", "1", "-ar", str(rate), "-f", "f32le", "-y", f"file:{out}"]
    try:
        run_tool(args, timeout_s=timeout_s, what="audio decode")
        out.touch()  # no audio stream: ffmpeg may write no file at all
        yield AudioTrack(out, rate)
    finally:
        out.unlink(missing_ok=True)
