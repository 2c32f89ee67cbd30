"""Runs of some deployments that ended (completed, failed, crashed, cancelled) before or after
a time: what the retention sweep and its catch-up passes (job ends and posts no hook saw) read."""

from __future__ import annotations

from datetime import datetime

from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType

ENDED = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]


async def ended_runs(
    client,
    deployments: list[str],
    *,
    before: datetime | None = None,
    after: datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[FlowRun]:
    return await client.read_flow_runs(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=deployments)),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ENDED)),
            end_time=FlowRunFilterEndTime(before_=before, after_=after),
        ),
        limit=limit,
        offset=offset,
    )
