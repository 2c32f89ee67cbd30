"""Server-side automation that ends runs whose process died.

A flow run's process sends a heartbeat event every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds.
When a worker is killed with its runs, the heartbeats stop and nothing else would ever move
the run out of RUNNING; this automation marks such a run Crashed so the API reports it failed.
"""

from __future__ import annotations

from datetime import timedelta

from deployments.names import ZOMBIE_AUTOMATION

TERMINAL_EVENTS = {
    "prefect.flow-run.heartbeat",
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
}


async def ensure_zombie_automation(missing_heartbeat_s: int) -> None:
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    async with get_client() as client:
        for existing in await client.read_automations_by_name(ZOMBIE_AUTOMATION):
            await client.delete_automation(existing.id)
    automation = Automation(
        name=ZOMBIE_AUTOMATION,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect=TERMINAL_EVENTS,
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=missing_heartbeat_s),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=(
                    f"The worker running this job stopped (no heartbeat for "
                    f"{missing_heartbeat_s} s); submit the video again"
                ),
            )
        ],
    )
    await automation.acreate()
