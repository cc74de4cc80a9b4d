"""The hospital-side billing drivers of ``/_sim``: new charges (with ``charge.created``), voided charges, e-receipt
lag, a confirmation the HIS refuses once, and the billing switches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .contract import assert_conforms, assert_schema
from .test_billing_helpers import LAB, PRESCRIPTION, VISIT, ZHANG, BillingEnv, billing_env


@pytest.fixture
def env() -> Iterator[BillingEnv]:
    with billing_env() as environment:
        yield environment


EXAM = {"type": "exam", "title": "超声检查单",
        "items": [{"name": "经胸超声心动图", "quantity": 1, "unit": "次", "unit_price_fen": 18000}]}


def test_create_charge_emits_charge_created(env: BillingEnv) -> None:
    response = env.admin.post(f"/_sim/patients/{ZHANG}/charges", json=EXAM)
    assert response.status_code == 201
    charge = response.get_json()
    assert_schema("Charge", charge)
    assert charge["charge_id"] == "CH20250616002001" and charge["visit_id"] == VISIT
    assert (charge["status"], charge["total_fen"], charge["doctor_name"]) == ("unpaid", 18000, "李四")
    assert charge["expires_at"] == "2025-06-19T09:00:00+08:00"
    assert charge["items"][0]["item_id"] == "CH20250616002001-1"
    events = env.api.get("/v1/events", {"event_type": "charge.created"}).get_json()["items"]
    assert len(events) == 1
    assert_schema("ChargeCreatedEvent", events[0])
    assert events[0]["data"]["charge_id"] == charge["charge_id"] and events[0]["data"]["total_fen"] == 18000
    assert charge["charge_id"] in [c["charge_id"] for c in env.charges()["items"]]

    settled = env.paid(charge_ids=[charge["charge_id"]])
    [guidance] = settled["guidance"]
    assert (guidance["action"], guidance["location"]["building"], guidance["location"]["room"]) == (
        "exam", "医技楼", "超声科")
    assert guidance["needs_booking"] is False and guidance["window"] is None


def test_create_charge_validation(env: BillingEnv) -> None:
    bad = env.admin.post(f"/_sim/patients/{ZHANG}/charges", json={
        "type": "food", "payable_online": True, "not_payable_reason": "counter_only",
        "items": [{"name": "x", "quantity": 0.5, "unit_price_fen": 100}]})
    assert bad.status_code == 400
    fields = {f["field"] for f in bad.get_json()["details"]["fields"]}
    assert fields == {"type", "not_payable_reason", "items.0.amount_fen"}
    assert env.admin.post(f"/_sim/patients/{ZHANG}/charges", json={"items": []}).status_code == 400
    assert env.admin.post("/_sim/patients/P999999999/charges", json=EXAM).status_code == 404
    no_visit = env.admin.post("/_sim/patients/P000234567/charges", json=EXAM)
    assert no_visit.get_json()["details"]["fields"][0]["field"] == "visit_id"
    counter = env.admin.post(f"/_sim/patients/{ZHANG}/charges", json=EXAM | {"payable_online": False})
    assert counter.get_json()["not_payable_reason"] == "counter_only"
    fractional = env.admin.post(f"/_sim/patients/{ZHANG}/charges", json={
        "items": [{"name": "中药饮片", "quantity": 7.5, "unit": "g", "unit_price_fen": 13, "amount_fen": 98}]})
    assert fractional.get_json()["total_fen"] == 98


def test_void_charge(env: BillingEnv) -> None:
    voided = env.admin.post(f"/_sim/charges/{LAB}/void")
    assert voided.get_json()["status"] == "void"
    refused = env.prepare(charge_ids=[LAB], expected=7300)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "CHARGE_NOT_PAYABLE")
    assert env.admin.post(f"/_sim/charges/{LAB}/void").status_code == 409
    assert env.admin.post("/_sim/charges/CH1/void").status_code == 404
    assert env.admin.get(f"/_sim/charges/{PRESCRIPTION}").get_json()["status"] == "unpaid"


def test_pending_receipt_is_issued_a_minute_later(env: BillingEnv) -> None:
    switched = env.admin.post("/_sim/billing/e-receipts", json={"mode": "pending", "lag_seconds": 60})
    assert switched.get_json()["receipt_mode"] == "pending"
    settled = env.paid()
    assert settled["e_receipt"] == {"status": "pending", "receipt_id": None, "receipt_code": None, "receipt_no": None,
                                    "verification_code": None, "issued_at": None, "view_url": None}
    path = f"/v1/settlements/{settled['settlement_id']}"
    refund = env.refund(settled["settlement_id"], [(LAB, f"{LAB}-1")]).get_json()
    assert refund["reversal_receipt"]["status"] == "pending"
    env.sim.advance(59)
    assert env.api.get(path).get_json()["e_receipt"]["status"] == "pending"
    env.sim.advance(1)
    current = env.api.get(path).get_json()
    assert_conforms("/settlements/{settlement_id}", "get", 200, current)
    assert current["e_receipt"]["status"] == "issued"
    assert current["e_receipt"]["issued_at"] == "2025-06-16T09:01:00+08:00"
    assert current["refunds"][0]["reversal_receipt"]["status"] == "issued"


def test_pending_receipt_issued_by_hand(env: BillingEnv) -> None:
    env.admin.post("/_sim/billing/e-receipts", json={"mode": "pending", "lag_seconds": None})
    settled = env.paid()
    env.sim.advance(3600)
    path = f"/v1/settlements/{settled['settlement_id']}"
    assert env.api.get(path).get_json()["e_receipt"]["status"] == "pending"
    issued = env.admin.post(f"/_sim/settlements/{settled['settlement_id']}/e-receipt/issue")
    assert issued.status_code == 200 and issued.get_json()["e_receipt"]["status"] == "issued"
    assert env.api.get(path).get_json()["e_receipt"]["issued_at"] == "2025-06-16T10:00:00+08:00"
    assert env.admin.post(f"/_sim/settlements/{settled['settlement_id']}/e-receipt/issue").status_code == 409
    assert env.admin.post("/_sim/billing/e-receipts", json={"mode": "later"}).status_code == 400


def test_failed_receipt_mode(env: BillingEnv) -> None:
    env.admin.post("/_sim/billing/e-receipts", json={"mode": "failed"})
    settled = env.paid()
    assert settled["e_receipt"]["status"] == "failed"
    reissued = env.admin.post(f"/_sim/settlements/{settled['settlement_id']}/e-receipt/issue").get_json()
    assert reissued["e_receipt"]["status"] == "issued"


def test_refused_confirmation_once(env: BillingEnv) -> None:
    prepared = env.prepare().get_json()
    armed = env.admin.post(f"/_sim/settlements/{prepared['settlement_id']}/refuse-confirmation",
                           json={"code": "LOCK_EXPIRED"})
    assert armed.get_json() == {"settlement_id": prepared["settlement_id"], "code": "LOCK_EXPIRED", "armed": True}
    assert env.admin.get("/_sim/billing").get_json()["refused_confirmations"] == {
        prepared["settlement_id"]: "LOCK_EXPIRED"}
    refused = env.confirm(prepared)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "LOCK_EXPIRED")
    assert env.sim.state.ledger == [] and env.sim.state.settlements[prepared["settlement_id"]].status == "pending"
    assert env.confirm(prepared).get_json()["code"] == "LOCK_EXPIRED"  # the same key replays the stored outcome
    settled = env.confirm(prepared, key="STL20250616090000001:confirm-2")
    assert settled.status_code == 200 and settled.get_json()["status"] == "settled"
    assert env.admin.post(f"/_sim/settlements/{prepared['settlement_id']}/refuse-confirmation",
                          json={"code": "LOCK_EXPIRED"}).status_code == 409
    assert env.admin.post("/_sim/settlements/ST1/refuse-confirmation", json={}).status_code == 404


def test_refused_confirmation_with_a_retryable_code_runs_again(env: BillingEnv) -> None:
    prepared = env.prepare().get_json()
    env.admin.post(f"/_sim/settlements/{prepared['settlement_id']}/refuse-confirmation", json={"code": "INTERNAL_ERROR"})
    assert env.confirm(prepared).status_code == 500
    retried = env.confirm(prepared)  # 5xx outcomes are not stored: the same key executes again
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers
    bad = env.admin.post(f"/_sim/settlements/{prepared['settlement_id']}/refuse-confirmation", json={"code": "NOPE"})
    assert bad.status_code == 400
