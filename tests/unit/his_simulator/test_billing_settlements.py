"""§7.8.1 two-phase settlement over HTTP: pre-settle, confirm (late too), cancel, queries, e-receipt lag and a
confirmation the HIS refuses, with the §5.3 rules for business references and idempotency keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from devstack.his_simulator.clock import SHANGHAI

from .booking_helpers import LI_SI, lock, lock_body
from .booking_helpers import confirm as confirm_appointment
from .contract import assert_conforms
from .test_billing_helpers import LAB, PRESCRIPTION, TREATMENT, TXN, ZHANG, BillingEnv, billing_env


@pytest.fixture
def env() -> Iterator[BillingEnv]:
    with billing_env() as environment:
        yield environment


def test_prepare_locks_the_charges_for_900_seconds(env: BillingEnv) -> None:
    response = env.prepare()
    assert response.status_code == 201
    body = response.get_json()
    assert_conforms("/settlements", "post", 201, body)
    assert body["settlement_id"] == "ST202506160001"
    assert (body["status"], body["total_fen"], body["expires_at"]) == ("pending", 15520, "2025-06-16T09:15:00+08:00")
    assert [(c["charge_id"], c["status"]) for c in body["charges"]] == [(PRESCRIPTION, "locked"), (LAB, "locked")]
    assert (body["payment"], body["e_receipt"], body["guidance"], body["refunds"]) == (None, None, [], [])
    assert [c["charge_id"] for c in env.charges(status="locked")["items"]] == [PRESCRIPTION, LAB]

    replay = env.prepare()
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == body
    duplicate = env.prepare(key="STL20250616090000001:prepare-again")
    assert duplicate.status_code == 409
    assert duplicate.get_json()["code"] == "DUPLICATE_REQUEST"
    assert duplicate.get_json()["details"]["existing_id"] == "ST202506160001"
    taken = env.prepare("STL20250616090000002", charge_ids=[LAB])
    assert (taken.status_code, taken.get_json()["code"]) == (409, "CHARGE_NOT_PAYABLE")
    assert taken.get_json()["details"]["charge_id"] == LAB


def test_refusals_create_nothing_and_leave_the_reference_free(env: BillingEnv) -> None:
    mismatch = env.prepare(expected=15000)
    assert (mismatch.status_code, mismatch.get_json()["code"]) == (422, "AMOUNT_MISMATCH")
    assert mismatch.get_json()["details"]["expected_fen"] == 15520
    not_payable = env.prepare(charge_ids=[PRESCRIPTION, TREATMENT], key="STL20250616090000001:p2")
    assert (not_payable.status_code, not_payable.get_json()["code"]) == (409, "CHARGE_NOT_PAYABLE")
    assert not_payable.get_json()["details"]["charge_id"] == TREATMENT
    unknown = env.prepare(charge_ids=["CH20990101000001"], expected=0, key="STL20250616090000001:p3")
    assert (unknown.status_code, unknown.get_json()["details"]["resource"]) == (404, "charge")
    assert env.sim.state.settlements == {}
    assert {c["status"] for c in env.charges()["items"]} == {"unpaid"}
    assert env.prepare(key="STL20250616090000001:p4").status_code == 201  # the reference was not consumed


def test_invalid_bodies_and_unlinked_patients(env: BillingEnv) -> None:
    bad = env.api.post("/v1/settlements", {"settlement_request_no": "x", "patient_id": ZHANG, "charge_ids": [],
                                           "expected_total_fen": -1}, idempotency_key="bad-prepare-1")
    assert bad.status_code == 400
    fields = {f["field"] for f in bad.get_json()["details"]["fields"]}
    assert fields == {"settlement_request_no", "charge_ids", "expected_total_fen"}
    assert env.api.post("/v1/settlements", {}, idempotency_key=None).status_code == 400  # no Idempotency-Key
    other = env.prepare(patient_id="P000234567")
    assert other.get_json()["code"] == "PATIENT_NOT_LINKED"


def test_confirm_settles_with_receipt_guidance_and_a_ledger_line(env: BillingEnv) -> None:
    prepared = env.prepare().get_json()
    env.sim.advance(80)
    response = env.confirm(prepared)
    assert response.status_code == 200
    body = response.get_json()
    assert_conforms("/settlements/{settlement_id}/confirm", "post", 200, body)
    assert (body["status"], body["expires_at"], body["late_confirm"]) == ("settled", None, False)
    assert body["settled_at"] == "2025-06-16T09:01:20+08:00"
    assert body["payment"]["transaction_id"] == TXN
    assert [c["status"] for c in body["charges"]] == ["paid", "paid"]
    receipt = body["e_receipt"]
    assert receipt["status"] == "issued" and receipt["issued_at"] == "2025-06-16T09:01:20+08:00"
    assert receipt["receipt_id"] == "ER202506160000871" and len(receipt["receipt_no"]) == 10
    medicine, sample = body["guidance"]
    assert (medicine["charge_id"], medicine["action"]) == (PRESCRIPTION, "collect_medicine")
    assert (medicine["location"]["building"], medicine["location"]["floor"]) == ("门诊楼", "1F")
    assert medicine["window"].startswith("西药房") and medicine["window"].endswith("号窗口")
    assert medicine["ticket_no"].startswith("Y")
    assert (sample["charge_id"], sample["action"]) == (LAB, "lab_sample")
    assert sample["instructions"] == "请空腹采血（禁食8小时以上）"  # 血脂四项
    [line] = env.sim.state.ledger
    assert (line.record_type, line.business_type, line.his_trade_id, line.caller_ref, line.amount_fen) == (
        "PAYMENT", "OUTPATIENT", "ST202506160001", "STL20250616090000001", 15520)
    assert env.charges(status="paid")["items"][0]["charge_id"] == PRESCRIPTION

    replay = env.confirm(prepared)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.get_json() == body
    again = env.confirm(prepared, key="STL20250616090000001:confirm-2")  # same payment, new key
    assert again.status_code == 200 and again.get_json()["status"] == "settled"
    assert len(env.sim.state.ledger) == 1
    second_payment = env.confirm(prepared, transaction_id="4200000000202506160000000001", key="STL-confirm-3")
    assert (second_payment.status_code, second_payment.get_json()["code"]) == (409, "INVALID_STATE")


def test_confirm_refusals(env: BillingEnv) -> None:
    prepared = env.prepare().get_json()
    wrong = env.confirm(prepared, amount=15519)
    assert (wrong.status_code, wrong.get_json()["details"]["expected_fen"]) == (422, 15520)
    body = {"settlement_request_no": "STL20250616099999999",
            "payment": {"channel": "wechat_pay", "transaction_id": TXN, "out_trade_no": "STL20250616099999999",
                        "amount_fen": 15520, "paid_at": "2025-06-16T09:01:00+08:00"}}
    foreign = env.api.post(f"/v1/settlements/{prepared['settlement_id']}/confirm", body, idempotency_key="foreign-1")
    assert foreign.status_code == 400
    missing = env.api.post("/v1/settlements/ST209901010001/confirm", body, idempotency_key="missing-1")
    assert missing.status_code == 404
    assert env.sim.state.settlements[prepared["settlement_id"]].status == "pending"


def test_a_transaction_id_pays_for_one_thing_only(env: BillingEnv) -> None:
    appt = lock(env.api, lock_body(schedule_id=LI_SI)).get_json()
    assert confirm_appointment(env.api, appt, transaction_id=TXN).status_code == 200
    prepared = env.prepare().get_json()
    duplicate = env.confirm(prepared)
    assert (duplicate.status_code, duplicate.get_json()["code"]) == (409, "DUPLICATE_REQUEST")
    assert duplicate.get_json()["details"]["existing_id"] == appt["appointment_id"]


def test_late_confirmation_when_the_charges_are_still_unpaid_and_unchanged(env: BillingEnv) -> None:
    prepared = env.prepare().get_json()
    env.sim.advance(901)
    current = env.api.get(f"/v1/settlements/{prepared['settlement_id']}").get_json()
    assert (current["status"], current["expires_at"]) == ("expired", None)
    assert [c["status"] for c in current["charges"]] == ["unpaid", "unpaid"]
    late = env.confirm(prepared)
    assert late.status_code == 200
    assert (late.get_json()["status"], late.get_json()["late_confirm"]) == ("settled", True)


def test_late_confirmation_fails_when_a_charge_was_taken(env: BillingEnv) -> None:
    prepared = env.prepare().get_json()
    env.sim.advance(901)
    assert env.prepare("STL20250616090000002", charge_ids=[LAB]).status_code == 201
    late = env.confirm(prepared)
    assert (late.status_code, late.get_json()["code"]) == (409, "LOCK_EXPIRED")
    assert env.sim.state.ledger == []
    assert env.sim.state.charges[PRESCRIPTION].status == "unpaid"


def test_cancel_releases_a_pending_settlement_only(env: BillingEnv) -> None:
    prepared = env.prepare().get_json()
    cancelled = env.cancel(prepared)
    assert cancelled.status_code == 200
    assert_conforms("/settlements/{settlement_id}/cancel", "post", 200, cancelled.get_json())
    assert cancelled.get_json()["status"] == "cancelled"
    assert {c["charge_id"] for c in env.charges()["items"]} == {PRESCRIPTION, LAB, TREATMENT}
    again = env.cancel(prepared, key="STL20250616090000001:cancel-2")
    assert again.status_code == 200 and again.get_json()["status"] == "cancelled"
    late = env.confirm(prepared)
    assert (late.status_code, late.get_json()["code"]) == (409, "INVALID_STATE")
    settled = env.paid("STL20250616090000002")
    refused = env.cancel(settled)
    error = refused.get_json()
    assert (refused.status_code, error["code"], error["details"]["current_status"]) == (409, "INVALID_STATE", "settled")
    assert env.cancel({"settlement_id": settled["settlement_id"], "settlement_request_no": "!"}).status_code == 400


def test_queries_by_request_no_and_by_patient(env: BillingEnv) -> None:
    first = env.paid(charge_ids=[PRESCRIPTION])
    env.sim.advance(60)
    second = env.prepare("STL20250616090000002", charge_ids=[LAB]).get_json()
    page = env.api.get("/v1/settlements", {"patient_id": ZHANG, "page_size": 1}).get_json()
    assert_conforms("/settlements", "get", 200, page)
    assert [s["settlement_id"] for s in page["items"]] == [first["settlement_id"]]
    rest = env.api.get("/v1/settlements", {"patient_id": ZHANG, "page_size": 1, "cursor": page["next_cursor"]})
    assert [s["settlement_id"] for s in rest.get_json()["items"]] == [second["settlement_id"]]
    assert rest.get_json()["next_cursor"] is None
    later = env.api.get("/v1/settlements", {"patient_id": ZHANG, "date_from": "2025-06-17"}).get_json()
    assert later["items"] == []
    found = env.api.get("/v1/settlements", {"settlement_request_no": "STL20250616090000001"}).get_json()
    assert_conforms("/settlements", "get", 200, found)
    assert [s["settlement_id"] for s in found["items"]] == [first["settlement_id"]]
    assert env.api.get("/v1/settlements", {"settlement_request_no": "STL-NEVER-SENT"}).get_json() == {
        "items": [], "next_cursor": None}
    one = env.api.get(f"/v1/settlements/{first['settlement_id']}")
    assert_conforms("/settlements/{settlement_id}", "get", 200, one.get_json())
    assert one.get_json() == first
    for query in ({}, {"settlement_request_no": "STL20250616090000001", "patient_id": ZHANG}):
        assert env.api.get("/v1/settlements", query).status_code == 400
    assert env.api.get("/v1/settlements/ST209901010001").status_code == 404
    assert env.api.get("/v1/settlements", {"patient_id": "P000234567"}).get_json()["code"] == "PATIENT_NOT_LINKED"


def test_pending_settlements_expiring_in_the_maintenance_window_are_extended() -> None:
    with billing_env(datetime(2025, 6, 16, 23, 20, tzinfo=SHANGHAI)) as late:
        late.sim.config.enforce_maintenance = True
        body = late.prepare().get_json()
        assert body["expires_at"] == "2025-06-17T00:45:00+08:00"  # 23:35 falls inside 23:30-00:30 (§5.5)
    with billing_env(datetime(2025, 6, 16, 23, 10, tzinfo=SHANGHAI)) as early:
        early.sim.config.enforce_maintenance = True
        assert early.prepare().get_json()["expires_at"] == "2025-06-16T23:25:00+08:00"
