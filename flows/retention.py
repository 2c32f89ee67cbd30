"""Retention: a scheduled flow that deletes finished jobs' files after JOB_RETENTION_SECONDS,
and any per-job Gemini key block that outlived its run (a crashed worker runs no hooks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from deployments.names import CLIP_DEPLOYMENT
from reelflow.jobs import expire_job_files, job_dir, remove_upload
from reelflow.secrets import delete_key_block
from reelflow.settings import get_settings

TERMINAL = [StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED]
PAGE = 200


@flow(name="cleanup_expired_jobs", flow_run_name="retention sweep")
async def cleanup_expired_jobs(retention_seconds: int | None = None) -> dict:
    """Expire jobs that ended more than `retention_seconds` ago (default JOB_RETENTION_SECONDS)."""
    settings = get_settings()
    keep = settings.job_retention_seconds if retention_seconds is None else retention_seconds
    cutoff = datetime.now(UTC) - timedelta(seconds=keep)
    expired = keys = 0
    async with get_client() as client:
        offset = 0
        while runs := await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[CLIP_DEPLOYMENT])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=TERMINAL)),
                end_time=FlowRunFilterEndTime(before_=cutoff),
            ),
            limit=PAGE,
            offset=offset,
        ):
            for run in runs:
                request = (run.parameters or {}).get("request") or {}
                keys += await delete_key_block(request.get("gemini_key_block"))
                if expire_job_files(job_dir(str(run.id))):
                    remove_upload(request.get("source", ""))
                    expired += 1
            offset += PAGE
    get_run_logger().info("expired %d jobs, removed %d leftover key blocks", expired, keys)
    return {"expired": expired, "key_blocks_removed": keys}
