"""`reelflow` command line: run the clip flow on a file or URL and show what came out."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from reelflow.look_cli import (
    add_look_arguments,
    add_restyle_command,
    look_options,
)
from reelflow.look_cli import (
    fail as _fail,
)
from reelflow.look_cli import (
    plain_error as _plain,
)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelflow", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("process", help="cut a video (file or URL) into vertical clips")
    p.add_argument("source", help="a video file, or an http(s) URL (YouTube or a direct link)")
    p.add_argument("--clips", type=int, help="how many clips (default: as many good ones, 3-15)")
    p.add_argument("--min-seconds", type=float, default=15.0, help="shortest clip (default 15)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="longest clip (default 60)")
    p.add_argument("--provider", choices=["local", "gemini"], default="local")
    p.add_argument("--out", help="folder for the clips (default: <data dir>/jobs/<job id>)")
    add_look_arguments(p)
    p.set_defaults(handler=_process)
    add_restyle_command(sub)
    b = sub.add_parser(
        "batch",
        help="clip every video in a URL list, on the running service (make up)",
        description="Start a run of the batch-urls deployment on the service named by "
        "PREFECT_API_URL (make up serves it). Each URL becomes its own clip job.",
    )
    b.add_argument("url_list", help="a text, CSV or Parquet list: a path, an http(s) URL or s3://")
    b.add_argument("--wait", action="store_true", help="wait for the batch, print its report")
    b.add_argument("--force", action="store_true", help="reprocess URLs already processed")
    b.add_argument("--format", dest="list_format", choices=["auto", "text", "csv", "parquet"])
    b.add_argument("--clips", type=int, help="clips per video where the list does not say")
    b.add_argument("--min-seconds", type=float, help="shortest clip (default 15)")
    b.add_argument("--max-seconds", type=float, help="longest clip (default 60)")
    b.add_argument("--provider", choices=["local", "gemini"])
    b.set_defaults(handler=_batch)
    return parser


def _batch(args: argparse.Namespace) -> int:
    from reelflow.batch_cli import start_batch

    options = {k: getattr(args, k) for k in ("clips", "min_seconds", "max_seconds", "provider",
                                             "list_format")}  # fmt: skip
    return start_batch(args.url_list, args.wait, args.force, options)


def _process(args: argparse.Namespace) -> int:
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
            **look_options(args),
        )
    except ValidationError as exc:
        return _fail("; ".join(_plain(e) for e in exc.errors()))
    return _run(request)


def _run(request) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # The temporary Prefect server needs longer than Prefect's default on a busy 2-core box.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from flows.clip import clip_video
    from reelflow.jobs import job_dir, read_manifest

    print(f"reelflow: clipping {request.label()} ...", file=sys.stderr)
    state = clip_video(request, return_state=True)
    # Keep the answer the last thing printed (Prefect logs its temporary server's shutdown).
    logging.getLogger("prefect").setLevel(logging.WARNING)
    job_id = str(state.state_details.flow_run_id)
    folder = job_dir(job_id, request.out_dir)
    if not state.is_completed():
        return _fail(state.message or "the job failed")
    manifest = read_manifest(folder) or {}
    print(format_table(manifest.get("clips", []), folder))
    return 0


def format_table(clips: list[dict], folder: Path) -> str:
    rows = [("#", "start", "end", "score", "title", "file")]
    for c in sorted(clips, key=lambda c: c["index"]):
        title = c["title"] if len(c["title"]) <= 48 else c["title"][:47] + "…"
        rows.append((str(c["index"]), f"{c['start']:.1f}", f"{c['end']:.1f}",
                     f"{c['score']:.0f}", title, c["file"]))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([*lines, f"\n{len(clips)} clips in {folder}"])


if __name__ == "__main__":
    sys.exit(main())
