"""The `batch_urls` flow: a list of video URLs in, one clip job per URL, a report out.

    read the list -> skip what was done -> start clip-video runs -> wait for them -> report

Each URL becomes its own run of the clip_video/clip-video deployment, so the deployment's
concurrency limit applies and each job has its own state, retries, UI page and
`/api/status/{job_id}`. This flow is a separate deployment with no share in that limit: it only
polls its jobs' states, and a waiting parent that held a job slot could starve its own jobs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run
from prefect.states import Failed

from flows.names import BATCH_FLOW, CLIP_DEPLOYMENT_PATH
from reelflow.batch_input import (
    BatchRequest,
    JobKey,
    ListEntry,
    job_key,
    normalise_url,
    plan_entries,
    read_list,
)
from reelflow.caching import retry_transient_only
from reelflow.errors import ReelflowError, SourceUnavailable
from reelflow.jobs import ClipRequest, is_expired, job_dir, run_job_id
from reelflow.manifest import read_manifest
from reelflow.redact import display_source
from reelflow.settings import get_settings
from reelflow.status import job_status

POLL_S = 3
PAGE = 200
SKIPPED = "skipped (already processed)"
REPORT_COLUMNS = ["row", "url", "job_id", "status", "clips", "best_score", "error", "duration_s"]


def _run_name() -> str:
    request = flow_run.parameters.get("request") or {}
    location = request.get("url_list", "") if isinstance(request, dict) else request.url_list
    return f"batch {display_source(location).rstrip('/').rsplit('/', 1)[-1][:80]}"


@flow(
    name=BATCH_FLOW,
    flow_run_name=_run_name,
    description="Clip every video in a list of URLs (text, CSV or Parquet; file, http or s3).",
)
def batch_urls(request: BatchRequest):
    batch_id = str(flow_run.id or "local")
    try:
        return _run(request, batch_id)
    except ReelflowError as exc:
        get_run_logger().error("Batch failed: %s", exc)
        return Failed(message=str(exc))


def _run(request: BatchRequest, batch_id: str) -> dict:
    entries = read_entries(request)
    wanted = [e for e in entries if e.request and e.duplicate_of is None]
    earlier = {} if request.force else find_processed({job_key(e.request) for e in wanted})
    started = start_jobs([e for e in wanted if job_key(e.request) not in earlier], batch_id)
    runs = wait_for_jobs(started, batch_id, time.monotonic() + request.max_wait_hours * 3600)
    rows = report_rows(entries, started, runs, earlier)
    folder = write_report(rows, get_settings().data_dir / "batches" / batch_id)
    summary = summarise(rows)
    get_run_logger().info("%s; report in %s", summary, folder)
    create_table_artifact(
        table=rows,
        key=f"batch-{batch_id}"[:64],
        description=f"{summary}. CSV and Parquet in `{folder}`",
    )
    return {"batch_id": batch_id, "folder": str(folder), "summary": summary}


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=retry_transient_only)
def read_entries(request: BatchRequest) -> list[ListEntry]:
    entries = plan_entries(read_list(request.url_list, request.list_format), request.defaults())
    logger = get_run_logger()
    for e in entries:
        if e.rejected:
            logger.warning("row %d rejected: %s", e.row, e.rejected)
    logger.info("%d rows in %s", len(entries), request.url_list)
    return entries


def find_processed(keys: set[JobKey]) -> dict[JobKey, FlowRun]:
    """The newest COMPLETED clip run per key whose clips are still on disk. Earlier runs may
    have spelled the URL differently (the API takes it as given), so theirs is normalised too."""
    found: dict[JobKey, FlowRun] = {}
    if not keys:
        return found
    with get_client(sync_client=True) as client:
        deployment = _clip_deployment(client)
        offset = 0
        while len(found) < len(keys) and (runs := client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))),
            sort=FlowRunSort.END_TIME_DESC, limit=PAGE, offset=offset,
        )):  # fmt: skip
            for run in runs:
                key = _run_key(run)
                if key in keys and key not in found and _clips_on_disk(run):
                    found[key] = run
            offset += PAGE
    return found


def start_jobs(entries: list[ListEntry], batch_id: str) -> dict[int, str]:
    """One clip-video run per entry, queued at once; the server lets MAX_CONCURRENT_JOBS run.
    run_deployment links each as a child of this run: the UI shows them under the batch, and
    cancelling the batch cancels them. The idempotency key makes a retried batch find its runs
    instead of doubling them."""
    with get_client(sync_client=True) as client:
        deployment = _clip_deployment(client)
    started = {}
    for entry in entries:
        run = run_deployment(
            deployment,
            parameters={"request": entry.request.model_dump(mode="json")},
            timeout=0,
            tags=["reelflow", "batch", f"batch-{batch_id}"],
            idempotency_key=f"batch-{batch_id}-row-{entry.row}",
        )
        started[entry.row] = str(run.id)
    if started:
        get_run_logger().info("started %d clip jobs", len(started))
    return started


def wait_for_jobs(started: dict[int, str], batch_id: str, deadline: float) -> dict[str, FlowRun]:
    """Poll the jobs' states until all have ended or the deadline passes; log each ending."""
    logger = get_run_logger()
    rows = {job: row for row, job in started.items()}
    progress = create_progress_artifact(0.0, key=f"batch-progress-{batch_id}"[:64])
    ended: set[str] = set()
    runs: dict[str, FlowRun] = {}
    with get_client(sync_client=True) as client:
        while True:
            runs = _read_runs(client, list(rows))
            for job, run in runs.items():
                if job not in ended and run.state and run.state.is_final():
                    ended.add(job)
                    reason = _error(run)
                    logger.info("row %d %s (job %s)%s", rows[job], _status(run), job,
                                f": {reason}" if reason else "")  # fmt: skip
            update_progress_artifact(progress, 100.0 * len(ended) / len(rows) if rows else 100.0)
            if len(ended) == len(rows) or time.monotonic() >= deadline:
                return runs
            time.sleep(POLL_S)


def report_rows(
    entries: list[ListEntry],
    started: dict[int, str],
    runs: dict[str, FlowRun],
    earlier: dict[JobKey, FlowRun],
) -> list[dict[str, Any]]:
    by_row: dict[int, dict[str, Any]] = {}
    for e in entries:
        row = dict.fromkeys(REPORT_COLUMNS)
        row.update(row=e.row, url=e.url)
        if e.rejected:
            row.update(status="rejected", error=e.rejected)
        elif e.duplicate_of is not None:
            first = by_row[e.duplicate_of]
            row.update(status="duplicate", job_id=first["job_id"],
                       error=f"same video and options as row {e.duplicate_of}")  # fmt: skip
        elif e.row in started:
            run = runs.get(started[e.row])
            row.update(job_id=started[e.row], **_job_fields(run, e.request))
        else:
            # The earlier job's id and clips; no duration: this batch spent nothing on it.
            run = earlier[job_key(e.request)]
            row.update(job_id=run_job_id(run), **_job_fields(run, _request_of(run)))
            row.update(status=SKIPPED, duration_s=None)
        by_row[e.row] = row
    return list(by_row.values())


def write_report(rows: list[dict[str, Any]], folder: Path) -> Path:
    """report.csv and report.parquet, each written beside and renamed over, so a reader never
    sees half a report."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=REPORT_COLUMNS).astype({
        "row": "Int64", "clips": "Int64", "best_score": "Float64", "duration_s": "Float64",
        "url": "string", "job_id": "string", "status": "string", "error": "string",
    })  # fmt: skip
    for name, write in (("report.csv", frame.to_csv), ("report.parquet", frame.to_parquet)):
        tmp = folder / f".{name}.tmp"
        write(tmp, index=False)
        os.replace(tmp, folder / name)
    return folder


def summarise(rows: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    return f"{len(rows)} rows: {parts}" if rows else "the list has no URLs"


def _job_fields(run: FlowRun | None, request: ClipRequest | None) -> dict[str, Any]:
    if run is None:  # created but not readable back: should not happen; say so honestly
        return {"status": "unknown", "error": "the job's state could not be read"}
    fields: dict[str, Any] = {"status": _status(run), "error": _error(run)}
    if run.total_run_time:
        fields["duration_s"] = round(run.total_run_time.total_seconds(), 1)
    if fields["status"] == "completed":
        manifest = read_manifest(job_dir(run_job_id(run), request.out_dir if request else None))
        clips = manifest.clips if manifest else []
        fields["clips"] = len(clips)
        fields["best_score"] = max((c.score for c in clips), default=None)
    return fields


def _status(run: FlowRun) -> str:
    return job_status(run.state_type, run.state_name)


def _error(run: FlowRun) -> str | None:
    if _status(run) not in ("failed", "cancelled"):
        return None
    return (run.state.message if run.state else None) or f"ended in state {run.state_name}"


def _read_runs(client, ids: list[str]) -> dict[str, FlowRun]:
    runs: dict[str, FlowRun] = {}
    for start in range(0, len(ids), PAGE):
        chunk = ids[start : start + PAGE]
        found = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=chunk)), limit=PAGE
        )
        runs.update({str(run.id): run for run in found})
    return runs


def _clip_deployment(client):
    try:
        return client.read_deployment_by_name(CLIP_DEPLOYMENT_PATH).id
    except ObjectNotFound as exc:
        raise SourceUnavailable(
            f"The {CLIP_DEPLOYMENT_PATH} deployment is not registered: is the worker running?"
        ) from exc


def _request_of(run: FlowRun) -> ClipRequest | None:
    try:
        return ClipRequest.model_validate((run.parameters or {}).get("request") or {})
    except ValueError:
        return None


def _run_key(run: FlowRun) -> JobKey | None:
    request = _request_of(run)
    if request is None or "://" not in request.source:
        return None
    try:
        return job_key(request.model_copy(update={"source": normalise_url(request.source)}))
    except ReelflowError:
        return None


def _clips_on_disk(run: FlowRun) -> bool:
    """A job whose files retention deleted is no longer 'processed': its clips are gone."""
    request = _request_of(run)
    folder = job_dir(run_job_id(run), request.out_dir if request else None)
    manifest = read_manifest(folder)
    return manifest is not None and manifest.status == "completed" and not is_expired(folder)
