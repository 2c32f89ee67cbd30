"""Register and serve reelflow's deployments from one long-lived process (the worker).

    python -m deployments.serve

`clip_video/clip-video` runs clip jobs; its concurrency limit (MAX_CONCURRENT_JOBS, collision
strategy ENQUEUE) is enforced by the Prefect server, so extra jobs wait as
AwaitingConcurrencySlot whichever process runs them. `cleanup_expired_jobs/retention` runs the
retention sweep every RETENTION_SWEEP_SECONDS. `batch_urls/batch-urls` runs URL lists (no
schedule here: `prefect.yaml` declares an example one); at most MAX_CONCURRENT_BATCHES batches
run at once, the rest wait. `restyle_clip/restyle-clip` renders clips again with a new look.
All are defined once, in deployments/definitions.py. Before serving, it makes sure of the
automations that hand back runs whose process stopped sending heartbeats (a worker that died).

Several workers may serve the same deployments, on one machine or several, against one
Prefect server: each polls for runs and the server gives each run to one of them.
WORKER_CONCURRENCY caps the runs one worker takes at once.

SIGTERM (and Ctrl-C) hands the running jobs back: deployments/handback.py kills this worker's
flow-run processes and puts their runs back in the queue, where another worker (or this one
after a restart) starts them again, their finished stages cached; then the worker exits, at
once. Prefect's own answer would be to cancel them.
"""

from __future__ import annotations

import asyncio
import os
import signal

from deployments.definitions import build_deployments
from deployments.processes import give_up_cpu
from reelflow.settings import get_settings


def use_s3_results(settings) -> None:
    """With S3_PREFECT_RESULTS, point Prefect's default result storage at the bucket."""
    from prefect.logging import get_logger

    from reelflow.result_storage import ensure_result_storage, result_folder

    slug = ensure_result_storage(settings)
    if slug is None:
        return
    # serve() starts each flow run as a subprocess with a copy of this process's environment
    # (prefect.runner._starter_engine), so every run, and each task in it, persists its
    # results and cache records in the bucket, where workers on other machines find them.
    os.environ["PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"] = slug
    get_logger("reelflow.serve").info(
        "Prefect results go to s3://%s/%s (block %s)",
        settings.s3_bucket,
        result_folder(settings),
        slug,
    )


def main() -> None:
    from deployments.automations import ensure_zombie_automation
    from deployments.handback import HandingBackRunner, hand_back_and_exit

    # Prefect's shortest heartbeat period is 30 s; two missed beats mean the process is gone.
    heartbeat = int(os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30"))
    asyncio.run(ensure_zombie_automation(missing_heartbeat_s=2 * heartbeat))
    settings = get_settings()
    # Jobs take every core they get; on a shared machine the API and the Prefect server must
    # still answer at once. Flow-run processes (and their ffmpeg) inherit this.
    give_up_cpu(settings.worker_nice)
    use_s3_results(settings)
    # One process runs them all: room for every job slot, every batch (each waits on jobs
    # while it runs), the retention sweep, every post slot and two webhook attempts, so no
    # run waits on a run stuck behind it.
    limit = settings.worker_concurrency or (
        settings.max_concurrent_jobs + settings.max_concurrent_batches + 1
        + settings.publish_concurrency + 2
    )  # fmt: skip
    # Not pausing the schedules on the way out: other workers may go on serving them.
    runner = HandingBackRunner(limit=limit, pause_on_shutdown=False)
    for deployment in build_deployments(settings):
        runner.add_deployment(deployment)
    signal.signal(signal.SIGINT, lambda *_: hand_back_and_exit())
    asyncio.run(runner.start())


if __name__ == "__main__":
    main()
