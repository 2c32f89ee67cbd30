"""Retention: a scheduled flow that deletes finished jobs' files after JOB_RETENTION_SECONDS
(their S3 copies and the upload they read too, unless S3_KEEP_AFTER_RETENTION), and any per-job
key block that outlived its run (a crashed worker runs no hooks). Jobs are clip-video runs, and
restyle-clip and translate-clip runs (a re-render is a job of its own, with its folder under
jobs/<run id>). It also restarts S3 uploads that failed, so an S3 outage heals once S3 is
back, and sends the webhooks of job ends no hook saw."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun

from flows.ended_runs import ended_runs
from flows.names import CLIP_DEPLOYMENT, RESTYLE_DEPLOYMENT, RETENTION_FLOW, TRANSLATE_DEPLOYMENT
from flows.publish_schedule import settle_ended_posts
from flows.webhooks import tell_missed_job_ends
from reelflow.jobs import (
    expire_job_files,
    is_expired,
    job_dir,
    remove_job_upload,
    run_job_id,
    stored_upload_source,
)
from reelflow.secrets import KEY_BLOCK_FIELDS, delete_key_block, key_block_names
from reelflow.settings import get_settings
from reelflow.storage import StorageError, remove_remote_copies
from tasks.upload import retry_failed_uploads

JOB_DEPLOYMENTS = [CLIP_DEPLOYMENT, RESTYLE_DEPLOYMENT, TRANSLATE_DEPLOYMENT]
PAGE = 200


@flow(name=RETENTION_FLOW, flow_run_name="retention sweep")
async def cleanup_expired_jobs(retention_seconds: int | None = None) -> dict:
    """Expire jobs that ended more than `retention_seconds` ago (default JOB_RETENTION_SECONDS)."""
    settings = get_settings()
    keep = settings.job_retention_seconds if retention_seconds is None else retention_seconds
    cutoff = datetime.now(UTC) - timedelta(seconds=keep)
    counts: Counter[str] = Counter()
    async with get_client() as client:
        key_blocks = await key_block_names(client)
        offset = 0
        while runs := await ended_runs(
            client, JOB_DEPLOYMENTS, before=cutoff, limit=PAGE, offset=offset
        ):
            for run in runs:
                request = (run.parameters or {}).get("request") or {}
                if not isinstance(request, dict):
                    continue
                for block in (request.get(field) for field in KEY_BLOCK_FIELDS):
                    if block in key_blocks:
                        counts["keys"] += await delete_key_block(block)
                await _expire(run, request, counts)
            offset += PAGE
    retried = retry_failed_uploads()
    # Job ends no hook could tell (cancelled while queued, a killed worker): since two sweeps.
    lookback = max(2 * settings.retention_sweep_seconds, 3600)
    told = await tell_missed_job_ends(lookback)
    settled = await settle_ended_posts(lookback)  # cancelled in the UI: record, key block
    get_run_logger().info(
        "expired %d jobs (%d S3 objects), removed %d leftover key blocks, retried %d uploads, "
        "told %d missed job ends, settled %d ended posts", counts["expired"], counts["objects"],
        counts["keys"], retried, told, settled,
    )  # fmt: skip
    return {"expired": counts["expired"], "key_blocks_removed": counts["keys"],
            "s3_objects_removed": counts["objects"], "uploads_retried": retried,
            "webhooks_sent": told, "posts_settled": settled}  # fmt: skip


async def _expire(run: FlowRun, request: dict, counts: Counter[str]) -> None:
    """Delete one ended job's files, S3 objects and upload. The upload is the one the job
    recorded (reelflow.jobs.job_upload), never one a URL's text happens to name."""
    job_id = run_job_id(run)
    folder = job_dir(job_id)
    if is_expired(folder):
        return
    if not folder.exists():  # cancelled before it started: no files, but maybe an upload
        remove_job_upload(request)
        return
    removed = await _remove_remote(job_id, stored_upload_source(request))
    if removed is None:
        return  # S3 unreachable: keep the local files too, try next sweep
    counts["objects"] += removed
    if expire_job_files(folder):
        counts["expired"] += 1
    remove_job_upload(request)


async def _remove_remote(job_id: str, upload: str) -> int | None:
    """Delete the job's S3 objects (unless S3_KEEP_AFTER_RETENTION); None when S3 is
    unreachable. A refusal (access denied...) is logged and does not keep local files forever."""
    try:
        return await asyncio.to_thread(remove_remote_copies, job_id, upload)
    except StorageError as exc:
        get_run_logger().warning("Could not delete job %s's S3 objects: %s", job_id, exc)
        return None if not exc.permanent else 0
