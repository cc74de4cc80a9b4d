"""The ports services depend on. Adapters implement them by technology; tests use fakes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.his_messages import HisRequest
from chalicelib.domain.jobs import Job, JobState
from chalicelib.domain.reference import (
    Campus,
    Dataset,
    Department,
    Doctor,
    FeeEntry,
    ReferenceSnapshot,
    SyncState,
)

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]


class ReferenceRepository(Protocol):
    def sync_states(self) -> dict[Dataset, SyncState]: ...

    def apply_snapshot(self, snapshot: ReferenceSnapshot) -> bool:
        """Make the stored copy equal ``snapshot`` unless a newer one is held; True if applied."""
        ...

    def mark_unchanged(self, dataset: Dataset, fetched_at: datetime, etag: str | None) -> bool:
        """Record that the HIS confirmed our copy is current (HTTP 304)."""
        ...

    def campuses(self) -> list[Campus]: ...

    def departments(self) -> list[Department]: ...

    def department(self, department_id: str) -> Department | None: ...

    def doctors(self) -> list[Doctor]: ...

    def doctors_of_department(self, department_id: str) -> list[Doctor]: ...

    def doctor(self, doctor_id: str) -> Doctor | None: ...

    def fees(self) -> list[FeeEntry]: ...


class HisRequestQueue(Protocol):
    def send(self, request: HisRequest) -> None: ...


class BlobStore(Protocol):
    def get_json(self, bucket: str, key: str) -> Any: ...


class JobRepository(Protocol):
    def add(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def finish(self, job_id: str, state: JobState, at: datetime, detail: str = "") -> None:
        """Record the outcome; a job already finished keeps its first outcome (redelivery-safe)."""
        ...
