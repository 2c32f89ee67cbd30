"""Every deployment reelflow has, defined once.

`deployments.serve` builds them from here for the worker (`make up`), and `prefect.yaml`, for
`prefect deploy --all` with a work pool, is generated from here too:

    python -m deployments.definitions > prefect.yaml

A unit test fails when the committed prefect.yaml differs from what this module writes, so the
two can never drift apart. Concurrency limits and the retention interval come from Settings
(MAX_CONCURRENT_JOBS, MAX_CONCURRENT_BATCHES, RESTYLE_CONCURRENCY, PUBLISH_CONCURRENCY,
RETENTION_SWEEP_SECONDS);
prefect.yaml carries their defaults.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from flows.names import (
    BATCH_DEPLOYMENT,
    BATCH_DEPLOYMENT_PATH,
    CLIP_DEPLOYMENT,
    CLIP_DEPLOYMENT_PATH,
    PUBLISH_DEPLOYMENT,
    PUBLISH_DEPLOYMENT_PATH,
    RESTYLE_DEPLOYMENT,
    RESTYLE_DEPLOYMENT_PATH,
    RETENTION_DEPLOYMENT,
    RETENTION_DEPLOYMENT_PATH,
    TRANSLATE_DEPLOYMENT,
    TRANSLATE_DEPLOYMENT_PATH,
    WEBHOOK_DEPLOYMENT,
    WEBHOOK_DEPLOYMENT_PATH,
)
from reelflow.settings import Settings

TAGS = ["reelflow"]


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    path: str  # "<flow name>/<deployment name>", how clients find it
    module: str
    function: str
    description: str
    limit: Callable[[Settings], int] | None = None  # concurrency limit, collision: ENQUEUE
    limit_setting: str = ""  # its environment variable, for prefect.yaml's comment
    interval: Callable[[Settings], int] | None = None  # seconds between scheduled runs
    yaml_extra: str = ""  # prefect.yaml only: parameters and example schedules

    @property
    def entrypoint(self) -> str:
        return f"{self.module.replace('.', '/')}.py:{self.function}"

    def flow(self):
        return getattr(importlib.import_module(self.module), self.function)


_BATCH_YAML = """\
    parameters:
      request:
        # A path (relative to this folder), an http(s) URL or s3://bucket/key; text, CSV or
        # Parquet (see README "Batch runs").
        url_list: data/lists/urls.txt
        <<: *clip_options
    schedules:
      - *daily_inactive
"""

SPECS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        CLIP_DEPLOYMENT, CLIP_DEPLOYMENT_PATH, "flows.clip", "clip_video",
        "Cut one video (file path or URL) into ranked vertical clips.",
        limit=lambda s: s.max_concurrent_jobs, limit_setting="MAX_CONCURRENT_JOBS",
    ),
    DeploymentSpec(
        RETENTION_DEPLOYMENT, RETENTION_DEPLOYMENT_PATH, "flows.retention",
        "cleanup_expired_jobs", "Delete finished jobs' files after JOB_RETENTION_SECONDS.",
        interval=lambda s: s.retention_sweep_seconds,
    ),
    # Its own limit, not the jobs': a batch only waits for its jobs, and one that held a job
    # slot while waiting could starve them.
    DeploymentSpec(
        BATCH_DEPLOYMENT, BATCH_DEPLOYMENT_PATH, "flows.batch", "batch_urls",
        "Clip every video in a list of URLs; writes a report of the jobs.",
        limit=lambda s: s.max_concurrent_batches, limit_setting="MAX_CONCURRENT_BATCHES",
        yaml_extra=_BATCH_YAML,
    ),
    DeploymentSpec(
        RESTYLE_DEPLOYMENT, RESTYLE_DEPLOYMENT_PATH, "flows.restyle", "restyle_clip",
        "Render one clip of a finished job again with a new look.",
        limit=lambda s: s.restyle_concurrency, limit_setting="RESTYLE_CONCURRENCY",
    ),
    # A post at a time is a scheduled run of this deployment (see flows/publish_schedule.py).
    DeploymentSpec(
        PUBLISH_DEPLOYMENT, PUBLISH_DEPLOYMENT_PATH, "flows.publish", "publish_clip",
        "Post one clip of a finished job to social platforms, now or when scheduled.",
        limit=lambda s: s.publish_concurrency, limit_setting="PUBLISH_CONCURRENCY",
    ),
    # One attempt per run; a failed attempt schedules the next as a run of its own.
    DeploymentSpec(
        WEBHOOK_DEPLOYMENT, WEBHOOK_DEPLOYMENT_PATH, "flows.webhooks", "deliver_webhook",
        "Send one signed webhook (a job or post state change); retries are later runs.",
    ),
    # Renders like a restyle, so it shares the restyle limit's setting (a limit of its own).
    DeploymentSpec(
        TRANSLATE_DEPLOYMENT, TRANSLATE_DEPLOYMENT_PATH, "flows.translate", "translate_clip",
        "Make one clip of a finished job in other languages (translated captions, or dubbed).",
        limit=lambda s: s.restyle_concurrency, limit_setting="RESTYLE_CONCURRENCY",
    ),
)  # fmt: skip

# What `deployments.serve` registers; a stack is ready only when all of them are.
SERVED_DEPLOYMENT_PATHS = tuple(spec.path for spec in SPECS)


def build_deployments(settings: Settings) -> list:
    """The RunnerDeployments `prefect.serve` runs, with this machine's settings."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    built = []
    for spec in SPECS:
        options: dict = {"name": spec.name, "description": spec.description, "tags": TAGS}
        if spec.limit is not None:
            options["concurrency_limit"] = ConcurrencyLimitConfig(
                limit=spec.limit(settings), collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
            )
        if spec.interval is not None:
            options["interval"] = spec.interval(settings)
        built.append(spec.flow().to_deployment(**options))
    return built


_YAML_HEAD = """\
# reelflow deployments for `prefect deploy --all` with a work pool, and workers on as many
# machines as you like (README "Several machines"). `make up` and `python -m deployments.serve`
# serve the same deployments without a work pool.
# Generated by `python -m deployments.definitions > prefect.yaml`: edit deployments/definitions.py.
name: reelflow
prefect-version: 3.9.1

pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{{ $PWD }}"

definitions:
  work_pools:
    # Processes: `prefect work-pool create reelflow --type process`, then on each machine
    # `prefect worker start --pool reelflow --limit 2`. Every deployment below uses it.
    reelflow_pool: &reelflow_pool
      name: reelflow
      work_queue_name: default
    # Containers instead: `prefect work-pool create reelflow-docker --type docker` (its
    # workers need `pip install prefect-docker`), an image of this project built as
    # reelflow:latest, and `work_pool: *docker_pool` in the deployments below. Containers
    # share only the Prefect server and S3, as workers on different machines do.
    docker_pool: &docker_pool
      name: reelflow-docker
      work_queue_name: default
      job_variables:
        image: reelflow:latest
        image_pull_policy: IfNotPresent
        auto_remove: true
        env:
          REELFLOW_DATA_DIR: /data
          S3_BUCKET: "{{ $S3_BUCKET }}"
          S3_ENDPOINT_URL: "{{ $S3_ENDPOINT_URL }}"
          S3_PREFECT_RESULTS: "true"
        volumes:
          - reelflow-data:/data
  tags: &tags [reelflow]
  schedules:
    # 06:00 UTC every day, off until `active: true` here (then `prefect deploy`) or the
    # schedule's toggle in the UI.
    daily_inactive: &daily_inactive
      cron: "0 6 * * *"
      timezone: UTC
      active: false
  # What each video in a batch gets unless its row says otherwise.
  clip_options: &clip_options
    min_seconds: 15
    max_seconds: 60
    provider: local

deployments:
"""


def prefect_yaml(settings: Settings | None = None) -> str:
    """The text of prefect.yaml, with the settings' defaults."""
    settings = settings or Settings.model_construct()
    parts = []
    for spec in SPECS:
        lines = [
            f"  - name: {spec.name}",
            f"    entrypoint: {spec.entrypoint}",
            f"    description: {spec.description}",
            "    tags: *tags",
            "    work_pool: *reelflow_pool",
        ]
        if spec.limit is not None:
            lines += [
                f"    # {spec.limit_setting} under `make up`; extra runs wait as queued.",
                "    concurrency_limit:",
                f"      limit: {spec.limit(settings)}",
                "      collision_strategy: ENQUEUE",
            ]
        if spec.interval is not None:
            lines += ["    schedules:", f"      - interval: {spec.interval(settings)}"]
        parts.append("\n".join(lines) + "\n" + spec.yaml_extra)
    return _YAML_HEAD + "\n".join(parts)


if __name__ == "__main__":
    print(prefect_yaml(), end="")
