"""What the API does to post clips: start a post (a publish-clip run, scheduled for its time),
cancel a scheduled one, and list a job's webhook deliveries. The work itself is shared with
`reelflow publish` in flows/publish_schedule.py; this only checks the job is one of ours."""

from __future__ import annotations

from prefect.client.orchestration import PrefectClient

from api.schemas import PostOut, WebhookDeliveries
from api.service import JobService
from flows.publish_schedule import cancel_post, schedule_post
from reelflow.jobs import job_dir
from reelflow.redact import redact_url
from reelflow.settings import Settings
from reelflow.webhooks import read_deliveries


class PublishService:
    def __init__(self, jobs: JobService, client: PrefectClient, settings: Settings):
        self.jobs = jobs
        self.client = client
        self.settings = settings

    async def publish(self, job_id: str, index: int, fields: dict, key: str) -> PostOut:
        await self.jobs.find(job_id)  # a job of ours, and a job id, never a path
        record = await schedule_post(self.client, self.settings, job_id, index, fields, key)
        return PostOut(job_id=job_id, index=index, post=record)

    async def cancel(self, job_id: str, index: int, post_id: str) -> PostOut:
        await self.jobs.find(job_id)
        record = await cancel_post(self.client, job_id, index, post_id)
        return PostOut(job_id=job_id, index=index, post=record)

    async def webhooks(self, job_id: str) -> WebhookDeliveries:
        await self.jobs.find(job_id)
        found = read_deliveries(job_dir(job_id))
        deliveries = [d.model_copy(update={"url": redact_url(d.url)}) for d in found]
        return WebhookDeliveries(job_id=job_id, deliveries=deliveries)
