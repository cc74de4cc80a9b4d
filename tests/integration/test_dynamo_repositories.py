"""The DynamoDB adapters against tables provisioned from infra/resources.yaml (moto server)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import bootstrap
from chalicelib.domain.his_reference import snapshot_from_payload
from chalicelib.domain.jobs import Job, JobState
from chalicelib.domain.reference import Dataset
from tests.conftest import load_fixture

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def _snapshot(dataset, at, payload=None, etag=None):
    payload = payload if payload is not None else load_fixture(f"his/reference_{dataset.value}.json")
    return snapshot_from_payload(dataset, payload, at, etag)[0]


def test_snapshot_round_trip_and_reads(app_settings):
    repo = bootstrap.container().reference_repository
    for dataset in Dataset:
        assert repo.apply_snapshot(_snapshot(dataset, T0, etag=f'"{dataset.value}"'))
    assert {c.campus_id for c in repo.campuses()} == {"C01", "C02", "C09"}
    assert repo.department("D0301").location.description == "出电梯右转B区"
    assert repo.department("missing") is None
    assert {d.doctor_id for d in repo.doctors_of_department("D0301")} == {"DR10023", "DR10024", "DR10025", "DR10027"}
    assert repo.doctor("DR10024").department_ids == ("D0301", "D0302")
    assert sorted(f.fee_fen for f in repo.fees()) == [1000, 3000, 5000, 30000]
    states = repo.sync_states()
    assert states[Dataset.CAMPUSES].etag == '"campuses"' and states[Dataset.CAMPUSES].fetched_at == T0
    assert states[Dataset.DOCTORS].item_count == 5


def test_newer_snapshot_replaces_moves_and_removes_older_cannot_roll_back(app_settings):
    repo = bootstrap.container().reference_repository
    repo.apply_snapshot(_snapshot(Dataset.DOCTORS, T0))
    payload = load_fixture("his/reference_doctors.json")
    moved = payload["items"][1]  # 王芳: D0301+D0302 -> D0302 only
    moved["department_ids"] = ["D0302"]
    payload["items"] = [i for i in payload["items"] if i["doctor_id"] != "DR10025"]  # 赵强 leaves
    assert repo.apply_snapshot(_snapshot(Dataset.DOCTORS, T0 + timedelta(hours=6), payload))

    assert {d.doctor_id for d in repo.doctors_of_department("D0301")} == {"DR10023", "DR10027"}
    assert {d.doctor_id for d in repo.doctors_of_department("D0302")} == {"DR10024"}
    assert repo.doctor("DR10025") is None

    # A late, older result (redelivered from hours ago) changes nothing.
    assert not repo.apply_snapshot(_snapshot(Dataset.DOCTORS, T0 + timedelta(hours=1)))
    assert repo.doctor("DR10025") is None
    assert {d.doctor_id for d in repo.doctors_of_department("D0301")} == {"DR10023", "DR10027"}


def test_mark_unchanged_only_moves_forward(app_settings):
    repo = bootstrap.container().reference_repository
    assert not repo.mark_unchanged(Dataset.CAMPUSES, T0, '"x"')  # nothing held yet
    repo.apply_snapshot(_snapshot(Dataset.CAMPUSES, T0, etag='"a"'))
    assert repo.mark_unchanged(Dataset.CAMPUSES, T0 + timedelta(hours=1), '"a"')
    assert not repo.mark_unchanged(Dataset.CAMPUSES, T0, '"a"')
    assert repo.sync_states()[Dataset.CAMPUSES].fetched_at == T0 + timedelta(hours=1)


def test_jobs_keep_their_first_outcome_and_expire(app_settings, moto_endpoint):
    jobs = bootstrap.container().job_repository
    job = Job("j1", "reference_sync", "campuses", "j1", JobState.REQUESTED, T0)
    jobs.add(job)
    jobs.finish("j1", JobState.APPLIED, T0 + timedelta(seconds=2), "3 items")
    jobs.finish("j1", JobState.FAILED, T0 + timedelta(seconds=9), "redelivered later")
    got = jobs.get("j1")
    assert got == replace(job, state=JobState.APPLIED, finished_at=T0 + timedelta(seconds=2), detail="3 items")
    jobs.finish("unknown", JobState.APPLIED, T0)  # a result for a forgotten job is harmless
    assert jobs.get("unknown") is None

    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="ap-east-1")
    ttl = ddb.describe_time_to_live(TableName=app_settings.table_name("jobs"))["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"
    item = ddb.get_item(TableName=app_settings.table_name("jobs"), Key={"pk": {"S": "job#j1"}, "sk": {"S": "job"}})
    assert int(item["Item"]["expires_at"]["N"]) == int((T0 + timedelta(days=7)).timestamp())
