"""§7.5 two-phase booking over HTTP, with §5.3 business-reference rules; a frozen clock on Monday 2025-06-16."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devstack.his_simulator.clock import SHANGHAI
from devstack.his_simulator.schedules import status
from devstack.his_simulator.simulator import Simulator

from .booking_helpers import LI_SI, cancel, confirm, lock, lock_body
from .conftest import SignedClient
from .contract import assert_conforms


def test_lock_confirm_cancel(booking: tuple[Simulator, SignedClient]) -> None:
    sim, api = booking
    locked = lock(api, lock_body(slot_id=f"{LI_SI}-05", expected_fee_fen=5000))
    assert locked.status_code == 201
    appt = locked.get_json()
    assert_conforms("/appointments", "post", 201, appt)
    assert (appt["status"], appt["status_version"], appt["fee_fen"]) == ("locked", 1, 5000)
    assert appt["lock_expires_at"] == "2025-06-16T09:15:00+08:00"
    assert appt["slot"]["start_time"] == "2025-06-23T08:40:00+08:00"
    assert appt["checkin_opens_at"] == "2025-06-23T07:40:00+08:00"
    schedule = api.get(f"/v1/schedules/{LI_SI}").get_json()
    assert schedule["remaining"] == 23
    slots = api.get(f"/v1/schedules/{LI_SI}/slots").get_json()["items"]
    assert slots[4]["status"] == "unavailable"

    confirmed = confirm(api, appt)
    assert confirmed.status_code == 200
    body = confirmed.get_json()
    assert_conforms("/appointments/{appointment_id}/confirm", "post", 200, body)
    assert (body["status"], body["status_version"], body["lock_expires_at"]) == ("confirmed", 2, None)
    assert body["payment"]["transaction_id"] == "4200000000202506161234567890"
    assert body["confirmed_at"] == "2025-06-16T09:00:00+08:00"
    assert [e.record_type for e in sim.state.ledger] == ["PAYMENT"]

    cancelled = cancel(api, appt)
    assert cancelled.status_code == 200
    body = cancelled.get_json()
    assert_conforms("/appointments/{appointment_id}/cancel", "post", 200, body)
    assert (body["status"], body["status_reason"], body["status_version"]) == ("cancelled", "caller_cancelled", 3)
    assert body["refund"]["refund_amount_fen"] == 5000 and body["refund"]["initiated_by"] == "caller"
    assert body["refund"]["refund_request_no"] == "RFO20250616100000001"
    assert body["refund"]["his_refund_id"].startswith("HR20250616")
    assert api.get(f"/v1/schedules/{LI_SI}").get_json()["remaining"] == 24
    assert [e.record_type for e in sim.state.ledger] == ["PAYMENT", "REFUND"]
    events = [(e.event_type, e.data["new_status"]) for e in sim.state.events]
    assert events == [("appointment.status_changed", "confirmed"), ("appointment.status_changed", "cancelled")]
    again = cancel(api, appt, key_suffix="cancel-again")
    assert again.status_code == 200 and again.get_json()["status_version"] == 3


def test_query_by_order_id_and_by_patient(booking: tuple[Simulator, SignedClient]) -> None:
    _, api = booking
    appt = lock(api, lock_body()).get_json()
    found = api.get("/v1/appointments", {"order_id": appt["order_id"]}).get_json()
    assert_conforms("/appointments", "get", 200, found)
    assert [a["appointment_id"] for a in found["items"]] == [appt["appointment_id"]]
    assert api.get("/v1/appointments", {"order_id": "WXO-NEVER-SENT"}).get_json() == {"items": [],
                                                                                        "next_cursor": None}
    mine = api.get("/v1/appointments", {"patient_id": "P000123456"}).get_json()["items"]
    channels = {a["channel"] for a in mine}
    assert "wechat" in channels and {"counter", "kiosk"} & channels  # all channels, other ones without order_id
    assert all(a["order_id"] is None for a in mine if a["channel"] != "wechat")
    locked_only = api.get("/v1/appointments", {"patient_id": "P000123456", "status": "locked"}).get_json()["items"]
    assert [a["appointment_id"] for a in locked_only] == [appt["appointment_id"]]
    assert api.get(f"/v1/appointments/{appt['appointment_id']}").get_json() == appt
    for query in ({}, {"order_id": appt["order_id"], "patient_id": "P000123456"}):
        assert api.get("/v1/appointments", query).status_code == 400
    assert api.get("/v1/appointments", {"patient_id": "P000234567"}).get_json()["code"] == "PATIENT_NOT_LINKED"
    assert api.get("/v1/appointments/A209901010001").status_code == 404


def test_same_key_replays_and_new_key_same_order_is_duplicate(booking: tuple[Simulator, SignedClient]) -> None:
    _, api = booking
    first = lock(api, lock_body())
    replay = lock(api, lock_body())
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    duplicate = lock(api, lock_body(), key="another-key-0001")
    assert duplicate.status_code == 409
    body = duplicate.get_json()
    assert_conforms("/appointments", "post", 409, body)
    assert body["code"] == "DUPLICATE_REQUEST"
    assert body["details"]["existing_id"] == first.get_json()["appointment_id"]


def test_order_id_is_not_consumed_by_a_failed_lock(booking: tuple[Simulator, SignedClient]) -> None:
    sim, api = booking
    sim.link_patient("P000234567")
    api.post("/v1/appointments", {"order_id": "WXO-LI-MEI-0001", "schedule_id": LI_SI, "patient_id": "P000234567",
                                  "slot_id": f"{LI_SI}-05"}, idempotency_key="WXO-LI-MEI-0001:lock")
    taken = lock(api, lock_body(slot_id=f"{LI_SI}-05"))
    assert taken.status_code == 409
    assert taken.get_json()["code"] == "SLOT_TAKEN"
    assert taken.get_json()["details"] == {"schedule_id": LI_SI, "slot_id": f"{LI_SI}-05", "remaining": 23}
    retry = lock(api, lock_body(slot_id=f"{LI_SI}-06"), key="WXO20250616090000001:lock-2")
    assert retry.status_code == 201 and retry.get_json()["slot"]["seq_no"] == 6
    assert lock(api, lock_body(slot_id=f"{LI_SI}-05")).get_json()["code"] == "SLOT_TAKEN"  # stored 4xx replayed


def test_lock_expires_and_late_confirm(booking: tuple[Simulator, SignedClient]) -> None:
    sim, api = booking
    appt = lock(api, lock_body(slot_id=f"{LI_SI}-07")).get_json()
    sim.advance(901)
    expired = api.get(f"/v1/appointments/{appt['appointment_id']}").get_json()
    assert (expired["status"], expired["status_reason"], expired["status_version"]) == ("expired", "lock_expired", 2)
    assert expired["lock_expires_at"] is None
    assert api.get(f"/v1/schedules/{LI_SI}").get_json()["remaining"] == 24
    late = confirm(api, appt)
    assert late.status_code == 200
    assert (late.get_json()["status"], late.get_json()["late_confirm"]) == ("confirmed", True)
    assert api.get(f"/v1/schedules/{LI_SI}").get_json()["remaining"] == 23


def test_late_confirm_after_the_slot_was_taken_is_lock_expired(booking: tuple[Simulator, SignedClient]) -> None:
    sim, api = booking
    appt = lock(api, lock_body(slot_id=f"{LI_SI}-08")).get_json()
    sim.advance(901)
    sim.link_patient("P000234567")
    other = {"order_id": "WXO-LI-MEI-0002", "schedule_id": LI_SI, "patient_id": "P000234567", "slot_id": f"{LI_SI}-08"}
    assert api.post("/v1/appointments", other, idempotency_key="WXO-LI-MEI-0002:lock").status_code == 201
    late = confirm(api, appt)
    assert late.status_code == 409
    assert late.get_json()["code"] == "LOCK_EXPIRED"
    assert late.get_json()["details"]["lock_expires_at"] == "2025-06-16T09:15:00+08:00"


def test_cancel_rules(booking: tuple[Simulator, SignedClient]) -> None:
    sim, api = booking
    appt = lock(api, lock_body()).get_json()
    released = cancel(api, appt, refund_no=None)
    assert released.status_code == 200
    assert (released.get_json()["status"], released.get_json()["refund"]) == ("cancelled", None)

    appt = lock(api, lock_body("WXO20250616090000002")).get_json()
    assert confirm(api, appt).status_code == 200
    missing_refund_no = cancel(api, appt, refund_no=None)
    assert missing_refund_no.status_code == 400
    sim.set_now(datetime(2025, 6, 22, 18, 0, 1, tzinfo=SHANGHAI))
    late = cancel(api, appt, key_suffix="cancel-late")
    assert late.status_code == 409
    assert late.get_json()["code"] == "CANCEL_DEADLINE_PASSED"
    assert late.get_json()["details"]["cancel_deadline"] == "2025-06-22T18:00:00+08:00"


def test_confirm_checks_amount_and_transaction(booking: tuple[Simulator, SignedClient]) -> None:
    sim, api = booking
    appt = lock(api, lock_body()).get_json()
    wrong = confirm(api, appt, amount=500)
    assert wrong.status_code == 422
    assert wrong.get_json()["details"] == {"expected_fen": 5000, "received_fen": 500}
    assert confirm(api, appt, key_suffix="confirm-2").status_code == 200
    sim.link_patient("P000234567")
    other = api.post("/v1/appointments", {"order_id": "WXO-LI-MEI-0003", "schedule_id": LI_SI,
                                          "patient_id": "P000234567"}, idempotency_key="WXO-LI-MEI-0003:lock").get_json()
    reused = confirm(api, other)
    assert reused.status_code == 409
    assert reused.get_json()["code"] == "DUPLICATE_REQUEST"
    assert reused.get_json()["details"]["existing_id"] == appt["appointment_id"]
    foreign = api.post(f"/v1/appointments/{appt['appointment_id']}/confirm",
                       {"order_id": "WXO-LI-MEI-0003", "payment": None}, idempotency_key="wrong-order-0001")
    assert foreign.status_code == 400


def schedule_where(sim: Simulator, wanted: str, **attrs: Any) -> str:
    for schedule in sorted(sim.state.schedules.values(), key=lambda s: s.schedule_id):
        if status(schedule, sim.now()) == wanted and all(getattr(schedule, k) == v for k, v in attrs.items()):
            return schedule.schedule_id
    raise AssertionError(f"no {wanted} schedule with {attrs}")


def test_lock_refusals(booking: tuple[Simulator, SignedClient]) -> None:
    sim, api = booking
    cases = [
        (lock_body(patient_id="P000234567"), 403, "PATIENT_NOT_LINKED"),
        (lock_body(schedule_id="S20990101D0301POOLAM"), 404, "RESOURCE_NOT_FOUND"),
        (lock_body(schedule_id=schedule_where(sim, "open", department_id="D0501")), 422, "PATIENT_NOT_ELIGIBLE"),
        (lock_body(schedule_id=schedule_where(sim, "open", department_id="D0601")), 422, "PATIENT_NOT_ELIGIBLE"),
        (lock_body(schedule_id="S20250624D0301DR10088AM"), 409, "SLOT_NOT_RELEASED"),
        (lock_body(schedule_id=schedule_where(sim, "stopped")), 409, "SCHEDULE_STOPPED"),
        (lock_body(schedule_id=schedule_where(sim, "full")), 409, "SCHEDULE_FULL"),
        (lock_body(schedule_id=schedule_where(sim, "closed")), 409, "INVALID_STATE"),
        (lock_body(expected_fee_fen=3000), 422, "AMOUNT_MISMATCH"),
        (lock_body(slot_id="S20250623D0301DR10023AM-99"), 404, "RESOURCE_NOT_FOUND"),
        (lock_body(order_id="x"), 400, "VALIDATION_ERROR"),
    ]
    for number, (body, http_status, code) in enumerate(cases):
        response = lock(api, body, key=f"refusal-case-{number:03d}")
        assert (response.status_code, response.get_json()["code"]) == (http_status, code), body
        assert_conforms("/appointments", "post", http_status, response.get_json())
    not_released = lock(api, lock_body(schedule_id="S20250624D0301DR10088AM"), key="refusal-again-0001").get_json()
    assert not_released["details"]["release_at"] == "2025-06-17T08:00:00+08:00"
    sim.link_patient("P000666001")
    restricted = lock(api, lock_body(patient_id="P000666001"), key="refusal-restricted-01").get_json()
    assert restricted["code"] == "PATIENT_RESTRICTED" and restricted["details"]["until"]


def test_booking_limits(booking: tuple[Simulator, SignedClient]) -> None:
    _, api = booking
    first = lock(api, lock_body()).get_json()
    second = lock(api, lock_body("WXO20250616090000002", schedule_id="S20250623D0301POOLPM"))
    assert second.status_code == 409
    assert second.get_json()["details"]["limit"] == "max_per_patient_per_department_per_day"
    other_dept = schedule_where(booking[0], "open", department_id="D0302", doctor_id=None)
    open_lock = lock(api, lock_body("WXO20250616090000003", schedule_id=other_dept))
    assert open_lock.get_json()["details"]["limit"] == "max_open_locks_per_patient"
    assert confirm(api, first).status_code == 200
    assert lock(api, lock_body("WXO20250616090000004", schedule_id=other_dept)).status_code == 201
