"""Background jobs we started and want to see finish (e.g. one reference-data sync per dataset)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

JOB_RETENTION = timedelta(days=7)


class JobState(str, Enum):
    REQUESTED = "requested"
    APPLIED = "applied"
    NOT_MODIFIED = "not_modified"
    STALE = "stale"  # a newer copy was already held; nothing changed
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self is not JobState.REQUESTED


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: str
    subject: str
    request_id: str
    state: JobState
    requested_at: datetime
    finished_at: datetime | None = None
    detail: str = ""

    @property
    def expires_at(self) -> datetime:
        return self.requested_at + JOB_RETENTION

    def finish(self, state: JobState, at: datetime, detail: str = "") -> Job:
        return replace(self, state=state, finished_at=at, detail=detail)
