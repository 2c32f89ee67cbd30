"""What the API does with Prefect: start clip runs, read them back as jobs, cancel them.

The API keeps no job state of its own. A job is a flow run of the clip_video deployment (its
id is the run's id), so jobs survive API restarts and every one shows in the Prefect UI; the
run's manifest.json adds stage, progress and clips.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import anyio
from litestar.exceptions import HTTPException, NotFoundException
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort, LogSort
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Cancelling

from api.restyle import restyle_deployment_id
from api.status import STATE_TYPES_BY_STATUS, TERMINAL, JobStatus, job_status
from deployments.names import CLIP_DEPLOYMENT_PATH
from reelflow.jobs import ClipRequest, expire_job_files, is_expired, job_dir, read_manifest
from reelflow.jobs import remove_upload as remove_upload_file
from reelflow.secrets import delete_key_block
from reelflow.settings import get_settings
from reelflow.storage import (
    S3Storage,
    StorageError,
    get_storage,
    is_s3_uri,
    remove_remote_copies,
)

LOG_LINES = 20
# SQLite serialises writes: a burst of run creations queued in the API is faster, and its
# tail far shorter, than the same burst retrying against "database is locked".
CREATE_CONCURRENCY = 4


class JobService:
    def __init__(self, client: PrefectClient):
        self.client = client
        self._deployment_id: uuid.UUID | None = None
        self._creating = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def deployment_id(self) -> uuid.UUID:
        if self._deployment_id is None:
            try:
                deployment = await self.client.read_deployment_by_name(CLIP_DEPLOYMENT_PATH)
            except ObjectNotFound as exc:
                raise HTTPException(
                    status_code=503,
                    detail=f"The {CLIP_DEPLOYMENT_PATH} deployment is not registered yet: "
                    "is the worker running?",
                ) from exc
            self._deployment_id = deployment.id
        return self._deployment_id

    async def submit(self, request: ClipRequest) -> str:
        deployment_id = await self.deployment_id()
        async with self._creating:
            run = await self.client.create_flow_run_from_deployment(
                deployment_id,
                parameters={"request": request.model_dump(mode="json")},
                tags=["reelflow", "api"],
            )
        return str(run.id)

    async def read_run(self, job_id: str) -> FlowRun:
        try:
            run_id = uuid.UUID(job_id)
        except ValueError as exc:
            raise NotFoundException(detail=f"No job {job_id}") from exc
        try:
            run = await self.client.read_flow_run(run_id)
        except ObjectNotFound as exc:
            raise NotFoundException(detail=f"No job {job_id}") from exc
        known = {await self.deployment_id(), await restyle_deployment_id(self.client)}
        if run.deployment_id is None or run.deployment_id not in known:  # restyles are jobs too
            raise NotFoundException(detail=f"No job {job_id}")
        return run

    async def status(self, job_id: str, clip_url: Any) -> dict:
        run = await self.read_run(job_id)
        logs = await self.client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])),
            limit=LOG_LINES,
            sort=LogSort.TIMESTAMP_DESC,
        )
        body = job_summary(run)
        manifest = read_manifest(job_dir(job_id)) or {}
        body.update(_progress(body["status"], manifest))
        body["logs"] = [log.message for log in reversed(logs)]
        body["files_expired"] = is_expired(job_dir(job_id))
        clips = [] if body["files_expired"] else manifest.get("clips", [])
        body["result"] = {"clips": [_public_clip(job_id, c, clip_url) for c in clips]}
        if uploads := manifest.get("uploads"):
            body["uploads"] = _with_s3_urls(body["result"]["clips"], clips, uploads)
        if manifest.get("warnings"):
            body["warnings"] = manifest["warnings"]
        return body

    async def list(self, status: JobStatus | None, limit: int, offset: int) -> list[dict]:
        flow_run_filter = None
        if status:
            types = [StateType(t) for t in STATE_TYPES_BY_STATUS[status]]
            flow_run_filter = FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=types))
            )
        runs = await self.client.read_flow_runs(
            deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[await self.deployment_id()])
            ),
            flow_run_filter=flow_run_filter,
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=limit,
            offset=offset,
        )
        return [job_summary(run) for run in runs]

    async def cancel_or_delete(self, job_id: str) -> dict:
        """Cancel a queued or running job; delete a finished job's files."""
        run = await self.read_run(job_id)
        status = job_status(run.state_type, run.state_name)
        if status in TERMINAL:
            _request = (run.parameters or {}).get("request") or {}
            await _remove_remote(job_id, _request.get("source", ""))
            removed = expire_job_files(job_dir(job_id))
            remove_upload_file(_request.get("source", ""))
            await delete_key_block(_request.get("gemini_key_block"))
            return {"job_id": job_id, "status": status, "files_deleted": removed}
        if status == "queued":
            await self.client.set_flow_run_state(
                run.id, Cancelled(message="Cancelled by the user"), force=True
            )
            return {"job_id": job_id, "status": "cancelled", "files_deleted": False}
        await self.client.set_flow_run_state(
            run.id, Cancelling(message="Cancelled by the user"), force=True
        )
        return {"job_id": job_id, "status": "cancelling", "files_deleted": False}


def job_summary(run: FlowRun) -> dict:
    status = job_status(run.state_type, run.state_name)
    request = (run.parameters or {}).get("request") or {}
    return {
        "job_id": str(run.id),
        "status": status,
        "state": run.state_name,
        "name": run.name,
        "source": _public_source(request.get("source", "")),
        "created_at": _iso(run.created),
        "updated_at": _iso(run.updated or run.created),
        "error": _error(run) if status == "failed" else None,
    }


def _error(run: FlowRun) -> str:
    message = (run.state.message if run.state else None) or ""
    return message or f"The job ended in state {run.state_name}"


def _progress(status: str, manifest: dict) -> dict:
    if status == "completed":
        return {"stage": "done", "progress": 100}
    if status == "queued":
        return {"stage": "queued", "progress": 0}
    return {
        "stage": manifest.get("stage") or ("failed" if status == "failed" else "starting"),
        "progress": round(float(manifest.get("progress") or 0)),
    }


def _public_clip(job_id: str, clip: dict, clip_url: Any) -> dict:
    entry = {k: v for k, v in clip.items() if k not in {"file", "thumbnail"}}
    entry["video_url"] = clip_url(job_id, clip["index"], "video")
    entry["thumbnail_url"] = clip_url(job_id, clip["index"], "thumbnail")
    # The names the reference service used, so its clients keep working.
    entry["video_title_for_youtube_short"] = clip.get("title", "")
    entry["video_description_for_tiktok"] = clip.get("description_tiktok", "")
    entry["video_description_for_instagram"] = clip.get("description_instagram", "")
    entry["viral_hook_text"] = clip.get("hook", "")
    return entry


def _with_s3_urls(entries: list[dict], clips: list[dict], uploads: dict) -> dict:
    """Give each uploaded clip (and thumbnail) a presigned link; summarise the uploads."""
    storage = get_storage()
    files = uploads.get("files", {})
    presign = isinstance(storage, S3Storage) and uploads.get("bucket") == storage.bucket
    seconds = get_settings().s3_presign_seconds
    for entry, clip in zip(entries, clips, strict=True):
        for field, key in (("s3_url", "file"), ("thumbnail_s3_url", "thumbnail")):
            record = files.get(clip.get(key) or "") or {}
            if presign and record.get("uploaded"):
                entry[field] = storage.url(record["s3_key"], seconds)
    return {
        "status": uploads.get("status"),
        "files": {
            name: {k: e.get(k) for k in ("s3_key", "uploaded", "error")}
            for name, e in files.items()
        },
    }


async def _remove_remote(job_id: str, source: str) -> None:
    """Deleting a job deletes its S3 copies too (unless S3_KEEP_AFTER_RETENTION)."""
    try:
        await anyio.to_thread.run_sync(remove_remote_copies, job_id, source)
    except StorageError as exc:
        raise HTTPException(
            status_code=503, detail="Could not delete the job's files on S3; try again later"
        ) from exc


def _public_source(source: str) -> str:
    """An uploaded file's server path (or S3 key) is nobody's business: show its name only."""
    if "://" in source and not is_s3_uri(source):
        return source
    return source.rsplit("/", 1)[-1]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
