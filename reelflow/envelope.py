"""The 10 ms energy envelope of a video's audio: where the quiet is, so clips are cut there.

Transcription decodes the audio once (16 kHz mono) and the envelope is taken from those samples.
A 3-hour track gives about a million frames, too many for the Transcript (Prefect hashes and
serialises task parameters), so it is kept as an int8 .npy of whole dBFS (1 MB for 3 hours)
in the content-addressed cache, keyed by the video's content hash and VERSION. A missing file
is computed again from the video, streaming, so memory stays flat however long the audio is.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelflow.errors import ToolFailed
from reelflow.media import iter_audio
from reelflow.models import MediaInfo

VERSION = "envelope-1"
HOP_S = 0.01  # one level per 10 ms: finer than a syllable, coarse enough to store
FLOOR_DB = -100.0  # digital silence is stored as this
CHUNK_S = 60.0  # samples are turned into levels this many seconds at a time

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    """RMS level in dBFS per hop: frame i covers [i * hop_s, (i + 1) * hop_s)."""

    db: np.ndarray  # float32
    hop_s: float = HOP_S

    @property
    def duration_s(self) -> float:
        return len(self.db) * self.hop_s

    def frame(self, t: float) -> int:
        """The frame holding time t, clamped to the envelope."""
        return min(max(int(t / self.hop_s), 0), len(self.db) - 1)

    def level_at(self, t: float) -> float:
        return float(self.db[self.frame(t)])


class EnvelopeBuilder:
    """Levels from samples fed in chunks of any size; a hop split across two chunks counts once."""

    def __init__(self, rate: int, hop_s: float = HOP_S):
        self.hop = max(1, round(rate * hop_s))
        self._rest = np.empty(0, np.float32)
        self._parts: list[np.ndarray] = []

    def feed(self, samples: np.ndarray) -> None:
        samples = np.concatenate([self._rest, np.asarray(samples, np.float32)])
        whole = samples.size // self.hop * self.hop
        if whole:
            self._parts.append(_levels(samples[:whole].reshape(-1, self.hop)))
        self._rest = samples[whole:]

    def finish(self) -> np.ndarray:
        """int8 whole dBFS per hop; a last partial hop counts as a frame of its own."""
        if self._rest.size:
            self._parts.append(_levels(self._rest.reshape(1, -1)))
            self._rest = np.empty(0, np.float32)
        return np.concatenate(self._parts) if self._parts else np.empty(0, np.int8)


def _levels(frames: np.ndarray) -> np.ndarray:
    power = np.mean(np.square(frames, dtype=np.float64), axis=1)
    db = 10 * np.log10(np.maximum(power, 10 ** (FLOOR_DB / 10)))
    return np.clip(np.round(db), FLOOR_DB, 0).astype(np.int8)


def levels_of(chunks: Iterable[np.ndarray], rate: int) -> np.ndarray:
    """The int8 envelope of a stream of sample chunks."""
    builder = EnvelopeBuilder(rate)
    for chunk in chunks:
        builder.feed(chunk)
    return builder.finish()


def chunked(audio: np.ndarray, rate: int, chunk_s: float = CHUNK_S) -> Iterable[np.ndarray]:
    """Views of an in-memory track, CHUNK_S at a time: no float64 copy of the whole track."""
    step = max(1, int(rate * chunk_s))
    return (audio[i : i + step] for i in range(0, audio.size, step))


def envelope_file(cache_dir: Path, sha256: str) -> Path:
    return cache_dir / "envelopes" / f"{sha256}-{VERSION}.npy"


def save_levels(path: Path, levels: np.ndarray) -> None:
    """Written through a unique temporary name: two jobs may store the same video at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp.npy")
    try:
        np.save(tmp, levels.astype(np.int8), allow_pickle=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_levels(path: Path) -> np.ndarray | None:
    try:
        levels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # missing, or cut short: compute it again
        return None
    return levels if levels.dtype == np.int8 and levels.ndim == 1 else None


def load_envelope(media: MediaInfo, cache_dir: Path, rate: int = 16000) -> Envelope | None:
    """The media's envelope from the cache, computed (streaming) and stored when missing;
    None when the video has no audio or it cannot be decoded."""
    if not media.has_audio:
        return None
    path = envelope_file(cache_dir, media.sha256)
    levels = _read_levels(path)
    if levels is None:
        try:
            levels = levels_of(iter_audio(media.path, rate=rate), rate)
        except ToolFailed as exc:
            log.warning("No audio envelope, clips are cut on word times only: %s", exc)
            return None
        if levels.size == 0:
            return None
        save_levels(path, levels)
    return Envelope(levels.astype(np.float32)) if levels.size else None
