"""In-memory fakes of the ports, for unit and functional tests (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

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


class FakeReferenceRepository:
    def __init__(self) -> None:
        self.states: dict[Dataset, SyncState] = {}
        self.snapshots: dict[Dataset, ReferenceSnapshot] = {}

    def sync_states(self) -> dict[Dataset, SyncState]:
        return dict(self.states)

    def apply_snapshot(self, snapshot: ReferenceSnapshot) -> bool:
        held = self.states.get(snapshot.dataset)
        if held is not None and not held.accepts(snapshot.fetched_at):
            return False
        self.snapshots[snapshot.dataset] = snapshot
        self.states[snapshot.dataset] = SyncState(snapshot.dataset, snapshot.etag, snapshot.fetched_at,
                                                  snapshot.item_count)
        return True

    def mark_unchanged(self, dataset: Dataset, fetched_at: datetime, etag: str | None) -> bool:
        held = self.states.get(dataset)
        if held is None or not held.accepts(fetched_at):
            return False
        self.states[dataset] = replace(held, fetched_at=fetched_at, etag=etag or held.etag)
        return True

    def _snap(self, dataset: Dataset) -> ReferenceSnapshot | None:
        return self.snapshots.get(dataset)

    def campuses(self) -> list[Campus]:
        s = self._snap(Dataset.CAMPUSES)
        return list(s.campuses) if s else []

    def departments(self) -> list[Department]:
        s = self._snap(Dataset.DEPARTMENTS)
        return list(s.departments) if s else []

    def department(self, department_id: str) -> Department | None:
        return next((d for d in self.departments() if d.department_id == department_id), None)

    def doctors(self) -> list[Doctor]:
        s = self._snap(Dataset.DOCTORS)
        return list(s.doctors) if s else []

    def doctors_of_department(self, department_id: str) -> list[Doctor]:
        return [d for d in self.doctors() if department_id in d.department_ids]

    def doctor(self, doctor_id: str) -> Doctor | None:
        return next((d for d in self.doctors() if d.doctor_id == doctor_id), None)

    def fees(self) -> list[FeeEntry]:
        s = self._snap(Dataset.FEE_SCHEDULE)
        return list(s.fees) if s else []


class FakeHisRequestQueue:
    def __init__(self) -> None:
        self.sent: list[HisRequest] = []

    def send(self, request: HisRequest) -> None:
        self.sent.append(request)


class FakeBlobStore:
    def __init__(self, blobs: dict[tuple[str, str], Any] | None = None) -> None:
        self.blobs = blobs or {}

    def get_json(self, bucket: str, key: str) -> Any:
        return self.blobs[(bucket, key)]


class FakeJobRepository:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    def add(self, job: Job) -> None:
        self.jobs[job.job_id] = job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def finish(self, job_id: str, state: JobState, at: datetime, detail: str = "") -> None:
        job = self.jobs.get(job_id)
        if job is not None and job.state is JobState.REQUESTED:
            self.jobs[job_id] = job.finish(state, at, detail)
