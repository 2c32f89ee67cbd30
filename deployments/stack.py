"""Start the whole service on this machine: Prefect server, worker, API. `make up` runs this.

    python -m deployments.stack [--api-port 8000] [--prefect-port 4200]

It starts the Prefect server (UI on :4200, analytics off) on SQLite, or on PostgreSQL with
REELFLOW_DB=postgres (deployments/postgres.py starts a cluster in the data dir, unless
PREFECT_API_DATABASE_CONNECTION_URL names a server), the worker (`deployments.serve`), and the
API under uvicorn, waits until the API says it is ready, prints the URLs, and stops them all on
Ctrl-C or SIGTERM (what systemd, Docker and Kubernetes send): the API first, then the worker,
which hands its running jobs back to the queue, then the server, all within STOP_WITHIN_S.
It only ever stops processes it started: its own children, and the flow-run processes its
worker started and what they started, which it watches as they come (a run's ffmpeg runs in a
process group of its own, and outlives a worker that is killed). Tests use the same `Stack` on
free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deployments.postgres import PostgresCluster
from deployments.processes import ChildWatch

ROOT = Path(__file__).resolve().parent.parent
# systemd and Docker wait 10-30 s after SIGTERM before they SIGKILL: stop well inside that.
STOP_WITHIN_S = 25


@dataclass
class Stack:
    api_port: int = 8000
    prefect_port: int = 4200
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    watches: dict[str, ChildWatch] = field(default_factory=dict)
    postgres: PostgresCluster | None = None

    @property
    def prefect_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def environment(self, server: bool = False, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "PREFECT_API_URL": self.prefect_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_UI_API_URL": self.prefect_url,
        })  # fmt: skip
        env.update(self.env)
        env.update(extra)
        # The database's address (and password) is the Prefect server's business only.
        if not server:
            env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
            env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL", None)
        return env

    def start(self, timeout_s: float = 120) -> Stack:
        try:
            self.start_prefect(timeout_s)
            self.start_worker()
            self.start_api()
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def start_prefect(self, timeout_s: float = 120) -> None:
        database = self._database(timeout_s)
        self._start("prefect", [sys.executable, "-m", "deployments.prefect_server", "--host",
                                "127.0.0.1", "--port", str(self.prefect_port)],
                    server=True, **database)  # fmt: skip
        self._wait(f"{self.prefect_url}/health", timeout_s, "prefect")

    def start_worker(self, name: str = "worker", **env: str) -> None:
        self._start(name, [sys.executable, "-m", "deployments.serve"], **env)
        self.watches[name] = ChildWatch(self.processes[name].pid)

    def start_api(self, **env: str) -> None:
        uvicorn = [sys.executable, "-m", "uvicorn", "api.app:app", "--no-access-log",
                   "--timeout-graceful-shutdown", "5"]  # fmt: skip
        self._start("api", [*uvicorn, "--host", "127.0.0.1", "--port", str(self.api_port)], **env)

    def wait_ready(self, timeout_s: float) -> None:
        """Until the API's /health says ready: deployments registered and a worker polling."""
        self._wait(f"{self.api_url}/health", timeout_s, "api")

    def stop_process(
        self, name: str, sig: int = signal.SIGTERM, wait_s: float = 15, group: bool = True
    ) -> None:
        """Stop one process and everything in its process group; SIGKILL after `wait_s`."""
        proc = self.processes.pop(name, None)
        watch = self.watches.get(name)
        if watch is not None:
            watch.scan()  # the last flow runs it started, before it can no longer be asked
        if proc is None or proc.poll() is not None:
            return
        try:
            (os.killpg if group else os.kill)(proc.pid, sig)
            proc.wait(timeout=wait_s)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop(self) -> None:
        """API, then workers (they hand their runs back), then what they left, then the
        server and its database: within STOP_WITHIN_S in all."""
        deadline = time.monotonic() + STOP_WITHIN_S

        def left(share: float) -> float:
            return max(1.0, min(share, deadline - time.monotonic()))

        self.stop_process("api", wait_s=left(8))
        for name in list(self.watches):
            self.stop_process(name, wait_s=left(10))
        self.kill_flow_runs()
        for watch in self.watches.values():
            watch.close()
        self.watches.clear()
        self.stop_process("prefect", wait_s=left(8))
        # Fast shutdown, sent to the postmaster alone: it stops its own backends.
        self.stop_process("postgres", signal.SIGINT, wait_s=left(8), group=False)

    def kill_flow_runs(self, flow_run_id: str | None = None) -> int:
        """Kill flow-run processes the stack's workers started (or one run's), and what they
        started: a worker that was killed leaves their ffmpeg running, each in a process group
        of its own. Nothing else. How many runs had something left to kill."""
        return sum(w.kill_children(flow_run_id) for w in self.watches.values())

    def wait_for_deployment(self, timeout_s: float) -> None:
        # serve() registers its deployments one by one: wait for the last as well as the first.
        from deployments.definitions import SERVED_DEPLOYMENT_PATHS

        deadline = time.monotonic() + timeout_s
        for path in SERVED_DEPLOYMENT_PATHS:
            url = f"{self.prefect_url}/deployments/name/{path}"
            self._wait(url, max(1.0, deadline - time.monotonic()), "worker")

    def _database(self, timeout_s: float) -> dict[str, str]:
        """REELFLOW_DB=postgres without a database URL: start the stack's own cluster."""
        env = self.environment(server=True)
        given = env.get("PREFECT_API_DATABASE_CONNECTION_URL") or env.get(
            "PREFECT_SERVER_DATABASE_CONNECTION_URL"
        )
        if env.get("REELFLOW_DB", "sqlite").lower() != "postgres" or given:
            return {}
        data_dir = Path(env.get("REELFLOW_DATA_DIR", "data"))
        folder = (data_dir if data_dir.is_absolute() else ROOT / data_dir) / "postgres"
        self.postgres = PostgresCluster(folder, free_port())
        self.postgres.prepare()
        args, user = self.postgres.command()
        self._start("postgres", args, popen=user)
        proc = self.processes["postgres"]
        self.postgres.wait_ready(timeout_s, alive=lambda: proc.poll() is None)
        return {"PREFECT_API_DATABASE_CONNECTION_URL": self.postgres.url()}

    def _start(
        self,
        name: str,
        args: list[str],
        popen: dict | None = None,
        server: bool = False,
        **env: str,
    ) -> None:
        out = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            args, cwd=ROOT, env=self.environment(server, **env), stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True, **(popen or {}),
        )  # fmt: skip

    def _wait(self, url: str, timeout_s: float, name: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            proc = self.processes.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{name} did not become healthy within {timeout_s:.0f} s ({url})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loopback_env(home: Path, jobs_limit: int, **extra: str) -> dict[str, str]:
    """Environment of a self-contained stack for tests and benchmarks: its own Prefect home and
    data dir, URL jobs allowed to reach 127.0.0.1 only, and Prefect's polling shortened so
    queued jobs start quickly."""
    return {
        "PREFECT_HOME": str(home / "prefect"),
        "REELFLOW_DATA_DIR": str(home / "data"),
        "MAX_CONCURRENT_JOBS": str(jobs_limit),
        "ALLOWED_URL_HOSTS": "127.0.0.1",
        "ALLOW_PRIVATE_URLS": "true",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
        "RETENTION_SWEEP_SECONDS": "3600",
        "RENDER_WORKERS": "1",
        **extra,
    }


@contextmanager
def running_stack(home: Path, env: dict[str, str], timeout_s: float = 180) -> Iterator[Stack]:
    """A Prefect server, the worker and the API on free ports of 127.0.0.1, logging to
    home/logs; stopped, with every flow-run process it started, when the block ends."""
    stack = Stack(free_port(), free_port(), env=env, log_dir=home / "logs").start(timeout_s)
    stack.home = home
    try:
        yield stack
    finally:
        stack.stop()


def _config_problem() -> str | None:
    """What would stop the API from starting, said before anything starts (not as "api exited
    with code 1" after the Prefect server came up)."""
    from api.security import api_token
    from reelflow.errors import ConfigError
    from reelflow.settings import get_settings

    try:
        api_token(get_settings())
    except ConfigError as exc:
        return str(exc)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--prefect-port", type=int, default=4200)
    parser.add_argument("--logs", default="data/logs", help="folder for the processes' logs")
    args = parser.parse_args()
    if problem := _config_problem():
        print(f"reelflow: error: {problem}", file=sys.stderr)
        return 2
    stack = Stack(args.api_port, args.prefect_port, log_dir=Path(args.logs))
    # SIGTERM (systemd, Docker, Kubernetes, kill) stops the stack as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print("starting the Prefect server, the worker and the API ...", flush=True)
        stack.start()
        print(f"\n  API:        {stack.api_url}   (docs: {stack.api_url}/docs)")
        print(f"  Prefect UI: http://127.0.0.1:{stack.prefect_port}")
        print(f"  logs:       {args.logs}/\n\nCtrl-C stops everything.", flush=True)
        while all(p.poll() is None for p in stack.processes.values()):
            time.sleep(1)
        print("a process stopped; shutting down", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping ...", file=sys.stderr, flush=True)
        return 0
    finally:
        # Once stopping, a second signal must not cut the stop short and leave orphans.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
