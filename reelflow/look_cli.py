"""Command-line pieces for looks: `--captions/--hook/--effects` on `reelflow process`, and
`reelflow restyle <job folder> <index>`, which renders one clip again with a new look."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError


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


def add_restyle_command(sub) -> None:
    r = sub.add_parser(
        "restyle",
        help="render one clip of a finished job again with new captions, hook or effects",
        description="Renders from the source video (not from the clip) and writes "
        "clip_NN_vK.mp4 (with .jpg, .srt, .vtt) beside the earlier files.",
    )
    r.add_argument("job", help="the job's folder (or its id under <data dir>/jobs)")
    r.add_argument("index", type=int, help="the clip's number")
    add_look_arguments(r)
    r.set_defaults(handler=_restyle)


def _restyle(args: argparse.Namespace) -> int:
    from reelflow.styles import RestyleRequest

    job = args.job
    if Path(job).expanduser().exists():
        job = str(Path(job).expanduser().absolute())
    try:
        request = RestyleRequest(job=job, index=args.index, **look_options(args))
    except ValidationError as exc:
        return fail("; ".join(plain_error(e) for e in exc.errors()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from flows.restyle import job_folder, restyle_clip

    print(f"reelflow: restyling {request.label()} ...", file=sys.stderr)
    state = restyle_clip(request, return_state=True)
    if not state.is_completed():
        return fail(state.message or "the restyle failed")
    result = state.result()
    print(job_folder(request.job) / result["file"])
    return 0


def plain_error(error: dict) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error['msg']}" if where else error["msg"]


def fail(reason: str) -> int:
    print(f"reelflow: error: {reason}", file=sys.stderr)
    return 1
