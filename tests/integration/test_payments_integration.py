"""Payments against real infrastructure: the DynamoDB adapters on moto server (with a racing-write canary before
the concurrency test) and the HTTP client against the fake WeChat Pay server over real HTTP (signatures both
ways, prepay, query, close, refund, the trade bill)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from chalicelib import bootstrap
from chalicelib.adapters.wechatpay.client import HttpWeChatPay
from chalicelib.adapters.wechatpay.crypto import MerchantSigner, PlatformVerifier
from chalicelib.domain.payments import Order, OrderKind, OrderState, full_refund_no
from chalicelib.domain.reconciliation import RecordKind
from chalicelib.services import payments as service
from chalicelib.services.ports import WeChatPayError, WeChatPayUnavailableError
from devstack.wechatpay_fake.server import start_in_thread
from tests.fakes import FakeHisRequestQueue, FakePatientBindings
from tests.fakes_payments import (
    APPID,
    KEYS,
    MCHID,
    OPENID,
    PATIENT,
    FakeChargesBridge,
    settled_body,
    settlement_body,
    unpaid_charge,
)

pytestmark = pytest.mark.integration
T0 = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def pay_server() -> Any:
    server, _, base = start_in_thread(appid=APPID, mchid=MCHID, merchant_serial="FAKEMERCHANTSERIAL0001",
                                      apiv3_key="local-apiv3-key-NOT-FOR-PROD-001", resend_delays=(0.2, 0.4))
    yield server, base
    server.shutdown()


@pytest.fixture
def c(app_settings: Any, pay_server: Any) -> Any:
    from chalicelib.domain.patients import PatientBinding, Relation

    settings = replace(app_settings, wechatpay_api_base_url=pay_server[1])
    container = bootstrap.use_settings(settings)
    queue = FakeHisRequestQueue()
    bootstrap.override(his_request_queue=queue,
                       patient_bindings=FakePatientBindings(PatientBinding(OPENID, PATIENT, Relation.SELF, "张*", T0)),
                       his_live_reader=FakeChargesBridge(T0, {PATIENT: [unpaid_charge("C1", 8650)]}))
    container.queue = queue  # type: ignore[attr-defined]
    return container


def order(oid: str = "STLintegration00000000000001", state: OrderState = OrderState.PAYING) -> Order:
    return Order(oid, OrderKind.CHARGES, OPENID, PATIENT, "ST1", 8650, "门诊缴费", state, T0, T0 + timedelta(minutes=10))


def test_emulator_rejects_a_racing_conditional_write_canary(c: Any) -> None:
    """Before trusting the concurrency test: of N racing moves from the same version exactly one wins."""
    orders = c.payment_orders
    for round_ in range(5):
        held = order(f"STLcanary{round_:020d}")
        assert orders.create(held)
        wins: list[bool] = []
        barrier = threading.Barrier(8)

        def move(n: int, held: Order = held, barrier: threading.Barrier = barrier, wins: list[bool] = wins) -> None:
            barrier.wait()
            wins.append(orders.replace(held.moved(OrderState.PAID, T0, transaction_id=f"42{n}"), held))

        threads = [threading.Thread(target=move, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wins.count(True) == 1, wins


def test_orders_history_and_the_work_list(c: Any) -> None:
    orders = c.payment_orders
    held = order()
    assert orders.create(held) and not orders.create(held)
    assert orders.get(held.order_id) == held
    assert [o.order_id for o in orders.unfinished(T0 + timedelta(minutes=11))] == [held.order_id]
    assert orders.unfinished(T0 + timedelta(minutes=9)) == []
    paid = held.moved(OrderState.PAID, T0, transaction_id="4201", paid_at=T0, handled=True)
    assert orders.replace(paid, held)
    assert orders.replace(paid, held)  # the same write resent after a lost answer: it is done, not refused
    other = held.moved(OrderState.CLOSED, T0 + timedelta(seconds=1))
    assert not orders.replace(other, held)  # another writer's move from the same version is refused
    assert orders.unfinished(T0 + timedelta(days=1)) == []
    assert [o.order_id for o in orders.of_user(OPENID)] == [held.order_id]


def test_the_client_and_the_fake_sign_and_verify_each_other(c: Any, pay_server: Any) -> None:
    pay: HttpWeChatPay = c.wechatpay
    expire = datetime.now(UTC) + timedelta(minutes=10)
    prepay = pay.jsapi_prepay("STLhttp000000000001", "门诊缴费", 8650, OPENID, expire, "http://127.0.0.1:9/notify")
    assert prepay == pay.jsapi_prepay("STLhttp000000000001", "门诊缴费", 8650, OPENID, expire, "http://127.0.0.1:9/n")
    assert pay.query("STLhttp000000000001").trade_state == "NOTPAY"
    assert pay.query("STLnothere0000000001") is None
    params = pay.jsapi_params(prepay)
    resp = requests.post(pay_server[1] + "/_fake/pay", json={**params, "background": False}, timeout=5)
    assert resp.json()["err_msg"] == "get_brand_wcpay_request:ok"
    forged = requests.post(pay_server[1] + "/_fake/pay", json={**params, "paySign": params["paySign"][:-4] + "AAAA"},
                           timeout=5)
    assert forged.status_code == 400
    tx = pay.query("STLhttp000000000001")
    assert tx.trade_state == "SUCCESS" and tx.total_fen == 8650 and tx.success_time is not None
    with pytest.raises(WeChatPayError) as err:
        pay.close("STLhttp000000000001")
    assert err.value.code == "ORDER_PAID"
    refund = pay.refund("RFhttp000000000001", "STLhttp000000000001", 1000, 8650, "退费", "http://127.0.0.1:9/r")
    assert refund.status == "PROCESSING" and pay.refund("RFhttp000000000001", "STLhttp000000000001", 1000, 8650, "退费",
                                                        "http://127.0.0.1:9/r").refund_id == refund.refund_id
    with pytest.raises(WeChatPayError) as err:
        pay.refund("RFhttp000000000002", "STLhttp000000000001", 8000, 8650, "退费", "http://127.0.0.1:9/r")
    assert err.value.code == "NOT_ENOUGH"
    # A merchant key WeChat Pay does not know is refused; an answer not signed by an allowlisted key is ignored.
    stranger = HttpWeChatPay(pay_server[1], APPID, MerchantSigner(MCHID, "FAKEMERCHANTSERIAL0001",
                                                                  (KEYS / "platform_private.pem").read_text()),
                             PlatformVerifier({"FAKEPLATFORMSERIAL0001": (KEYS / "platform_public.pem").read_text()}))
    with pytest.raises(WeChatPayError) as err:
        stranger.query("STLhttp000000000001")
    assert err.value.status == 401
    distrustful = HttpWeChatPay(pay_server[1], APPID, MerchantSigner(
        MCHID, "FAKEMERCHANTSERIAL0001", (KEYS / "merchant_private.pem").read_text()),
        PlatformVerifier({"FAKEPLATFORMSERIAL0001": (KEYS / "merchant_public.pem").read_text()}))
    with pytest.raises(WeChatPayUnavailableError):
        distrustful.query("STLhttp000000000001")


def test_the_trade_bill_reaches_the_reconciliation_port(c: Any, pay_server: Any) -> None:
    pay: HttpWeChatPay = c.wechatpay
    prepay = pay.jsapi_prepay("STLbill000000000001", "门诊缴费", 8650, OPENID, datetime.now(UTC) + timedelta(minutes=9),
                              "http://127.0.0.1:9/notify")
    requests.post(pay_server[1] + "/_fake/pay", json={"prepay_id": prepay, "background": False}, timeout=5)
    state = pay_server[0].state
    yesterday = state.now() - timedelta(days=1)
    state.orders["STLbill000000000001"].success_time = yesterday
    day_start = yesterday.replace(hour=0, minute=0, second=0)
    entries = c.wechatpay_bill.entries_between(day_start, day_start + timedelta(days=1))
    assert [(e.kind.value, e.out_trade_no, e.amount_fen) for e in entries] == [("PAYMENT", "STLbill000000000001", 8650)]
    assert c.wechatpay_bill.entries_between(day_start, day_start + timedelta(days=3)) is not None


def test_fifty_racing_notifications_and_fifteen_resends_make_one_payment_on_dynamodb(c: Any, pay_server: Any) -> None:
    ctx = c.payments_context
    started = service.start_charges(ctx, OPENID, PATIENT, ["C1"], "integration-attempt-1")
    prepare = c.queue.sent[0]
    from chalicelib.domain.his_messages import HisResult

    now = datetime.now(UTC)
    service.apply_his_result(ctx, HisResult(prepare.request_id, "prepareSettlement", "ok", now, 201,
                                            body=settlement_body(prepare, now), context=dict(prepare.context)))
    paying = c.payment_orders.get(started.order_id)
    assert paying.state is OrderState.PAYING
    # The patient pays at the fake; take its notification as WeChat Pay would send it, 50 copies at once.
    captured: list[tuple[dict[str, str], bytes]] = []
    from devstack.wechatpay_fake import notify as build

    resp = requests.post(pay_server[1] + "/_fake/pay", json={"prepay_id": paying.prepay_id, "background": False},
                         timeout=5)
    assert resp.status_code == 200
    resource = pay_server[0].state.orders[started.order_id].to_json()
    for _ in range(65):
        captured.append(build.build(resource, "TRANSACTION.SUCCESS", b"local-apiv3-key-NOT-FOR-PROD-001",
                                    (KEYS / "platform_private.pem").read_text(), "FAKEPLATFORMSERIAL0001"))
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda hb: service.handle_payment_notification(ctx, *hb), captured[:50]))
    answers += [service.handle_payment_notification(ctx, *hb) for hb in captured[50:]]
    assert len(answers) == 65 and all(a.ok for a in answers)
    confirms = [r for r in c.queue.sent if r.operation == "confirmSettlement"]
    assert len(confirms) == 1
    records = c.payment_records.between(now - timedelta(days=1), now + timedelta(days=1))
    assert [(r.kind, r.caller_ref) for r in records] == [(RecordKind.PAYMENT, started.order_id)]
    settled = HisResult(confirms[0].request_id, "confirmSettlement", "ok", now, 200, body=settled_body(now, 8650),
                        context=dict(confirms[0].context))
    for _ in range(3):
        service.apply_his_result(ctx, settled)
    held = c.payment_orders.get(started.order_id)
    assert held.state is OrderState.SETTLED and held.settlement["e_receipt"]["receipt_no"] == "0000123456"


def test_paid_but_refused_is_refunded_once_at_the_fake(c: Any, pay_server: Any) -> None:
    ctx = c.payments_context
    started = service.start_charges(ctx, OPENID, PATIENT, ["C1"], "integration-attempt-2")
    prepare = c.queue.sent[0]
    from chalicelib.domain.his_messages import HisError, HisResult

    now = datetime.now(UTC)
    service.apply_his_result(ctx, HisResult(prepare.request_id, "prepareSettlement", "ok", now, 201,
                                            body=settlement_body(prepare, now), context=dict(prepare.context)))
    paying = c.payment_orders.get(started.order_id)
    requests.post(pay_server[1] + "/_fake/pay", json={"prepay_id": paying.prepay_id, "background": False}, timeout=5)
    assert service.check_order(ctx, OPENID, started.order_id).state is OrderState.PAID
    confirm = next(r for r in c.queue.sent if r.operation == "confirmSettlement")
    refused = HisResult(confirm.request_id, "confirmSettlement", "error", now, 409,
                        error=HisError("LOCK_EXPIRED", "expired", False), context=dict(confirm.context))
    for _ in range(3):
        service.apply_his_result(ctx, refused)
        service.sweep(ctx)
    fake = pay_server[0].state
    assert list(fake.refunds) == [full_refund_no(started.order_id)]
    assert c.refund_obligations.get(full_refund_no(started.order_id)).state.value == "executed"
    assert c.payment_orders.get(started.order_id).state is OrderState.REFUNDING
