"""The stack's Prefect server: `prefect server start`, with a new home's database copied from
the template `make sync` prepared (reelflow/prefect_db.py) instead of built by Prefect's
115 migrations and block registration, which took most of a first `make up`'s start.

    python -m deployments.prefect_server --host 127.0.0.1 --port 4200   (what Stack starts)

Every argument goes to `prefect server start` unchanged; a database of its own (PostgreSQL,
another file) or a home that has one already is left alone, and anything wrong with the
template only means Prefect builds the database as it always did.
"""

from __future__ import annotations

import asyncio
import sys


def main(argv: list[str]) -> None:
    from prefect.cli import app
    from prefect.server.api.server import create_app

    from reelflow.prefect_db import prepare_and_close

    create_app()  # the block classes the server registers: the template's key hashes them
    print(f"reelflow: {asyncio.run(prepare_and_close())}", file=sys.stderr, flush=True)
    sys.argv = ["prefect", "server", "start", *argv]  # Prefect's CLI reads its own arguments
    app()


if __name__ == "__main__":
    main(sys.argv[1:])
