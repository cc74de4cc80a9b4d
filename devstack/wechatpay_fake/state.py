"""What the fake WeChat Pay holds: orders, refunds, the call log, faults, notification deliveries."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
KEYS = Path(__file__).with_name("keys")
PLATFORM_SERIAL = "FAKEPLATFORMSERIAL0001"


@dataclass
class FakePayConfig:
    appid: str
    mchid: str
    merchant_serial: str
    apiv3_key: bytes
    merchant_public_pem: str = field(default_factory=(KEYS / "merchant_public.pem").read_text)
    platform_private_pem: str = field(default_factory=(KEYS / "platform_private.pem").read_text)
    platform_serial: str = PLATFORM_SERIAL
    resend_delays: tuple[float, ...] = (2.0, 5.0, 15.0)  # WeChat Pay: 15 s, 15 s, 30 s, 3 min, … over 24 h


@dataclass
class FakeOrder:
    out_trade_no: str
    prepay_id: str
    appid: str
    mchid: str
    description: str
    total: int
    payer_openid: str
    notify_url: str
    time_expire: datetime
    created_at: datetime
    trade_state: str = "NOTPAY"  # NOTPAY | SUCCESS | CLOSED | REFUND
    transaction_id: str = ""
    success_time: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "appid": self.appid, "mchid": self.mchid, "out_trade_no": self.out_trade_no, "trade_state": self.trade_state,
            "trade_state_desc": {"NOTPAY": "未支付", "SUCCESS": "支付成功", "CLOSED": "已关闭", "REFUND": "转入退款"}[
                self.trade_state], "trade_type": "JSAPI", "payer": {"openid": self.payer_openid},
            "amount": {"total": self.total, "currency": "CNY"}}
        if self.transaction_id:
            body.update({"transaction_id": self.transaction_id, "bank_type": "OTHERS",
                         "success_time": self.success_time.isoformat(timespec="seconds") if self.success_time else None,
                         "amount": {"total": self.total, "payer_total": self.total, "currency": "CNY",
                                    "payer_currency": "CNY"}})
        return body


@dataclass
class FakeRefund:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    refund: int
    total: int
    reason: str
    notify_url: str
    created_at: datetime
    status: str = "PROCESSING"
    success_time: datetime | None = None

    def to_json(self, mchid: str) -> dict[str, Any]:
        return {"mchid": mchid, "refund_id": self.refund_id, "out_refund_no": self.out_refund_no,
                "transaction_id": self.transaction_id, "out_trade_no": self.out_trade_no, "channel": "ORIGINAL",
                "user_received_account": "支付用户零钱", "status": self.status, "refund_status": self.status,
                "create_time": self.created_at.isoformat(timespec="seconds"),
                "success_time": self.success_time.isoformat(timespec="seconds") if self.success_time else None,
                "amount": {"refund": self.refund, "total": self.total, "payer_refund": self.refund,
                           "payer_total": self.total, "currency": "CNY"}}


class FakePayState:
    def __init__(self, config: FakePayConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.orders: dict[str, FakeOrder] = {}
        self.by_prepay: dict[str, str] = {}
        self.refunds: dict[str, FakeRefund] = {}
        self.calls: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.refund_auto_success = True

    def now(self) -> datetime:
        return datetime.now(SHANGHAI).replace(microsecond=0)

    def new_transaction_id(self) -> str:
        return "4200" + self.now().strftime("%Y%m%d") + "".join(secrets.choice("0123456789") for _ in range(16))

    def take_fault(self, path: str) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault["path"]):
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def bill_lines(self, day: str) -> list[dict[str, Any]]:
        """Payments whose success time and refunds whose success time fall on ``day`` (Shanghai)."""
        found: list[dict[str, Any]] = []
        with self.lock:
            for o in self.orders.values():
                if o.success_time and o.success_time.date().isoformat() == day:
                    found.append({"at": o.success_time, "order": o, "refund": None})
            for r in self.refunds.values():
                if r.status == "SUCCESS" and r.success_time and r.success_time.date().isoformat() == day:
                    found.append({"at": r.success_time, "order": self.orders[r.out_trade_no], "refund": r})
        return sorted(found, key=lambda x: x["at"])

    def expire(self) -> None:
        now = self.now()
        with self.lock:
            for o in self.orders.values():
                if o.trade_state == "NOTPAY" and o.time_expire <= now:
                    o.trade_state = "CLOSED"


def later(delay: float, fn: Any, *args: Any) -> None:
    timer = threading.Timer(delay, fn, args)
    timer.daemon = True
    timer.start()


ONE_DAY = timedelta(days=1)
