"""The Prefect server `reelflow process` and `reelflow restyle` run against, kept between commands.

Without a PREFECT_API_URL, Prefect starts a temporary server inside every command and stops it
at exit: on 2 cores that cost 10-25 s of every command (uvicorn, the API app, the database
migrations), far more than an identical repeat's whole flow. Instead the first command starts
that same server (Prefect's temporary-server app: the API without the UI and the scheduling
services, SQLite in PREFECT_HOME) as a process of its own on a free port of 127.0.0.1, records
it in PREFECT_HOME/reelflow-server/server.json, and later commands find it there at once.

Each command registers itself while it runs (a file named after its pid under clients/); the
server stops itself once no registered command has been alive for REELFLOW_SERVER_IDLE_S
(600 s), and `reelflow server stop` stops it at once. A PREFECT_API_URL, from the environment
or the active Prefect profile, is used as given, and REELFLOW_SERVER_IDLE_S=0 brings back a
temporary server inside every command.

This runs before Prefect is imported (importing it costs seconds and fixes its settings), so
it reads Prefect's own PREFECT_HOME, PREFECT_API_URL and profile file directly.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

START_TIMEOUT_S = 180.0  # a cold start migrates a new database: slow on a busy 2-core box
_POLL_S = 1.0


@dataclass(frozen=True)
class ServerRecord:
    pid: int
    api_url: str
    prefect_version: str
    idle_s: float
    started_at: float


def state_dir() -> Path:
    home = os.environ.get("PREFECT_HOME") or "~/.prefect"
    return Path(home).expanduser() / "reelflow-server"


def configured_api_url() -> str | None:
    """The API URL Prefect would use on its own: PREFECT_API_URL, else the active profile's."""
    if url := os.environ.get("PREFECT_API_URL"):
        return url
    profiles = os.environ.get("PREFECT_PROFILES_PATH") or str(state_dir().parent / "profiles.toml")
    try:
        data = tomllib.loads(Path(profiles).expanduser().read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    profile = (data.get("profiles") or {}).get(active) or {}
    return profile.get("PREFECT_API_URL") or None


@dataclass(frozen=True)
class Lease:
    """This command's claim on the kept server: while its file exists and this process lives,
    the server stays up."""

    record: ServerRecord
    started: bool  # by this command
    file: Path

    @property
    def api_url(self) -> str:
        return self.record.api_url

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Return once the server answers; RuntimeError when it died or never answered."""
        deadline = self.record.started_at + timeout_s
        while not _healthy(self.record):
            if not _alive(self.record.pid):
                raise RuntimeError(f"The local Prefect server exited: {_log_tail(self.file)}")
            if time.time() > deadline:
                raise RuntimeError(f"The local Prefect server did not start in {timeout_s:.0f} s")
            time.sleep(0.1)

    def release(self) -> None:
        self.file.unlink(missing_ok=True)


def acquire(idle_s: float) -> Lease:
    """The running kept server, or a new one, leased to this process. A new server's port is
    known at once, before it can answer (it migrates its database first): set PREFECT_API_URL,
    do other work, then `wait_ready`. RuntimeError when one cannot be started."""
    folder = state_dir()
    claim = folder / "clients" / str(os.getpid())
    claim.parent.mkdir(parents=True, exist_ok=True)
    claim.touch()  # before any server sees it: a new one must not count itself idle
    try:
        with _locked(folder):  # two commands at once start one server, not two
            record = read_record(folder)
            if record and (record.prefect_version != version("prefect") or _hung(record)):
                stop(folder)  # another Prefect's API may not match this client
                record = None
            started = record is None
            if record is None:
                record = _start(folder, idle_s)
    except BaseException:
        claim.unlink(missing_ok=True)
        raise
    return Lease(record, started, claim)


def _hung(record: ServerRecord) -> bool:
    """Alive, but still not answering long after it should have."""
    return time.time() - record.started_at > START_TIMEOUT_S and not _healthy(record)


def read_record(folder: Path) -> ServerRecord | None:
    try:
        record = ServerRecord(**json.loads((folder / "server.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return record if _alive(record.pid) else None


def stop(folder: Path, timeout_s: float = 15.0) -> ServerRecord | None:
    """Stop the kept server (SIGTERM, then SIGKILL); the record of the one stopped, if any."""
    record = read_record(folder)
    if record is None:
        (folder / "server.json").unlink(missing_ok=True)
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(record.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(record.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
    (folder / "server.json").unlink(missing_ok=True)
    return record


def _start(folder: Path, idle_s: float) -> ServerRecord:
    """Start a server process; its record once it has its port (it answers later)."""
    (folder / "server.json").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    # The app Prefect's own temporary server runs: API only, services a local run needs.
    env.update({"PREFECT__SERVER_EPHEMERAL": "1", "PREFECT_UI_ENABLED": "0"})
    log = (folder / "server.log").open("ab")
    began = time.monotonic()
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reelflow.cli.local_server", "--idle", str(idle_s)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            start_new_session=True,  # not ours to stop on Ctrl-C: later commands use it
        )  # fmt: skip
    while time.monotonic() - began < START_TIMEOUT_S:
        record = read_record(folder)
        if record and record.pid == proc.pid:
            return record
        if proc.poll() is not None:
            raise RuntimeError(f"The local Prefect server exited: {_log_tail(folder)}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"The local Prefect server did not start in {START_TIMEOUT_S:.0f} s")


def _healthy(record: ServerRecord) -> bool:
    try:
        with urllib.request.urlopen(f"{record.api_url}/health", timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process has that pid now
        return False
    return True


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with (folder / "lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _log_tail(path: Path) -> str:
    """The server log's last lines; `path` is the state folder or a file in it."""
    folder = path if path.is_dir() else path.parent.parent
    try:
        lines = (folder / "server.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(lines[-3:]) or "no log"


# The server process: `python -m reelflow.cli.local_server --idle S` (started by `_start`).


def live_clients(folder: Path) -> int:
    """Commands holding a lease now; files of commands that died are removed."""
    count = 0
    for path in (folder / "clients").glob("*"):
        if path.name.isdigit() and _alive(int(path.name)):
            count += 1
        else:
            path.unlink(missing_ok=True)
    return count


def serve(idle_s: float) -> int:
    import asyncio
    import socket

    import uvicorn

    from reelflow.prefect_db import prepare_database

    folder = state_dir()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # a free port, held from here on: no race for it
    port = sock.getsockname()[1]
    config = uvicorn.Config("prefect.server.api.server:create_app", factory=True,
                            log_level="error", lifespan="on")  # fmt: skip
    server = uvicorn.Server(config)
    record = ServerRecord(pid=os.getpid(), api_url=f"http://127.0.0.1:{port}/api",
                          prefect_version=version("prefect"), idle_s=idle_s,
                          started_at=time.time())  # fmt: skip

    async def run() -> None:
        print(f"reelflow: {await prepare_database()}", file=sys.stderr, flush=True)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            await _watch(server, folder, record, idle_s)
        await serving

    # Recorded before Prefect is imported and the app starts (seconds): commands set their
    # PREFECT_API_URL and import meanwhile, then wait for /health.
    _write_record(folder, record)
    try:
        config.load()  # Prefect's app, created before its start-up: prepare_database needs it
        asyncio.run(run())
    finally:
        current = read_record(folder)
        if current is None or current.pid == record.pid:
            (folder / "server.json").unlink(missing_ok=True)
    return 0


async def _watch(server, folder: Path, record: ServerRecord, idle_s: float) -> None:
    """Stop once no command has held a lease for idle_s, or the record names another server."""
    import asyncio

    last_used = time.monotonic()
    while not server.should_exit:
        if live_clients(folder):
            last_used = time.monotonic()
        elif time.monotonic() - last_used >= idle_s:
            server.should_exit = True
        current = read_record(folder)
        if current is None or current.pid != record.pid:
            server.should_exit = True
        await asyncio.sleep(_POLL_S)


def _write_record(folder: Path, record: ServerRecord) -> None:
    tmp = folder / f".server.{os.getpid()}.json"
    tmp.write_text(json.dumps(asdict(record)))
    os.replace(tmp, folder / "server.json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the kept local Prefect server (internal)")
    parser.add_argument("--idle", type=float, required=True, help="seconds unused before it stops")
    sys.exit(serve(parser.parse_args().idle))
