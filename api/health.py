"""Health: `/health` is readiness (can a job submitted now start?), `/health/live` liveness.

Ready means the API's dispatcher process runs (it turns accepted jobs into runs), the Prefect
server answers, the deployments the API starts runs of are registered, and a worker polled for
the clip deployment's runs lately (Prefect records `last_polled` on the deployment whenever a
`serve` process or a work-pool worker asks for its runs). A load balancer
or `make up` waits for it; a POST accepted then starts as soon as a job slot is free. Liveness
only says the API process answers: restart it when that fails, not when Prefect is away.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from litestar import get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response
from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound

from api.schemas import Alive, Health
from flows.names import CLIP_DEPLOYMENT_PATH, RESTYLE_DEPLOYMENT_PATH

NEEDED = (CLIP_DEPLOYMENT_PATH, RESTYLE_DEPLOYMENT_PATH)
# Workers and `serve` poll every 10 s by default; three missed polls mean none is there.
WORKER_SILENT_S = 60
# Probes may come often; Prefect is asked at most this often.
CACHE_S = 1.0
_last: dict[int, tuple[float, Health]] = {}  # per Prefect client, so per app


@get(
    "/health",
    summary="Readiness: the dispatcher, Prefect, the deployments and a worker",
    opt={"public": True},
    responses={503: ResponseSpec(Health, description="Not ready: the body says what is missing.")},
)
async def health(state: State) -> Response[Health]:
    body = await readiness(state.prefect)
    dispatcher = state.jobs.dispatcher.state
    if dispatcher != "ok":
        body = body.model_copy(update={"dispatcher": dispatcher, "ready": False})
    return Response(body, status_code=200 if body.ready else 503)


@get("/health/live", summary="Liveness: the API process answers", opt={"public": True})
async def alive() -> Alive:
    return Alive()


async def readiness(client: PrefectClient) -> Health:
    now = time.monotonic()
    cached = _last.get(id(client))
    if cached is not None and now - cached[0] < CACHE_S:
        return cached[1]
    body = await _check(client)
    _last[id(client)] = (now, body)
    return body


async def _check(client: PrefectClient) -> Health:
    if await client.api_healthcheck() is not None:
        return Health(prefect="unreachable")
    found = await asyncio.gather(*(_deployment(client, path) for path in NEEDED))
    missing = [path for path, d in zip(NEEDED, found, strict=True) if d is None]
    if missing:
        return Health(prefect="ok", deployments="not registered: " + ", ".join(missing))
    polled = found[0].last_polled
    if polled is None:
        return Health(prefect="ok", deployments="ok", worker="no worker has polled yet")
    silent = (datetime.now(UTC) - polled).total_seconds()
    if silent > WORKER_SILENT_S:
        return Health(prefect="ok", deployments="ok", worker=f"last poll {silent:.0f} s ago")
    return Health(prefect="ok", deployments="ok", worker="ok", ready=True)


async def _deployment(client: PrefectClient, path: str):
    try:
        return await client.read_deployment_by_name(path)
    except ObjectNotFound:
        return None
