from datetime import UTC, datetime, timedelta

from chalicelib.domain.his_messages import HisResult
from chalicelib.domain.jobs import JobState
from chalicelib.domain.reference import Dataset
from chalicelib.services.reference_sync import apply_his_result, request_reference_sync
from tests.conftest import load_fixture
from tests.fakes import FakeBlobStore, FakeHisRequestQueue, FakeJobRepository, FakeReferenceRepository

NOW = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def _ids():
    n = iter(range(1000))
    return lambda: f"req{next(n)}"


def _result(request_id, dataset, outcome="ok", at=NOW, body=None, etag='"v1"', **extra):
    data = {
        "request_id": request_id, "operation": "x", "outcome": outcome, "status": 200,
        "fetched_at": at.isoformat(), "etag": etag, "body": body,
        "context": {"purpose": "reference_sync", "dataset": dataset.value}, **extra,
    }
    return HisResult.from_json(data)


def test_request_sends_one_request_per_dataset_with_held_etags():
    queue, repo, jobs = FakeHisRequestQueue(), FakeReferenceRepository(), FakeJobRepository()
    assert not repo.mark_unchanged(Dataset.CAMPUSES, NOW, None)  # nothing held yet: no effect
    first = request_reference_sync(queue, repo, jobs, lambda: NOW, _ids())
    assert [r.operation for r in queue.sent] == ["listCampuses", "listDepartments", "listDoctors", "getFeeSchedule"]
    assert all(r.if_none_match is None for r in queue.sent)
    assert all(jobs.get(j.job_id).state is JobState.REQUESTED for j in first)

    for req in queue.sent:
        dataset = Dataset(req.context["dataset"])
        body = load_fixture(f"his/reference_{dataset.value}.json")
        apply_his_result(_result(req.request_id, dataset, body=body, etag=f'"{dataset.value}-1"'), repo,
                         FakeBlobStore(), jobs, lambda: NOW)
    queue.sent.clear()
    request_reference_sync(queue, repo, jobs, lambda: NOW, _ids())
    etags = {r.operation: r.if_none_match for r in queue.sent}
    assert etags == {"listCampuses": '"campuses-1"', "listDepartments": '"departments-1"', "listDoctors": None,
                     "getFeeSchedule": '"fee_schedule-1"'}
    queue.sent.clear()
    request_reference_sync(queue, repo, jobs, lambda: NOW, _ids(), force=True)
    assert all(r.if_none_match is None for r in queue.sent)


def test_apply_is_idempotent_and_never_rolls_back():
    repo, jobs = FakeReferenceRepository(), FakeJobRepository()
    body = load_fixture("his/reference_campuses.json")
    new = _result("a", Dataset.CAMPUSES, body=body, at=NOW)
    assert apply_his_result(new, repo, FakeBlobStore(), jobs, lambda: NOW).state is JobState.APPLIED
    assert apply_his_result(new, repo, FakeBlobStore(), jobs, lambda: NOW).state is JobState.APPLIED  # redelivery
    older = _result("b", Dataset.CAMPUSES, body={"items": []}, at=NOW - timedelta(minutes=5))
    assert apply_his_result(older, repo, FakeBlobStore(), jobs, lambda: NOW).state is JobState.STALE
    assert len(repo.campuses()) == 3


def test_not_modified_error_blob_and_foreign_results():
    repo, jobs = FakeReferenceRepository(), FakeJobRepository()
    blobs = FakeBlobStore({("bucket", "his-results/a.json"): load_fixture("his/reference_doctors.json")})
    out = apply_his_result(_result("a", Dataset.DOCTORS, body_ref={"bucket": "bucket", "key": "his-results/a.json"}),
                           repo, blobs, jobs, lambda: NOW)
    assert out.state is JobState.APPLIED and len(repo.doctors()) == 5

    later = NOW + timedelta(hours=6)
    out = apply_his_result(_result("b", Dataset.DOCTORS, outcome="not_modified", at=later), repo, blobs, jobs,
                           lambda: later)
    assert out.state is JobState.NOT_MODIFIED and repo.sync_states()[Dataset.DOCTORS].fetched_at == later

    failed = _result("c", Dataset.CAMPUSES, outcome="error", error={"code": "HIS_BUSY", "message": "busy",
                                                                    "retryable": True})
    assert apply_his_result(failed, repo, blobs, jobs, lambda: NOW).state is JobState.FAILED
    assert repo.campuses() == []

    broken = _result("d", Dataset.CAMPUSES, body={"unexpected": True})
    assert apply_his_result(broken, repo, blobs, jobs, lambda: NOW).state is JobState.FAILED

    foreign = HisResult.from_json({"request_id": "e", "operation": "lockAppointment", "outcome": "ok",
                                   "fetched_at": NOW.isoformat(), "context": {"purpose": "booking"}})
    assert apply_his_result(foreign, repo, blobs, jobs, lambda: NOW).state is None
