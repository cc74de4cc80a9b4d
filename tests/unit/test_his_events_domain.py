"""HIS events, pure: parsing the spec's envelopes, versions and staleness, timing, notices, follow-up plans."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import his_events as ev
from chalicelib.domain.his_events import EventFormatError, EventMessage, EventSource
from chalicelib.domain.refunds import BusinessType, RefundSource
from chalicelib.domain.wechat import NoticeKind
from tests.fakes_his_events import envelope, example


def test_the_spec_examples_parse_into_typed_data():
    approaching = ev.parse_envelope(example("13"))
    assert isinstance(approaching.data, ev.QueueApproaching)
    assert (approaching.data.queue_no, approaching.data.people_ahead) == ("A006", 3)
    assert approaching.data.room.label == "本部院区 门诊楼3F 305诊室"
    assert approaching.occurred_at.utcoffset() == timedelta(hours=8)

    cancelled = ev.parse_envelope(example("14")).data
    assert isinstance(cancelled, ev.AppointmentStatusChanged)
    assert cancelled.refund is not None and cancelled.refund.refund_amount_fen == 3000
    assert cancelled.refund.refund_request_no is None and cancelled.status_version == 3

    report = ev.parse_envelope(example("15")).data
    assert isinstance(report, ev.ReportFinalized) and not report.amended and report.visit_id == "V2025062300877"


def test_unknown_fields_are_ignored_and_unknown_types_parse_without_data():
    raw = example("15")
    raw["data"]["brand_new_field"] = {"x": 1}
    raw["extra"] = True
    assert isinstance(ev.parse_envelope(raw).data, ev.ReportFinalized)
    unknown = ev.parse_envelope(envelope("bed.assigned", {"anything": 1}))
    assert unknown.data is None and unknown.event_type == "bed.assigned"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda e: e.pop("event_id"), "event_id is required"),
    (lambda e: e.update(occurred_at="2025-06-23T10:42:00"), "occurred_at must carry its UTC offset"),
    (lambda e: e.update(occurred_at="yesterday"), "occurred_at is not an ISO 8601 date-time"),
    (lambda e: e["data"].pop("report_id"), "report_id is required"),
    (lambda e: e["data"].update(version="2"), "version must be an integer"),
    (lambda e: e.update(data=[1]), "data must be an object"),
])
def test_malformed_envelopes_raise_a_clear_error(mutate, message):
    raw = example("15")
    mutate(raw)
    with pytest.raises(EventFormatError, match=message):
        ev.parse_envelope(raw)
    with pytest.raises(EventFormatError):
        ev.parse_envelope("not an object")


def test_times_are_read_in_shanghai_whatever_offset_they_came_with():
    raw = example("15")
    raw["data"]["released_at"] = "2025-06-23T02:42:00Z"
    report = ev.parse_envelope(raw).data
    assert isinstance(report, ev.ReportFinalized)
    assert report.released_at.isoformat() == "2025-06-23T10:42:00+08:00"


def test_the_queue_message_round_trips_and_rejects_unknown_sources():
    message = EventMessage(EventSource.PUSH, datetime(2025, 6, 23, 0, 21, 3, tzinfo=UTC), example("13"), 2)
    assert EventMessage.from_json(json.loads(json.dumps(message.to_json()))) == message
    with pytest.raises(EventFormatError, match="unknown source"):
        EventMessage.from_json({**message.to_json(), "source": "carrier-pigeon"})
    with pytest.raises(EventFormatError, match="envelope must be an object"):
        EventMessage.from_json({**message.to_json(), "envelope": "x"})


def test_resource_versions_per_event_type():
    called = ev.QueueCalled("V1", "A1", "P1", "A006", 1, datetime(2025, 6, 23, 8, 30, tzinfo=ev.SHANGHAI),
                            ev.Room("C01", "门诊楼", "3F"))
    approaching = ev.parse_envelope(example("13")).data
    assert approaching is not None
    assert ev.resource_version(approaching) == ev.ResourceVersion("queue:V2025062300877", 0)
    assert ev.resource_version(called).version > 0  # any call is later than the approach
    later = ev.QueueCalled("V1", "A1", "P1", "A006", 1, called.called_at + timedelta(minutes=5), called.room)
    assert ev.resource_version(later).version > ev.resource_version(called).version  # even if call_count restarted
    change = ev.parse_envelope(example("14")).data
    assert change is not None and ev.resource_version(change) == ev.ResourceVersion("appointment:A202506250019", 3)
    charge = ev.ChargeCreated("C1", "P1", "V1", "lab", "血常规", 2500, True, called.called_at)
    assert ev.resource_version(charge) is None


def test_supersedes_newer_or_the_same_event_again():
    assert ev.supersedes(1, "e1", None, None)
    assert ev.supersedes(3, "e3", 2, "e2")
    assert ev.supersedes(2, "e2", 2, "e2")  # the retry of the event that wrote it
    assert not ev.supersedes(2, "other", 2, "e2")  # same version, another event: a duplicate in effect
    assert not ev.supersedes(1, "e1", 2, "e2")


def test_queue_notices_older_than_twenty_minutes_are_too_late():
    event = ev.parse_envelope(example("13"))
    assert not ev.too_late(event, event.occurred_at + timedelta(minutes=20))
    assert ev.too_late(event, event.occurred_at + timedelta(minutes=20, seconds=1))


def test_release_delay_is_capped_at_one_sqs_delay():
    report = ev.parse_envelope(example("15")).data
    assert isinstance(report, ev.ReportFinalized)
    assert ev.release_delay_seconds(report, report.released_at) == 0
    assert ev.release_delay_seconds(report, report.released_at - timedelta(seconds=90.2)) == 91
    assert ev.release_delay_seconds(report, report.released_at - timedelta(hours=2)) == 900


def test_follow_up_is_due_three_days_later_at_ten_shanghai_time():
    visit = ev.VisitCompleted("V1", "P1", "D0301", datetime(2025, 6, 23, 17, 30, tzinfo=UTC), True, 2, "A1")
    plan = ev.follow_up_plan(visit)  # 17:30 UTC is 01:30 on the 24th in Shanghai
    assert plan.due_at == datetime(2025, 6, 27, 10, 0, tzinfo=ev.SHANGHAI)
    assert (plan.state, plan.version) == (ev.FollowUpState.PLANNED, 2)
    assert ev.FollowUpPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    declined = ev.follow_up_plan(ev.VisitCompleted("V1", "P1", "D0301", visit.completed_at, False, 3))
    assert declined.state is ev.FollowUpState.CANCELLED


def test_hospital_refunds_of_our_orders_become_obligations():
    change = ev.parse_envelope(example("14")).data
    assert isinstance(change, ev.AppointmentStatusChanged)
    obligation = ev.hospital_refund(change)
    assert obligation is not None
    assert (obligation.out_refund_no, obligation.amount_fen, obligation.caller_ref) == (
        "HR202506240007", 3000, "WXO20250618080009877")
    assert (obligation.business_type, obligation.source, obligation.reason) == (
        BusinessType.REGISTRATION, RefundSource.HOSPITAL, "schedule_stopped")
    from dataclasses import replace

    assert ev.hospital_refund(replace(change, order_id=None)) is None  # another channel's payment
    assert change.refund is not None
    assert ev.hospital_refund(replace(change, refund=replace(change.refund, initiated_by="caller"))) is None


def test_report_notice_links_the_report_and_says_when_it_was_corrected():
    report = ev.parse_envelope(example("15")).data
    assert isinstance(report, ev.ReportFinalized)
    draft = ev.report_ready_notice(report)
    assert draft.kind is NoticeKind.REPORT_READY and draft.key == "report_ready:R-LIS-20250623-004417:v1"
    assert draft.page == "report.html?patient_id=P000123456&id=R-LIS-20250623-004417"
    assert "检验报告「血常规」已出" in draft.text and draft.fields["keyword3"] == "2025-06-23 10:42"
    from dataclasses import replace

    amended = ev.report_ready_notice(replace(report, status="amended", version=2))
    assert "已更正" in amended.text and amended.key.endswith(":v2")


def test_appointment_notices_use_the_stop_message_when_known():
    change = ev.parse_envelope(example("14")).data
    assert isinstance(change, ev.AppointmentStatusChanged)
    generic = ev.appointment_notice(change, None)
    assert generic is not None and generic.kind is NoticeKind.APPOINTMENT_CANCELLED
    assert "因医生停诊" in generic.text and "30.00元将原路退回" in generic.text
    stop = ev.ScheduleStopped("S1", datetime(2025, 6, 25).date(), "morning", "D0301", 4, "doctor_leave",
                              "张医生临时出差，本次门诊停诊", "auto_cancelled_full_refund")
    told = ev.appointment_notice(change, stop)
    assert told is not None and "6月25日上午" in told.text and "张医生临时出差" in told.text
    from dataclasses import replace

    no_show = ev.appointment_notice(replace(change, new_status="no_show", status_reason="no_show", refund=None), None)
    assert no_show is not None and no_show.kind is NoticeKind.APPOINTMENT_MISSED and "爽约" in no_show.text
    assert ev.appointment_notice(replace(change, new_status="checked_in", status_reason="checked_in"), None) is None


def test_queue_charge_and_schedule_notices():
    approaching = ev.parse_envelope(example("13")).data
    assert isinstance(approaching, ev.QueueApproaching)
    text = ev.queue_approaching_notice(approaching).text
    assert "A006" in text and "前面还有3人" in text and "305诊室" in text and "18分钟" in text
    called = ev.QueueCalled("V1", "A1", "P1", "A006", 2, datetime(2025, 6, 23, 8, 30, tzinfo=ev.SHANGHAI),
                            approaching.room)
    draft = ev.queue_called_notice(called)
    assert draft.kind is NoticeKind.QUEUE_CALLED and draft.text.startswith("第2次呼叫：请A006号到")
    charge = ev.ChargeCreated("C1", "P1", "V1", "lab", "血常规", 2505, True, called.called_at,
                              called.called_at + timedelta(hours=4))
    unpaid = ev.unpaid_charge_notice(charge)
    assert unpaid.kind is NoticeKind.UNPAID_CHARGES and "25.05元" in unpaid.text and unpaid.page == "charges.html"
    change = ev.ScheduleChanged("S1", datetime(2025, 6, 25).date(), "afternoon", "D0301", 3,
                                (ev.ScheduleChange("start_time", "14:00", "15:00"),), "kept_free_cancellation",
                                free_cancel_until=datetime(2025, 6, 25, 12, 0, tzinfo=ev.SHANGHAI))
    told = ev.schedule_changed_notice(change, "A9", "P9")
    assert "6月25日下午" in told.text and "就诊时间调整为15:00" in told.text and "2025-06-25 12:00前免费退号" in told.text
    assert told.key == "schedule_changed:A9:v3"


def test_yuan_is_integer_arithmetic():
    assert [ev.yuan(v) for v in (0, 5, 3000, 123456)] == ["0.00元", "0.05元", "30.00元", "1234.56元"]
