"""§7.6 check-in and queue over HTTP, the nurse station's drivers, queue events, and the no-show sweep."""

from __future__ import annotations

from devstack.his_simulator import queueing

from .booking_helpers import LI_SI, lock, lock_body
from .clinical_helpers import FAR_AWAY, at_visit_day, book_li_si, check_in, events_of, monday
from .contract import assert_conforms, example

CHECK_IN = "/appointments/{appointment_id}/check-in"
QUEUE = "/visits/{visit_id}/queue"


def test_check_in_window_geofence_and_result() -> None:
    with monday() as (sim, api, _):
        appt = book_li_si(api)
        at_visit_day(sim, "07:39")
        early = check_in(api, appt, key="WXO20250616090000001:checkin-1")
        assert early.status_code == 409
        assert_conforms(CHECK_IN, "post", 409, early.get_json())
        assert early.get_json()["details"] == {"reason": "too_early", "checkin_opens_at": "2025-06-23T07:40:00+08:00"}
        at_visit_day(sim, "08:05")
        missing = check_in(api, appt, location=None, key="WXO20250616090000001:checkin-2").get_json()
        assert missing["details"]["reason"] == "location_required"
        far = check_in(api, appt, location=FAR_AWAY, key="WXO20250616090000001:checkin-3").get_json()
        assert far["details"]["reason"] == "not_on_site" and far["details"]["distance_meters"] > 1000

        done = check_in(api, appt)
        assert done.status_code == 200
        body = done.get_json()
        assert_conforms(CHECK_IN, "post", 200, body)
        assert (body["status"], body["checked_in_at"]) == ("checked_in", "2025-06-23T08:05:00+08:00")
        queue = body["queue"]
        assert (queue["queue_no"], queue["status"], queue["people_ahead"], queue["late"]) == ("A001", "waiting", 0, False)
        assert queue["room"]["room"] == "305诊室" and queue["doctor_name"] == "李四"
        got = api.get(f"/v1/appointments/{appt['appointment_id']}").get_json()
        assert (got["status"], got["status_reason"], got["status_version"], got["visit_id"]) == (
            "checked_in", "checked_in", 3, body["visit_id"])
        changes = events_of(sim, "appointment.status_changed", "AppointmentStatusChangedEvent")
        mine = [e["data"]["new_status"] for e in changes if e["data"]["appointment_id"] == appt["appointment_id"]]
        assert mine == ["confirmed", "checked_in"]

        replay = check_in(api, appt)
        assert replay.headers.get("Idempotent-Replayed") == "true" and replay.get_json() == body
        again = check_in(api, appt, key="WXO20250616090000001:checkin-again")
        assert again.status_code == 200 and again.get_json()["visit_id"] == body["visit_id"]
        assert len(events_of(sim, "appointment.status_changed")) == len(changes)
        status = api.get(f"/v1/visits/{body['visit_id']}/queue")
        assert_conforms(QUEUE, "get", 200, status.get_json())
        assert status.get_json() == queue


def test_example_08_check_in_shape() -> None:
    recorded = example("08-check-in.json")
    with monday() as (sim, api, admin):
        appt = book_li_si(api, order_id="WXO20250616080005123")
        at_visit_day(sim, "07:55")
        admin.post(f"/_sim/schedules/{LI_SI}/queue/walk-ins", json={"count": 5})
        admin.post(f"/_sim/schedules/{LI_SI}/queue/call-next")
        at_visit_day(sim, "08:05")
        response = check_in(api, appt, location=recorded["request"]["body"]["location"],
                            key=recorded["request"]["headers"]["Idempotency-Key"])
        body = response.get_json()
        expected = recorded["response"]["body"]
        assert set(body) == set(expected) and set(body["queue"]) == set(expected["queue"])
        for name in ("queue_no", "status", "current_called_no", "people_ahead", "estimated_wait_minutes",
                     "call_count", "late", "doctor_id", "doctor_name", "room", "updated_at"):
            assert body["queue"][name] == expected["queue"][name], name
        assert body["checked_in_at"] == expected["checked_in_at"]


def test_other_check_in_refusals() -> None:
    with monday() as (sim, api, admin):
        appt = book_li_si(api)
        locked = lock(api, lock_body("WXO20250616090000002", schedule_id="S20250623D0302POOLAM")).get_json()
        sim.link_patient("P000234567")
        hers = book_li_si(api, slot=6, order_id="WXO20250616090000009", patient_id="P000234567",
                          transaction_id="4200000000202506169999999999")
        at_visit_day(sim, "08:30")
        refused = check_in(api, locked).get_json()
        assert (refused["code"], refused["details"]["current_status"]) == ("INVALID_STATE", "expired")
        wrong = api.post(f"/v1/appointments/{appt['appointment_id']}/check-in", {"order_id": "WXO-OTHER-ORDER"},
                         idempotency_key="wrong-order:checkin")
        assert wrong.status_code == 400
        assert api.post("/v1/appointments/A209901010001/check-in", {"order_id": None},
                        idempotency_key="nobody:checkin").status_code == 404
        no_key = api.post(f"/v1/appointments/{appt['appointment_id']}/check-in", {"order_id": appt["order_id"]})
        assert no_key.status_code == 400
        assert admin.post("/_sim/checkin/geofence", json={"enforce_geofence": False}).get_json() == {
            "enforce_geofence": False}
        assert check_in(api, appt, location=None, key="no-geofence:checkin").status_code == 200
        assert api.get("/v1/visits/V2025061500877/queue").status_code == 404  # seeded visit: no queue today

        at_visit_day(sim, "12:00")
        ended = check_in(api, hers).get_json()
        assert (ended["code"], ended["details"]["reason"]) == ("CHECKIN_NOT_ALLOWED", "session_ended")


def test_late_patients_queue_behind_on_time_ones() -> None:
    with monday() as (sim, api, admin):
        appt = book_li_si(api, slot=1)  # 08:00-08:10
        at_visit_day(sim, "08:30")
        late = check_in(api, appt).get_json()["queue"]
        assert late["late"] is True and late["people_ahead"] == 0
        admin.post(f"/_sim/schedules/{LI_SI}/queue/walk-ins", json={"count": 2})
        status = api.get(f"/v1/visits/{late['visit_id']}/queue").get_json()
        assert status["people_ahead"] == 2 and status["estimated_wait_minutes"] == 12
        called = admin.post(f"/_sim/schedules/{LI_SI}/queue/call-next").get_json()
        assert called["queue"]["queue_no"] == "A002"  # the on-time walk-in, although it checked in later


def test_approaching_once_when_falling_to_three_and_called_on_every_call() -> None:
    with monday() as (sim, api, admin):
        appt = book_li_si(api)
        at_visit_day(sim, "08:00")
        admin.post(f"/_sim/schedules/{LI_SI}/queue/walk-ins", json={"count": 6})
        queue = check_in(api, appt).get_json()["queue"]
        assert (queue["queue_no"], queue["people_ahead"], queue["estimated_wait_minutes"]) == ("A007", 6, 36)
        for expected_ahead in (5, 4):
            admin.post(f"/_sim/schedules/{LI_SI}/queue/call-next")
            assert api.get(f"/v1/visits/{queue['visit_id']}/queue").get_json()["people_ahead"] == expected_ahead
        assert events_of(sim, "queue.approaching") == []
        sim.advance(60)
        admin.post(f"/_sim/schedules/{LI_SI}/queue/call-next")
        approaching = events_of(sim, "queue.approaching", "QueueApproachingEvent")
        assert [e["data"] for e in approaching] == [{
            "visit_id": queue["visit_id"], "appointment_id": appt["appointment_id"], "patient_id": "P000123456",
            "queue_no": "A007", "current_called_no": "A003", "people_ahead": 3, "estimated_wait_minutes": 18,
            "room": queue["room"]}]
        for _ in range(3):
            admin.post(f"/_sim/schedules/{LI_SI}/queue/call-next")
        assert len(events_of(sim, "queue.approaching")) == 1

        mine = admin.post(f"/_sim/schedules/{LI_SI}/queue/call-next").get_json()
        assert mine["visit_id"] == queue["visit_id"] and mine["queue"]["status"] == "called"
        admin.post(f"/_sim/visits/{queue['visit_id']}/queue/call")
        called = events_of(sim, "queue.called", "QueueCalledEvent")
        assert [e["data"]["call_count"] for e in called] == [1, 2]  # walk-ins are outside the simulation
        assert called[0]["data"]["room"]["room"] == "305诊室" and called[0]["data"]["doctor_name"] == "李四"
        status = api.get(f"/v1/visits/{queue['visit_id']}/queue").get_json()
        assert (status["status"], status["call_count"], status["current_called_no"]) == ("called", 2, "A007")


def test_missed_requeue_pushes_approaching_again_then_consultation_and_completion() -> None:
    with monday() as (sim, api, admin):
        appt = book_li_si(api)
        at_visit_day(sim, "08:00")
        visit_id = check_in(api, appt).get_json()["visit_id"]
        assert events_of(sim, "queue.approaching") == []  # within the threshold at check-in: no push
        admin.post(f"/_sim/schedules/{LI_SI}/queue/call-next")
        missed = admin.post(f"/_sim/visits/{visit_id}/queue/missed").get_json()["queue"]
        assert (missed["status"], missed["estimated_wait_minutes"]) == ("missed", None)
        assert admin.post(f"/_sim/visits/{visit_id}/queue/start").status_code == 409
        admin.post(f"/_sim/schedules/{LI_SI}/queue/walk-ins", json={"count": 2})
        requeued = admin.post(f"/_sim/visits/{visit_id}/queue/requeue").get_json()["queue"]
        assert (requeued["status"], requeued["people_ahead"]) == ("waiting", 2)
        assert [e["data"]["people_ahead"] for e in events_of(sim, "queue.approaching")] == [2]
        admin.post(f"/_sim/schedules/{LI_SI}/queue/call-next")
        admin.post(f"/_sim/schedules/{LI_SI}/queue/call-next")
        admin.post(f"/_sim/schedules/{LI_SI}/queue/call-next")
        started = admin.post(f"/_sim/visits/{visit_id}/queue/start").get_json()
        assert started["queue"]["status"] == "in_consultation" and started["started_at"] == "2025-06-23T08:00:00+08:00"
        done = admin.post(f"/_sim/visits/{visit_id}/complete", json={"diagnosis_categories": ["I10"]}).get_json()
        assert (done["status"], done["queue"]["status"], done["version"]) == ("completed", "completed", 1)
        got = api.get(f"/v1/appointments/{appt['appointment_id']}").get_json()
        assert (got["status"], got["status_reason"]) == ("completed", "visit_completed")
        assert api.get(f"/v1/visits/{visit_id}/queue").get_json()["status"] == "completed"


def test_no_show_sweep_and_suspension() -> None:
    with monday() as (sim, api, _admin):
        sim.link_patient("P000234567")
        sim.state.patients["P000234567"].no_show_dates.extend(sim.state.seed_date.replace(day=d) for d in (2, 9))
        mine = book_li_si(api)
        hers = book_li_si(api, slot=6, order_id="WXO20250616090000009", patient_id="P000234567",
                          transaction_id="4200000000202506169999999999")
        at_visit_day(sim, "11:59")
        queueing.mark_no_shows(sim.state, sim.now())  # the seeded kiosk booking's session may be over already
        assert {a.status for a in sim.state.appointments.values() if a.schedule_id == LI_SI} == {"confirmed"}
        at_visit_day(sim, "12:00")
        api.get("/v1/health")  # unsigned: no tick
        api.get(f"/v1/appointments/{mine['appointment_id']}")
        for appt in (mine, hers):
            got = api.get(f"/v1/appointments/{appt['appointment_id']}").get_json()
            assert (got["status"], got["status_reason"], got["refund"]) == ("no_show", "no_show", None)
        no_shows = [e["data"]["appointment_id"] for e in events_of(sim, "appointment.status_changed")
                    if e["data"]["new_status"] == "no_show"]
        assert {mine["appointment_id"], hers["appointment_id"]} <= set(no_shows)
        assert sim.state.patients["P000123456"].restricted_until is None
        li = sim.state.patients["P000234567"]
        assert li.restricted_until is not None and li.restricted_until.isoformat() == "2025-09-21T12:00:00+08:00"
        refused = lock(api, lock_body("WXO20250623120000001", schedule_id="S20250630D0301DR10023AM") | {
            "patient_id": "P000234567"})
        assert refused.get_json()["code"] == "PATIENT_RESTRICTED"
        assert queueing.mark_no_shows(sim.state, sim.now()) == []
