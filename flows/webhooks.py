"""Delivering webhooks durably: each attempt is a flow run of the deliver-webhook deployment.

    a state change -> record it in webhooks.json -> a deliver-webhook run (now)
        attempt fails -> the next attempt is a run scheduled at now + backoff, on the server

Nothing waits in a process between attempts, so a worker restart loses no retry: the Prefect
server holds the scheduled runs, and each attempt shows in the UI as "webhook completed
<job> #N". Waits double from WEBHOOK_RETRY_DELAY_S up to an hour, with jitter, until
WEBHOOK_RETRY_HOURS after the first attempt. A URL the guard refuses is not retried.

Job ends are told by the clip flow's end hooks (`notify_job_hook`). What no hook sees (a job
cancelled while queued: no process ever ran it; a worker killed outright) the retention sweep
catches with `tell_missed_job_ends`; the record makes sure each change is sent once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Failed
from pydantic import BaseModel, Field

from flows.names import CLIP_DEPLOYMENT, WEBHOOK_DEPLOYMENT_PATH, WEBHOOK_FLOW
from reelflow.jobs import job_dir, run_job_id
from reelflow.manifest import ManifestError, read_manifest
from reelflow.posting import now_iso
from reelflow.redact import redact_url
from reelflow.settings import get_settings
from reelflow.webhooks import (
    Delivery,
    add_delivery,
    attempt_delivery,
    body_fits,
    job_body,
    new_delivery_id,
    note_attempt,
)

MAX_WAIT_S = 3600
_EVENTS = {"COMPLETED": "completed", "FAILED": "failed", "CRASHED": "failed",
           "CANCELLED": "cancelled"}  # fmt: skip
_log = logging.getLogger(__name__)


class WebhookJob(BaseModel):
    """One delivery's next attempt: the deliver-webhook flow's parameter. The body was fixed
    when the change happened; no secret rides here (the signature is made per attempt)."""

    job_id: str
    folder: str = Field(description="The job's folder, where attempts are recorded.")
    delivery_id: str
    event: str
    url: str
    body: dict[str, Any]
    post_id: str | None = None
    attempt: int = Field(1, ge=1)
    first_attempt_at: str | None = None

    def run_name(self) -> str:
        return f"webhook {self.event} {self.job_id[:8]} #{self.attempt}"


def _run_name() -> str:
    job = flow_run.parameters.get("job") or {}
    if isinstance(job, dict):
        job = WebhookJob.model_validate(job)
    return job.run_name()


@flow(name=WEBHOOK_FLOW, flow_run_name=_run_name,
      description="Send one signed webhook; a failed attempt schedules the next one.")  # fmt: skip
def deliver_webhook(job: WebhookJob):
    settings = get_settings()
    first = job.first_attempt_at or now_iso()
    result = attempt_delivery(job.url, job.body, job.event, job.delivery_id, job.attempt, settings)
    folder, logger = Path(job.folder), get_run_logger()
    if result.ok:
        note_attempt(folder, job.delivery_id, result, "delivered", None)
        logger.info("delivered to %s (HTTP %s)", redact_url(job.url), result.status_code)
        return {"delivered": True, "attempt": job.attempt}
    when = None if result.permanent else next_attempt_time(first, job.attempt)
    note_attempt(folder, job.delivery_id, result, "pending" if when else "failed",
                 when.isoformat(timespec="seconds") if when else None)  # fmt: skip
    if when is None:
        return Failed(message=f"Gave up on {redact_url(job.url)}: {result.error}")
    retry = job.model_copy(update={"attempt": job.attempt + 1, "first_attempt_at": first})
    _start(retry, when)
    return Failed(message=f"{result.error}; attempt {job.attempt + 1} at {when:%H:%M:%S} UTC")


def next_attempt_time(first_attempt_at: str, attempt: int) -> datetime | None:
    """When to try again after `attempt` failed; None once WEBHOOK_RETRY_HOURS are spent."""
    settings = get_settings()
    wait = min(settings.webhook_retry_delay_s * 2 ** (attempt - 1), MAX_WAIT_S)
    when = datetime.now(UTC) + timedelta(seconds=wait * random.uniform(0.8, 1.2))
    deadline = datetime.fromisoformat(first_attempt_at) + timedelta(
        hours=settings.webhook_retry_hours
    )
    return when if when <= deadline else None


def enqueue(job_id: str, folder: Path, event: str, url: str, body: dict,
            post_id: str | None = None) -> bool:  # fmt: skip
    """Record a state change and start its first attempt; False when it was already told.
    Never raises: telling is never worth failing a job or a post over."""
    delivery = Delivery(delivery_id=new_delivery_id(), event=event, url=url, post_id=post_id)
    try:
        if not add_delivery(folder, delivery):
            return False
        body = body_fits({**body, "delivery_id": delivery.delivery_id})
        job = WebhookJob(job_id=job_id, folder=str(folder), delivery_id=delivery.delivery_id,
                         event=event, url=url, body=body, post_id=post_id)  # fmt: skip
        _start(job, None)
    except Exception as exc:
        _log.warning("Could not start the %s webhook of job %s: %s", event, job_id, exc)
        return False
    return True


def _start(job: WebhookJob, when: datetime | None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(WEBHOOK_DEPLOYMENT_PATH)
        client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"job": job.model_dump(mode="json")},
            name=job.run_name(),  # the UI names a scheduled attempt before it runs
            state=Scheduled(scheduled_time=when) if when else None,
            tags=["reelflow", "webhook"],
        )


def notify_job_hook(flow, flow_run, state) -> None:
    """Clip-flow end hook: tell the job's webhook_url how it ended."""
    request = (flow_run.parameters or {}).get("request") or {}
    url = request.get("webhook_url") if isinstance(request, dict) else None
    event = _EVENTS.get(str(getattr(state.type, "value", state.type)))
    if url and event:
        job_id = request.get("job_id") or str(flow_run.id)
        tell_job_end(job_id, job_dir(job_id, request.get("out_dir")), event, url, state.message)


def tell_job_end(job_id: str, folder: Path, event: str, url: str, error: str | None) -> bool:
    try:
        manifest = read_manifest(folder)
    except ManifestError:
        manifest = None
    reason = error or (manifest.error if manifest else None) or f"The job ended {event}"
    return enqueue(job_id, folder, event, url, job_body(event, job_id, manifest, reason))


async def tell_missed_job_ends(lookback_s: float) -> int:
    """Job ends no hook told (cancelled while queued, a worker killed): how many were sent.
    The retention sweep runs this; the record keeps each end from being told twice."""
    from prefect.client.orchestration import get_client

    from flows.ended_runs import ended_runs

    since = datetime.now(UTC) - timedelta(seconds=lookback_s)
    async with get_client() as client:
        runs = await ended_runs(client, [CLIP_DEPLOYMENT], after=since)
    told = 0
    for run in runs:
        request = (run.parameters or {}).get("request") or {}
        url = request.get("webhook_url") if isinstance(request, dict) else None
        event = _EVENTS.get(str(getattr(run.state_type, "value", run.state_type)))
        if url and event:
            job_id = run_job_id(run)
            folder = job_dir(job_id, request.get("out_dir"))
            message = run.state.message if run.state else None
            told += await asyncio.to_thread(tell_job_end, job_id, folder, event, url, message)
    return told
