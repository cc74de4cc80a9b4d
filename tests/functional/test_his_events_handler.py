"""The events queue handler, the poller's schedule and its result handler, invoked as Lambda would."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.domain.his_events import SHANGHAI
from chalicelib.domain.patients import PatientBinding, Relation
from tests.fakes import (
    FakeBlobStore,
    FakeDeliveryLog,
    FakeHisRequestQueue,
    FakeMessenger,
    FakePatientBindings,
    FakeRefundObligations,
    FakeWeChatUsers,
)
from tests.fakes_booking import BookingWorld
from tests.fakes_his_events import (
    FakeEventCursor,
    FakeFollowUpPlans,
    FakeHisEventLedger,
    FakeHisEventQueue,
    FakeResourceVersions,
    FakeScheduleNotices,
    example,
)

NOW = example("15")["occurred_at"]
OPENID = "oFunctional0000000000000001"


def _wire() -> dict[str, Any]:
    from datetime import datetime

    now = datetime.fromisoformat(NOW).astimezone(SHANGHAI) + timedelta(minutes=3)
    users = FakeWeChatUsers()
    users.touch(OPENID, now - timedelta(hours=2))
    parts: dict[str, Any] = {
        "his_event_ledger": FakeHisEventLedger(), "resource_versions": FakeResourceVersions(),
        "his_event_queue": FakeHisEventQueue(), "event_cursor": FakeEventCursor(),
        "follow_up_plans": FakeFollowUpPlans(), "schedule_notices": FakeScheduleNotices(),
        "patient_bindings": FakePatientBindings(PatientBinding(OPENID, "P000123456", Relation.SELF, "张*", now)),
        "refund_obligations": FakeRefundObligations(), "wechat_users": users, "wechat_messenger": FakeMessenger(),
        "deliveries": FakeDeliveryLog(), "his_request_queue": FakeHisRequestQueue(), "blob_store": FakeBlobStore(),
        "clock": lambda: now, "booking_context": BookingWorld(now=now).context(),
    }
    bootstrap.override(**parts)
    return parts


def _pushed(envelope: dict[str, Any]) -> str:
    return json.dumps({"source": "push", "received_at": NOW, "delivery_attempt": 1, "envelope": envelope},
                      ensure_ascii=False)


def test_a_batch_with_a_poison_record_fails_only_that_record():
    parts = _wire()
    broken = example("15")
    broken["event_id"] = "evt_broken"
    del broken["data"]["report_id"]
    bodies = [_pushed(example("15")), "not json", _pushed(broken), _pushed(example("14")),
              json.dumps({"source": "push", "received_at": NOW, "envelope": {**example("15"), "event_type": "new.kind"}})]
    with Client(app, stage_name="local") as client:
        event = client.events.generate_sqs_event(message_bodies=bodies, queue_name="yiwei-his-events")
        out = client.lambda_.invoke("on_his_event", event)
    records = event["Records"]
    failed = {f["itemIdentifier"] for f in out.payload["batchItemFailures"]}
    assert failed == {records[1]["messageId"], records[2]["messageId"]}
    sent = [args for method, args in parts["wechat_messenger"].calls if method == "send_custom"]
    assert len(sent) == 2 and "检验报告「血常规」已出" in sent[0][1].text and "30.00元将原路退回" in sent[1][1].text
    assert "HR202506240007" in parts["refund_obligations"].items


def test_the_schedule_asks_for_events_and_the_result_is_ingested_and_the_cursor_saved():
    parts = _wire()
    with Client(app, stage_name="local") as client:
        out = client.lambda_.invoke("poll_his_events", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
        [request] = parts["his_request_queue"].sent
        assert out.payload == {"request_id": request.request_id}
        assert request.operation == "listEvents" and request.context["purpose"] == "event_poll"
        assert request.query["since"].endswith("+08:00")
        result = {"request_id": request.request_id, "operation": "listEvents", "outcome": "ok", "status": 200,
                  "fetched_at": NOW, "body": {"items": [example("15"), example("13")], "next_cursor": "ZXZ0OjQy"},
                  "context": request.context}
        event = client.events.generate_sqs_event(message_bodies=[json.dumps(result)], queue_name="yiwei-his-results")
        assert client.lambda_.invoke("on_his_result", event).payload == {"batchItemFailures": []}
        assert parts["event_cursor"].cursor == "ZXZ0OjQy"
        client.lambda_.invoke("poll_his_events", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    assert parts["his_request_queue"].sent[-1].query == {"after": "ZXZ0OjQy"}
    ledger = parts["his_event_ledger"].items
    assert {k: v[2] for k, v in ledger.items()} == {"evt_01JY2MB8C1D4E7F0G3H6J9K2L5": "applied",
                                                      "evt_01JY2K7Q4M8N3P5R6S9T0V1W2X": "late"}
