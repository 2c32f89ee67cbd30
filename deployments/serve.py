"""Register and serve reelflow's deployments from one long-lived process (the worker).

    python -m deployments.serve

`clip_video/clip-video` runs clip jobs; its concurrency limit (MAX_CONCURRENT_JOBS, collision
strategy ENQUEUE) is enforced by the Prefect server, so extra jobs wait as
AwaitingConcurrencySlot whichever process runs them. `cleanup_expired_jobs/retention` runs the
retention sweep every RETENTION_SWEEP_SECONDS. Before serving, it (re)creates the automation
that crashes runs whose process stopped sending heartbeats.
"""

from __future__ import annotations

import asyncio
import os

from deployments.names import CLIP_DEPLOYMENT, RETENTION_DEPLOYMENT
from reelflow.settings import get_settings


def build_deployments():
    from prefect.client.schemas.objects import (
        ConcurrencyLimitConfig,
        ConcurrencyLimitStrategy,
    )

    from flows.clip import clip_video
    from flows.retention import cleanup_expired_jobs

    settings = get_settings()
    clip = clip_video.to_deployment(
        name=CLIP_DEPLOYMENT,
        description="Cut one video (file path or URL) into ranked vertical clips.",
        tags=["reelflow"],
        concurrency_limit=ConcurrencyLimitConfig(
            limit=settings.max_concurrent_jobs,
            collision_strategy=ConcurrencyLimitStrategy.ENQUEUE,
        ),
    )
    retention = cleanup_expired_jobs.to_deployment(
        name=RETENTION_DEPLOYMENT,
        description="Delete finished jobs' files after JOB_RETENTION_SECONDS.",
        tags=["reelflow"],
        interval=int(os.environ.get("RETENTION_SWEEP_SECONDS", "300")),
    )
    return clip, retention


def main() -> None:
    from prefect import serve

    from deployments.automations import ensure_zombie_automation

    # Prefect's shortest heartbeat period is 30 s; two missed beats mean the process is gone.
    heartbeat = int(os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30"))
    asyncio.run(ensure_zombie_automation(missing_heartbeat_s=2 * heartbeat))
    settings = get_settings()
    serve(*build_deployments(), limit=settings.max_concurrent_jobs + 1)


if __name__ == "__main__":
    main()
