"""Shared fixtures: an isolated data dir and Prefect home per session, one real Prefect server
(the test harness) for the tests that run flows, and small generated media files."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest

from tests.helpers.media import SAMPLE, make_media

# Before anything imports Prefect: keep its home, results and database out of the user's.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="reelflow-tests-"))
os.environ["PREFECT_HOME"] = str(_SESSION_HOME / "prefect")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ["REELFLOW_DATA_DIR"] = str(_SESSION_HOME / "data")
# Tests check what the clips are, not how small the encoder makes them: x264's fastest preset
# cuts the suite's encoding time by more than half (`make bench` measures the real preset).
os.environ.setdefault("X264_PRESET", "ultrafast")


@pytest.fixture(scope="session")
def prefect_server():
    """A real Prefect API (temporary server, SQLite) for the whole session; stopped after."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def data_dir(monkeypatch, tmp_path) -> Path:
    """A fresh REELFLOW_DATA_DIR for one test (settings are rebuilt from the environment)."""
    from reelflow.settings import get_settings

    folder = tmp_path / "data"
    monkeypatch.setenv("REELFLOW_DATA_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    from reelflow.media import ffmpeg_path

    return ffmpeg_path()


@pytest.fixture
def short_video(tmp_path, ffmpeg) -> Path:
    """22 s of the sample: enough for one 15-20 s clip, quick to process."""
    return make_media(ffmpeg, tmp_path / "talk.mp4", "-i", str(SAMPLE), "-t", "22",
                      "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac")  # fmt: skip


@pytest.fixture(autouse=True)
def _no_error_logs(caplog):
    """A test that logs at ERROR without meaning to is a failing test."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    expected = getattr(caplog, "errors_expected", False)
    if errors and not expected:
        pytest.fail("unexpected ERROR log: " + "; ".join(r.getMessage() for r in errors[:3]))
