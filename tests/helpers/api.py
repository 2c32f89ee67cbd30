"""The API in this process (Litestar's TestClient) against the session's real Prefect server,
with the deployments registered as the worker would, but no worker: runs stay queued."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flows.names import CLIP_DEPLOYMENT_PATH


@contextmanager
def api_client(settings=None) -> Iterator:
    from litestar.testing import TestClient

    from api.app import create_app
    from reelflow.settings import get_settings

    with TestClient(create_app(settings or get_settings())) as client:
        yield client


@contextmanager
def loopback_api(monkeypatch) -> Iterator:
    """The API with URL jobs allowed to name 127.0.0.1 (they are never run: no worker)."""
    from reelflow.settings import get_settings

    monkeypatch.setenv("ALLOWED_URL_HOSTS", "127.0.0.1")
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    get_settings.cache_clear()
    with api_client() as client:
        yield client
    get_settings.cache_clear()


def register_deployments() -> None:
    """What `deployments.serve` registers, without serving them."""
    from deployments.definitions import build_deployments
    from reelflow.settings import get_settings

    for deployment in build_deployments(get_settings()):
        deployment.apply()


def remove_deployment(path: str = CLIP_DEPLOYMENT_PATH) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async def remove() -> None:
        async with get_client() as client:
            try:
                deployment = await client.read_deployment_by_name(path)
            except ObjectNotFound:
                return
            await client.delete_deployment(deployment.id)

    asyncio.run(remove())


def read_run_parameters(run_id: str) -> dict:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).parameters


def wait_for_run_id(api, job_id: str, timeout_s: float = 60, headers: dict | None = None) -> str:
    """The run the API's dispatcher made for an accepted job (it comes a moment later)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run_id = api.get(f"/api/status/{job_id}", headers=headers).json().get("run_id")
        if run_id:
            return run_id
        time.sleep(0.2)
    raise AssertionError(f"no run was created for job {job_id} in {timeout_s:.0f} s")


def runs_for_job(job_id: str) -> list:
    """Every flow run made for a job (the dispatcher uses the job id as idempotency key)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey

    key = FlowRunFilter(idempotency_key=FlowRunFilterIdempotencyKey(any_=[job_id]))
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=key)
