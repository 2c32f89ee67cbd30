"""Hostile media: files that are not videos but make a demuxer read other files (an HLS
playlist, a concat list), images, and videos past the server's limits. Probing refuses them
with a clear reason, and no ffmpeg input from outside can be read through them."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from pathlib import Path

import pytest

from reelflow.errors import NotAVideo, ReelflowError, ToolFailed
from reelflow.media import decode_audio, iter_frames, probe
from reelflow.settings import get_settings
from tests.helpers.media import SAMPLE, make_media


class Tripwire:
    """A named pipe standing in for another job's clip: it records whether anything opened it
    for reading, and then feeds it a real MPEG-TS segment (so a reader gets a video)."""

    def __init__(self, path: Path, payload: bytes):
        os.mkfifo(path)
        self.path, self.payload = path, payload
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:  # succeeds only once a reader has the pipe open
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                time.sleep(0.01)
                continue
            self.opened.set()
            os.set_blocking(fd, True)
            with contextlib.suppress(OSError):
                os.write(fd, self.payload)
            os.close(fd)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def segment(tmp_path_factory, ffmpeg) -> bytes:
    out = tmp_path_factory.mktemp("seg") / "clip.ts"
    make_media(ffmpeg, out, "-i", str(SAMPLE), "-t", "4", "-c:v", "libx264", "-preset",
               "ultrafast", "-c:a", "aac", "-f", "mpegts")  # fmt: skip
    return out.read_bytes()


@pytest.fixture
def tripwire(tmp_path, segment):
    (tmp_path / "other-job").mkdir()
    wire = Tripwire(tmp_path / "other-job" / "clip.ts", segment)
    yield wire
    wire.close()


def _playlist(target: Path) -> str:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:4.0,\n{target}\n#EXT-X-ENDLIST\n"
    )


@pytest.mark.parametrize("name", ["x.m3u8", "x.mp4"])
def test_a_playlist_is_refused_and_reads_nothing(tmp_path, tripwire, name):
    upload = tmp_path / name
    upload.write_text(_playlist(tripwire.path))
    with pytest.raises(NotAVideo) as err:
        probe(upload)
    assert str(err.value) == f"{name} is a playlist, not a video"
    assert str(tmp_path) not in str(err.value)
    time.sleep(0.3)
    assert not tripwire.opened.is_set(), "the playlist's entry was read"


def test_ffmpeg_inputs_are_held_to_the_format_whitelist(tmp_path, tripwire):
    """Later stages open the source with ffmpeg: even unprobed, a playlist opens nothing."""
    upload = tmp_path / "x.m3u8"
    upload.write_text(_playlist(tripwire.path))
    with pytest.raises(ToolFailed):
        decode_audio(upload)
    with pytest.raises(ToolFailed):
        list(iter_frames(upload, width=32, height=18))
    time.sleep(0.3)
    assert not tripwire.opened.is_set(), "ffmpeg read the playlist's entry"


def test_a_concat_list_is_refused(tmp_path, tripwire):
    upload = tmp_path / "list.txt"
    upload.write_text(f"ffconcat version 1.0\nfile '{tripwire.path}'\n")
    with pytest.raises(NotAVideo, match=r"^list\.txt is a concat list, not a video$"):
        probe(upload)
    assert not tripwire.opened.is_set()


def test_indirect_and_still_formats_are_refused(tmp_path, ffmpeg):
    make_media(ffmpeg, tmp_path / "frame.png", "-f", "lavfi", "-i", "color=red:s=64x64",
               "-frames:v", "1")  # fmt: skip
    (tmp_path / "talk.mpd").write_text(
        '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"></MPD>\n'
    )
    (tmp_path / "talk.sdp").write_text(
        "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nm=video 5004 RTP/AVP 96\n"
    )
    cases = {
        "frame.png": "frame.png is an image, not a video",
        "talk.mpd": "talk.mpd is a DASH manifest, not a video",
        "talk.sdp": "talk.sdp is a stream description (SDP), not a video",
    }
    for name, reason in cases.items():
        with pytest.raises(NotAVideo) as err:
            probe(tmp_path / name)
        assert str(err.value) == reason


def test_other_formats_are_outside_the_whitelist(tmp_path, ffmpeg):
    """A self-contained format that is no video upload (raw YUV4MPEG) is refused too."""
    make_media(ffmpeg, tmp_path / "raw.y4m", "-f", "lavfi", "-i", "testsrc2=s=64x64:d=1:r=5")
    with pytest.raises(NotAVideo, match=r"^raw\.y4m is not a video format reelflow accepts"):
        probe(tmp_path / "raw.y4m")


# --- what probing still reads right ---------------------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory, ffmpeg) -> Path:
    d = tmp_path_factory.mktemp("clips")
    make_media(ffmpeg, d / "wide.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x180:d=3:r=25",
               "-f", "lavfi", "-i", "sine=d=3", "-c:v", "libx264", "-preset", "ultrafast",
               "-c:a", "aac", "-shortest")  # fmt: skip
    make_media(ffmpeg, d / "turned.mp4", "-display_rotation:v", "90", "-i", str(d / "wide.mp4"),
               "-c", "copy")  # fmt: skip
    make_media(ffmpeg, d / "film.mkv", "-i", str(d / "wide.mp4"), "-c", "copy")
    make_media(ffmpeg, d / "voice.m4a", "-i", str(d / "wide.mp4"), "-vn", "-c", "copy")
    (d / "cut.mp4").write_bytes(SAMPLE.read_bytes()[:600_000])
    return d


def test_probe_reads_streams_duration_fps_rotation(clips):
    wide = probe(clips / "wide.mp4")
    assert (wide.width, wide.height, wide.fps) == (320, 180, 25)
    assert wide.duration_s == pytest.approx(3, abs=0.1)
    assert (wide.video_codec, wide.audio_codec, wide.has_audio) == ("h264", "aac", True)
    assert len(wide.sha256) == 64 and wide.size_bytes == (clips / "wide.mp4").stat().st_size
    turned = probe(clips / "turned.mp4")
    assert (turned.width, turned.height) == (180, 320)  # decoded upright by ffmpeg
    film = probe(clips / "film.mkv")
    assert (film.width, film.height, film.video_codec) == (320, 180, "h264")


def test_probe_refusals_keep_their_reasons(clips, tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("not a video at all\n" * 50)
    cases = {
        clips / "voice.m4a": "voice.m4a has no video stream: it is an audio-only file",
        clips / "cut.mp4": "cut.mp4 is truncated or damaged",
        tmp_path / "empty.mp4": "The file empty.mp4 is empty (0 bytes)",
        tmp_path / "notes.mp4": "notes.mp4 is not a readable video file",
    }
    for path, reason in cases.items():
        with pytest.raises(ReelflowError) as err:
            probe(path)
        assert str(err.value).startswith(reason), str(err.value)
        assert str(path.parent) not in str(err.value)


# --- limits ---------------------------------------------------------------------------------


LIMITS = [
    ("MAX_SOURCE_SIDE", "256", "The video is 320x180; the limit is 256 pixels on its long side "
     "(MAX_SOURCE_SIDE)"),
    ("MAX_SOURCE_FPS", "24", "The video runs at 25 fps; the limit is 24 fps (MAX_SOURCE_FPS)"),
    ("MAX_SOURCE_STREAMS", "1", "The file has 2 streams; the limit is 1 (MAX_SOURCE_STREAMS)"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value", "reason"), LIMITS, ids=[x[0] for x in LIMITS])
def test_probe_limits(clips, monkeypatch, name, value, reason):
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(NotAVideo) as err:
            probe(clips / "wide.mp4")
    finally:
        get_settings.cache_clear()
    assert str(err.value) == reason


def test_limits_have_room_for_4k_at_60_fps():
    settings = get_settings()
    assert settings.max_source_side >= 4096
    assert settings.max_source_fps >= 60
    assert settings.max_source_streams >= 8
