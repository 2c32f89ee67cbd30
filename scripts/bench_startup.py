"""The CLI's start-up alone: `reelflow process` from the command's start to its flow's start, with
a fresh Prefect home each time (a new kept server: cold), then once more with that server
running (warm). Each command is stopped as soon as its flow starts, so a try takes seconds.

    python scripts/bench_startup.py [--repeat 3] [--no-template] [--input FILE]

Prints each try and the best (minimum) of each figure: wall seconds to the flow's start, the
command's own CPU seconds until then, and the kept server's CPU seconds until then (its imports,
migrations and block registration run beside the command's imports on another core).
--no-template times the very first cold start of a machine: no template database in the cache
(a temporary XDG_CACHE_HOME of its own, so the user's cache is left as it is).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cli import ROOT, bench_env, stop_gently, stop_server

SAMPLE = ROOT / "tests" / "data" / "sample.mp4"
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Start:
    wall_s: float  # command start to its "Beginning flow run" line
    cli_cpu_s: float  # the command's CPU until then
    server_cpu_s: float  # the kept server's CPU until then (0 when it was running already)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-template",
        action="store_true",
        help="no template database: the first cold start of a machine",
    )
    parser.add_argument("--input", default=str(SAMPLE))
    args = parser.parse_args()
    colds, warms = [], []
    for i in range(args.repeat):
        cold, warm = one_try(Path(args.input), template=not args.no_template)
        colds.append(cold)
        warms.append(warm)
        print(f"try {i + 1}: cold {_show(cold)}; warm {_show(warm)}", flush=True)
    print(f"best of {args.repeat}: cold {_best(colds)}; warm {_best(warms)}")
    return 0


def one_try(source: Path, template: bool = True) -> tuple[Start, Start]:
    """A cold start in a fresh Prefect home, then a warm one against the server it left."""
    home = Path(tempfile.mkdtemp(prefix="reelflow-startup-"))
    extra = {} if template else {"XDG_CACHE_HOME": str(home / "cache")}
    env = bench_env(home, **extra)
    try:
        cold = time_to_flow(env, source, home / "out1")
        warm = time_to_flow(env, source, home / "out2")
    finally:
        stop_server(env)
        shutil.rmtree(home, ignore_errors=True)
    return cold, warm


def time_to_flow(env: dict[str, str], source: Path, out: Path, timeout_s: float = 300) -> Start:
    """Run `reelflow process` until its flow starts, then stop it (SIGTERM); the figures."""
    record = Path(env["PREFECT_HOME"]) / "reelflow-server" / "server.json"
    server_before = _server_cpu(record)
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelflow.cli", "process", str(source), "--provider", "local",
         "--out", str(out)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen = threading.Event()
    tail: list[str] = []

    def read() -> None:
        for line in proc.stderr:
            tail[:] = [*tail[-20:], line]
            if "Beginning flow run" in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while not seen.wait(0.02):
            if proc.poll() is not None or time.perf_counter() - began > timeout_s:
                raise SystemExit(f"no flow start (exit {proc.returncode}): {''.join(tail)}")
        wall = time.perf_counter() - began
        cli_cpu = _cpu(proc.pid)
        server_cpu = _server_cpu(record) - server_before
    finally:
        stop_gently(proc)
        reader.join(timeout=10)
    return Start(wall, cli_cpu, server_cpu)


def _cpu(pid: int) -> float:
    """utime + stime of a live process, and of the children it waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / _TICK


def _server_cpu(record: Path) -> float:
    try:
        return _cpu(json.loads(record.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return 0.0


def _show(s: Start) -> str:
    return f"{s.wall_s:.1f} s wall, CPU {s.cli_cpu_s:.1f} s command + {s.server_cpu_s:.1f} s server"


def _best(starts: list[Start]) -> str:
    return _show(Start(*(min(getattr(s, f) for s in starts) for f in Start.__dataclass_fields__)))


if __name__ == "__main__":
    sys.exit(main())
