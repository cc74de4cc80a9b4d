"""``JobRepository`` on DynamoDB (see ``models.JobItem``)."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamodb.models import JobItem
from chalicelib.domain.jobs import Job, JobState

SK = "job"


class DynamoJobRepository:
    def __init__(self, model: type[JobItem]) -> None:
        self._model = model

    def add(self, job: Job) -> None:
        self._model(
            f"job#{job.job_id}",
            SK,
            kind=job.kind,
            subject=job.subject,
            request_id=job.request_id,
            state=job.state.value,
            requested_at=job.requested_at.isoformat(),
            finished_at=job.finished_at.isoformat() if job.finished_at else None,
            detail=job.detail or None,
            expires_at=int(job.expires_at.timestamp()),
        ).save()

    def get(self, job_id: str) -> Job | None:
        try:
            item = self._model.get(f"job#{job_id}", SK)
        except self._model.DoesNotExist:
            return None
        return Job(
            job_id=job_id,
            kind=item.kind,
            subject=item.subject,
            request_id=item.request_id,
            state=JobState(item.state),
            requested_at=datetime.fromisoformat(item.requested_at),
            finished_at=datetime.fromisoformat(item.finished_at) if item.finished_at else None,
            detail=item.detail or "",
        )

    def finish(self, job_id: str, state: JobState, at: datetime, detail: str = "") -> None:
        item = self._model(f"job#{job_id}", SK)
        try:
            item.update(
                actions=[
                    self._model.state.set(state.value),
                    self._model.finished_at.set(at.isoformat()),
                    self._model.detail.set(detail),
                ],
                condition=self._model.state == JobState.REQUESTED.value,
            )
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
