"""Hospital-side changes (§7.3 notices, §7.5.5): schedule stop and change, counter cancellation, with their events,
hospital-initiated refunds and reconciliation lines."""

from __future__ import annotations

from .booking_helpers import LI_SI, cancel, lock, lock_body
from .clinical_helpers import book_li_si, events_of, monday
from .contract import assert_schema

STOP = {"reason_code": "doctor_leave",
        "public_message": "因医生临时公务外出，本次门诊停诊。已预约的患者将由医院取消预约并全额退款。"}


def test_stop_cancels_every_appointment_with_hospital_refunds() -> None:
    with monday() as (sim, api, admin):
        sim.link_patient("P000234567")
        paid = book_li_si(api)
        held = lock(api, lock_body("WXO20250616090000009", slot_id=f"{LI_SI}-06") | {"patient_id": "P000234567"}
                    ).get_json()
        sim.advance(3600 * 5)
        response = admin.post(f"/_sim/schedules/{LI_SI}/stop", json=STOP)
        assert response.status_code == 200
        body = response.get_json()
        assert_schema("ScheduleNotice", body["notice"])
        assert_schema("Schedule", body["schedule"])
        assert (body["schedule"]["status"], body["schedule"]["stop_notice_id"]) == ("stopped", body["notice"]["notice_id"])
        assert body["notice"]["affected_appointments"] == 1  # the held lock expired at 09:15
        stopped = events_of(sim, "schedule.stopped", "ScheduleStoppedEvent")
        assert [e["data"]["version"] for e in stopped] == [body["schedule"]["version"]]
        assert stopped[0]["data"]["handling"] == "auto_cancelled_full_refund"
        assert stopped[0]["data"]["public_message"] == STOP["public_message"]

        got = api.get(f"/v1/appointments/{paid['appointment_id']}").get_json()
        assert (got["status"], got["status_reason"], got["cancelled_at"]) == (
            "cancelled", "schedule_stopped", "2025-06-16T14:00:00+08:00")
        refund = got["refund"]
        assert (refund["initiated_by"], refund["refund_request_no"], refund["refund_amount_fen"]) == ("hospital", None, 5000)
        assert refund["his_refund_id"].startswith("HR20250616")
        ledger = [(e.record_type, e.his_refund_id, e.refund_request_no, e.amount_fen) for e in sim.state.ledger]
        assert ledger == [("PAYMENT", None, None, 5000), ("REFUND", refund["his_refund_id"], None, 5000)]
        changes = events_of(sim, "appointment.status_changed", "AppointmentStatusChangedEvent")
        cancelled = [e for e in changes if e["data"]["new_status"] == "cancelled"]
        assert [e["data"]["appointment_id"] for e in cancelled] == [paid["appointment_id"]]
        assert cancelled[0]["data"]["refund"] == refund and cancelled[0]["data"]["status_reason"] == "schedule_stopped"
        order = [e.event_type for e in sim.state.events]
        assert order.index("schedule.stopped") < len(order) - 1 and order[-1] == "appointment.status_changed"
        assert held["status"] == "locked"
        assert api.get(f"/v1/schedules/{LI_SI}").get_json()["remaining"] == 24
        notices = api.get("/v1/schedule-notices", {"date_from": "2025-06-23", "date_to": "2025-06-23",
                                                   "department_id": "D0301"}).get_json()["items"]
        assert body["notice"]["notice_id"] in [n["notice_id"] for n in notices]
        assert admin.post(f"/_sim/schedules/{LI_SI}/stop", json=STOP).status_code == 409
        assert admin.post("/_sim/schedules/S20990101D0301DR10023AM/stop", json=STOP).status_code == 404


def test_stop_cancels_locks_without_refund() -> None:
    with monday() as (sim, api, admin):
        held = lock(api, lock_body()).get_json()
        admin.post(f"/_sim/schedules/{LI_SI}/stop", json=STOP)
        got = api.get(f"/v1/appointments/{held['appointment_id']}").get_json()
        assert (got["status"], got["status_reason"], got["refund"]) == ("cancelled", "schedule_stopped", None)
        assert sim.state.ledger == []
        assert events_of(sim, "schedule.stopped")[0]["data"]["affected_appointments"] == 1


def test_stop_validation() -> None:
    with monday() as (_, _api, admin):
        bad = admin.post(f"/_sim/schedules/{LI_SI}/stop", json={"reason_code": "holiday"})
        assert bad.status_code == 400
        assert {f["field"] for f in bad.get_json()["details"]["fields"]} == {"reason_code", "public_message"}


def test_substitute_doctor_keeps_appointments_with_free_cancellation() -> None:
    with monday() as (sim, api, admin):
        paid = book_li_si(api)
        substitute = next(d.doctor_id for d in sim.state.doctors.values()
                          if "D0301" in d.department_ids and d.doctor_id != "DR10023")
        response = admin.post(f"/_sim/schedules/{LI_SI}/change", json={
            "doctor_id": substitute, "reason_code": "conference", "public_message": "原出诊医生外出开会，由其他医生替诊。"})
        assert response.status_code == 200
        notice = response.get_json()["notice"]
        assert_schema("ScheduleNotice", notice)
        assert (notice["handling"], notice["free_cancel_until"], notice["affected_appointments"]) == (
            "kept_free_cancellation", "2025-06-23T08:00:00+08:00", 1)
        assert notice["changes"] == [{"field": "doctor_id", "old_value": "DR10023", "new_value": substitute}]
        changed = events_of(sim, "schedule.changed", "ScheduleChangedEvent")
        assert [e["data"]["doctor_id"] for e in changed] == [substitute]
        assert changed[0]["data"]["version"] == 2 and changed[0]["data"]["free_cancel_until"] == notice["free_cancel_until"]
        assert api.get(f"/v1/appointments/{paid['appointment_id']}").get_json()["doctor_id"] == substitute
        sim.set_now(sim.now().replace(day=22, hour=19))  # after the normal deadline (22nd 18:00)
        late = cancel(api, paid)
        assert late.status_code == 200 and late.get_json()["refund"]["initiated_by"] == "caller"


def test_room_change_is_kept() -> None:
    with monday() as (sim, api, admin):
        response = admin.post(f"/_sim/schedules/{LI_SI}/change", json={
            "room": "319诊室", "location_description": "出电梯右转到底临时诊室", "reason_code": "facility",
            "public_message": "因诊室设备检修，本次门诊调整至319诊室。"})
        notice = response.get_json()["notice"]
        assert (notice["handling"], notice["free_cancel_until"]) == ("kept", None)
        assert notice["changes"][0]["new_value"]["room"] == "319诊室"
        assert api.get(f"/v1/schedules/{LI_SI}").get_json()["location"]["room"] == "319诊室"
        assert events_of(sim, "schedule.changed", "ScheduleChangedEvent")[0]["data"]["handling"] == "kept"
        nothing = admin.post(f"/_sim/schedules/{LI_SI}/change", json={"public_message": "x"})
        assert nothing.status_code == 400
        stranger = admin.post(f"/_sim/schedules/{LI_SI}/change", json={"doctor_id": "DR99999", "public_message": "x"})
        assert stranger.get_json()["details"]["fields"] == [
            {"field": "doctor_id", "reason": "must be a doctor of the schedule's department"}]


def test_counter_cancel() -> None:
    with monday() as (sim, api, admin):
        paid = book_li_si(api)
        response = admin.post(f"/_sim/appointments/{paid['appointment_id']}/counter-cancel")
        body = response.get_json()
        assert (body["status"], body["status_reason"], body["status_version"]) == ("cancelled", "counter_cancelled", 3)
        assert body["refund"]["initiated_by"] == "hospital" and body["refund"]["refund_request_no"] is None
        assert [e.record_type for e in sim.state.ledger] == ["PAYMENT", "REFUND"]
        last = events_of(sim, "appointment.status_changed", "AppointmentStatusChangedEvent")[-1]["data"]
        assert (last["new_status"], last["refund"]["his_refund_id"]) == ("cancelled", body["refund"]["his_refund_id"])
        assert admin.post(f"/_sim/appointments/{paid['appointment_id']}/counter-cancel").status_code == 409
        assert admin.post("/_sim/appointments/A209901010001/counter-cancel").status_code == 404
