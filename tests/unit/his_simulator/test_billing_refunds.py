"""§7.8.2 refunds of whole unexecuted lines: approval, reversal receipt, status roll-up, ledger, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .contract import assert_conforms
from .test_billing_helpers import LAB, PRESCRIPTION, BillingEnv, billing_env


@pytest.fixture
def env() -> Iterator[BillingEnv]:
    with billing_env() as environment:
        yield environment


def test_partial_then_full_refund(env: BillingEnv) -> None:
    settled = env.paid()
    sid = settled["settlement_id"]
    response = env.refund(sid, [(PRESCRIPTION, f"{PRESCRIPTION}-2")])
    assert response.status_code == 201
    refund = response.get_json()
    assert_conforms("/settlements/{settlement_id}/refunds", "post", 201, refund)
    assert (refund["status"], refund["refund_amount_fen"], refund["settlement_id"]) == ("approved", 4520, sid)
    assert refund["his_refund_id"].startswith("HR20250616")
    assert refund["items"] == [{"charge_id": PRESCRIPTION, "item_id": f"{PRESCRIPTION}-2", "amount_fen": 4520}]
    assert refund["reversal_receipt"]["status"] == "issued"
    assert refund["reversal_receipt"]["receipt_no"] != settled["e_receipt"]["receipt_no"]
    current = env.api.get(f"/v1/settlements/{sid}").get_json()
    assert current["status"] == "partially_refunded"
    assert [c["status"] for c in current["charges"]] == ["partially_refunded", "paid"]
    assert [i["refunded"] for i in current["charges"][0]["items"]] == [False, True]
    assert current["refunds"] == [refund]
    line = env.sim.state.ledger[-1]
    assert (line.record_type, line.business_type, line.his_refund_id, line.refund_request_no, line.amount_fen) == (
        "REFUND", "OUTPATIENT", refund["his_refund_id"], "RFS20250616100000001", 4520)
    assert line.transaction_id == settled["payment"]["transaction_id"]

    rest = env.refund(sid, [(PRESCRIPTION, f"{PRESCRIPTION}-1"), (LAB, f"{LAB}-1"), (LAB, f"{LAB}-2")],
                      refund_no="RFS20250616100000002")
    assert rest.status_code == 201 and rest.get_json()["refund_amount_fen"] == 3700 + 7300
    final = env.api.get(f"/v1/settlements/{sid}").get_json()
    assert final["status"] == "refunded"
    assert [c["status"] for c in final["charges"]] == ["refunded", "refunded"]
    assert sum(e.amount_fen for e in env.sim.state.ledger if e.record_type == "REFUND") == settled["total_fen"]


def test_executed_items_are_refunded_at_the_counter_only(env: BillingEnv) -> None:
    sid = env.paid()["settlement_id"]
    executed = env.admin.post(f"/_sim/charges/{LAB}/items/{LAB}-2/execute")
    assert executed.status_code == 200
    assert [i["execution_status"] for i in executed.get_json()["items"]] == ["not_executed", "executed"]
    refused = env.refund(sid, [(LAB, f"{LAB}-1"), (LAB, f"{LAB}-2")])
    assert (refused.status_code, refused.get_json()["code"]) == (409, "ITEM_ALREADY_EXECUTED")
    assert refused.get_json()["details"] == {"charge_id": LAB, "item_id": f"{LAB}-2"}
    assert env.sim.state.charges[LAB].items[0].refunded is False  # all or nothing
    assert env.api.get(f"/v1/settlements/{sid}").get_json()["status"] == "settled"
    assert env.refund(sid, [(LAB, f"{LAB}-1")], key="RFS20250616100000001:retry").status_code == 201


def test_refund_references_and_refusals(env: BillingEnv) -> None:
    sid = env.paid()["settlement_id"]
    first = env.refund(sid, [(LAB, f"{LAB}-1")])
    replay = env.refund(sid, [(LAB, f"{LAB}-1")])
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.get_json() == first.get_json()
    duplicate = env.refund(sid, [(LAB, f"{LAB}-2")], key="another-refund-key")
    assert (duplicate.status_code, duplicate.get_json()["code"]) == (409, "DUPLICATE_REQUEST")
    assert duplicate.get_json()["details"]["existing_id"] == first.get_json()["his_refund_id"]
    twice = env.refund(sid, [(LAB, f"{LAB}-1")], refund_no="RFS20250616100000002")
    assert (twice.status_code, twice.get_json()["code"]) == (409, "INVALID_STATE")
    foreign = env.refund(sid, [("CH20990101000001", "CH20990101000001-1")], refund_no="RFS20250616100000003")
    assert foreign.status_code == 400
    assert foreign.get_json()["details"]["fields"] == [{"field": "items.0", "reason": "not an item of this settlement"}]
    repeated = env.refund(sid, [(LAB, f"{LAB}-2"), (LAB, f"{LAB}-2")], refund_no="RFS20250616100000004")
    assert repeated.status_code == 400
    pending = env.prepare("STL20250616090000002", charge_ids=["CH20250615001203"], expected=15000)
    assert pending.status_code == 409  # the treatment needs medical insurance
    assert len([e for e in env.sim.state.ledger if e.record_type == "REFUND"]) == 1


def test_refund_of_a_pending_settlement_is_refused(env: BillingEnv) -> None:
    pending = env.prepare().get_json()
    refused = env.refund(pending["settlement_id"], [(LAB, f"{LAB}-1")])
    assert (refused.status_code, refused.get_json()["details"]["current_status"]) == (409, "pending")
