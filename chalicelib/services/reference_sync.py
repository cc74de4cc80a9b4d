"""Keeping our copy of the hospital's reference data in step with the HIS.

``request_reference_sync`` asks the bridge for each dataset (sending the ETag we hold, so an
unchanged dataset costs a 304); ``apply_his_result`` applies what comes back. Both are safe to retry:
a redelivered or out-of-order result never rolls the copy back (``SyncState.accepts``), and a job
keeps its first outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.domain.his_messages import OUTCOME_ERROR, OUTCOME_NOT_MODIFIED, HisRequest, HisResult
from chalicelib.domain.his_reference import ReferencePayloadError, snapshot_from_payload
from chalicelib.domain.jobs import Job, JobState
from chalicelib.domain.reference import Dataset
from chalicelib.observability import get_logger
from chalicelib.services.ports import BlobStore, Clock, HisRequestQueue, IdFactory, JobRepository, ReferenceRepository

PURPOSE = "reference_sync"
JOB_KIND = "reference_sync"

# Dataset → middleware operation (openapi operationId) and whether it answers with an ETag.
OPERATIONS: dict[Dataset, tuple[str, bool]] = {
    Dataset.CAMPUSES: ("listCampuses", True),
    Dataset.DEPARTMENTS: ("listDepartments", True),
    Dataset.DOCTORS: ("listDoctors", False),
    Dataset.FEE_SCHEDULE: ("getFeeSchedule", True),
}

log = get_logger("reference_sync")


def request_reference_sync(
    queue: HisRequestQueue,
    repo: ReferenceRepository,
    jobs: JobRepository,
    clock: Clock,
    new_id: IdFactory,
    datasets: Iterable[Dataset] = tuple(Dataset),
    force: bool = False,
) -> list[Job]:
    """Queue one request per dataset; returns the jobs to watch. ``force`` skips the ETag."""
    states = repo.sync_states()
    now = clock()
    started = []
    for dataset in datasets:
        operation, has_etag = OPERATIONS[dataset]
        state = states.get(dataset)
        request = HisRequest(
            request_id=new_id(),
            operation=operation,
            requested_at=now,
            if_none_match=state.etag if (has_etag and state is not None and not force) else None,
            context={"purpose": PURPOSE, "dataset": dataset.value},
        )
        job = Job(request.request_id, JOB_KIND, dataset.value, request.request_id, JobState.REQUESTED, now)
        jobs.add(job)
        queue.send(request)
        started.append(job)
    log.info("reference sync requested", extra={"datasets": [j.subject for j in started]})
    return started


@dataclass(frozen=True)
class ApplyOutcome:
    dataset: Dataset | None
    state: JobState | None
    skipped_items: int = 0


def apply_his_result(
    result: HisResult, repo: ReferenceRepository, blobs: BlobStore, jobs: JobRepository, clock: Clock
) -> ApplyOutcome:
    """Apply one reference-data result from the bridge. Results for other purposes are not ours."""
    if result.context.get("purpose") != PURPOSE:
        return ApplyOutcome(None, None)
    try:
        dataset = Dataset(result.context.get("dataset", ""))
    except ValueError:
        log.warning("result for an unknown dataset ignored", extra={"request_id": result.request_id})
        return ApplyOutcome(None, None)

    skipped = 0
    if result.outcome == OUTCOME_ERROR:
        error = result.error
        state, detail = JobState.FAILED, f"{error.code}: {error.message}" if error else "error"
        log.warning("reference sync failed", extra={"dataset": dataset.value, "code": error.code if error else ""})
    elif result.outcome == OUTCOME_NOT_MODIFIED:
        repo.mark_unchanged(dataset, result.fetched_at, result.etag)
        state, detail = JobState.NOT_MODIFIED, ""
    else:
        ref = result.body_ref
        payload = result.body if ref is None else blobs.get_json(ref["bucket"], ref["key"])
        try:
            snapshot, skipped = snapshot_from_payload(dataset, payload, result.fetched_at, result.etag)
        except ReferencePayloadError as exc:
            jobs.finish(result.request_id, JobState.FAILED, clock(), str(exc))
            log.error("unusable reference payload", extra={"dataset": dataset.value, "error": str(exc)})
            return ApplyOutcome(dataset, JobState.FAILED)
        applied = repo.apply_snapshot(snapshot)
        state = JobState.APPLIED if applied else JobState.STALE
        detail = f"{snapshot.item_count} items" + (f", {skipped} unusable" if skipped else "")
        if skipped:
            log.warning("reference items skipped", extra={"dataset": dataset.value, "skipped": skipped})
    jobs.finish(result.request_id, state, clock(), detail)
    log.info("reference result applied", extra={"dataset": dataset.value, "state": state.value})
    return ApplyOutcome(dataset, state, skipped)
