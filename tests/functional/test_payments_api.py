"""Payments through ``chalice.test.Client`` with fakes behind the ports: the H5 routes (login, bound patients,
no price from the client, JSAPI parameters, the receipt with its QR code, the history) and the WeChat Pay
notification endpoints (204 when applied, a FAIL body otherwise)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.domain.payments import OrderState
from chalicelib.services import payments as service
from tests.fakes_payments import PATIENT, Payable, PaymentsWorld, settled_body, settlement_body
from tests.functional.test_auth_api import OPENID, World, _install, _logged_in, _settings, _validate

EXERCISED = {"/api/payments/charges", "/api/payments/registration", "/api/payments/orders",
             "/api/payments/orders/{order_id}", "/api/payments/orders/{order_id}/check",
             "/api/payments/orders/{order_id}/receipt", "/api/payments/orders/{order_id}/refunds",
             "/api/payments/notify", "/api/payments/refund-notify"}


class Pay:
    def __init__(self, client: Any, w: PaymentsWorld, session: str) -> None:
        self.client, self.w = client, w
        self.cookie = {"cookie": f"yw_session={session}"}

    def get(self, path: str) -> Any:
        return self.client.http.get(path, headers=self.cookie)

    def post(self, path: str, body: Any) -> Any:
        return self.client.http.post(path, headers={**self.cookie, "Content-Type": "application/json"},
                                     body=json.dumps(body))


@pytest.fixture
def p() -> Any:
    _install(World(), _settings())
    w = PaymentsWorld(openid=OPENID)
    bootstrap.override(payments_context=w.ctx)
    with Client(app, stage_name="local") as client:
        yield Pay(client, w, _logged_in(client))


def body(resp: Any) -> Any:
    return json.loads(resp.body)


def test_every_h5_route_needs_a_login(p: Pay) -> None:
    for method, path in (("get", f"/api/payments/charges?patient_id={PATIENT}"), ("get", "/api/payments/orders"),
                         ("post", "/api/payments/charges"), ("post", "/api/payments/registration")):
        resp = getattr(p.client.http, method)(path)
        assert resp.status_code == 401
    assert not p.w.bridge.requests


def test_charges_pay_settle_and_receipt(p: Pay) -> None:
    resp = p.get(f"/api/payments/charges?patient_id={PATIENT}")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    listing = body(resp)
    _validate("/api/payments/charges", "get", 200, listing)
    assert [(c["charge_id"], c["total_text"]) for c in listing["items"]] == [("C1", "86.50"), ("C2", "12.00")]

    resp = p.post("/api/payments/charges", {"patient_id": PATIENT, "charge_ids": ["C1", "C2"],
                                            "request_key": "page-attempt-0001", "amount_fen": 1})
    assert resp.status_code == 202
    answer = body(resp)
    _validate("/api/payments/charges", "post", 202, answer)
    order_id = answer["order"]["order_id"]
    assert answer["order"]["amount_fen"] == 9850 and answer["jsapi"] is None  # the client's "amount_fen" is ignored

    prepare = p.w.sent("prepareSettlement")[0]
    service.apply_his_result(p.w.ctx, p.w.result(prepare, 201, settlement_body(prepare, p.w.now)))
    answer = body(p.get(f"/api/payments/orders/{order_id}"))
    _validate("/api/payments/orders/{order_id}", "get", 200, answer)
    assert answer["order"]["state"] == "paying" and answer["jsapi"]["package"].startswith("prepay_id=")
    assert answer["simulator"]["pay_url"].endswith("/_fake/pay")

    p.w.wechatpay.pay(order_id)
    headers, raw = p.w.notification(p.w.wechatpay.resource(order_id))
    resp = p.client.http.post("/api/payments/notify", headers=headers, body=raw)
    assert resp.status_code == 204
    service.apply_his_result(p.w.ctx, p.w.result(p.w.sent("confirmSettlement")[0], 200, settled_body(p.w.now, 9850)))

    resp = p.get(f"/api/payments/orders/{order_id}/receipt")
    assert resp.status_code == 200
    receipt = body(resp)
    _validate("/api/payments/orders/{order_id}/receipt", "get", 200, receipt)
    r = receipt["receipt"]
    assert r["amount_text"] == "98.50" and r["e_receipt"]["receipt_no"] == "0000123456"
    assert r["qr_svg"].startswith("data:image/svg+xml") and r["verification"].startswith(f"YWRCPT:{order_id}:")
    assert r["guidance"][0]["action_name"] == "取药" and "门诊楼 1F" in r["guidance"][0]["location_text"]

    history = body(p.get("/api/payments/orders"))
    _validate("/api/payments/orders", "get", 200, history)
    assert [(o["order_id"], o["state"]) for o in history["items"]] == [(order_id, "settled")]

    resp = p.post(f"/api/payments/orders/{order_id}/refunds", {"items": [{"charge_id": "C2", "item_id": "C2-1"}]})
    assert resp.status_code == 202
    _validate("/api/payments/orders/{order_id}/refunds", "post", 202, body(resp))


def test_refusals_are_chinese_4xx(p: Pay) -> None:
    resp = p.post("/api/payments/charges", {"patient_id": PATIENT, "charge_ids": ["C1"], "request_key": "short"})
    assert resp.status_code == 400 and body(resp)["message"]
    resp = p.post("/api/payments/charges", {"patient_id": "P999", "charge_ids": ["C1"], "request_key": "attempt-0002"})
    assert resp.status_code == 404
    resp = p.client.http.post("/api/payments/charges", headers={**p.cookie, "Content-Type": "application/json"},
                              body="{not json")
    assert resp.status_code == 400
    resp = p.get("/api/payments/orders/STLnotmine0000000001")
    assert resp.status_code == 404 and body(resp)["code"] == "NOT_FOUND"
    resp = p.post("/api/payments/orders/STLnotmine0000000001/check", {})
    assert resp.status_code == 404
    _validate("/api/payments/orders/{order_id}/check", "post", 404, body(resp))
    resp = p.post("/api/payments/registration", {"appointment_id": "A404"})
    assert resp.status_code == 404
    _validate("/api/payments/registration", "post", 404, body(resp))


def test_registration_fee_and_check(p: Pay, monkeypatch: pytest.MonkeyPatch) -> None:
    p.w.payables["A1"] = Payable("A1", "WXO20261205000009", PATIENT, 5000, "挂号费-心内科",
                                 p.w.now + timedelta(minutes=5))
    resp = p.post("/api/payments/registration", {"appointment_id": "A1"})
    assert resp.status_code == 200
    answer = body(resp)
    _validate("/api/payments/registration", "post", 200, answer)
    assert answer["order"]["amount_text"] == "50.00" and answer["jsapi"]["signType"] == "RSA"
    p.w.wechatpay.pay("WXO20261205000009")
    handed: list[str] = []
    monkeypatch.setitem(service.PAID_HANDLERS, "registration", lambda ctx, appointment_id, proof: handed.append(
        appointment_id))
    resp = p.post("/api/payments/orders/WXO20261205000009/check", {})
    assert handed == ["A1"]
    assert resp.status_code == 200 and body(resp)["order"]["state"] == "paid"
    assert body(resp)["order"]["state_text"] == "已支付"


def test_forged_notifications_get_a_fail_body(p: Pay) -> None:
    headers, raw = p.w.notification({"out_trade_no": "STL000001"}, serial="EVILSERIAL")
    resp = p.client.http.post("/api/payments/notify", headers=headers, body=raw)
    assert resp.status_code == 401 and body(resp)["code"] == "FAIL"
    resp = p.client.http.post("/api/payments/refund-notify", headers=headers, body=raw)
    assert resp.status_code == 401 and body(resp)["code"] == "FAIL"
    assert len(p.w.security.events) == 2


def test_refund_notification_endpoint_applies_a_refund(p: Pay) -> None:
    order = service.start_charges(p.w.ctx, OPENID, PATIENT, ["C1"], "attempt-0003")
    prepare = p.w.sent("prepareSettlement")[0]
    service.apply_his_result(p.w.ctx, p.w.result(prepare, 201, settlement_body(prepare, p.w.now)))
    p.w.wechatpay.pay(order.order_id)
    headers, raw = p.w.notification(p.w.wechatpay.resource(order.order_id))
    p.client.http.post("/api/payments/notify", headers=headers, body=raw)
    service.apply_his_result(p.w.ctx, p.w.result(p.w.sent("confirmSettlement")[0], 409, code="LOCK_EXPIRED"))
    no = next(iter(p.w.refunds.items))
    resource = {"mchid": "1900000109", "out_trade_no": order.order_id, "out_refund_no": no, "refund_id": "50x",
                "refund_status": "SUCCESS", "success_time": p.w.now.isoformat(),
                "amount": {"refund": 8650, "total": 8650}}
    headers, raw = p.w.notification(resource, "REFUND.SUCCESS")
    resp = p.client.http.post("/api/payments/refund-notify", headers=headers, body=raw)
    assert resp.status_code == 204
    assert p.w.orders.items[order.order_id].state is OrderState.REFUNDED
    listed = body(p.get("/api/payments/orders"))["items"][0]
    assert listed["state_text"] == "已退款" and listed["refunds"][0]["state_text"] == "已退款"
