"""The SQS handler and the schedule, invoked as Lambda would invoke them."""

import json
from datetime import UTC, datetime

from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.domain.jobs import JobState
from tests.conftest import load_fixture
from tests.fakes import FakeBlobStore, FakeHisRequestQueue, FakeJobRepository, FakeReferenceRepository


def _wire():
    parts = {
        "reference_repository": FakeReferenceRepository(),
        "his_request_queue": FakeHisRequestQueue(),
        "job_repository": FakeJobRepository(),
        "blob_store": FakeBlobStore(),
        "clock": lambda: datetime(2026, 11, 26, tzinfo=UTC),
    }
    bootstrap.override(**parts)
    return parts


def test_schedule_queues_a_sync_and_results_apply_with_partial_failures():
    parts = _wire()
    with Client(app, stage_name="local") as client:
        out = client.lambda_.invoke("sync_reference_data", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
        assert len(out.payload["jobs"]) == 4
        requests = {r.context["dataset"]: r for r in parts["his_request_queue"].sent}

        good = {"request_id": requests["departments"].request_id, "operation": "listDepartments", "outcome": "ok",
                "status": 200, "etag": '"d1"', "fetched_at": "2026-11-26T08:00:01+08:00",
                "body": load_fixture("his/reference_departments.json"),
                "context": requests["departments"].context}
        event = client.events.generate_sqs_event(
            message_bodies=[json.dumps(good), "not json", json.dumps({"outcome": "ok"})], queue_name="yiwei-his-results")
        out = client.lambda_.invoke("on_his_result", event)

    failures = out.payload["batchItemFailures"]
    assert len(failures) == 2  # the two poison records, not their batch-mate
    job = parts["job_repository"].get(requests["departments"].request_id)
    assert job.state is JobState.APPLIED
    assert {d.department_id for d in parts["reference_repository"].departments()} >= {"D0301", "D0601"}
