"""What the API does with Prefect and the job folders: start runs, read them back as jobs,
cancel or delete them, render clips again.

A job is accepted into the API's journal (api/journal.py) and answered at once; the
dispatcher, a process beside the API (api/dispatch.py), then makes it a flow run of the
clip_video deployment, which carries the job id in its request, so jobs survive API restarts
and each shows in the Prefect UI. Until its run exists a job reads back from the journal as
queued. A re-render is a restyle_clip run whose id is the job id. The run's manifest.json adds
stage, progress and clips (read from S3 when the job ran on another machine: api/remote.py).
Every method raises reelflow's own errors (api/errors.py turns them into HTTP answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
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
from pydantic import BaseModel, ValidationError

from api.body import form_json
from api.dispatch_process import DispatcherProcess
from api.journal import Journal, JournalEntry, QueueLimit
from api.remote import ClipFile, job_manifest, locate_clip
from api.schemas import (
    ClipOut,
    ClipsResult,
    Deleted,
    JobStatusOut,
    JobSummary,
    RestyleSubmitted,
    UploadedFileOut,
    UploadsOut,
)
from flows.names import CLIP_DEPLOYMENT_PATH, RESTYLE_DEPLOYMENT_PATH, TRANSLATE_DEPLOYMENT_PATH
from flows.webhooks import tell_job_end
from reelflow.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    ReelflowError,
    Unavailable,
    describe_invalid,
)
from reelflow.filehash import file_sha256
from reelflow.jobs import (
    ClipRequest,
    expire_job_files,
    is_expired,
    job_dir,
    remove_job_upload,
    remove_upload,
    run_job_id,
    stored_upload_source,
)
from reelflow.manifest import ClipEntry, Manifest, ManifestError, Uploads, read_manifest
from reelflow.netguard import precheck_url
from reelflow.redact import display_source
from reelflow.secrets import KEY_BLOCK_PREFIX, delete_key_block, save_key_block
from reelflow.settings import Settings
from reelflow.status import STATE_TYPES_BY_STATUS, TERMINAL, JobStatus, job_status
from reelflow.storage import (
    S3Storage,
    get_storage,
    is_s3_uri,
    remove_remote_copies,
    remove_stored_upload,
    store_upload,
)
from reelflow.styles import RestyleRequest
from reelflow.webhooks import check_webhook_url

LOG_LINES = 20
# Restyles create their run at once; SQLite serialises Prefect's writes, and a burst queued in
# the API is faster, its tail far shorter, than one retrying against "database is locked".
CREATE_CONCURRENCY = 4
OPTION_FIELDS = ("clips", "min_seconds", "max_seconds", "provider", "webhook_url", "language",
                 "translate")  # fmt: skip
LOOK_FIELDS = ("captions", "hook", "effects")
ClipUrl = Callable[[str, int, str], str]
logger = logging.getLogger("reelflow.api")


class JobService:
    def __init__(self, client: PrefectClient, settings: Settings, journal: Journal | None = None):
        self.client = client
        self.settings = settings
        self.journal = journal or Journal(settings.data_dir / "api", settings.journal_flush_s)
        self.dispatcher = DispatcherProcess(self.journal.path.parent, settings.journal_flush_s)
        self._deployments: dict[str, uuid.UUID] = {}
        self._creating = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def deployment_id(self, path: str = CLIP_DEPLOYMENT_PATH) -> uuid.UUID:
        if path not in self._deployments:
            try:
                self._deployments[path] = (await self.client.read_deployment_by_name(path)).id
            except ObjectNotFound as exc:
                raise Unavailable(
                    f"The {path} deployment is not registered yet: is the worker running?"
                ) from exc
        return self._deployments[path]

    # -- submitting ---------------------------------------------------------------------------

    async def submit(
        self, fields: dict[str, Any], upload: Path | None, key: str, idempotency_key: str = ""
    ) -> str:
        """Accept a clip job for a URL or an uploaded file: checked, its upload stored, written
        to the journal, answered; its run is created right after (api/dispatch.py). A repeat of
        an Idempotency-Key with the same request gets the first job's id and keeps nothing.
        Whatever fails on the way, nothing is left behind."""
        stored = None
        try:
            request = job_request(fields, upload)
            fingerprint = None
            if idempotency_key:
                fingerprint = await anyio.to_thread.run_sync(request_fingerprint, request, upload)
                earlier = await self._journal(self.journal.find_idempotent, idempotency_key,
                                              fingerprint)  # fmt: skip
                if earlier is not None:
                    _discard(upload)
                    return earlier
            if upload is not None and get_storage(self.settings).remote:
                await self._check_queue()  # before the upload goes to S3 for nothing
            if upload is not None and (stored := await self._store_upload(upload)):
                request = request.model_copy(update={"source": stored})
            job_id = str(uuid.uuid4())
            block = f"{KEY_BLOCK_PREFIX}{uuid.UUID(job_id).hex}"
            gemini = request.provider == "gemini"
            request = request.model_copy(
                update={"job_id": job_id, "gemini_key_block": block if gemini else None}
            )
            idem = (idempotency_key, fingerprint) if idempotency_key else None
            accepted = await self.journal.accept(
                job_id, request.model_dump(mode="json"), key if gemini else None, idem,
                self._queue_limit(),
            )  # fmt: skip
        except BaseException:
            _discard(upload)
            if stored:
                await self._forget_stored_upload(stored)
            raise
        if accepted != job_id:  # the same key and request, accepted meanwhile by another call
            _discard(upload)
            if stored:
                await self._forget_stored_upload(stored)
            return accepted
        if stored:
            remove_upload(str(upload))  # the worker reads the S3 copy
        self.dispatcher.wake()
        return job_id

    def _queue_limit(self) -> QueueLimit:
        return QueueLimit(self.settings.max_queued_jobs)

    async def _check_queue(self) -> None:
        limit = self._queue_limit()
        waiting = await self._journal(self.journal.count_waiting)
        if waiting >= limit.max_jobs:
            raise limit.full(waiting)

    async def _journal(self, call: Callable, *args: Any) -> Any:
        """A journal read, off the event loop, in the journal's reading thread."""
        return await self.journal.read(call, *args)

    async def restyle(self, job_id: str, index: int, fields: dict, key: str) -> RestyleSubmitted:
        """Render clip `index` of a finished job again with a new look, as a restyle run."""
        await self.find(job_id)
        manifest = read_manifest(job_dir(job_id))
        if manifest is None or manifest.clip(index) is None or is_expired(job_dir(job_id)):
            raise NotFound(f"Job {job_id} has no clip {index} (or its files expired)")
        if manifest.status != "completed":
            raise Conflict(f"Job {job_id} has not finished yet")
        try:
            request = RestyleRequest(job=job_id, index=index, **restyle_fields(fields))
        except ValidationError as exc:
            raise InvalidRequest(f"Invalid options: {describe_invalid(exc.errors())}") from exc
        await self.deployment_id(RESTYLE_DEPLOYMENT_PATH)
        key_block = await save_key_block(key) if key and request.effects else None
        request = request.model_copy(update={"gemini_key_block": key_block})
        try:
            run_id = await self.create_run(RESTYLE_DEPLOYMENT_PATH, request, "restyle")
        except BaseException:
            await delete_key_block(key_block)
            raise
        return RestyleSubmitted(job_id=run_id, restyle_of=job_id, index=index)

    async def create_run(self, deployment: str, request: BaseModel, tag: str) -> str:
        deployment_id = await self.deployment_id(deployment)
        async with self._creating:
            run = await self.client.create_flow_run_from_deployment(
                deployment_id,
                parameters={"request": request.model_dump(mode="json")},
                tags=["reelflow", "api", tag],
            )
        return str(run.id)

    async def _store_upload(self, upload: Path) -> str | None:
        """With S3 configured, an upload goes to <prefix>/uploads/<id>/<name> and the job gets
        its s3:// address, so a worker on any machine can read it; None when storage is local."""
        storage = get_storage(self.settings)
        if not storage.remote:
            return None
        return await anyio.to_thread.run_sync(store_upload, storage, upload)

    async def _forget_stored_upload(self, source: str) -> None:
        try:
            await anyio.to_thread.run_sync(remove_stored_upload, source, self.settings)
        except ReelflowError as exc:
            logger.warning("Could not delete an unused upload from S3: %s", exc)

    # -- reading ------------------------------------------------------------------------------

    async def find(self, job_id: str) -> FlowRun | JournalEntry:
        """The run behind a job id, or its journal entry while it has no run; NotFound for
        anything that is not one of our jobs."""
        try:
            uuid.UUID(job_id)
        except ValueError as exc:
            raise NotFound(f"No job {job_id}") from exc
        entry = await self._journal(self.journal.get, job_id)
        if entry is not None and entry.run_id is None:
            return entry
        return await self.read_run(entry.run_id if entry else job_id)

    async def read_run(self, run_id: str) -> FlowRun:
        """A clip or restyle run by its own id (jobs from batches, the UI and restyles have
        the run's id as job id)."""
        try:
            run = await self.client.read_flow_run(uuid.UUID(run_id))
        except (ObjectNotFound, ValueError) as exc:
            raise NotFound(f"No job {run_id}") from exc
        if run.deployment_id is None or run.deployment_id not in await self._job_deployments():
            raise NotFound(f"No job {run_id}")
        return run

    async def _job_deployments(self) -> set[uuid.UUID]:
        """Clip jobs, and restyles and translations once their deployments exist: all jobs."""
        known = {await self.deployment_id()}
        for path in (RESTYLE_DEPLOYMENT_PATH, TRANSLATE_DEPLOYMENT_PATH):
            with contextlib.suppress(Unavailable):
                known.add(await self.deployment_id(path))
        return known

    async def status(self, job_id: str, clip_url: ClipUrl) -> JobStatusOut:
        found = await self.find(job_id)
        if isinstance(found, JournalEntry):
            return JobStatusOut(**entry_summary(found).model_dump(), **progress("queued", None))
        logs = await self.client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=[found.id])),
            limit=LOG_LINES,
            sort=LogSort.TIMESTAMP_DESC,
        )
        folder = job_dir(job_id)
        manifest = await anyio.to_thread.run_sync(job_manifest, job_id, self.settings)
        expired = is_expired(folder)
        summary = job_summary(found, manifest, expired)
        clips = [] if expired or manifest is None else manifest.clips
        uploads = manifest.uploads if manifest is not None else None
        links = [s3_links(c, uploads, self.settings) for c in clips]
        out = [public_clip(job_id, c, clip_url, **k) for c, k in zip(clips, links, strict=True)]
        return JobStatusOut(
            **summary.model_dump(),
            **progress(summary.status, manifest),
            logs=[log.message for log in reversed(logs)],
            result=ClipsResult(clips=out),
            uploads=uploads_out(uploads),
            warnings=manifest.warnings if manifest else [],
        )

    async def list(self, status: JobStatus | None, limit: int, offset: int) -> list[JobSummary]:
        """Newest first: jobs whose run is not made yet (the newest), then the runs."""
        states = UNDISPATCHED_BY_STATUS[status]
        before = await self._journal(self.journal.count_without_run, states) if states else 0
        early = []
        if offset < before:
            early = await self._journal(self.journal.without_run, states, limit, offset)
        limit, offset = limit - len(early), max(0, offset - before)
        jobs = [entry_summary(e) for e in early]
        if limit <= 0:
            return jobs
        flow_run_filter = None
        if status:
            types = [StateType(t) for t in STATE_TYPES_BY_STATUS[status]]
            flow_run_filter = FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=types))
            )
        try:
            deployment_id = await self.deployment_id()
        except Unavailable:  # no run was ever made: the journal holds every job
            return jobs
        runs = await self.client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=flow_run_filter,
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=limit,
            offset=offset,
        )
        return jobs + [job_summary(run, *_folder_facts(run_job_id(run))) for run in runs]

    async def clip_file(
        self, job_id: str, index: int, kind: str, version: int | None = None
    ) -> ClipFile:
        """A clip's (or one of its versions') video, thumbnail or caption file (srt, vtt): the
        local file, or a link to its S3 copy when the job ran on another machine; NotFound
        when gone."""
        what = f"clip {index}" if version is None else f"version {version} of clip {index}"
        found = await self.find(job_id)
        located = None
        if not isinstance(found, JournalEntry):
            located = await anyio.to_thread.run_sync(
                locate_clip, job_id, index, kind, self.settings, version
            )
        if located is None:
            raise NotFound(f"Job {job_id} has no {what} (or its files expired)")
        return located

    # -- ending -------------------------------------------------------------------------------

    async def cancel_or_delete(self, job_id: str) -> Deleted:
        """Cancel a queued or running job; delete a finished job's files."""
        found = await self.find(job_id)
        if isinstance(found, JournalEntry):
            if await anyio.to_thread.run_sync(self.journal.cancel, job_id):
                await delete_key_block(found.request.get("gemini_key_block"))
                remove_job_upload(found.request)
                if stored := stored_upload_source(found.request):
                    await self._forget_stored_upload(stored)
                await self._tell_cancelled(job_id, found.request)
                return Deleted(job_id=job_id, status="cancelled", files_deleted=False)
            found = await self.find(job_id)  # its run was made meanwhile, or it ended
            if isinstance(found, JournalEntry):
                return Deleted(job_id=job_id, status=found.state, files_deleted=False)
        run = found
        status = job_status(run.state_type, run.state_name)
        if status in TERMINAL:
            request = (run.parameters or {}).get("request") or {}
            await self._remove_remote(job_id, stored_upload_source(request))
            removed = expire_job_files(job_dir(job_id))
            remove_job_upload(request)
            await delete_key_block(request.get("gemini_key_block"))
            return Deleted(job_id=job_id, status=status, files_deleted=removed)
        if status == "queued":
            await self.client.set_flow_run_state(
                run.id, Cancelled(message="Cancelled by the user"), force=True
            )
            return Deleted(job_id=job_id, status="cancelled", files_deleted=False)
        await self.client.set_flow_run_state(
            run.id, Cancelling(message="Cancelled by the user"), force=True
        )
        return Deleted(job_id=job_id, status="cancelling", files_deleted=False)

    async def _tell_cancelled(self, job_id: str, request: dict) -> None:
        """A job cancelled before its run existed ends without a flow hook or a run for the
        sweep to find: its webhook is told here."""
        if url := request.get("webhook_url"):
            folder, why = job_dir(job_id), "Cancelled by the user"
            await anyio.to_thread.run_sync(tell_job_end, job_id, folder, "cancelled", url, why)

    async def _remove_remote(self, job_id: str, upload: str) -> None:
        """Deleting a job deletes its S3 copies too (unless S3_KEEP_AFTER_RETENTION); a storage
        error keeps the local files, so the delete can be tried again."""
        await anyio.to_thread.run_sync(remove_remote_copies, job_id, upload, self.settings)


def s3_links(clip: ClipEntry, uploads: Uploads | None, settings: Settings) -> dict[str, str]:
    """Presigned links to a clip and its thumbnail once they are uploaded."""
    storage = get_storage(settings)
    if uploads is None or not isinstance(storage, S3Storage) or uploads.bucket != storage.bucket:
        return {}
    links = {}
    for field, name in (("s3_url", clip.file), ("thumbnail_s3_url", clip.thumbnail)):
        record = uploads.files.get(name)
        if record is not None and record.uploaded:
            links[field] = storage.url(record.s3_key, settings.s3_presign_seconds)
    return links


def uploads_out(uploads: Uploads | None) -> UploadsOut | None:
    if uploads is None:
        return None
    files = {
        name: UploadedFileOut(s3_key=e.s3_key, uploaded=e.uploaded, error=e.error)
        for name, e in uploads.files.items()
    }
    return UploadsOut(status=uploads.status, files=files)


def job_request(fields: dict[str, Any], upload: Path | None) -> ClipRequest:
    """A submission's ClipRequest: exactly one of url and file, options checked, and a URL
    refused at once when that needs no DNS (scheme, literal address, allowlist); the download
    itself checks every address it connects to."""
    url = fields.get("url")
    url = url.strip() if isinstance(url, str) else url
    if not url and upload is None:
        raise InvalidRequest("Provide either url or file")
    if url and upload is not None:
        raise InvalidRequest("Provide either url or file, not both")
    if upload is None and not isinstance(url, str):
        raise InvalidRequest("url must be a string")
    options = {k: fields[k] for k in OPTION_FIELDS if fields.get(k) not in (None, "")}
    options.update(look_fields(fields))
    options.setdefault("provider", "gemini")
    try:
        source, upload_id = (url, None) if upload is None else (str(upload), upload.parent.name)
        request = ClipRequest(source=source, upload=upload_id, **options)
    except ValidationError as exc:
        raise InvalidRequest(f"Invalid options: {describe_invalid(exc.errors())}") from exc
    if upload is None:
        precheck_url(url)
    if request.webhook_url:
        check_webhook_url(request.webhook_url)
    return request


def restyle_fields(fields: dict) -> dict:
    """A re-render's options: the look, and corrections to the framing (`reframe`)."""
    out = look_fields(fields)
    if fields.get("reframe") not in (None, ""):
        out["reframe"] = fields["reframe"]
    return out


def look_fields(fields: dict) -> dict:
    """The look options of a submission. A form sends each as text: JSON (`{"preset":
    "pop"}`, `true`) or a bare preset name (`karaoke`)."""
    out = {}
    for name in LOOK_FIELDS:
        value = fields.get(name)
        if isinstance(value, str):
            value = form_json(value)
        if value not in (None, ""):
            out[name] = value
    return out


def _folder_facts(job_id: str) -> tuple[Manifest | None, bool]:
    """(manifest, files expired) for a list row: a damaged manifest must not hide the list."""
    folder = job_dir(job_id)
    try:
        return read_manifest(folder), is_expired(folder)
    except ManifestError:
        return None, is_expired(folder)


def job_summary(
    run: FlowRun, manifest: Manifest | None = None, expired: bool = False
) -> JobSummary:
    status = job_status(run.state_type, run.state_name)
    request = (run.parameters or {}).get("request") or {}
    return JobSummary(
        job_id=run_job_id(run),
        run_id=str(run.id),
        status=status,
        state=run.state_name,
        name=run.name,
        source=_public_source(request.get("source") or request.get("job") or ""),
        created_at=_iso(run.created),
        updated_at=_iso(run.updated or run.created),
        error=_error(run) if status == "failed" else None,
        video_title=manifest.video.title if manifest and manifest.video else None,
        clip_count=0 if expired or manifest is None else len(manifest.clips),
        files_expired=expired,
    )


# Journal entries (jobs with no run yet) that each status filter of /api/jobs includes.
UNDISPATCHED_BY_STATUS: dict[str | None, list] = {
    None: ["pending", "cancelled", "failed"],
    "queued": ["pending"],
    "cancelled": ["cancelled"],
    "failed": ["failed"],
    "processing": [],
    "completed": [],
}
_ENTRY_STATUS = {"pending": "queued", "cancelled": "cancelled", "failed": "failed"}


def entry_summary(entry: JournalEntry) -> JobSummary:
    """A job the journal holds and Prefect does not yet: accepted, waiting for its run."""
    return JobSummary(
        job_id=entry.job_id,
        status=_ENTRY_STATUS.get(entry.state, "queued"),
        state="Accepted" if entry.state == "pending" else entry.state.capitalize(),
        source=_public_source(entry.request.get("source") or ""),
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        error=entry.error,
    )


def request_fingerprint(request: ClipRequest, upload: Path | None) -> str:
    """What makes two submissions "the same body" for an Idempotency-Key: the checked options
    and the URL, or the uploaded file's name and content (not the folder each upload gets)."""
    digest = hashlib.sha256(
        json.dumps(
            request.model_dump(mode="json", exclude={"source", "upload"}), sort_keys=True
        ).encode()
    )
    if upload is None:
        digest.update(b"url\0" + request.source.encode())
    else:
        digest.update(b"file\0" + upload.name.encode() + b"\0" + file_sha256(upload).encode())
    return digest.hexdigest()


def _discard(upload: Path | None) -> None:
    if upload is not None:
        remove_upload(str(upload))


def progress(status: str, manifest: Manifest | None) -> dict:
    if status == "completed":
        return {"stage": "done", "progress": 100}
    if status == "queued":
        return {"stage": "queued", "progress": 0}
    return {
        "stage": (manifest.stage if manifest else None)
        or ("failed" if status == "failed" else "starting"),
        "progress": round(manifest.progress if manifest else 0),
    }


def public_clip(job_id: str, clip: ClipEntry, clip_url: ClipUrl, **links: str) -> ClipOut:
    return ClipOut.model_validate({
        **clip.model_dump(),
        **links,
        "video_url": clip_url(job_id, clip.index, "video"),
        "thumbnail_url": clip_url(job_id, clip.index, "thumbnail"),
        "captions_srt_url": clip_url(job_id, clip.index, "srt") if clip.captions_srt else None,
        "captions_vtt_url": clip_url(job_id, clip.index, "vtt") if clip.captions_vtt else None,
        # The names the reference service used, so its clients keep working.
        "video_title_for_youtube_short": clip.title,
        "video_description_for_tiktok": clip.description_tiktok,
        "video_description_for_instagram": clip.description_instagram,
        "viral_hook_text": clip.hook,
    })  # fmt: skip


def _error(run: FlowRun) -> str:
    message = (run.state.message if run.state else None) or ""
    return message or f"The job ended in state {run.state_name}"


def _public_source(source: str) -> str:
    """An uploaded file's server path (or S3 key) is nobody's business: show its name only;
    a URL without its query string, user name or password (they may carry tokens)."""
    if is_s3_uri(source):
        return source.rsplit("/", 1)[-1]
    return display_source(source)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
