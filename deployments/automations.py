"""Server-side automations that hand back runs whose process died.

A flow run's process sends a heartbeat event as it starts and then every
PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds. When a worker is killed with its runs (the machine
died, the OOM killer, `kill -9`), the heartbeats stop and nothing else would ever move the run
out of RUNNING; these automations put such a run back in the queue (Scheduled, named
"Rescheduled", as a worker that is stopped gracefully does itself: deployments/handback.py),
so another worker runs it again. A job that keeps taking its worker down stops after
flows/clip.py MAX_ATTEMPTS runs.

Two, because a process killed in its first second may never deliver its first heartbeat (it
sits in the events client's buffer): the second arms on the server's own RUNNING event. It is
kept to deployment runs, which the worker starts with heartbeats on; a flow run in some other
process without heartbeats (a CLI run against the same server) must not be crashed for that.
"""

from __future__ import annotations

from datetime import timedelta

ZOMBIE_AUTOMATION = "reelflow: hand back runs whose worker died"
ZOMBIE_AUTOMATION_SILENT = "reelflow: hand back deployment runs that never sent a heartbeat"
# Earlier versions crashed such runs; a server still holding them must not do both.
LEGACY_NAMES = (
    "reelflow: crash clip runs whose worker died",
    "reelflow: crash deployment runs that never sent a heartbeat",
)
HANDED_BACK = "Rescheduled"  # deployments/handback.py uses the same name

HEARTBEAT = "prefect.flow-run.heartbeat"
EXPECTED_EVENTS = {
    HEARTBEAT,
    f"prefect.flow-run.{HANDED_BACK}",
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
}


async def ensure_zombie_automation(missing_heartbeat_s: int) -> None:
    from prefect.events.schemas.events import ResourceSpecification

    await _ensure(_crash_when_silent(ZOMBIE_AUTOMATION, HEARTBEAT, missing_heartbeat_s))
    await _ensure(
        _crash_when_silent(
            ZOMBIE_AUTOMATION_SILENT,
            "prefect.flow-run.Running",
            missing_heartbeat_s,
            ResourceSpecification({"prefect.resource.role": "deployment"}),
        )
    )
    await _remove_legacy()


async def _remove_legacy() -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        for name in LEGACY_NAMES:
            for automation in await client.read_automations_by_name(name):
                await client.delete_automation(automation.id)


async def _ensure(wanted) -> None:
    """Keep an automation that already does what is wanted: a new one would not know the
    runs the old one is watching (a run that started just before a worker restart)."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        existing = await client.read_automations_by_name(wanted.name)
    same = [a for a in existing if _definition(a) == _definition(wanted)]
    if not same:
        await wanted.acreate()
    async with get_client() as client:
        for automation in existing:
            if not same or automation.id != same[0].id:
                await client.delete_automation(automation.id)


def _definition(automation) -> dict:
    return {
        "trigger": automation.trigger.model_dump(mode="json", exclude={"id"}),
        "actions": [a.model_dump(mode="json") for a in automation.actions],
        "enabled": automation.enabled,
    }


def _crash_when_silent(name: str, after: str, silent_s: int, related=None):
    """Hand a flow run back when, after `after`, neither a heartbeat nor an end comes in time."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    trigger = EventTrigger(
        after={after},
        expect=EXPECTED_EVENTS,
        match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
        match_related=related or [],
        for_each={"prefect.resource.id"},
        posture=Posture.Proactive,
        threshold=1,
        within=timedelta(seconds=silent_s),
    )
    message = (
        f"Handed back: the worker running this job stopped (no heartbeat for {silent_s} s); "
        "it runs again"
    )
    action = ChangeFlowRunState(
        state=StateType.SCHEDULED, name=HANDED_BACK, message=message, force=True
    )
    return Automation(name=name, trigger=trigger, actions=[action])
