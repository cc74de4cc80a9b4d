"""The event receiver over real HTTP: the HIS simulator pushes signed events (§8.1) to the receiver served
behind a tiny ALB-like adapter; nonces go to DynamoDB and envelopes to SQS on a moto server, provisioned
from the deployment template."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devstack.his_simulator.config import TEST_APP_ID, TEST_APP_SECRET, TEST_EVENT_SECRET
from devstack.his_simulator.server import start_in_thread
from devstack.his_simulator.simulator import Simulator
from his_bridge.client import HttpHisClient
from his_bridge.config import load_settings
from his_bridge.events import EventReceiver
from his_bridge.signing import signed_headers
from tests.integration.conftest import REGION

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")
ZHANG = {"method": "identity", "id_type": "resident_id", "id_number": "110101199003070011", "name": "张三",
         "phone": "13800000001"}


def alb_server(receiver: EventReceiver) -> tuple[Any, str]:
    """Serve ``receiver`` the way an ALB invokes a Lambda target (lower-case headers, base64 bodies)."""

    @Request.application  # type: ignore[misc]
    def app(request: Request) -> Response:
        event = {
            "httpMethod": request.method,
            "path": request.path,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "queryStringParameters": dict(request.args),
            "body": base64.b64encode(request.get_data()).decode(),
            "isBase64Encoded": True,
        }
        answer = receiver.handle(event)
        return Response(answer["body"], status=answer["statusCode"], headers=answer["headers"])

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/his/events"


@pytest.fixture
def stack(moto_endpoint: str, aws: Any) -> Iterator[dict[str, Any]]:
    sim = Simulator()
    srv, thread, base_url = start_in_thread("127.0.0.1", 0, sim)
    sim.set_now(datetime(2025, 6, 16, 9, 0, tzinfo=SHANGHAI))
    sim.reset()
    env = {"HIS_APP_ID": TEST_APP_ID, "HIS_EVENT_SECRET": TEST_EVENT_SECRET, "AWS_ENDPOINT_URL": moto_endpoint,
           "AWS_DEFAULT_REGION": REGION, "HIS_STATE_TABLE": aws.table("his"),
           "HIS_EVENT_QUEUE": aws.queue_names["HisEventQueue"]}
    settings = load_settings(env)
    session = boto3.session.Session()
    dynamodb = session.client("dynamodb", region_name=REGION, endpoint_url=moto_endpoint)
    sqs = session.client("sqs", region_name=REGION, endpoint_url=moto_endpoint)
    receiver = EventReceiver(settings, dynamodb, sqs, clock=lambda: float(sim.clock.epoch()))
    http, url = alb_server(receiver)
    sim.configure_push(url=url, background=False)
    yield {"sim": sim, "url": url, "sqs": sqs, "dynamodb": dynamodb, "settings": settings, "receiver": receiver,
           "client": HttpHisClient(base_url, TEST_APP_ID, TEST_APP_SECRET, clock=lambda: float(sim.clock.epoch())),
           "queue_url": sqs.get_queue_url(QueueName=settings.event_queue_name)["QueueUrl"]}
    sim.configure_push(url=None)
    http.shutdown()
    srv.shutdown()
    thread.join(timeout=5)


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                  WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return messages
        for m in got:
            messages.append({"body": json.loads(m["Body"]), "event_type": m["MessageAttributes"]["event_type"][
                "StringValue"]})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def _book(stack: dict[str, Any], order: str) -> str:
    """Lock and release a slot: the release is an ``appointment.status_changed`` event."""
    client: HttpHisClient = stack["client"]
    client.call("lookupPatient", body=ZHANG)
    schedules = client.call("listSchedules", query={"department_id": "D0301", "date_from": "2025-06-23",
                                                   "date_to": "2025-06-23"}).body["items"]
    schedule = next(s for s in schedules if s["status"] == "open")
    appt = client.call("lockAppointment", body={"order_id": order, "schedule_id": schedule["schedule_id"],
                                                "patient_id": "P000123456"}, idempotency_key=f"{order}:lock").body
    client.call("cancelAppointment", path_params={"appointment_id": appt["appointment_id"]},
                body={"order_id": order, "reason_code": "payment_abandoned"}, idempotency_key=f"{order}:cancel")
    return str(appt["appointment_id"])


def test_pushed_events_are_verified_and_enqueued(stack: dict[str, Any]) -> None:
    appointment_id = _book(stack, "WXO20250616090000901")
    attempts = stack["sim"].flush_push()
    assert attempts and all(a["status"] == 204 for a in attempts), attempts
    messages = _drain(stack["sqs"], stack["queue_url"])
    changed = [m for m in messages if m["event_type"] == "appointment.status_changed"]
    assert changed and changed[0]["body"]["source"] == "push"
    assert changed[0]["body"]["received_at"].startswith("2025-06-16T") and changed[0]["body"]["received_at"].endswith(
        "+08:00")
    assert changed[0]["body"]["delivery_attempt"] == 1
    assert changed[0]["body"]["envelope"]["data"]["appointment_id"] == appointment_id
    nonces = stack["dynamodb"].scan(TableName=stack["settings"].state_table)["Items"]
    assert len(nonces) == len(attempts) and all(i["pk"]["S"].startswith("nonce#") for i in nonces)


def test_duplicates_are_each_acknowledged_and_rotation_is_accepted(stack: dict[str, Any]) -> None:
    sim = stack["sim"]
    sim.rotate_event_secret("his-test-event-secret-ROTATED-0002")
    receiver: EventReceiver = stack["receiver"]
    # The receiver learns the new secret and keeps the old one as previous (§4.1 overlap).
    receiver.settings = type(receiver.settings)(**{**receiver.settings.__dict__,
                                                   "event_secret": "his-test-event-secret-ROTATED-0002",
                                                   "event_secret_previous": TEST_EVENT_SECRET})
    sim.configure_push(duplicate=2)
    _book(stack, "WXO20250616090000902")
    attempts = sim.flush_push()
    assert attempts and all(a["status"] == 204 for a in attempts), attempts
    messages = _drain(stack["sqs"], stack["queue_url"])
    ids = [m["body"]["envelope"]["event_id"] for m in messages]
    assert len(ids) == len(attempts) and len(set(ids)) < len(ids)  # duplicates enqueued; the app deduplicates


def test_replays_and_forgeries_are_refused_over_http(stack: dict[str, Any]) -> None:
    sim = stack["sim"]
    body = json.dumps({"event_id": "evt_x", "event_type": "future.event", "occurred_at": "2025-06-16T09:00:00+08:00",
                       "app_id": TEST_APP_ID, "data": {}}, separators=(",", ":")).encode()
    headers = signed_headers(TEST_APP_ID, TEST_EVENT_SECRET, "POST", "/his/events", "", body, sim.clock.epoch())
    first = requests.post(stack["url"], data=body, headers=headers, timeout=5)
    replay = requests.post(stack["url"], data=body, headers=headers, timeout=5)
    assert first.status_code == 204
    assert replay.status_code == 401 and replay.json()["code"] == "NONCE_REPLAYED"
    forged = signed_headers(TEST_APP_ID, "guessed-secret", "POST", "/his/events", "", body, sim.clock.epoch())
    assert requests.post(stack["url"], data=body, headers=forged, timeout=5).status_code == 401
    stale = signed_headers(TEST_APP_ID, TEST_EVENT_SECRET, "POST", "/his/events", "", body, sim.clock.epoch() - 400)
    assert requests.post(stack["url"], data=body, headers=stale, timeout=5).json()["code"] == "TIMESTAMP_SKEW"
    [message] = _drain(stack["sqs"], stack["queue_url"])
    assert message["event_type"] == "future.event"  # unknown types are enqueued for the app to ignore
