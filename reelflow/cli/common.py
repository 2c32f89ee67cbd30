"""Pieces every `reelflow` command shares: the look options, errors, Prefect's environment."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from reelflow.errors import Unavailable


def add_look_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--captions", nargs="?", const="bold", metavar="PRESET",
        help="burn in word-by-word captions: bold (default), classic, karaoke, pop, boxed, or a "
        'JSON style such as \'{"preset": "pop", "position": 60}\'',
    )  # fmt: skip
    parser.add_argument(
        "--hook", nargs="?", const="true", metavar="JSON",
        help="show the clip's hook line as a title card (optionally a JSON style, e.g. "
        '\'{"position": "middle", "duration_s": 5}\')',
    )  # fmt: skip
    parser.add_argument(
        "--effects", nargs="?", const="true", metavar="JSON",
        help="punch-in zooms on emphasis and a colour grade (optionally JSON options, e.g. "
        '\'{"cut_silences": true}\')',
    )  # fmt: skip


def look_options(args: argparse.Namespace) -> dict:
    """The look fields for a ClipRequest or RestyleRequest: JSON where given, else the word."""
    out = {}
    for name in ("captions", "hook", "effects"):
        value = getattr(args, name, None)
        if value is None:
            continue
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def json_object(text: str) -> dict:
    """An argparse type: a JSON object, or a clear error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object like {...}")
    return value


def prefect_defaults() -> None:
    """What an in-process run needs from Prefect: no analytics, and a temporary server given
    longer to start than Prefect's default on a busy 2-core machine."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@contextmanager
def prefect_server(*modules: str) -> Iterator[None]:
    """Point this command's Prefect at the kept local server (reelflow/cli/local_server.py),
    starting it when none runs, and hold it while the command runs. `modules` (the flow's)
    are imported while a new server starts up: both take seconds.

    Left alone: a PREFECT_API_URL (environment or profile), REELFLOW_SERVER_IDLE_S=0, and a
    process that imported Prefect before (tests, Python callers: its settings are fixed)."""
    from reelflow.cli.local_server import acquire, configured_api_url
    from reelflow.settings import get_settings

    prefect_defaults()
    idle_s = get_settings().server_idle_s
    if "prefect" in sys.modules or idle_s <= 0 or configured_api_url():
        yield
        return
    try:
        lease = acquire(idle_s)
    except (OSError, RuntimeError) as exc:
        _no_server(exc)
        yield
        return
    try:
        os.environ["PREFECT_API_URL"] = lease.api_url
        if lease.started:
            print(f"reelflow: starting a local Prefect server at {lease.api_url}; later "
                  f"commands reuse it, it stops after {idle_s / 60:g} min unused "
                  "(`reelflow server stop`)", file=sys.stderr)  # fmt: skip
        for module in modules:
            importlib.import_module(module)
        try:
            lease.wait_ready()
        except RuntimeError as exc:  # Prefect is imported with its URL: no other server now
            raise Unavailable(f"{exc}; REELFLOW_SERVER_IDLE_S=0 runs without it") from exc
        yield
    finally:
        lease.release()


def _no_server(exc: Exception) -> None:
    print(f"reelflow: warning: no local Prefect server ({exc}); using a temporary one",
          file=sys.stderr)  # fmt: skip


def fail(reason: str) -> int:
    print(f"reelflow: error: {reason}", file=sys.stderr)
    return 1
