"""Ingesting HIS events: every effect, once, whatever the duplicates and the order; the events-pull poller."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.his_events import SHANGHAI, EventFormatError, EventMessage, EventSource, FollowUpState
from chalicelib.domain.his_messages import HisError, HisResult
from chalicelib.domain.patients import PatientBinding, Relation
from chalicelib.domain.refunds import RefundSource
from chalicelib.services import his_events, notices
from chalicelib.services.his_events import EventPorts, Outcome
from chalicelib.services.ports import LedgerState, WeChatSendError
from tests.fakes import (
    FakeBlobStore,
    FakeDeliveryLog,
    FakeHisRequestQueue,
    FakeMessenger,
    FakePatientBindings,
    FakeRefundObligations,
    FakeWeChatUsers,
)
from tests.fakes_his_events import (
    FakeEventCursor,
    FakeFollowUpPlans,
    FakeHisEventLedger,
    FakeHisEventQueue,
    FakeResourceVersions,
    FakeScheduleNotices,
    envelope,
    example,
)

NOW = datetime(2025, 6, 23, 10, 45, tzinfo=SHANGHAI)
PATIENT = "P000123456"
MUM, DAD = "oMum000000000000000000000001", "oDad000000000000000000000002"


@dataclass
class World:
    now: datetime = NOW
    users: FakeWeChatUsers = field(default_factory=FakeWeChatUsers)
    messenger: FakeMessenger = field(default_factory=FakeMessenger)
    deliveries: FakeDeliveryLog = field(default_factory=FakeDeliveryLog)
    ledger: FakeHisEventLedger = field(default_factory=FakeHisEventLedger)
    versions: FakeResourceVersions = field(default_factory=FakeResourceVersions)
    queue: FakeHisEventQueue = field(default_factory=FakeHisEventQueue)
    schedules: FakeScheduleNotices = field(default_factory=FakeScheduleNotices)
    follow_ups: FakeFollowUpPlans = field(default_factory=FakeFollowUpPlans)
    bindings: FakePatientBindings = field(default_factory=FakePatientBindings)
    refunds: FakeRefundObligations = field(default_factory=FakeRefundObligations)

    def __post_init__(self) -> None:
        for openid, relation in ((MUM, Relation.SELF), (DAD, Relation.SPOUSE)):
            self.bindings.bind(PatientBinding(openid, PATIENT, relation, "张*", NOW - timedelta(days=30)))
            self.users.touch(openid, NOW - timedelta(hours=1))
        self.ports = EventPorts(
            ledger=self.ledger, versions=self.versions, queue=self.queue, schedules=self.schedules,
            follow_ups=self.follow_ups, bindings=self.bindings, refunds=self.refunds,
            send_notice=lambda n, nid: notices.notify(n, nid, self.users, self.messenger, self.deliveries,
                                                      lambda kind: f"tpl-{kind}", self.clock),
            page_url=lambda page: f"https://h5.example.org/{page}",
        )

    def clock(self) -> datetime:
        return self.now

    def ingest(self, body: dict[str, Any], source: EventSource = EventSource.PUSH) -> Outcome:
        return his_events.ingest(EventMessage(source, self.now, copy.deepcopy(body)), self.ports, self.clock)

    def texts(self) -> list[tuple[str, str]]:
        return [(args[0], args[1].text) for method, args in self.messenger.calls if method == "send_custom"]


@pytest.fixture
def world() -> World:
    return World()


def report(event_id: str = "evt_r1", version: int = 1, status: str = "final",
           released_at: str = "2025-06-23T10:42:00+08:00") -> dict[str, Any]:
    body = example("15")
    body["event_id"] = event_id
    body["data"].update(version=version, status=status, released_at=released_at)
    return body


def appointment(event_id: str, status_version: int, new_status: str = "cancelled",
                reason: str = "schedule_stopped", refund: bool = True, order_id: str | None = "WXO20250618080009877",
                appointment_id: str = "A202506250019") -> dict[str, Any]:
    body = example("14")
    body["event_id"] = event_id
    body["data"].update(status_version=status_version, new_status=new_status, status_reason=reason,
                        order_id=order_id, appointment_id=appointment_id)
    if not refund:
        body["data"]["refund"] = None
    return body


STOP = {"schedule_id": "S20250625-D0301-AM", "notice_id": "N1", "date": "2025-06-25", "session": "morning",
        "department_id": "D0301", "doctor_id": "DR001", "version": 4, "reason_code": "doctor_leave",
        "public_message": "张医生临时外出会诊，本次门诊停诊", "handling": "auto_cancelled_full_refund",
        "affected_appointments": 1}


def called(event_id: str, count: int, at: datetime) -> dict[str, Any]:
    room = example("13")["data"]["room"]
    data = {"visit_id": "V2025062300877", "appointment_id": "A202506230158", "patient_id": PATIENT,
            "queue_no": "A006", "call_count": count, "called_at": at.isoformat(), "doctor_name": "李医生", "room": room}
    return envelope("queue.called", data, event_id, at.isoformat())


# ---- report.finalized ------------------------------------------------------------------------------
def test_a_released_report_tells_every_bound_user_once(world):
    assert world.ingest(report()) is Outcome.APPLIED
    assert world.ingest(report(), EventSource.PULL) is Outcome.DUPLICATE
    assert world.ingest(report()) is Outcome.DUPLICATE
    assert sorted(o for o, _ in world.texts()) == [DAD, MUM]
    assert all("检验报告「血常规」已出" in t for _, t in world.texts())
    assert all(t.endswith("report.html?patient_id=P000123456&id=R-LIS-20250623-004417") for _, t in world.texts())
    assert set(world.deliveries.deliveries) == {f"report_ready:R-LIS-20250623-004417:v1:{o}" for o in (MUM, DAD)}
    assert world.ledger.items["evt_r1"][0] is LedgerState.DONE
    # the patient is told plainly; the spouse is told whose report it is
    texts = dict(world.texts())
    assert texts[MUM].startswith("您的检验报告")
    assert texts[DAD].startswith("【就诊人：张*（配偶）】您的检验报告")


def test_an_amendment_is_told_and_the_older_version_arriving_late_is_stale(world):
    assert world.ingest(report("evt_r2", 2, "amended")) is Outcome.APPLIED
    assert world.ingest(report("evt_r1", 1)) is Outcome.STALE
    assert world.ingest(report("evt_r2bis", 2, "amended")) is Outcome.STALE  # same version, another event
    assert len(world.texts()) == 2 and all("已更正" in t for _, t in world.texts())


def test_a_report_not_yet_released_waits_on_the_queue_until_due(world):
    body = report(released_at="2025-06-23T11:30:00+08:00")  # 45 minutes from now
    assert world.ingest(body) is Outcome.DELAYED
    [(delayed, delay)] = world.queue.sent
    assert (delayed.source, delay, delayed.envelope["event_id"]) == (EventSource.DELAYED, 900, "evt_r1")
    assert world.ingest(body, EventSource.PULL) is Outcome.DUPLICATE  # the delayed copy owns it
    world.now += timedelta(seconds=900)
    assert his_events.ingest(delayed, world.ports, world.clock) is Outcome.DELAYED  # still 30 minutes to go
    world.now += timedelta(minutes=31)
    assert his_events.ingest(world.queue.sent[-1][0], world.ports, world.clock) is Outcome.APPLIED
    assert [d for _, d in world.queue.sent] == [900, 900 * 2 - 900]
    assert len(world.texts()) == 2
    assert his_events.ingest(world.queue.sent[-1][0], world.ports, world.clock) is Outcome.DUPLICATE


def test_a_failed_effect_is_released_and_its_retry_sends_only_what_is_missing(world):
    real, failures = world.ports.send_notice, [MUM]

    def flaky(notice: Any, notice_id: str) -> object:
        if notice.openid in failures:  # DAD (sorted first) is told, then the connection drops for MUM
            failures.remove(notice.openid)
            raise WeChatSendError(None, "connection reset")
        return real(notice, notice_id)

    world.ports = replace(world.ports, send_notice=flaky)
    with pytest.raises(WeChatSendError):
        world.ingest(report())
    assert "evt_r1" not in world.ledger.items  # released: the queue redelivers it
    assert world.ingest(report()) is Outcome.APPLIED  # the same event's retry passes the version check
    assert [o for o, _ in world.texts()] == [DAD, MUM]  # DAD's notice is not sent twice


def test_concurrent_duplicates_notify_once(world):
    barrier = threading.Barrier(6)
    outcomes: list[Outcome] = []

    def deliver() -> None:
        barrier.wait()
        outcomes.append(world.ingest(report()))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count(Outcome.APPLIED) == 1
    assert len(world.texts()) == 2


# ---- queue -----------------------------------------------------------------------------------------
def test_queue_approaching_is_told_then_each_call(world):
    world.now = datetime(2025, 6, 23, 8, 22, tzinfo=SHANGHAI)
    assert world.ingest(example("13")) is Outcome.APPLIED
    first = datetime(2025, 6, 23, 8, 30, tzinfo=SHANGHAI)
    world.now = first + timedelta(seconds=5)
    assert world.ingest(called("evt_c1", 1, first)) is Outcome.APPLIED
    world.now = first + timedelta(minutes=3)
    assert world.ingest(called("evt_c2", 2, first + timedelta(minutes=2))) is Outcome.APPLIED
    assert world.ingest(called("evt_c1", 1, first)) is Outcome.DUPLICATE
    mum = [t for o, t in world.texts() if o == MUM]
    assert "前面还有3人" in mum[0] and mum[1] == "请A006号到本部院区 门诊楼3F 305诊室就诊。"
    assert mum[2].startswith("第2次呼叫：请A006号到")


def test_a_late_approach_after_a_call_is_dropped(world):
    at = datetime(2025, 6, 23, 8, 21, 30, tzinfo=SHANGHAI)
    world.now = at + timedelta(seconds=10)
    assert world.ingest(called("evt_c1", 1, at)) is Outcome.APPLIED
    assert world.ingest(example("13")) is Outcome.STALE  # occurred 08:21:02, arrived after the call
    assert all("前面还有" not in t for _, t in world.texts())


def test_an_older_call_arriving_after_a_newer_one_is_stale(world):
    at = datetime(2025, 6, 23, 8, 30, tzinfo=SHANGHAI)
    world.now = at + timedelta(minutes=3)
    assert world.ingest(called("evt_c2", 2, at + timedelta(minutes=2))) is Outcome.APPLIED
    assert world.ingest(called("evt_c1", 1, at)) is Outcome.STALE
    assert len(world.texts()) == 2


def test_queue_notices_older_than_twenty_minutes_are_dropped(world):
    world.now = datetime(2025, 6, 23, 8, 45, tzinfo=SHANGHAI)  # the approach occurred at 08:21
    assert world.ingest(example("13")) is Outcome.LATE
    old_call = datetime(2025, 6, 23, 8, 10, tzinfo=SHANGHAI)
    assert world.ingest(called("evt_c1", 1, old_call)) is Outcome.LATE
    assert world.texts() == []
    assert world.versions.get("queue:V2025062300877").version == int(old_call.timestamp())  # still ordered


# ---- schedule stops and appointments ------------------------------------------------------------------
def test_a_stop_then_its_cancellation_tells_the_stop_message_and_records_the_refund(world):
    world.schedules.remember_appointment("A202506250019", STOP["schedule_id"], PATIENT, NOW)
    assert world.ingest(envelope("schedule.stopped", STOP, "evt_s1")) is Outcome.APPLIED
    assert world.ingest(appointment("evt_a1", 3)) is Outcome.APPLIED
    assert world.ingest(appointment("evt_a1", 3)) is Outcome.DUPLICATE
    mum = [t for o, t in world.texts() if o == MUM]
    assert len(mum) == 1 and "6月25日上午" in mum[0] and "张医生临时外出会诊" in mum[0] and "30.00元" in mum[0]
    [obligation] = world.refunds.items.values()
    assert (obligation.out_refund_no, obligation.amount_fen, obligation.source) == (
        "HR202506240007", 3000, RefundSource.HOSPITAL)
    assert obligation.his_trade_id == "A202506250019" and obligation.caller_ref == "WXO20250618080009877"
    assert world.versions.get("appointment:A202506250019").state["status"] == "cancelled"


def test_a_cancellation_before_its_stop_uses_the_generic_text(world):
    assert world.ingest(appointment("evt_a1", 3)) is Outcome.APPLIED
    assert world.ingest(envelope("schedule.stopped", STOP, "evt_s1")) is Outcome.APPLIED
    assert world.schedules.stop_of(STOP["schedule_id"]).public_message.startswith("张医生")
    [mum] = [t for o, t in world.texts() if o == MUM]
    assert "因医生停诊" in mum and len(world.texts()) == 2


def test_a_stale_status_is_not_told_but_its_refund_is_still_owed(world):
    assert world.ingest(appointment("evt_a4", 4, "cancelled", "counter_cancelled", refund=False)) is Outcome.APPLIED
    assert world.ingest(appointment("evt_a3", 3)) is Outcome.STALE
    assert list(world.refunds.items) == ["HR202506240007"]
    assert len(world.texts()) == 2 and all("医院窗口取消" in t for _, t in world.texts())


def test_counter_cancellations_and_no_shows_are_told(world):
    other = appointment("evt_a1", 2, "cancelled", "counter_cancelled", order_id=None, appointment_id="A2")
    assert world.ingest(other) is Outcome.APPLIED
    assert world.refunds.items == {}  # another channel's payment is not ours to refund
    assert world.ingest(appointment("evt_a2", 5, "no_show", "no_show", refund=False, appointment_id="A3")) is Outcome.APPLIED
    assert world.ingest(appointment("evt_a3", 2, "checked_in", "checked_in", refund=False, appointment_id="A4")) \
        is Outcome.APPLIED
    mum = [t for o, t in world.texts() if o == MUM]
    assert len(mum) == 2 and "医院窗口取消" in mum[0] and "退回" not in mum[0] and "爽约" in mum[1]


def test_a_schedule_change_is_remembered_and_told_to_patients_of_known_appointments(world):
    change = {**{k: STOP[k] for k in ("schedule_id", "date", "session", "department_id", "doctor_id")},
              "version": 2, "changes": [{"field": "doctor_id", "old_value": "DR001", "new_value": "DR009"}],
              "handling": "kept_free_cancellation", "free_cancel_until": "2025-06-25T07:30:00+08:00"}
    assert world.ingest(envelope("schedule.changed", change, "evt_ch1")) is Outcome.APPLIED
    assert world.texts() == []  # no appointment of ours known on that schedule yet
    world.schedules.remember_appointment("A202506250019", STOP["schedule_id"], PATIENT, NOW)
    assert world.ingest(envelope("schedule.changed", {**change, "version": 3}, "evt_ch2")) is Outcome.APPLIED
    assert world.ingest(envelope("schedule.changed", change, "evt_ch1_late")) is Outcome.STALE
    assert world.schedules.change_of(STOP["schedule_id"]).version == 3
    [mum] = [t for o, t in world.texts() if o == MUM]
    assert "出诊医生有调整" in mum and "2025-06-25 07:30前免费退号" in mum


# ---- charges and visits ------------------------------------------------------------------------------
def test_an_online_payable_charge_is_told_with_the_charges_page(world):
    charge = {"charge_id": "CH1", "patient_id": PATIENT, "visit_id": "V1", "type": "lab", "title": "血常规检验费",
              "total_fen": 2500, "payable_online": True, "created_at": "2025-06-23T10:40:00+08:00",
              "expires_at": "2025-06-23T23:00:00+08:00"}
    assert world.ingest(envelope("charge.created", charge, "evt_ch")) is Outcome.APPLIED
    assert world.ingest(envelope("charge.created", {**charge, "charge_id": "CH2", "payable_online": False},
                                 "evt_ch2")) is Outcome.IGNORED
    assert len(world.texts()) == 2 and all("25.00元" in t and t.endswith("/charges.html") for _, t in world.texts())


def test_a_completed_visit_plans_its_follow_up_and_the_newest_version_wins(world):
    visit = {"visit_id": "V1", "patient_id": PATIENT, "appointment_id": "A1", "department_id": "D0301",
             "doctor_id": "DR001", "completed_at": "2025-06-23T11:00:00+08:00", "followup_allowed": True, "version": 1}
    assert world.ingest(envelope("visit.completed", {**visit, "version": 2,
                                                      "completed_at": "2025-06-24T09:00:00+08:00"}, "e2")) \
        is Outcome.APPLIED
    assert world.ingest(envelope("visit.completed", visit, "e1")) is Outcome.STALE
    plan = world.follow_ups.get("V1")
    assert (plan.version, plan.due_at) == (2, datetime(2025, 6, 27, 10, 0, tzinfo=SHANGHAI))
    assert world.ingest(envelope("visit.completed", {**visit, "version": 3, "followup_allowed": False}, "e3")) \
        is Outcome.APPLIED
    assert world.follow_ups.get("V1").state is FollowUpState.CANCELLED
    assert world.texts() == []  # stored, not sent


def test_unknown_types_are_acknowledged_and_malformed_ones_raise(world):
    assert world.ingest(envelope("bed.assigned", {"bed": "3-12"}, "evt_x")) is Outcome.IGNORED
    assert world.ledger.items == {}
    broken = report()
    del broken["data"]["version"]
    with pytest.raises(EventFormatError, match="version is required"):
        world.ingest(broken)


# ---- the poller ---------------------------------------------------------------------------------------
def test_the_first_poll_looks_back_a_day_and_later_ones_continue_from_the_cursor(world):
    requests = FakeHisRequestQueue()
    first = his_events.request_poll(FakeEventCursor(), requests, world.clock, lambda: "req-1")
    assert (first.operation, first.query) == ("listEvents", {"since": "2025-06-22T10:45:00+08:00"})
    assert first.context == {"purpose": "event_poll", "after": ""}
    later = his_events.request_poll(FakeEventCursor("c-7"), requests, world.clock, lambda: "req-2")
    assert later.query == {"after": "c-7"} and [r.request_id for r in requests.sent] == ["req-1", "req-2"]


def _poll_result(body: Any, after: str = "", **extra: Any) -> HisResult:
    return HisResult("req-1", "listEvents", extra.pop("outcome", "ok"), datetime(2025, 6, 23, 2, 45, tzinfo=UTC),
                     status=200, body=body, context={"purpose": "event_poll", "after": after}, **extra)


def test_a_poll_result_is_ingested_then_the_cursor_moves(world):
    cursor = FakeEventCursor("c-1")
    broken = envelope("report.finalized", {"report_id": "R2"}, "evt_bad")
    body = {"items": [report(), example("14"), broken, report()], "next_cursor": "c-2"}
    counts = his_events.apply_poll_result(_poll_result(body, "c-1"), world.ports, cursor, FakeBlobStore(), world.clock)
    assert counts == {"applied": 2, "malformed": 1, "duplicate": 1}
    assert cursor.cursor == "c-2" and "HR202506240007" in world.refunds.items
    # A slow, older poll cannot move the cursor back; the events it carried are duplicates.
    stale = his_events.apply_poll_result(_poll_result({"items": [report()], "next_cursor": "c-1b"}, "c-1"),
                                         world.ports, cursor, FakeBlobStore(), world.clock)
    assert stale == {"duplicate": 1} and cursor.cursor == "c-2"


def test_a_failing_ingest_keeps_the_cursor_and_parked_bodies_are_read(world):
    cursor = FakeEventCursor()
    world.messenger.refuse["send_custom"] = WeChatSendError(None, "timeout")
    blobs = FakeBlobStore({("b", "k"): {"items": [report()], "next_cursor": "c-9"}})
    result = _poll_result(None, body_ref={"bucket": "b", "key": "k"})
    with pytest.raises(WeChatSendError):
        his_events.apply_poll_result(result, world.ports, cursor, blobs, world.clock)
    assert cursor.cursor is None
    del world.messenger.refuse["send_custom"]
    assert his_events.apply_poll_result(result, world.ports, cursor, blobs, world.clock) == {"applied": 1}
    assert cursor.cursor == "c-9"


def test_a_failed_pull_changes_nothing(world):
    cursor = FakeEventCursor("c-1")
    failed = _poll_result(None, "c-1", outcome="error", error=HisError("HIS_MAINTENANCE", "maintenance", True))
    assert his_events.apply_poll_result(failed, world.ports, cursor, FakeBlobStore(), world.clock) == {}
    assert cursor.cursor == "c-1"


def test_our_appointment_changes_reach_booking_once_in_order(world):
    changes: list[tuple[str, str, str | None, int]] = []
    world.ports = replace(world.ports, appointment_changed=lambda *change: changes.append(change))
    world.ingest(appointment("evt_a2", 2, new_status="checked_in", reason="checked_in", refund=False))
    world.ingest(appointment("evt_a2", 2, new_status="checked_in", reason="checked_in", refund=False))  # duplicate
    world.ingest(appointment("evt_a1", 1, new_status="cancelled"))  # older: stale
    world.ingest(appointment("evt_o1", 1, new_status="cancelled", reason="counter_cancelled", order_id=None,
                             appointment_id="A-other-channel"))  # not ours: no order id
    assert changes == [("A202506250019", "checked_in", "checked_in", 2)]
