"""`reelflow batch <list>`: start a run of the batch-urls deployment on the running service.

A batch needs the service: its jobs are runs of the clip-video deployment, which only a
served (or deployed) worker runs, so there is no in-process fallback as `process` has. Without
PREFECT_API_URL, or with no worker serving the deployments, it says so and exits with 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from reelflow.cli.common import fail as _fail
from reelflow.errors import describe_invalid

POLL_S = 3
TABLE_COLUMNS = ("row", "status", "clips", "best_score", "job_id", "url", "error")
NO_SERVICE = (
    "reelflow batch runs on the service: start it with `make up` and set "
    "PREFECT_API_URL=http://127.0.0.1:4200/api"
)


def add_command(sub) -> None:
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
    b.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    names = ("clips", "min_seconds", "max_seconds", "provider", "list_format")
    options = {k: getattr(args, k) for k in names}
    return start_batch(args.url_list, args.wait, args.force, options)


def start_batch(url_list: str, wait: bool, force: bool, options: dict[str, Any]) -> int:
    import httpx
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import get_current_settings
    from pydantic import ValidationError

    from flows.names import BATCH_DEPLOYMENT_PATH
    from reelflow.batch_input import BatchRequest

    api = get_current_settings().api.url
    if not api:
        return _fail(NO_SERVICE)
    if "://" not in url_list:
        # The worker runs on this machine (make up): give it a path that does not depend on
        # its working directory.
        path = Path(url_list).expanduser().absolute()
        if not path.is_file():
            return _fail(f"No such list: {path}")
        url_list = str(path)
    given = {k: v for k, v in options.items() if v is not None}
    try:
        request = BatchRequest(url_list=url_list, force=force, **given)
    except ValidationError as exc:
        return _fail(describe_invalid(exc.errors()))
    try:
        run = run_deployment(
            BATCH_DEPLOYMENT_PATH,
            parameters={"request": request.model_dump(mode="json")},
            timeout=0,
            tags=["reelflow", "cli"],
            as_subflow=False,
        )
    except ObjectNotFound:
        return _fail(f"{BATCH_DEPLOYMENT_PATH} is not registered at {api}: is the worker running?")
    except httpx.HTTPError as exc:
        return _fail(f"Cannot reach the Prefect server at {api}: {exc}")
    print(f"reelflow: batch {run.id} started", file=sys.stderr)
    if not wait:
        print(run.id)
        return 0
    return _wait_and_report(str(run.id))


def _wait_and_report(batch_id: str) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterType,
    )

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(batch_id)
        while not (run.state and run.state.is_final()):
            time.sleep(POLL_S)
            run = client.read_flow_run(batch_id)
        if not run.state.is_completed():
            return _fail(f"batch {batch_id} {run.state_name}: {run.state.message or ''}".strip())
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]),
                type=ArtifactFilterType(any_=["table"]),
            )
        )
    if not artifacts:
        return _fail(f"batch {batch_id} completed but left no report")
    report = artifacts[0]
    table = json.loads(report.data) if isinstance(report.data, str) else report.data
    print(format_report(table))
    print(f"\n{report.description}")
    return 0


def format_report(rows: list[dict[str, Any]]) -> str:
    lines = [TABLE_COLUMNS]
    for row in rows:
        lines.append(tuple(_cell(row.get(name), name) for name in TABLE_COLUMNS))
    widths = [max(len(line[i]) for line in lines) for i in range(len(TABLE_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)  # fmt: skip


def _cell(value: Any, name: str) -> str:
    if value is None:
        return ""
    if name == "best_score":
        return f"{float(value):.0f}"
    text = str(value).replace("\n", " ")
    limit = 70 if name == "error" else 60
    return text if len(text) <= limit else text[: limit - 1] + "…"
