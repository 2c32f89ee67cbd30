"""The command line's own costs: it refuses what it can before Prefect is even imported, keeps
one local Prefect server between commands (stopped when unused), and does not exit before the
S3 uploads its run started are done.

Each command runs as its own process, as a user runs it, with its own PREFECT_HOME; every
local server a test starts, the test stops."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.helpers.media import SAMPLE, make_media
from tests.helpers.s3_server import PREFIX, local_job, make_bucket, moto_server, s3_env, stored_job

_IMPORT = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| *(\S+)$")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test session's environment, minus anything that points at a Prefect server or
    holds a Gemini key, with a PREFECT_HOME and data dir of the test's own."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PREFECT_API_URL", "GEMINI_API_KEY", "PREFECT_PROFILE"}}  # fmt: skip
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), REELFLOW_DATA_DIR=str(tmp_path / "data"))
    env.update(extra)
    return env


def _cli(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reelflow.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, ffmpeg) -> Path:
    d = tmp_path_factory.mktemp("bad")
    (d / "notes.mp4").write_text("not a video at all\n" * 50)
    make_media(ffmpeg, d / "short.mp4", "-i", str(SAMPLE), "-t", "9", "-c:v", "libx264",
               "-preset", "ultrafast", "-c:a", "aac")  # fmt: skip
    return d


REFUSALS = [
    ("missing", ["missing.mp4"], 1, "File not found: missing.mp4"),
    ("file-url", ["file:///etc/passwd"], 1, "Refused URL: 'file:' is not allowed"),
    ("private-url", ["http://10.0.0.5/talk.mp4"], 1, "10.0.0.5 is a private address"),
    ("metadata-url", ["http://169.254.169.254/latest/"], 1, "Refused URL"),
    ("not-a-video", ["{bad}/notes.mp4"], 1, "notes.mp4 is not a readable video file"),
    ("too-short", ["{bad}/short.mp4"], 1, "The video is 9.0 s long; clips must be at least 15 s"),
    ("no-gemini-key", ["{sample}", "--provider", "gemini"], 1, "No Gemini API key"),
    ("bad-caption-preset", ["{sample}", "--captions", "nosuch"], 1, "unknown caption preset"),
    ("bad-length", ["{sample}", "--min-seconds", "50", "--max-seconds", "20"], 1,
     "min_seconds must be below max_seconds"),
    ("unknown-provider", ["{sample}", "--provider", "nosuch"], 2, "invalid choice: 'nosuch'"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "reason"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])  # fmt: skip
def test_refused_before_prefect_is_imported(bad_files, tmp_path, args, code, reason):
    args = [a.format(bad=bad_files, sample=SAMPLE) for a in args]
    env = _env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reelflow.cli", "process", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == code, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    imported = {m.group(1) for line in lines if (m := _IMPORT.match(line))}
    said = [line for line in lines if not _IMPORT.match(line)]
    assert reason in said[-1], said[-3:]
    if code == 1:
        assert said[-1].startswith("reelflow: error: ")
    assert "Traceback" not in result.stderr
    assert not {m for m in imported if m.split(".")[0] == "prefect"}, "Prefect was imported"
    assert not {"google.genai", "pandas", "flows.clip"} & imported
    assert not (tmp_path / "prefect" / "reelflow-server" / "server.json").exists()
    assert str(bad_files) not in said[-1], "the path leaked into the message"


_HOLDER = """
import sys
from reelflow.cli.local_server import acquire
lease = acquire(float(sys.argv[1]))
lease.wait_ready()
print(lease.api_url, lease.record.pid, lease.started, flush=True)
sys.stdin.read()  # hold the lease until the test closes stdin
"""


@pytest.mark.slow
def test_one_local_server_shared_by_commands_and_stopped_when_unused(tmp_path):
    from reelflow.cli.local_server import read_record, stop

    env = _env(tmp_path)
    folder = tmp_path / "prefect" / "reelflow-server"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, "4"], env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        url, pid, started = holder.stdout.readline().split()
        assert started == "True"
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        time.sleep(8)  # twice the idle time: a held lease keeps the server up
        assert _alive(int(pid)), "the server stopped while a command held it"

        again = subprocess.run([sys.executable, "-c", _HOLDER, "4"], env=env, input="",
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert again.returncode == 0, again.stderr[-2000:]
        assert again.stdout.split() == [url, pid, "False"], "a second server was started"

        holder.stdin.close()  # the last command ends: the server stops itself once idle
        holder.wait(timeout=30)
        deadline = time.monotonic() + 120
        while _alive(int(pid)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _alive(int(pid)), "the unused server did not stop"
        assert read_record(folder) is None and not (folder / "server.json").exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)
        stop(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (stopped, not yet reaped by its parent) still answers signal 0.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


@pytest.mark.slow
def test_cli_finishes_its_uploads_and_reuses_its_server(short_video, tmp_path):
    """Two identical commands with S3 on: each exits only once its files are in the bucket,
    and the second uses the server the first started."""
    from reelflow.manifest import read_manifest

    bucket = f"rf-{uuid.uuid4().hex[:12]}"
    with moto_server() as endpoint:
        client = make_bucket(endpoint, bucket)
        env = _env(tmp_path, **s3_env(endpoint, bucket))
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
            env.pop(name, None)
        args = ["process", str(short_video), "--clips", "1", "--min-seconds", "15",
                "--max-seconds", "20"]  # fmt: skip
        try:
            first = _cli(env, *args, "--out", str(tmp_path / "one"))
            second = _cli(env, *args, "--out", str(tmp_path / "two"))
        finally:
            _cli(env, "server", "stop", timeout=60)
        for run, out in ((first, "one"), (second, "two")):
            assert run.returncode == 0, run.stderr[-3000:]
            assert "can't register atexit" not in run.stderr
            folder = tmp_path / out
            manifest = read_manifest(folder)
            assert manifest.uploads.status == "uploaded", manifest.uploads
            prefix = f"{PREFIX}/jobs/{manifest.job_id}/"
            assert re.search(rf"\d+ files uploaded to s3://{bucket}/{prefix}", run.stderr)
            stored = stored_job(client, bucket, prefix)
            assert stored == local_job(folder, prefix)
            assert f"{prefix}clip_01.mp4" in stored and f"{prefix}manifest.json" in stored
        assert "starting a local Prefect server" in first.stderr
        assert "starting a local Prefect server" not in second.stderr
    status = _cli(env, "server", "status", timeout=60)
    assert "no local Prefect server is running" in status.stdout
