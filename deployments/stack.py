"""Start the whole service on this machine: Prefect server, worker, API. `make up` runs this.

    python -m deployments.stack [--api-port 8000] [--prefect-port 4200]

It starts the Prefect server (SQLite, UI on :4200, analytics off), the worker
(`deployments.serve`), and the API under uvicorn, waits until each is healthy, prints the URLs,
and stops them all on Ctrl-C. Tests use the same `Stack` on free ports.
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Stack:
    api_port: int = 8000
    prefect_port: int = 4200
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def prefect_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "PREFECT_API_URL": self.prefect_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_UI_API_URL": self.prefect_url,
        })  # fmt: skip
        env.update(self.env)
        return env

    def start(self, timeout_s: float = 120) -> Stack:
        try:
            self._start("prefect", [_bin("prefect"), "server", "start", "--host", "127.0.0.1",
                                    "--port", str(self.prefect_port)])  # fmt: skip
            self._wait(f"{self.prefect_url}/health", timeout_s, "prefect")
            self.start_worker()
            self.start_api()
            self._wait(f"{self.api_url}/health", timeout_s, "api")
            self.wait_for_deployment(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self) -> None:
        self._start("worker", [sys.executable, "-m", "deployments.serve"])

    def start_api(self) -> None:
        uvicorn = [sys.executable, "-m", "uvicorn", "api.app:app", "--no-access-log"]
        self._start("api", [*uvicorn, "--host", "127.0.0.1", "--port", str(self.api_port)])

    def stop_process(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Stop one process and everything it started (its process group)."""
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop(self) -> None:
        self.stop_process("api")
        self.stop_process("worker")
        self.kill_flow_runs()
        self.stop_process("prefect")

    def kill_flow_runs(self, flow_run_id: str | None = None) -> int:
        """Kill flow-run processes of this stack (or of one run): the worker starts each run in
        its own process group, so stopping the worker leaves them running."""
        wanted = f"PREFECT_API_URL={self.prefect_url}".encode()
        run_marker = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode() if flow_run_id else None
        killed = 0
        for pid in _pids():
            env = _environ(pid)
            if wanted in env and (run_marker is None or run_marker in env):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        return killed

    def wait_for_deployment(self, timeout_s: float) -> None:
        # serve() registers its deployments one by one: wait for the last as well as the first.
        from deployments.definitions import SERVED_DEPLOYMENT_PATHS

        deadline = time.monotonic() + timeout_s
        for path in SERVED_DEPLOYMENT_PATHS:
            url = f"{self.prefect_url}/deployments/name/{path}"
            self._wait(url, max(1.0, deadline - time.monotonic()), "worker")

    def _start(self, name: str, args: list[str]) -> None:
        out = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            args, cwd=ROOT, env=self.environment(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
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


def _pids() -> list[int]:
    own = {os.getpid()}
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in own]


def _environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return []


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


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


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
    print("starting the Prefect server, the worker and the API ...", flush=True)
    stack.start()
    print(f"\n  API:        {stack.api_url}   (docs: {stack.api_url}/docs)")
    print(f"  Prefect UI: http://127.0.0.1:{stack.prefect_port}")
    print(f"  logs:       {args.logs}/\n\nCtrl-C stops everything.", flush=True)
    try:
        while all(p.poll() is None for p in stack.processes.values()):
            time.sleep(1)
        print("a process stopped; shutting down", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
