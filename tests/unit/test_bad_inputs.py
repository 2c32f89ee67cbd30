"""Every bad input ends with a specific message: a failed flow state carrying it, a failed
manifest, and from the CLI an exit code of 1 with a one-line reason (never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.media import SAMPLE, make_media
from tests.helpers.servers import free_port, static_server


@pytest.fixture(scope="module")
def bad(tmp_path_factory, ffmpeg) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.mp4").write_bytes(b"")
    (d / "notes.mp4").write_text("not a video at all\n" * 50)
    (d / "truncated.mp4").write_bytes(SAMPLE.read_bytes()[:600_000])
    make_media(ffmpeg, d / "voice.m4a", "-i", str(SAMPLE), "-t", "20", "-vn", "-c:a", "aac")
    make_media(ffmpeg, d / "silent.mp4", "-f", "lavfi", "-i", "testsrc2=s=640x360:d=20:r=25",
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")  # fmt: skip
    make_media(ffmpeg, d / "short.mp4", "-i", str(SAMPLE), "-t", "9", "-c:v", "libx264",
               "-preset", "ultrafast", "-c:a", "aac")  # fmt: skip
    return d


CASES = [
    ("missing.mp4", "File not found: missing.mp4"),
    ("empty.mp4", "empty (0 bytes)"),
    ("notes.mp4", "not a readable video file"),
    ("truncated.mp4", "truncated or damaged"),
    ("voice.m4a", "no video stream: it is an audio-only file"),
    ("silent.mp4", "No speech was found"),
    ("short.mp4", "The video is 9.0 s long; clips must be at least 15 s"),
]


@pytest.mark.parametrize(("name", "reason"), CASES, ids=[c[0] for c in CASES])
def test_flow_fails_with_a_clear_reason(prefect_server, bad, tmp_path, caplog, name, reason):
    from flows.clip import clip_video
    from reelflow.jobs import ClipRequest

    caplog.errors_expected = True
    request = ClipRequest(source=str(bad / name), provider="local", out_dir=str(tmp_path))
    state = clip_video(request, return_state=True)
    assert state.is_failed()
    assert reason in state.message, state.message
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "failed" and reason in manifest["error"]
    assert str(bad) not in state.message, "the server's path leaked into the message"


def test_unreachable_url_fails_after_retries(prefect_server, tmp_path, caplog, monkeypatch):
    from flows.clip import clip_video
    from reelflow.jobs import ClipRequest
    from reelflow.settings import get_settings

    caplog.errors_expected = True
    env = {"ALLOWED_URL_HOSTS": "127.0.0.1", "ALLOW_PRIVATE_URLS": "true",
           "DOWNLOAD_RETRIES": "1", "DOWNLOAD_RETRY_DELAY_S": "0.1"}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    url = f"http://127.0.0.1:{free_port()}/talk.mp4"  # nothing listens there
    state = clip_video(ClipRequest(source=url, out_dir=str(tmp_path)), return_state=True)
    get_settings.cache_clear()
    assert state.is_failed()
    assert "talk.mp4" in state.message and "refused" in state.message.lower(), state.message


def test_missing_url_is_404_without_retries(prefect_server, tmp_path, caplog, monkeypatch):
    from flows.clip import clip_video
    from reelflow.jobs import ClipRequest
    from reelflow.settings import get_settings

    caplog.errors_expected = True
    monkeypatch.setenv("ALLOWED_URL_HOSTS", "127.0.0.1")
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    get_settings.cache_clear()
    with static_server(tmp_path) as base:
        state = clip_video(
            ClipRequest(source=f"{base}/gone.mp4", out_dir=str(tmp_path / "out")),
            return_state=True,
        )
    get_settings.cache_clear()
    assert state.is_failed() and "404" in state.message, state.message


@pytest.mark.slow
def test_cli_exit_code_and_one_line_reason(bad, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "reelflow.cli", "process", str(bad / "voice.m4a"),
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == "reelflow: error: voice.m4a has no video stream: it is an audio-only file"
    assert "Traceback" not in result.stderr


def test_cli_rejects_bad_options():
    from reelflow.cli import main

    assert main(["process", "x.mp4", "--min-seconds", "50", "--max-seconds", "20"]) == 1
