"""The `publish_clip` flow: one post of one finished clip to social platforms.

    job manifest -> the clip's file and texts (overrides applied) -> provider (Upload-Post)
        -> each platform's id and URL, or the reason -> manifest `posts` -> webhook

A post at a future time is a *scheduled* run of the publish-clip deployment (`schedule_post`),
so it is visible, and cancellable, in the Prefect UI until it goes out; several posts are
independent runs. The provider's key never rides in the parameters: `key_block` names a
per-post Secret block (deleted when the run ends), else the operator's UPLOAD_POST_KEY_BLOCK
or UPLOAD_POST_API_KEY is used.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Failed

from flows.names import PUBLISH_FLOW
from flows.restyle import job_folder
from flows.webhooks import enqueue
from reelflow.errors import InvalidRequest, ReelflowError
from reelflow.manifest import ClipEntry, Manifest, read_manifest, update_manifest
from reelflow.posting import (
    PostRecord,
    PostRefused,
    PublishRequest,
    now_iso,
    texts_for,
)
from reelflow.secrets import delete_key_block_hook, load_secret_block
from reelflow.settings import get_settings
from reelflow.upload_post import UploadPostProvider
from reelflow.webhooks import post_body
from tasks.post import PostOptions, post_task


def _run_name() -> str:
    request = flow_run.parameters.get("request") or {}
    if isinstance(request, dict):
        request = PublishRequest.model_validate(request)
    return f"post {request.label()}"


def _ended_hook(flow, flow_run, state) -> None:
    """A run cancelled or crashed while sending: nobody knows whether the post went out. One
    cancelled before it started (in the UI) is simply cancelled."""
    request = PublishRequest.model_validate((flow_run.parameters or {}).get("request"))
    kind = "cancelled" if state.is_cancelled() else "stopped"
    reason = f"The post run was {kind} while sending; check the platforms before trying again"
    try:
        _, _, record = _load(request)
        if record.state == "scheduled":
            finish(request, "cancelled", error="Cancelled before it was sent")
        elif record.state == "posting":
            finish(request, "failed", error=reason)
    except (ReelflowError, OSError) as exc:
        get_run_logger().warning("Could not record the post's end: %s", exc)


@flow(
    name=PUBLISH_FLOW,
    flow_run_name=_run_name,
    description="Post one clip of a finished job to social platforms (Upload-Post).",
    on_completion=[delete_key_block_hook],
    on_failure=[delete_key_block_hook],
    on_cancellation=[delete_key_block_hook, _ended_hook],
    on_crashed=[delete_key_block_hook, _ended_hook],
)
def publish_clip(request: PublishRequest):
    logger = get_run_logger()
    try:
        folder, clip, _ = _load(request)
        video = folder / _file(clip, request.version)
        texts = texts_for(clip, request.platforms, request.texts)
        record = _claim(folder, request, texts, video.name)
        if record.state != "posting":
            logger.info("post %s is %s; nothing to send", record.post_id, record.state)
            return {"post_id": record.post_id, "state": record.state}
        provider = UploadPostProvider(_key(request), get_settings().upload_post_base_url,
                                      get_settings().upload_post_timeout_s)  # fmt: skip
        outcome = post_task(provider, str(video), request.platforms, texts, record.profile,
                            _options())  # fmt: skip
    except ReelflowError as exc:
        logger.error("Post failed: %s", exc)
        _fail_quietly(request, str(exc))
        return Failed(message=str(exc))
    failed = {p: r.error for p, r in outcome.results.items() if r.state == "failed"}
    error = "; ".join(f"{p}: {e}" for p, e in failed.items()) or None
    record = finish(request, "failed" if failed else "posted", error=error,
                    results=outcome.results, attempts=outcome.attempts)  # fmt: skip
    _report(request, record)
    if failed:
        logger.error("Not posted to %s", error)
        return Failed(message=f"Not posted to {error}")
    logger.info("posted to %s", ", ".join(f"{p} ({r.url or r.post_id})"
                                          for p, r in outcome.results.items()))  # fmt: skip
    return {"post_id": record.post_id, "state": record.state}


def _fail_quietly(request: PublishRequest, reason: str) -> None:
    # No clip to record it on (the job was deleted): the run's own state says it.
    with contextlib.suppress(ReelflowError):
        finish(request, "failed", error=reason)


def _load(request: PublishRequest) -> tuple[Path, ClipEntry, PostRecord]:
    folder = job_folder(request.job)
    manifest = read_manifest(folder)
    clip = manifest.clip(request.index) if manifest else None
    if clip is None:
        raise InvalidRequest(f"Job {request.job} has no clip {request.index}")
    record = clip.post(request.post_id) or new_record(request, request.profile)
    return folder, clip, record


def new_record(request: PublishRequest, profile: str) -> PostRecord:
    at = request.at.isoformat(timespec="seconds") if request.at else None
    return PostRecord(post_id=request.post_id, platforms=request.platforms, at=at,
                      profile=profile or get_settings().upload_post_user,
                      created_at=now_iso(), updated_at=now_iso())  # fmt: skip


def _claim(folder: Path, request: PublishRequest, texts: dict, file: str) -> PostRecord:
    """Scheduled -> posting, under the manifest's lock: a post cancelled meanwhile (DELETE)
    or already sent by an earlier run of this request is never sent again."""
    claimed: list[PostRecord] = []

    def change(manifest: Manifest) -> Manifest:
        clip = manifest.clip(request.index)
        record = clip.post(request.post_id) or new_record(request, request.profile)
        if record.state == "scheduled":
            record = record.model_copy(update={
                "state": "posting", "texts": texts, "file": file, "run_id": _run_id(),
                "updated_at": now_iso(),
            })  # fmt: skip
        claimed.append(record)
        return manifest.with_clip(clip.with_post(record))

    update_manifest(folder, change)
    if not claimed:
        raise InvalidRequest(f"Job {request.job} is gone")
    return claimed[0]


def _run_id() -> str | None:
    return str(flow_run.id) if flow_run.id else None


def _file(clip: ClipEntry, version: int | None) -> str:
    if version is None:
        return clip.versions[-1].file if clip.versions else clip.file
    match = next((v for v in clip.versions if v.version == version), None)
    if match is None:
        raise PostRefused(f"Clip {clip.index} has no version {version}")
    return match.file


def _key(request: PublishRequest) -> str:
    """The per-post block, else the operator's block, else UPLOAD_POST_API_KEY."""
    settings = get_settings()
    if request.key_block:
        key = load_secret_block(request.key_block)
        if key is None:
            raise PostRefused("The post's Upload-Post key is gone (its Secret block was deleted)")
        return key
    if settings.upload_post_key_block:
        key = load_secret_block(settings.upload_post_key_block)
        if key:
            return key
    secret = settings.upload_post_api_key
    return secret.get_secret_value() if secret else ""


def _options() -> PostOptions:
    s = get_settings()
    return PostOptions(s.publish_retries, s.publish_retry_delay_s, s.publish_max_wait_s)


def _save(folder: Path, request: PublishRequest, record: PostRecord) -> PostRecord:
    record = record.model_copy(update={"updated_at": now_iso()})

    def change(manifest: Manifest) -> Manifest:
        clip = manifest.clip(request.index)
        return manifest if clip is None else manifest.with_clip(clip.with_post(record))

    update_manifest(folder, change)
    return record


def finish(request: PublishRequest, state: str, *, error: str | None = None,
           **fields) -> PostRecord:  # fmt: skip
    """Record how the post ended and tell the webhook (the request's, else the job's)."""
    folder, _, record = _load(request)
    record = _save(folder, request, record.model_copy(update={**fields, "state": state,
                                                              "error": error}))  # fmt: skip
    tell_post(folder, request.index, record, request.webhook_url)
    return record


def tell_post(folder: Path, index: int, record: PostRecord, url: str | None) -> None:
    manifest = read_manifest(folder)
    url = url or (manifest.request.get("webhook_url") if manifest else None)
    clip = manifest.clip(index) if manifest else None
    if url and clip is not None:
        event = {"posted": "posted", "cancelled": "cancelled"}.get(record.state, "failed")
        body = post_body(event, manifest.job_id, clip, record)
        enqueue(manifest.job_id, folder, event, url, body, post_id=record.post_id)


def _report(request: PublishRequest, record: PostRecord) -> None:
    lines = [f"### Post {record.post_id} of {request.label()}: {record.state}", "",
             "| platform | state | id | link | reason |", "|---|---|---|---|---|"]  # fmt: skip
    for platform, r in record.results.items():
        cells = [platform, r.state, r.post_id or "", r.url or "", (r.error or "").replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    create_markdown_artifact("\n".join(lines), key=f"post-{record.post_id}"[:64],
                             description=f"Post of {request.label()}")  # fmt: skip
