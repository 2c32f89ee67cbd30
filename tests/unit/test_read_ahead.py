"""read_ahead: a thread pulls items ahead of the reader; order, errors and an early stop (which
must close the source, and with it an ffmpeg pipe) behave as if the reader pulled them."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from reelflow.media import iter_frames, read_ahead


def _source(n: int, events: list[str], fail_at: int | None = None):
    try:
        for i in range(n):
            if i == fail_at:
                raise ValueError(f"broken at {i}")
            yield i
    finally:
        events.append("closed")


def test_items_come_in_order():
    events: list[str] = []
    assert list(read_ahead(_source(500, events), 7)) == list(range(500))
    assert events == ["closed"]


def test_an_error_reaches_the_reader_after_the_items_before_it():
    events: list[str] = []
    got = []
    with pytest.raises(ValueError, match="broken at 42"):
        for item in read_ahead(_source(100, events, fail_at=42), 5):
            got.append(item)
    assert got == list(range(42)) and events == ["closed"]


def test_a_reader_that_stops_early_closes_the_source():
    events: list[str] = []
    reader = read_ahead(_source(10_000, events), 3)
    assert [next(reader) for _ in range(5)] == [0, 1, 2, 3, 4]
    reader.close()
    assert events == ["closed"]
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_an_early_stop_ends_the_decode(short_video):
    frames = read_ahead(iter_frames(short_video, width=64, height=36, fps=5), 4)
    first = next(frames)
    assert first.shape == (36, 64, 3)
    assert _ffmpeg_children(), "the decode should be running"
    frames.close()  # kills ffmpeg: no process left behind, no thread either
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
    assert not _ffmpeg_children()


def _ffmpeg_children() -> list[int]:
    """Live ffmpeg processes started by this one (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        state, ppid = rest.split()[:2]
        if int(ppid) == os.getpid() and "ffmpeg" in name and state != "Z":
            found.append(int(stat.parent.name))
    return found
