"""How a Prefect flow run's state reads as a job status, in one tested function: the API, batch
reports and the CLI all say the same."""

from __future__ import annotations

from typing import Literal

JobStatus = Literal["queued", "processing", "completed", "failed", "cancelled"]

# Named states whose type says SCHEDULED but which belong to a run that already started.
_STARTED_SCHEDULED = {"AwaitingRetry"}

_BY_TYPE: dict[str, JobStatus] = {
    "SCHEDULED": "queued",
    "PENDING": "queued",
    "RUNNING": "processing",
    "PAUSED": "processing",
    "CANCELLING": "processing",
    "COMPLETED": "completed",
    "FAILED": "failed",
    "CRASHED": "failed",
    "CANCELLED": "cancelled",
}

STATE_TYPES_BY_STATUS: dict[JobStatus, list[str]] = {}
for _type, _status in _BY_TYPE.items():
    STATE_TYPES_BY_STATUS.setdefault(_status, []).append(_type)


def job_status(state_type: str | None, state_name: str | None = None) -> JobStatus:
    """queued: waiting for a slot or a worker (Scheduled, Late, AwaitingConcurrencySlot,
    Pending); processing: running, retrying, paused or being cancelled; then the three ends.
    Crashed (the process died) is failed."""
    if state_type is None:
        return "queued"
    kind = str(getattr(state_type, "value", state_type)).upper()
    if kind == "SCHEDULED" and state_name in _STARTED_SCHEDULED:
        return "processing"
    return _BY_TYPE.get(kind, "processing")


TERMINAL: frozenset[JobStatus] = frozenset({"completed", "failed", "cancelled"})
