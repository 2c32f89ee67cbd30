"""`reelflow server status|stop`: the local Prefect server the CLI keeps between commands."""

from __future__ import annotations

import argparse
import time

from reelflow.cli.local_server import live_clients, read_record, state_dir, stop


def add_command(sub) -> None:
    s = sub.add_parser(
        "server",
        help="show or stop the local Prefect server that process and restyle keep running",
        description="`reelflow process` and `reelflow restyle` start a local Prefect server "
        "when no PREFECT_API_URL is set and keep it for later commands; it stops by itself "
        "after REELFLOW_SERVER_IDLE_S (600 s) unused.",
    )
    s.add_argument("action", choices=["status", "stop"])
    s.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    folder = state_dir()
    if args.action == "stop":
        record = stop(folder)
        print(f"stopped the local Prefect server (pid {record.pid})" if record
              else "no local Prefect server is running")  # fmt: skip
        return 0
    record = read_record(folder)
    if record is None:
        print("no local Prefect server is running")
        return 0
    up = time.time() - record.started_at
    print(f"running at {record.api_url} (pid {record.pid}, up {up / 60:.0f} min, "
          f"{live_clients(folder)} command(s) using it; stops after "
          f"{record.idle_s / 60:g} min unused)")  # fmt: skip
    return 0
