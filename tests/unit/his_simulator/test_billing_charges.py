"""§7.8.1 charges: listing a linked patient's charges by status and visit, and unpaid charges turning void."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from devstack.his_simulator import billing

from .contract import assert_conforms
from .test_billing_helpers import LAB, PRESCRIPTION, TREATMENT, VISIT, ZHANG, BillingEnv, billing_env


@pytest.fixture
def env() -> Iterator[BillingEnv]:
    with billing_env() as environment:
        yield environment


def test_lists_unpaid_charges_oldest_first_with_the_unpaid_total(env: BillingEnv) -> None:
    body = env.charges()
    assert_conforms("/patients/{patient_id}/charges", "get", 200, body)
    assert [c["charge_id"] for c in body["items"]] == [PRESCRIPTION, LAB, TREATMENT]
    assert [c["total_fen"] for c in body["items"]] == [8220, 7300, 15000]
    assert body["unpaid_total_fen"] == 30520
    prescription = body["items"][0]
    assert prescription["status"] == "unpaid" and prescription["payable_online"] is True
    assert prescription["expires_at"] == "2025-06-18T09:25:00+08:00"  # 72 h after creation
    assert [i["amount_fen"] for i in prescription["items"]] == [3700, 4520]
    treatment = body["items"][2]
    assert (treatment["payable_online"], treatment["not_payable_reason"]) == (False, "insurance_required")


def test_filters_by_status_and_visit(env: BillingEnv) -> None:
    assert env.charges(status="paid") == {"items": [], "unpaid_total_fen": 30520}
    assert [c["charge_id"] for c in env.charges(visit_id=VISIT)["items"]] == [PRESCRIPTION, LAB, TREATMENT]
    assert env.charges(visit_id="V2099010100001") == {"items": [], "unpaid_total_fen": 0}
    env.prepare(charge_ids=[LAB])
    assert [c["charge_id"] for c in env.charges(status="locked")["items"]] == [LAB]
    assert env.charges()["unpaid_total_fen"] == 8220 + 15000


def test_bad_queries_and_unlinked_or_unknown_patients(env: BillingEnv) -> None:
    bad = env.api.get(f"/v1/patients/{ZHANG}/charges", {"status": "owed"})
    assert bad.status_code == 400
    assert bad.get_json()["details"]["fields"][0]["field"] == "status"
    assert env.api.get("/v1/patients/P000234567/charges").get_json()["code"] == "PATIENT_NOT_LINKED"
    missing = env.api.get("/v1/patients/P999999999/charges")
    assert (missing.status_code, missing.get_json()["details"]["resource"]) == (404, "patient")


def test_unpaid_charges_become_void_at_expires_at(env: BillingEnv) -> None:
    # 2025-06-18T09:25 is the prescription's expiry; the lab charge (09:26) is still valid one second before it.
    env.sim.set_now(env.sim.now().replace(day=18, hour=9, minute=24, second=59))
    assert [c["charge_id"] for c in env.charges()["items"]] == [PRESCRIPTION, LAB, TREATMENT]
    env.sim.advance(1)
    body = env.charges()
    assert [c["charge_id"] for c in body["items"]] == [LAB, TREATMENT]
    void = env.charges(status="void")["items"]
    assert [(c["charge_id"], c["payable_online"], c["not_payable_reason"]) for c in void] == [
        (PRESCRIPTION, False, "expired")]
    refused = env.prepare(charge_ids=[PRESCRIPTION], expected=8220)
    assert refused.status_code == 409
    assert refused.get_json()["details"]["charge_id"] == PRESCRIPTION


def test_expire_billing_leaves_locked_and_paid_charges_alone(env: BillingEnv) -> None:
    state = env.sim.state
    paid = env.paid(charge_ids=[PRESCRIPTION])
    env.prepare("STL20250616090000002", charge_ids=[LAB])
    billing.expire_billing(state, env.sim.now() + timedelta(days=5))  # the pending settlement expires first
    assert state.charges[PRESCRIPTION].status == "paid"
    assert state.charges[LAB].status == "void"  # released by the expired settlement, then past its validity
    assert state.settlements[paid["settlement_id"]].status == "settled"
