"""Starting and cancelling posts: shared by the API (POST .../publish, DELETE .../posts/{id})
and `reelflow publish`.

A post is recorded in the clip's manifest entry as `scheduled` first, then started as a run
of the publish-clip deployment, scheduled for its time (or now). Cancelling marks the record
`cancelled` under the manifest's lock before it cancels the run, so a run that starts in that
moment finds the record cancelled and sends nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Scheduled
from pydantic import ValidationError

from flows.names import PUBLISH_DEPLOYMENT_PATH
from flows.publish import new_record, tell_post
from flows.restyle import job_folder
from reelflow.errors import Conflict, InvalidRequest, NotFound, Unavailable, describe_invalid
from reelflow.manifest import Manifest, read_manifest, update_manifest
from reelflow.posting import PostRecord, PublishRequest, now_iso
from reelflow.secrets import POST_KEY_BLOCK_PREFIX, delete_key_block, save_key_block
from reelflow.settings import Settings
from reelflow.webhooks import check_webhook_url

REQUEST_FIELDS = ("platforms", "at", "texts", "profile", "webhook_url", "version")
# How far ahead a post may be scheduled (Upload-Post's own limit is 365 days).
MAX_AHEAD = timedelta(days=365)
# A time a little in the past (clock skew, a slow client) means "now".
GRACE = timedelta(minutes=2)


async def schedule_post(
    client: PrefectClient, settings: Settings, job: str, index: int, fields: dict[str, Any],
    key: str | None,
) -> PostRecord:  # fmt: skip
    """Record and start one post of clip `index`; its record (state `scheduled`, `run_id`)."""
    folder = _folder(job)
    manifest = read_manifest(folder)
    if manifest is None or manifest.clip(index) is None:
        raise NotFound(f"Job {job} has no clip {index} (or its files expired)")
    if manifest.status != "completed":
        raise Conflict(f"Job {job} has not finished yet")
    request = publish_request(job, index, fields, settings)
    key_block = await _key_block(key, settings)
    request = request.model_copy(update={"key_block": key_block})
    record = new_record(request, request.profile)
    update_manifest(folder, lambda m: _with_record(m, index, record))
    try:
        run_id = await _start(client, request)
    except BaseException:
        await delete_key_block(key_block)
        update_manifest(folder, lambda m: _without_record(m, index, record.post_id))
        raise
    record = record.model_copy(update={"run_id": run_id})
    update_manifest(folder, lambda m: _with_run_id(m, index, record.post_id, run_id))
    return record


def publish_request(job: str, index: int, fields: dict, settings: Settings) -> PublishRequest:
    """The request, checked: platforms, time, texts, profile and webhook URL."""
    unknown = sorted(set(fields) - set(REQUEST_FIELDS))
    if unknown:
        raise InvalidRequest(f"Unknown field {unknown[0]!r}; use {', '.join(REQUEST_FIELDS)}")
    given = {k: v for k, v in fields.items() if v not in (None, "")}
    if isinstance(given.get("platforms"), str):
        given["platforms"] = [p for p in given["platforms"].split(",") if p.strip()]
    given.setdefault("profile", settings.upload_post_user)
    if not given.get("profile"):
        raise InvalidRequest("Name the Upload-Post profile: `profile`, or set UPLOAD_POST_USER")
    if given.get("webhook_url"):
        given["webhook_url"] = check_webhook_url(given["webhook_url"], settings)
    try:
        request = PublishRequest(job=job, index=index, post_id=uuid.uuid4().hex, **given)
    except ValidationError as exc:
        raise InvalidRequest(f"Invalid post: {describe_invalid(exc.errors())}") from exc
    now = datetime.now(UTC)
    if request.at is not None and request.at < now - GRACE:
        raise InvalidRequest(f"at {request.at.isoformat()} is in the past")
    if request.at is not None and request.at > now + MAX_AHEAD:
        raise InvalidRequest("at is more than 365 days ahead")
    return request


async def cancel_post(client: PrefectClient, job: str, index: int, post_id: str) -> PostRecord:
    """Cancel a scheduled post: its record says cancelled, its run is cancelled, its key
    block deleted, and the webhook told. A post already sending or sent cannot be."""
    folder = _folder(job)
    manifest = read_manifest(folder)
    clip = manifest.clip(index) if manifest else None
    record = clip.post(post_id) if clip else None
    if record is None:
        raise NotFound(f"Clip {index} of job {job} has no post {post_id}")
    if record.state != "scheduled":
        raise Conflict(f"Post {post_id} is {record.state}; only a scheduled post can be cancelled")
    run = await _read_run(client, record.run_id)
    if run is not None and run.state_type not in (StateType.SCHEDULED, StateType.PENDING):
        raise Conflict(f"Post {post_id} is already being sent ({run.state_name})")
    cancelled: list[PostRecord] = []
    update_manifest(folder, lambda m: _cancelled(m, index, post_id, cancelled))
    if not cancelled:
        state = (read_manifest(folder).clip(index).post(post_id)).state
        raise Conflict(f"Post {post_id} is {state}; only a scheduled post can be cancelled")
    if run is not None:
        await client.set_flow_run_state(run.id, Cancelled(message="Cancelled by the user"),
                                        force=True)  # fmt: skip
        request = (run.parameters or {}).get("request") or {}
        await delete_key_block(request.get("key_block"))
        url = request.get("webhook_url")
    else:
        url = None
    tell_post(folder, index, cancelled[0], url)
    return cancelled[0]


def _folder(job: str) -> Path:
    try:
        return job_folder(job)
    except InvalidRequest as exc:
        raise NotFound(str(exc)) from exc


async def _key_block(key: str | None, settings: Settings) -> str | None:
    """A key given with the request goes into a per-post Secret block; without one, the
    operator's block or UPLOAD_POST_API_KEY must exist."""
    if key:
        return await save_key_block(key, POST_KEY_BLOCK_PREFIX)
    if settings.upload_post_key_block or settings.upload_post_api_key:
        return None
    raise InvalidRequest("Missing X-Upload-Post-Key header (or set UPLOAD_POST_KEY_BLOCK)")


async def _start(client: PrefectClient, request: PublishRequest) -> str:
    try:
        deployment = await client.read_deployment_by_name(PUBLISH_DEPLOYMENT_PATH)
    except ObjectNotFound as exc:
        raise Unavailable(
            f"The {PUBLISH_DEPLOYMENT_PATH} deployment is not registered yet: is the worker "
            "running?"
        ) from exc
    run = await client.create_flow_run_from_deployment(
        deployment.id,
        parameters={"request": request.model_dump(mode="json")},
        name=f"post {request.label()}",  # named in the UI while it waits for its time
        state=Scheduled(scheduled_time=request.at) if request.at else None,
        tags=["reelflow", "post", *request.platforms],
    )
    return str(run.id)


async def _read_run(client: PrefectClient, run_id: str | None):
    if not run_id:
        return None
    try:
        return await client.read_flow_run(uuid.UUID(run_id))
    except (ObjectNotFound, ValueError):
        return None


def _with_record(manifest: Manifest, index: int, record: PostRecord) -> Manifest:
    return manifest.with_clip(manifest.clip(index).with_post(record))


def _without_record(manifest: Manifest, index: int, post_id: str) -> Manifest:
    clip = manifest.clip(index)
    posts = [p for p in clip.posts if p.post_id != post_id]
    return manifest.with_clip(clip.model_copy(update={"posts": posts}))


def _with_run_id(manifest: Manifest, index: int, post_id: str, run_id: str) -> Manifest:
    clip = manifest.clip(index)
    record = clip.post(post_id)
    if record is None:
        return manifest
    return manifest.with_clip(clip.with_post(record.model_copy(update={"run_id": run_id})))


def _cancelled(manifest: Manifest, index: int, post_id: str, out: list) -> Manifest:
    clip = manifest.clip(index)
    record = clip.post(post_id) if clip else None
    if record is None or record.state != "scheduled":
        return manifest
    record = record.model_copy(update={"state": "cancelled", "updated_at": now_iso(),
                                       "error": "Cancelled by the user"})  # fmt: skip
    out.append(record)
    return manifest.with_clip(clip.with_post(record))


async def settle_ended_posts(lookback_s: float) -> int:
    """Posts whose run ended where no hook ran (cancelled in the Prefect UI before its time,
    a killed worker): their key blocks are deleted, and a post still `scheduled` in its
    record becomes `cancelled` (its webhook told). The retention sweep runs this; how many
    key blocks and records it settled."""
    from prefect.client.orchestration import get_client

    from flows.ended_runs import ended_runs
    from flows.names import PUBLISH_DEPLOYMENT

    since = datetime.now(UTC) - timedelta(seconds=lookback_s)
    async with get_client() as client:
        runs = await ended_runs(client, [PUBLISH_DEPLOYMENT], after=since)
    settled = 0
    for run in runs:
        request = (run.parameters or {}).get("request") or {}
        settled += await delete_key_block(request.get("key_block"))
        if run.state_type == StateType.CANCELLED and request.get("post_id"):
            settled += _cancel_record(request)
    return settled


def _cancel_record(request: dict) -> int:
    try:
        folder = job_folder(request["job"])
    except InvalidRequest:
        return 0
    index, cancelled = request.get("index"), []
    update_manifest(folder, lambda m: _cancelled(m, index, request["post_id"], cancelled))
    if cancelled:
        tell_post(folder, index, cancelled[0], request.get("webhook_url"))
    return len(cancelled)
