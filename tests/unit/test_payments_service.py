"""Payments service on fakes: charges pay → HIS settle → receipt, notifications applied once, forged ones
refused, refunds when the HIS refuses, registration fees, the sweep."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.payments import MAX_AMOUNT_FEN, OrderState, Refusal, full_refund_no
from chalicelib.domain.reconciliation import RecordKind
from chalicelib.domain.refunds import RefundState
from chalicelib.domain.wechat import NoticeKind
from chalicelib.services import payments as service
from chalicelib.services.payments import PaymentsError
from tests.fakes_payments import (
    APPID,
    OPENID,
    PATIENT,
    Payable,
    PaymentsWorld,
    settled_body,
    settlement_body,
)

KEY = "k3y-abcdefgh-0001"


def paying_charges(w: PaymentsWorld, ids: tuple[str, ...] = ("C1", "C2")) -> str:
    order = service.start_charges(w.ctx, OPENID, PATIENT, list(ids), KEY)
    assert order.state is OrderState.CREATED and order.amount_fen == 9850 if ids == ("C1", "C2") else True
    prepare = w.sent("prepareSettlement")[-1]
    service.apply_his_result(w.ctx, w.result(prepare, 201, settlement_body(prepare, w.now)))
    held = w.orders.get(order.order_id)
    assert held is not None and held.state is OrderState.PAYING and held.prepay_id
    return order.order_id


def notify(w: PaymentsWorld, order_id: str, **options: Any) -> service.NotifyAnswer:
    headers, body = w.notification(w.wechatpay.resource(order_id), **options)
    return service.handle_payment_notification(w.ctx, headers, body)


def test_charges_are_pre_settled_paid_settled_and_receipted() -> None:
    w = PaymentsWorld()
    order_id = paying_charges(w)
    prepare = w.sent("prepareSettlement")[0]
    assert prepare.body == {"settlement_request_no": order_id, "patient_id": PATIENT, "charge_ids": ["C1", "C2"],
                            "expected_total_fen": 9850}
    assert prepare.idempotency_key == f"{order_id}:prepare" and prepare.end_user and OPENID not in json.dumps(
        prepare.to_json())
    assert service.jsapi(w.ctx, w.orders.items[order_id])["package"].startswith("prepay_id=")
    w.wechatpay.pay(order_id)
    assert notify(w, order_id).ok
    paid = w.orders.items[order_id]
    assert paid.state is OrderState.PAID and paid.handled
    confirm = w.sent("confirmSettlement")
    assert len(confirm) == 1 and confirm[0].body["payment"]["amount_fen"] == 9850
    assert confirm[0].path_params == {"settlement_id": "ST20261205001"}
    service.apply_his_result(w.ctx, w.result(confirm[0], 200, settled_body(w.now, 9850)))
    settled = w.orders.items[order_id]
    assert settled.state is OrderState.SETTLED and settled.settlement["e_receipt"]["receipt_no"] == "0000123456"
    assert [n.kind for n, _ in w.notices] == [NoticeKind.PAYMENT_SUCCESS]
    assert "receipt.html?id=" + order_id in w.notices[0][0].url
    assert [r.kind for r in w.records.items.values()] == [RecordKind.PAYMENT]


def test_the_same_attempt_makes_one_order_and_the_client_never_sends_a_price() -> None:
    w = PaymentsWorld()
    first = service.start_charges(w.ctx, OPENID, PATIENT, ["C1"], KEY)
    again = service.start_charges(w.ctx, OPENID, PATIENT, ["C1", "C2"], KEY)
    assert first.order_id == again.order_id and first.amount_fen == 8650 and len(w.sent("prepareSettlement")) == 1
    with pytest.raises(PaymentsError) as err:
        service.start_charges(w.ctx, "oSomeoneElse", PATIENT, ["C1"], "other-key-0001")
    assert err.value.status == 404


def test_fifty_racing_copies_and_fifteen_resends_apply_once() -> None:
    w = PaymentsWorld()
    order_id = paying_charges(w)
    w.wechatpay.pay(order_id)
    copies = [w.notification(w.wechatpay.resource(order_id)) for _ in range(50)]
    answers: list[service.NotifyAnswer] = []
    start = threading.Barrier(50)

    def deliver(headers: dict[str, str], body: bytes) -> None:
        start.wait()
        answers.append(service.handle_payment_notification(w.ctx, headers, body))

    threads = [threading.Thread(target=deliver, args=c) for c in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _ in range(15):
        w.advance(minutes=3)
        answers.append(notify(w, order_id))
    assert len(answers) == 65 and all(a.ok for a in answers)
    assert len(w.sent("confirmSettlement")) == 1
    assert len([r for r in w.records.items.values() if r.kind is RecordKind.PAYMENT]) == 1
    confirm = w.sent("confirmSettlement")[0]
    for _ in range(3):  # the result redelivered by SQS
        service.apply_his_result(w.ctx, w.result(confirm, 200, settled_body(w.now, 9850)))
    assert w.orders.items[order_id].state is OrderState.SETTLED
    assert len([n for n, _ in w.notices if n.kind is NoticeKind.PAYMENT_SUCCESS]) == 1
    assert not w.security.events


FORGED = {
    "bad_signature": ({"tamper_body": True}, Refusal.BAD_SIGNATURE),
    "unknown_serial": ({"serial": "SOMEONEELSE0001"}, Refusal.UNKNOWN_SERIAL),
    "timestamp_301s_off": ({"timestamp_offset": 301}, Refusal.STALE_TIMESTAMP),
    "timestamp_301s_early": ({"timestamp_offset": -301}, Refusal.STALE_TIMESTAMP),
    "broken_gcm_tag": ({"break_tag": True}, Refusal.DECRYPT_FAILED),
    "wrong_amount": ({"resource": {"amount": {"total": 1, "payer_total": 1, "currency": "CNY"}}}, Refusal.WRONG_AMOUNT),
    "wrong_appid": ({"resource": {"appid": "wxattacker00001"}}, Refusal.WRONG_APPID),
    "wrong_mchid": ({"resource": {"mchid": "1234567890"}}, Refusal.WRONG_MCHID),
    "unknown_order": ({"resource": {"out_trade_no": "STLnotours00000000000000000001"}}, Refusal.UNKNOWN_ORDER),
}


def forged(w: PaymentsWorld, order_id: str, variant: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    options = dict(variant)
    resource = w.wechatpay.resource(order_id, **options.pop("resource", {}))
    tamper = options.pop("tamper_body", False)
    offset = options.pop("timestamp_offset", 0)
    headers, body = w.notification(resource, timestamp=int(w.now.timestamp()) + offset, **options)
    if tamper:
        body = body.replace(b'"summary":"', b'"summary":"x', 1)
    return headers, body


@pytest.mark.parametrize("name", list(FORGED))
def test_each_forged_variant_is_refused_recorded_and_changes_nothing(name: str) -> None:
    w = PaymentsWorld()
    order_id = paying_charges(w)
    w.wechatpay.pay(order_id)
    before = w.orders.items[order_id]
    variant, reason = FORGED[name]
    answer = service.handle_payment_notification(w.ctx, *forged(w, order_id, variant))
    assert not answer.ok and answer.status in (400, 401)
    assert w.orders.items[order_id] == before
    assert not w.sent("confirmSettlement") and not w.records.items
    assert [e.reason for e in w.security.events] == [reason]
    assert OPENID not in json.dumps([e.to_dict() for e in w.security.events])
    assert notify(w, order_id).ok and w.orders.items[order_id].state is OrderState.PAID  # the real one still works


def test_missing_headers_and_garbage_are_refused() -> None:
    w = PaymentsWorld()
    assert service.handle_payment_notification(w.ctx, {}, b"{}").status == 401
    headers, _ = w.notification({"out_trade_no": "x"})
    assert service.handle_payment_notification(w.ctx, headers, b"\xff\xfe").status == 401
    assert [e.reason for e in w.security.events] == [Refusal.MISSING_HEADERS, Refusal.MALFORMED]


@pytest.mark.parametrize("code", ["LOCK_EXPIRED", "AMOUNT_MISMATCH", "CHARGE_NOT_PAYABLE"])
def test_paid_but_refused_by_the_his_is_refunded_exactly_once(code: str) -> None:
    w = PaymentsWorld()
    order_id = paying_charges(w)
    w.wechatpay.pay(order_id)
    notify(w, order_id)
    confirm = w.sent("confirmSettlement")[0]
    for _ in range(3):  # redelivered results, and the sweep, change nothing further
        service.apply_his_result(w.ctx, w.result(confirm, 409, code=code))
        service.sweep(w.ctx)
    assert len(w.wechatpay.calls_named("refund")) == 1
    assert w.wechatpay.calls_named("refund")[0] == (full_refund_no(order_id), 9850)
    assert len(w.refunds.items) == 1
    obligation = next(iter(w.refunds.items.values()))
    assert obligation.state is RefundState.EXECUTED and obligation.caller_ref == order_id
    held = w.orders.items[order_id]
    assert held.state is OrderState.REFUNDING and held.refunded_fen == 9850
    assert [n.kind for n, _ in w.notices] == [NoticeKind.REFUND]
    kinds = sorted(r.kind.value for r in w.records.items.values())
    assert kinds == ["PAYMENT", "REFUND"]
    # WeChat Pay's refund notification finishes it, once, however often it comes.
    refund = w.wechatpay.refunds[full_refund_no(order_id)]
    resource = {"mchid": refund.mchid, "out_trade_no": order_id, "out_refund_no": refund.out_refund_no,
                "refund_id": refund.refund_id, "refund_status": "SUCCESS", "success_time": w.now.isoformat(),
                "amount": {"refund": 9850, "total": 9850, "payer_refund": 9850, "currency": "CNY"}}
    for _ in range(3):
        headers, body = w.notification(resource, "REFUND.SUCCESS")
        assert service.handle_refund_notification(w.ctx, headers, body).ok
    assert w.orders.items[order_id].state is OrderState.REFUNDED
    assert len(w.wechatpay.calls_named("refund")) == 1


def test_a_refund_notification_for_a_refund_we_do_not_owe_is_refused() -> None:
    w = PaymentsWorld()
    headers, body = w.notification({"mchid": "1900000109", "out_trade_no": "STL0000000001", "out_refund_no": "RFx0001",
                                    "refund_status": "SUCCESS", "amount": {"refund": 1, "total": 1}}, "REFUND.SUCCESS")
    assert service.handle_refund_notification(w.ctx, headers, body).status == 400
    assert [e.reason for e in w.security.events] == [Refusal.UNKNOWN_ORDER]


def test_a_his_refusal_that_is_not_definite_does_not_refund_but_retries() -> None:
    w = PaymentsWorld()
    order_id = paying_charges(w)
    w.wechatpay.pay(order_id)
    notify(w, order_id)
    service.apply_his_result(w.ctx, w.result(w.sent("confirmSettlement")[0], 503, code="HIS_UNAVAILABLE",
                                             retryable=True))
    assert not w.wechatpay.calls_named("refund") and not w.orders.items[order_id].handled
    w.advance(minutes=30)
    service.sweep(w.ctx)
    assert len(w.sent("confirmSettlement")) == 2  # same idempotency key: one settlement at the HIS
    assert {r.idempotency_key for r in w.sent("confirmSettlement")} == {f"{order_id}:confirm"}


def test_a_pre_settlement_refusal_closes_the_order_without_wechatpay() -> None:
    w = PaymentsWorld()
    order = service.start_charges(w.ctx, OPENID, PATIENT, ["C1"], KEY)
    service.apply_his_result(w.ctx, w.result(w.sent("prepareSettlement")[0], 422, code="AMOUNT_MISMATCH"))
    held = w.orders.items[order.order_id]
    assert held.state is OrderState.CLOSED and "刷新" in held.message and not w.wechatpay.calls


def test_a_pre_settlement_with_another_total_is_cancelled() -> None:
    w = PaymentsWorld()
    order = service.start_charges(w.ctx, OPENID, PATIENT, ["C1"], KEY)
    prepare = w.sent("prepareSettlement")[0]
    body = settlement_body(prepare, w.now) | {"total_fen": 1}
    service.apply_his_result(w.ctx, w.result(prepare, 201, body))
    assert w.orders.items[order.order_id].state is OrderState.CLOSED
    assert len(w.sent("cancelSettlement")) == 1 and not w.wechatpay.calls


# ---- registration fees ------------------------------------------------------------------------------------
def test_a_registration_fee_is_paid_and_handed_to_booking_once(monkeypatch: pytest.MonkeyPatch) -> None:
    w = PaymentsWorld()
    w.payables["A1"] = Payable("A1", "WXO20261205000001", PATIENT, 5000, "挂号费-心内科", w.now + timedelta(minutes=8))
    seen: list[Any] = []

    def paid(ctx: Any, appointment_id: str, proof: Any) -> None:
        seen.append((ctx, appointment_id, proof.amount_fen, proof.transaction_id))

    monkeypatch.setitem(service.PAID_HANDLERS, "registration", paid)  # booking's own handler, if loaded, is put back
    order = service.start_registration(w.ctx, OPENID, "A1")
    again = service.start_registration(w.ctx, OPENID, "A1")
    assert order.order_id == again.order_id == "WXO20261205000001" and order.state is OrderState.PAYING
    assert order.expires_at == w.now + timedelta(minutes=8)
    assert len(w.wechatpay.calls_named("jsapi")) == 1
    tx = w.wechatpay.pay(order.order_id)
    for _ in range(3):
        assert notify(w, order.order_id).ok
    assert seen == [("ctx:registration", "A1", 5000, tx.transaction_id)]
    assert w.orders.items[order.order_id].handled


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_AMOUNT_FEN + 1), st.floats(), st.booleans(),
                 st.text(max_size=8), st.none(), st.decimals(allow_nan=False)))
def test_fuzzed_registration_amounts_never_reach_wechatpay(amount: Any) -> None:
    w = PaymentsWorld()
    w.payables["A1"] = Payable("A1", "WXO20261205000001", PATIENT, amount, "挂号费", w.now + timedelta(minutes=8))
    with pytest.raises(PaymentsError) as err:
        service.start_registration(w.ctx, OPENID, "A1")
    assert err.value.code == "AMOUNT_NOT_PAYABLE" and not w.wechatpay.calls and not w.orders.items


@settings(max_examples=60)
@given(st.one_of(st.integers(max_value=0), st.floats(allow_nan=False), st.booleans(), st.text(max_size=6),
                 st.integers(min_value=MAX_AMOUNT_FEN + 1)))
def test_fuzzed_his_charge_totals_never_reach_wechatpay(total: Any) -> None:
    w = PaymentsWorld()
    w.bridge.charges[PATIENT][0]["total_fen"] = total
    with pytest.raises(PaymentsError):
        service.start_charges(w.ctx, OPENID, PATIENT, ["C1"], KEY)
    assert not w.wechatpay.calls and not w.queue.sent


def test_registration_refusals() -> None:
    w = PaymentsWorld()
    with pytest.raises(PaymentsError) as err:
        service.start_registration(w.ctx, OPENID, "NOPE")
    assert err.value.status == 404
    w.payables["A2"] = Payable("A2", "WXO20261205000002", PATIENT, 5000, "挂号费", w.now - timedelta(seconds=1))
    with pytest.raises(PaymentsError) as err:
        service.start_registration(w.ctx, OPENID, "A2")
    assert err.value.code == "PAY_EXPIRED" and not w.wechatpay.calls


# ---- the sweep and unknown outcomes -------------------------------------------------------------------------
def test_expired_unpaid_orders_are_closed_and_their_settlement_released() -> None:
    w = PaymentsWorld()
    order_id = paying_charges(w)
    w.advance(minutes=13)
    assert service.sweep(w.ctx)["closed"] == 1
    assert w.orders.items[order_id].state is OrderState.CLOSED
    assert w.wechatpay.orders[order_id].state == "CLOSED" and len(w.sent("cancelSettlement")) == 1


def test_a_payment_found_at_expiry_is_taken_not_closed() -> None:
    w = PaymentsWorld()
    order_id = paying_charges(w)
    w.wechatpay.pay(order_id)  # paid, but the notification never came
    w.advance(minutes=13)
    service.sweep(w.ctx)
    assert w.orders.items[order_id].state is OrderState.PAID and len(w.sent("confirmSettlement")) == 1


def test_check_asks_wechatpay_when_the_outcome_is_unknown() -> None:
    w = PaymentsWorld()
    order_id = paying_charges(w)
    assert service.check_order(w.ctx, OPENID, order_id).state is OrderState.PAYING
    w.wechatpay.pay(order_id)
    assert service.check_order(w.ctx, OPENID, order_id).state is OrderState.PAID
    with pytest.raises(PaymentsError):
        service.check_order(w.ctx, "oOther", order_id)


def test_unexecuted_items_are_refunded_after_the_his_approves() -> None:
    w = PaymentsWorld()
    order_id = paying_charges(w)
    w.wechatpay.pay(order_id)
    notify(w, order_id)
    service.apply_his_result(w.ctx, w.result(w.sent("confirmSettlement")[0], 200, settled_body(w.now, 9850)))
    service.request_item_refund(w.ctx, OPENID, order_id, [{"charge_id": "C2", "item_id": "C2-1"}])
    request = w.sent("refundSettlementItems")[0]
    approval = {"his_refund_id": "HR1", "refund_request_no": request.body["refund_request_no"],
                "settlement_id": "ST20261205001", "status": "approved", "refund_amount_fen": 1200, "items": []}
    for _ in range(2):
        service.apply_his_result(w.ctx, w.result(request, 201, approval))
    assert w.wechatpay.calls_named("refund") == [(request.body["refund_request_no"], 1200)]
    held = w.orders.items[order_id]
    assert held.state is OrderState.SETTLED and held.refunded_fen == 1200
    with pytest.raises(PaymentsError):
        service.request_item_refund(w.ctx, OPENID, order_id, [{"charge_id": "C9", "item_id": "x"}])


def test_refunds_never_exceed_the_payment() -> None:
    from chalicelib.domain.refunds import BusinessType, RefundObligation, RefundSource

    w = PaymentsWorld()
    order_id = paying_charges(w)
    w.wechatpay.pay(order_id)
    notify(w, order_id)
    big = RefundObligation("RFtoomuch0001", BusinessType.OUTPATIENT, "ST1", order_id, 9851, PATIENT,
                           RefundSource.HOSPITAL, "counter_cancelled", w.now)
    w.refunds.record(big)
    assert service.execute_pending_refunds(w.ctx) == 0 and not w.wechatpay.calls_named("refund")


def test_jsapi_params_only_while_payable() -> None:
    w = PaymentsWorld()
    order_id = paying_charges(w)
    assert service.jsapi(w.ctx, w.orders.items[order_id])["appId"] == APPID
    w.advance(minutes=13)
    assert service.jsapi(w.ctx, w.orders.items[order_id]) is None


def test_the_reconciliation_resumes_a_paid_charge_the_his_never_settled() -> None:
    w = PaymentsWorld()
    order_id = paying_charges(w)
    assert service.resume(w.ctx, order_id) is False  # not paid yet: nothing to resume
    w.wechatpay.pay(order_id)
    notify(w, order_id)
    assert service.resume(w.ctx, order_id) is True
    confirms = w.sent("confirmSettlement")
    assert len(confirms) == 2 and confirms[0].idempotency_key == confirms[1].idempotency_key
    service.apply_his_result(w.ctx, w.result(confirms[-1], 200, settled_body(w.now, 9850)))
    assert w.orders.items[order_id].state is OrderState.SETTLED
    assert service.resume(w.ctx, order_id) is False  # settled: nothing left to resume
    assert service.resume(w.ctx, "STL-unknown") is False
