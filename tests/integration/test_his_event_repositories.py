"""The HIS-events DynamoDB adapters and the events queue on moto server, against tables and queues
provisioned from infra/resources.yaml."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.adapters.sqs.his_event_queue import SqsHisEventQueue
from chalicelib.domain.his_events import (
    SHANGHAI,
    EventMessage,
    EventSource,
    ScheduleChange,
    ScheduleChanged,
    ScheduleStopped,
    VisitCompleted,
    follow_up_plan,
)
from chalicelib.domain.patients import PatientBinding, Relation
from chalicelib.domain.refunds import BusinessType, RefundObligation, RefundSource, RefundState
from chalicelib.services.ports import LedgerState
from tests.fakes_his_events import example

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def _race(n: int, attempt: Callable[[int], object]) -> list[object]:
    barrier, results = threading.Barrier(n), []

    def run(i: int) -> None:
        barrier.wait()
        results.append(attempt(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_racing_claims_of_one_event_let_exactly_one_through(app_settings):
    ledger = bootstrap.container().his_event_ledger
    for round_ in range(4):
        wins = _race(8, lambda _i, r=round_: ledger.claim(f"evt_race_{r}", T0))
        assert wins.count(LedgerState.NEW) == 1, wins


def test_racing_versions_of_one_resource_let_exactly_one_through(app_settings):
    versions = bootstrap.container().resource_versions
    for round_ in range(4):
        wins = _race(8, lambda i, r=round_: versions.advance(f"report:R{r}", 2, f"evt_{i}", T0))
        assert wins.count(True) == 1, wins


def test_ledger_lifecycle(app_settings):
    ledger = bootstrap.container().his_event_ledger
    assert ledger.claim("e1", T0) is LedgerState.NEW
    assert ledger.claim("e1", T0 + timedelta(seconds=30)) is LedgerState.PROCESSING
    assert ledger.claim("e1", T0 + timedelta(minutes=3)) is LedgerState.NEW  # the first delivery died
    ledger.done("e1", "applied", T0)
    assert ledger.claim("e1", T0 + timedelta(days=1)) is LedgerState.DONE
    ledger.release("e1")  # done stays done
    assert ledger.claim("e1", T0) is LedgerState.DONE
    assert ledger.claim("e2", T0) is LedgerState.NEW
    ledger.deferred("e2", T0)
    assert ledger.claim("e2", T0 + timedelta(hours=1)) is LedgerState.DEFERRED
    assert ledger.claim("e2", T0 + timedelta(seconds=1), take_deferred=True) is LedgerState.NEW
    ledger.release("e2")
    assert ledger.claim("e2", T0) is LedgerState.NEW
    item = bootstrap.container()._his_table().get("event#e2", "ledger")
    assert item.expires_at == int((T0 + timedelta(days=9)).timestamp())


def test_resource_versions_newer_only_and_the_same_event_again(app_settings):
    versions = bootstrap.container().resource_versions
    assert versions.get("appointment:A1") is None
    assert versions.advance("appointment:A1", 3, "e3", T0, {"status": "cancelled"})
    assert versions.advance("appointment:A1", 3, "e3", T0, {"status": "cancelled"})  # its retry
    assert not versions.advance("appointment:A1", 3, "other", T0)
    assert not versions.advance("appointment:A1", 2, "e2", T0, {"status": "confirmed"})
    held = versions.get("appointment:A1")
    assert (held.version, held.event_id, held.state) == (3, "e3", {"status": "cancelled"})
    assert versions.advance("appointment:A1", 4, "e4", T0)


def test_event_cursor_compare_and_set(app_settings):
    cursor = bootstrap.container().event_cursor
    assert cursor.get() is None
    assert not cursor.advance("c-0", "c-1", T0)
    assert cursor.advance(None, "c-1", T0)
    assert not cursor.advance(None, "c-x", T0)
    assert cursor.advance("c-1", "c-2", T0) and cursor.get() == "c-2"
    assert not cursor.advance("c-1", "c-1b", T0) and cursor.get() == "c-2"


def test_follow_up_plans(app_settings):
    plans = bootstrap.container().follow_up_plans
    completed = datetime(2026, 11, 26, 11, 0, tzinfo=SHANGHAI)
    v2 = follow_up_plan(VisitCompleted("V1", "P1", "D0301", completed, True, 2, "A1", "DR1"))
    assert plans.save(v2) and plans.get("V1") == v2
    assert not plans.save(follow_up_plan(VisitCompleted("V1", "P1", "D0301", completed, True, 1)))
    assert [p.visit_id for p in plans.due_on("2026-11-29")] == ["V1"]
    assert plans.save(follow_up_plan(VisitCompleted("V1", "P1", "D0301", completed, False, 3)))
    assert plans.due_on("2026-11-29") == []  # cancelled: the index entry no longer counts


def test_schedule_notices(app_settings):
    schedules = bootstrap.container().schedule_notices
    stop = ScheduleStopped("S1", date(2026, 11, 28), "morning", "D0301", 4, "doctor_leave", "张医生出差停诊",
                           "auto_cancelled_full_refund", "N1", "DR1", 2)
    assert schedules.stop_of("S1") is None
    assert schedules.record_stop(stop) and schedules.stop_of("S1") == stop
    assert not schedules.record_stop(ScheduleStopped(**{**stop.__dict__, "version": 3}))
    change = ScheduleChanged("S1", date(2026, 11, 28), "morning", "D0301", 2,
                             (ScheduleChange("start_time", "08:00", "09:00"),), "kept_free_cancellation",
                             free_cancel_until=datetime(2026, 11, 28, 7, 0, tzinfo=SHANGHAI))
    assert schedules.record_change(change) and schedules.change_of("S1") == change
    schedules.remember_appointment("A1", "S1", "P1", T0)
    schedules.remember_appointment("A2", "S1", "P2", T0)
    assert schedules.schedule_of("A1") == "S1" and schedules.schedule_of("A9") is None
    assert schedules.appointments_of("S1") == [("A1", "P1"), ("A2", "P2")]


def test_patient_bindings_both_directions(app_settings):
    bindings = bootstrap.container().patient_bindings
    mum, dad = "oMum0000000000000000000001", "oDad0000000000000000000002"
    bindings.bind(PatientBinding(mum, "P-child", Relation.CHILD, "小*", T0))
    bindings.bind(PatientBinding(dad, "P-child", Relation.CHILD, "小*", T0 + timedelta(minutes=1)))
    bindings.bind(PatientBinding(mum, "P-mum", Relation.SELF, "王*", T0 - timedelta(days=1)))
    bindings.bind(PatientBinding(mum, "P-child", Relation.CHILD, "小明*", T0))  # re-bind: idempotent
    assert bindings.openids_of("P-child") == sorted([mum, dad])
    assert [(b.patient_id, b.label) for b in bindings.patients_of(mum)] == [("P-mum", "王*"), ("P-child", "小明*")]
    bindings.unbind(mum, "P-child")
    assert bindings.openids_of("P-child") == [dad] and [b.patient_id for b in bindings.patients_of(mum)] == ["P-mum"]


def test_refund_obligations_are_stored_once_and_listed_until_executed(app_settings):
    refunds = bootstrap.container().refund_obligations
    owed = RefundObligation("HR1", BusinessType.REGISTRATION, "A1", "WXO1", 3000, "P1", RefundSource.HOSPITAL,
                            "schedule_stopped", T0, "HR1")
    wins = _race(6, lambda _i: refunds.record(owed))
    assert wins.count(True) == 1
    later = RefundObligation("HR2", BusinessType.REGISTRATION, "A2", "WXO2", 500, "P2", RefundSource.HOSPITAL,
                             "counter_cancelled", T0 + timedelta(minutes=5), "HR2")
    assert refunds.record(later)
    assert [o.out_refund_no for o in refunds.pending()] == ["HR1", "HR2"]
    assert refunds.get("HR1") == owed
    refunds.mark_executed("HR1", T0 + timedelta(hours=1))
    assert refunds.get("HR1").state is RefundState.EXECUTED
    assert [o.out_refund_no for o in refunds.pending()] == ["HR2"]
    assert not refunds.record(owed)  # learning of it again does not make it owed again


def test_event_queue_sends_with_a_delay(app_settings, aws, moto_endpoint):
    sqs = boto3.client("sqs", region_name="ap-east-1", endpoint_url=moto_endpoint)
    name = aws.queue_names["HisEventQueue"]
    queue = SqsHisEventQueue(sqs, name)
    message = EventMessage(EventSource.DELAYED, T0, example("15"), 2)
    queue.send(message, 2000)  # capped at SQS's 900 s
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    queue.send(message, 0)
    [received] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert EventMessage.from_json(json.loads(received["Body"])) == message
