"""Fakes behind the payments ports, and a ``PaymentsWorld`` that wires them into a ``PaymentsContext``.

Notifications are opened by the real ``WeChatPayNotifications`` with the devstack's TEST platform key (pure
cryptography, no I/O), so the service tests exercise the same checks production does."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib.adapters.wechatpay.client import WeChatPayNotifications
from chalicelib.adapters.wechatpay.crypto import PlatformVerifier
from chalicelib.domain.his_messages import HisError, HisRequest, HisResult
from chalicelib.domain.patients import PatientBinding, Relation
from chalicelib.domain.payments import Order, OrderState, RefundResult, SecurityEvent, Transaction, amount_fen
from chalicelib.domain.wechat import Notice
from chalicelib.services.payments import PaymentsContext
from chalicelib.services.ports import WeChatPayError
from devstack.wechatpay_fake import notify
from tests.fakes import FakeBlobStore, FakeHisRequestQueue, FakePatientBindings, FakeRefundObligations
from tests.fakes_live_reads import FakeLiveCopies
from tests.fakes_reconciliation import FakePaymentRecords

KEYS = Path(__file__).resolve().parents[1] / "devstack" / "wechatpay_fake" / "keys"
APPID = "wx00000000local0001"
MCHID = "1900000109"
SERIAL = "FAKEPLATFORMSERIAL0001"
APIV3_KEY = b"local-apiv3-key-NOT-FOR-PROD-001"
OPENID = "oPayTestUser000000000000001"
PATIENT = "P000123456"


def platform_private_pem() -> str:
    return (KEYS / "platform_private.pem").read_text()


def platform_public_pem() -> str:
    return (KEYS / "platform_public.pem").read_text()


class FakePaymentOrders:
    def __init__(self) -> None:
        self.items: dict[str, Order] = {}
        self.lock = threading.Lock()
        self.writes = 0

    def create(self, order: Order) -> bool:
        with self.lock:
            if order.order_id in self.items:
                return False
            self.items[order.order_id] = order
            return True

    def get(self, order_id: str) -> Order | None:
        return self.items.get(order_id)

    def replace(self, order: Order, expected: Order) -> bool:
        with self.lock:
            held = self.items.get(order.order_id)
            if held is None or held.state is not expected.state or held.version != expected.version:
                return False
            self.items[order.order_id] = order
            self.writes += 1
            return True

    def of_user(self, openid: str, limit: int = 50) -> list[Order]:
        return sorted((o for o in self.items.values() if o.openid == openid), key=lambda o: o.created_at,
                      reverse=True)[:limit]

    def unfinished(self, before: datetime, limit: int = 100) -> list[Order]:
        return [o for o in self.items.values() if o.expires_at < before and (
            o.state in (OrderState.CREATED, OrderState.PAYING) or (o.state is OrderState.PAID and not o.handled))][:limit]


class FakeSecurityEvents:
    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []

    def record(self, event: SecurityEvent) -> None:
        self.events.append(event)

    def recent(self, limit: int = 100) -> list[SecurityEvent]:
        return list(reversed(self.events))[:limit]


@dataclass
class _PayOrder:
    out_trade_no: str
    prepay_id: str
    total: int
    openid: str
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: datetime | None = None


class FakeWeChatPay:
    """WeChat Pay in memory: what the merchant API does, and ``pay()`` for what the patient does."""

    def __init__(self, clock: Any) -> None:
        self.appid, self.mchid = APPID, MCHID
        self.clock = clock
        self.orders: dict[str, _PayOrder] = {}
        self.refunds: dict[str, RefundResult] = {}
        self.calls: list[tuple[str, Any]] = []
        self.unavailable = False
        self.refund_status = "PROCESSING"

    def _call(self, name: str, detail: Any) -> None:
        self.calls.append((name, detail))
        if self.unavailable:
            from chalicelib.services.ports import WeChatPayUnavailableError

            raise WeChatPayUnavailableError(name)

    def jsapi_prepay(self, out_trade_no: str, description: str, total_fen: int, payer_openid: str,
                     time_expire: datetime, notify_url: str) -> str:
        self._call("jsapi", (out_trade_no, total_fen))
        amount_fen(total_fen)
        held = self.orders.get(out_trade_no)
        if held is None:
            held = self.orders[out_trade_no] = _PayOrder(out_trade_no, "wx" + secrets.token_hex(8), total_fen,
                                                         payer_openid)
        return held.prepay_id

    def pay(self, out_trade_no: str) -> Transaction:
        o = self.orders[out_trade_no]
        if o.state == "NOTPAY":
            o.state, o.transaction_id, o.success_time = "SUCCESS", "4200" + secrets.token_hex(8), self.clock()
        return self.transaction(out_trade_no)

    def transaction(self, out_trade_no: str) -> Transaction:
        o = self.orders[out_trade_no]
        return Transaction.from_json(self.resource(out_trade_no) if o.transaction_id else {
            "appid": APPID, "mchid": MCHID, "out_trade_no": o.out_trade_no, "trade_state": o.state,
            "amount": {"total": o.total}})

    def resource(self, order_no: str, **changes: Any) -> dict[str, Any]:
        o = self.orders[order_no]
        body = {"appid": APPID, "mchid": MCHID, "out_trade_no": o.out_trade_no, "transaction_id": o.transaction_id,
                "trade_state": o.state, "trade_type": "JSAPI", "payer": {"openid": o.openid},
                "success_time": o.success_time.isoformat() if o.success_time else None,
                "amount": {"total": o.total, "payer_total": o.total, "currency": "CNY"}}
        body.update(changes)
        return body

    def query(self, out_trade_no: str) -> Transaction | None:
        self._call("query", out_trade_no)
        return self.transaction(out_trade_no) if out_trade_no in self.orders else None

    def close(self, out_trade_no: str) -> None:
        self._call("close", out_trade_no)
        o = self.orders.get(out_trade_no)
        if o is None:
            raise WeChatPayError(404, "ORDER_NOT_EXIST")
        if o.state == "SUCCESS":
            raise WeChatPayError(400, "ORDER_PAID")
        o.state = "CLOSED"

    def refund(self, out_refund_no: str, out_trade_no: str, refund_fen: int, total_fen: int, reason: str,
               notify_url: str) -> RefundResult:
        self._call("refund", (out_refund_no, refund_fen))
        amount_fen(refund_fen)
        if out_refund_no not in self.refunds:
            self.refunds[out_refund_no] = RefundResult(MCHID, out_trade_no, out_refund_no, "50" + secrets.token_hex(6),
                                                       self.refund_status, refund_fen, total_fen,
                                                       self.clock() if self.refund_status == "SUCCESS" else None)
        return self.refunds[out_refund_no]

    def query_refund(self, out_refund_no: str) -> RefundResult | None:
        self._call("query_refund", out_refund_no)
        return self.refunds.get(out_refund_no)

    def jsapi_params(self, prepay_id: str) -> dict[str, str]:
        return {"appId": APPID, "timeStamp": "1", "nonceStr": "n", "package": f"prepay_id={prepay_id}",
                "signType": "RSA", "paySign": "fake"}

    def calls_named(self, name: str) -> list[Any]:
        return [d for n, d in self.calls if n == name]


def unpaid_charge(charge_id: str, total: int, payable: bool = True, title: str = "西药处方") -> dict[str, Any]:
    return {"charge_id": charge_id, "patient_id": PATIENT, "visit_id": "V1", "type": "prescription", "title": title,
            "status": "unpaid", "payable_online": payable, "not_payable_reason": None if payable else "counter_only",
            "total_fen": total, "created_at": "2026-12-05T09:00:00+08:00", "expires_at": None,
            "items": [{"item_id": f"{charge_id}-1", "name": "阿莫西林胶囊", "specification": "0.25g×24粒/盒",
                       "quantity": 1, "unit": "盒", "unit_price_fen": total, "amount_fen": total,
                       "execution_status": "not_executed"}]}


class FakeChargesBridge:
    """A ``HisLiveReader`` answering listCharges from ``charges`` (by patient)."""

    def __init__(self, now: datetime, charges: dict[str, list[dict[str, Any]]]) -> None:
        self.now, self.charges, self.requests, self.down = now, charges, [], False
        self.requests: list[HisRequest]

    def read(self, request: HisRequest) -> HisResult | None:
        self.requests.append(request)
        if self.down:
            return HisResult(request.request_id, request.operation, "error", self.now, 503,
                             error=HisError("HIS_UNAVAILABLE", "down", True))
        items = self.charges.get(request.path_params.get("patient_id", ""), [])
        return HisResult(request.request_id, request.operation, "ok", self.now, 200, body={"items": items})


class PaymentsWorld:
    """Every port of ``PaymentsContext`` faked; ``now`` moves with ``advance``."""

    def __init__(self, now: datetime | None = None, openid: str = OPENID) -> None:
        self.now = now or datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
        self.openid = openid
        self.orders = FakePaymentOrders()
        self.wechatpay = FakeWeChatPay(lambda: self.now)
        self.security = FakeSecurityEvents()
        self.records = FakePaymentRecords()
        self.refunds = FakeRefundObligations()
        self.queue = FakeHisRequestQueue()
        self.bindings = FakePatientBindings(PatientBinding(openid, PATIENT, Relation.SELF, "张*", self.now))
        self.bridge = FakeChargesBridge(self.now, {PATIENT: [unpaid_charge("C1", 8650), unpaid_charge("C2", 1200)]})
        self.notices: list[tuple[Notice, str]] = []
        self.paid: list[tuple[Any, str, Any]] = []
        self.payables: dict[str, Any] = {}
        self.ctx = PaymentsContext(
            orders=self.orders, wechatpay=self.wechatpay,
            notifications=WeChatPayNotifications(PlatformVerifier({SERIAL: platform_public_pem()}), APIV3_KEY),
            security=self.security, records=self.records, refunds=self.refunds, queue=self.queue,
            bindings=self.bindings, reader=self.bridge, copies=FakeLiveCopies(), blobs=FakeBlobStore(),
            clock=lambda: self.now, new_id=lambda: secrets.token_hex(8), end_user_key=b"end-user-key",
            order_key=b"order-key", notify_url="https://h5.example/api/payments/notify",
            refund_notify_url="https://h5.example/api/payments/refund-notify",
            send_notice=lambda notice, notice_id: self.notices.append((notice, notice_id)),
            page_url=lambda page: f"https://h5.example/{page}",
            registration_payable=self._payable, handler_context=lambda kind: f"ctx:{kind}",
        )

    def _payable(self, openid: str, appointment_id: str) -> Any:
        payable = self.payables.get(appointment_id)
        if payable is None or openid != self.openid:
            raise LookupError(appointment_id)
        return payable

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def notification(self, resource: dict[str, Any], event_type: str = "TRANSACTION.SUCCESS", **options: Any,
                     ) -> tuple[dict[str, str], bytes]:
        return notify.build(resource, event_type, APIV3_KEY, platform_private_pem(), options.pop("serial", SERIAL),
                            timestamp=options.pop("timestamp", int(self.now.timestamp())), **options)

    def result(self, request: HisRequest, status: int, body: Any = None, code: str | None = None,
               retryable: bool = False) -> HisResult:
        error = HisError(code, code, retryable) if code else None
        return HisResult(request.request_id, request.operation, "error" if code else "ok", self.now, status, body=body,
                         error=error, context=dict(request.context))

    def sent(self, operation: str) -> list[HisRequest]:
        return [r for r in self.queue.sent if r.operation == operation]


@dataclass(frozen=True)
class Payable:
    appointment_id: str
    order_id: str
    patient_id: str
    amount_fen: Any
    description: str
    pay_by: datetime | None


def settlement_body(request: HisRequest, now: datetime, status: str = "pending") -> dict[str, Any]:
    body = request.body or {}
    return {"settlement_id": "ST20261205001", "settlement_request_no": body.get("settlement_request_no"),
            "patient_id": PATIENT, "status": status, "charges": [], "total_fen": body.get("expected_total_fen"),
            "expires_at": (now + timedelta(minutes=15)).isoformat(), "created_at": now.isoformat(),
            "updated_at": now.isoformat()}


def settled_body(now: datetime, total: int) -> dict[str, Any]:
    return {"settlement_id": "ST20261205001", "status": "settled", "total_fen": total, "settled_at": now.isoformat(),
            "late_confirm": False,
            "e_receipt": {"status": "issued", "receipt_code": "11010126", "receipt_no": "0000123456",
                          "verification_code": "a1b2c3", "issued_at": now.isoformat()},
            "guidance": [{"charge_id": "C1", "action": "collect_medicine", "window": "西药房3号窗口",
                          "location": {"campus_id": "C01", "campus_name": "本部院区", "building": "门诊楼", "floor": "1F",
                                       "room": None, "description": "大厅东侧"}}]}


def with_state(order: Order, state: OrderState) -> Order:
    return replace(order, state=state)
