"""`reelflow process <file-or-URL>`: run the clip flow in this process and show what came out."""

from __future__ import annotations

import argparse
import atexit
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from reelflow.cli.common import add_look_arguments, fail, look_options, prefect_server
from reelflow.cli.uploads import finish_uploads
from reelflow.errors import ReelflowError, describe_invalid
from reelflow.manifest import ClipEntry


def add_command(sub) -> None:
    p = sub.add_parser("process", help="cut a video (file or URL) into vertical clips")
    p.add_argument("source", help="a video file, or an http(s) URL (YouTube or a direct link)")
    p.add_argument("--clips", type=int, help="how many clips (default: as many good ones, 3-15)")
    p.add_argument("--min-seconds", type=float, default=15.0, help="shortest clip (default 15)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="longest clip (default 60)")
    p.add_argument("--provider", choices=["local", "gemini"], default="local")
    p.add_argument("--out", help="folder for the clips (default: <data dir>/jobs/<job id>)")
    p.add_argument(
        "--language", default="auto",
        help="spoken language: auto (detected, the default) or a code such as en, de, es",
    )  # fmt: skip
    p.add_argument(
        "--translate", metavar="LANGS", default="",
        help="also make every clip with captions and texts in these languages, e.g. es,de "
        "(Gemini: GEMINI_API_KEY)",
    )  # fmt: skip
    add_look_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from reelflow.jobs import ClipRequest

    source = args.source
    if "://" not in source:
        source = str(Path(source).expanduser().absolute())
    try:
        request = ClipRequest(
            source=source,
            clips=args.clips,
            min_seconds=args.min_seconds,
            max_seconds=args.max_seconds,
            provider=args.provider,
            out_dir=str(Path(args.out).absolute()) if args.out else None,
            language=args.language,
            translate=args.translate,
            **look_options(args),
        )
    except ValidationError as exc:
        return fail(describe_invalid(exc.errors()))
    try:
        precheck(request)
        return _run(request)
    except ReelflowError as exc:  # refused up front, or no Prefect server to run on
        return fail(str(exc))


def precheck(request) -> None:
    """Refuse what can be told before Prefect is imported or a server started (well under a
    second): a missing or unreadable file, a non-video, a video too short or too long, a URL
    that is never fetched, Gemini without a key. The flow checks all of it again."""
    from reelflow.source_check import check_source

    check_source(request.source, request.min_seconds)
    if request.provider == "gemini":
        from reelflow.gemini import resolve_key

        resolve_key(request.gemini_key_block)


def _run(request) -> int:
    with prefect_server("flows.clip"):
        from flows.clip import clip_video

        print(f"reelflow: clipping {request.label()} ...", file=sys.stderr)
        state = clip_video(request, return_state=True)
        with _quiet_prefect():
            code, folder = _report(state, request)
        finish_uploads(folder)
    return code


def _report(state, request) -> tuple[int, Path]:
    from reelflow.jobs import job_dir
    from reelflow.manifest import read_manifest

    job_id = str(state.state_details.flow_run_id)
    folder = job_dir(job_id, request.out_dir)
    if not state.is_completed():
        return fail(state.message or "the job failed"), folder
    manifest = read_manifest(folder)
    print(format_table(manifest.clips if manifest else [], folder), flush=True)
    return 0, folder


@contextmanager
def _quiet_prefect() -> Iterator[None]:
    """Keep the answer the last thing printed, and give Prefect's logger its level back for
    whoever runs next in this process (tests call `main` many times)."""
    logger = logging.getLogger("prefect")
    level = logger.level
    logger.setLevel(logging.WARNING)
    # Prefect logs its temporary server's shutdown at exit: registered after its own handler,
    # this runs first (atexit is last in, first out) and keeps that line out too.
    atexit.register(logger.setLevel, logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def format_table(clips: list[ClipEntry], folder: Path) -> str:
    rows = [("#", "start", "end", "score", "title", "file")]
    for c in sorted(clips, key=lambda c: c.index):
        title = c.title if len(c.title) <= 48 else c.title[:47] + "…"
        rows.append((str(c.index), f"{c.start:.1f}", f"{c.end:.1f}", f"{c.score:.0f}", title,
                     c.file))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([*lines, f"\n{len(clips)} clips in {folder}"])
