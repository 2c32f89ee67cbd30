"""Retention: a scheduled flow that deletes finished jobs' files after JOB_RETENTION_SECONDS
(their S3 copies too, unless S3_KEEP_AFTER_RETENTION), and any per-job Gemini key block that
outlived its run (a crashed worker runs no hooks). It also restarts S3 uploads that failed,
so an S3 outage heals once S3 is back."""

from __future__ import annotations

import asyncio
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

from flows.names import CLIP_DEPLOYMENT, RETENTION_FLOW
from reelflow.jobs import expire_job_files, is_expired, job_dir, remove_upload, run_job_id
from reelflow.secrets import delete_key_block
from reelflow.settings import get_settings
from reelflow.storage import StorageError, remove_remote_copies
from tasks.upload import retry_failed_uploads

TERMINAL = [StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED]
PAGE = 200


@flow(name=RETENTION_FLOW, flow_run_name="retention sweep")
async def cleanup_expired_jobs(retention_seconds: int | None = None) -> dict:
    """Expire jobs that ended more than `retention_seconds` ago (default JOB_RETENTION_SECONDS)."""
    settings = get_settings()
    keep = settings.job_retention_seconds if retention_seconds is None else retention_seconds
    cutoff = datetime.now(UTC) - timedelta(seconds=keep)
    expired = keys = objects = 0
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
                job_id, source = run_job_id(run), request.get("source", "")
                folder = job_dir(job_id)
                if not folder.exists() or is_expired(folder):
                    continue
                removed = await _remove_remote(job_id, source)
                if removed is None:
                    continue  # S3 unreachable: keep the local files too, try next sweep
                objects += removed
                if expire_job_files(folder):
                    remove_upload(source)
                    expired += 1
            offset += PAGE
    retried = retry_failed_uploads()
    get_run_logger().info(
        "expired %d jobs (%d S3 objects), removed %d leftover key blocks, retried %d uploads",
        expired, objects, keys, retried,
    )  # fmt: skip
    return {"expired": expired, "key_blocks_removed": keys, "s3_objects_removed": objects,
            "uploads_retried": retried}  # fmt: skip


async def _remove_remote(job_id: str, source: str) -> int | None:
    """Delete the job's S3 objects (unless S3_KEEP_AFTER_RETENTION); None when S3 is
    unreachable. A refusal (access denied...) is logged and does not keep local files forever."""
    try:
        return await asyncio.to_thread(remove_remote_copies, job_id, source)
    except StorageError as exc:
        get_run_logger().warning("Could not delete job %s's S3 objects: %s", job_id, exc)
        return None if not exc.permanent else 0
