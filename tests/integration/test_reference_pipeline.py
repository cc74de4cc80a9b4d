"""The walking skeleton end to end: schedule → SQS → bridge (signed HTTP to the HIS simulator) →
SQS → the app's SQS handler → DynamoDB → the H5 API. Real moto server, real HTTP, the real pump."""

from __future__ import annotations

import json
from dataclasses import replace

import boto3
import pytest
import requests
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.domain.jobs import JobState
from chalicelib.services.reference_sync import request_reference_sync
from devstack.his_simulator.server import start_in_thread
from devstack.pump import SqsPump, Subscription
from his_bridge.client import HttpHisClient
from his_bridge.config import load_settings as bridge_settings
from his_bridge.handler import Bridge, process_batch
from tests.integration.conftest import REGION, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def his():
    server, _thread, base_url = start_in_thread("127.0.0.1", free_port())
    yield base_url
    server.shutdown()


@pytest.fixture
def chain(his, aws, app_settings, moto_endpoint):
    """Returns run(secret=..., inline_limit=...) -> (jobs by dataset, pump)."""
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)

    def run(secret="his-test-secret-NOT-FOR-PRODUCTION-0001", inline_limit=200_000, force=False):
        settings = bridge_settings({"HIS_BASE_URL": his, "HIS_APP_ID": "wxoa-cloud-test", "HIS_APP_SECRET": secret,
                                    "HIS_RESULT_QUEUE": app_settings.his_result_queue, "BLOB_BUCKET": aws.bucket})
        settings = replace(settings, inline_body_limit=inline_limit)
        bridge = Bridge(settings, HttpHisClient(his, settings.his_app_id, secret), sqs, s3)
        pump = SqsPump(sqs, REGION, [
            Subscription("bridge", aws.queues[app_settings.his_request_queue],
                         lambda event, _ctx: process_batch(event["Records"], bridge)),
            Subscription("on_his_result", aws.queues[app_settings.his_result_queue], app.handler_map["on_his_result"]),
        ], wait_seconds=0)
        c = bootstrap.container()
        jobs = request_reference_sync(c.his_request_queue, c.reference_repository, c.job_repository, c.clock,
                                      c.new_id, force=force)
        pump.drain(timeout=60)
        return {j.subject: c.job_repository.get(j.job_id) for j in jobs}, pump

    return run


def _api(path):
    with Client(app, stage_name="local") as client:
        resp = client.http.get(path)
    return resp.status_code, json.loads(resp.body)


def test_sync_fills_the_store_and_the_api_serves_it(chain):
    jobs, pump = chain()
    assert {k: v.state for k, v in jobs.items()} == {
        "campuses": JobState.APPLIED, "departments": JobState.APPLIED,
        "doctors": JobState.APPLIED, "fee_schedule": JobState.APPLIED}
    assert pump.stats["bridge"]["succeeded"] == 4 and pump.stats["on_his_result"]["succeeded"] == 4

    status, hospital = _api("/api/hospital")
    assert status == 200 and len(hospital["campuses"]) >= 2
    assert hospital["stats"]["departments"] >= 15 and hospital["stats"]["doctors"] >= 40
    assert hospital["as_of"].endswith("+08:00")

    status, directory = _api("/api/departments")
    first = directory["groups"][0]["departments"][0]
    status, detail = _api(f"/api/departments/{first['department_id']}")
    assert status == 200 and detail["department"]["name"] == first["name"]
    doctor_ids = [d["doctor_id"] for g in directory["groups"] for dept in g["departments"]
                  for d in _api(f"/api/departments/{dept['department_id']}")[1]["doctors"]]
    assert len(set(doctor_ids)) >= 40
    status, doctor = _api(f"/api/doctors/{doctor_ids[0]}")
    assert status == 200 and doctor["doctor"]["title_name"]


def test_second_sync_uses_etags_and_picks_up_changes(chain, his):
    chain()
    jobs, _ = chain()
    assert jobs["campuses"].state is JobState.NOT_MODIFIED
    assert jobs["departments"].state is JobState.NOT_MODIFIED
    assert jobs["fee_schedule"].state is JobState.NOT_MODIFIED
    assert jobs["doctors"].state is JobState.APPLIED  # no ETag on doctors: fetched, diffed, unchanged

    _, directory = _api("/api/departments")
    dept = directory["groups"][0]["departments"][0]
    admin = his.removesuffix("/v1") + f"/_sim/departments/{dept['department_id']}"
    assert requests.post(admin, json={"name": dept["name"] + "（新）"}, timeout=5).ok
    jobs, _ = chain()
    assert jobs["departments"].state is JobState.APPLIED
    _, detail = _api(f"/api/departments/{dept['department_id']}")
    assert detail["department"]["name"] == dept["name"] + "（新）"


def test_large_results_travel_through_s3(chain):
    jobs, _ = chain(inline_limit=1_000)
    assert jobs["doctors"].state is JobState.APPLIED
    _, hospital = _api("/api/hospital")
    assert hospital["stats"]["doctors"] >= 40


def test_a_wrong_secret_is_refused_by_the_simulator_and_nothing_changes(chain):
    jobs, _ = chain(secret="not-the-secret")
    assert {j.state for j in jobs.values()} == {JobState.FAILED}
    assert "SIGNATURE_INVALID" in jobs["campuses"].detail
    _, hospital = _api("/api/hospital")
    assert hospital["campuses"] == [] and hospital["as_of"] is None
