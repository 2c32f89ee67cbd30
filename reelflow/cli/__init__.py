"""`reelflow` command line: `process` a video into clips, `restyle` a clip, run a `batch` of URLs,
`publish` a clip, and look after the local Prefect `server` that `process` and `restyle` keep
between commands.

The CLI sits above everything else (it runs flows and starts deployments); the library below
imports nothing from it.
"""

from __future__ import annotations

import argparse
import sys

from reelflow.cli import batch, process, publish, restyle, server


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.handler(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reelflow", description="Turn long videos into short vertical clips."
    )
    sub = parser.add_subparsers(dest="command")
    process.add_command(sub)
    restyle.add_command(sub)
    batch.add_command(sub)
    publish.add_command(sub)
    server.add_command(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
