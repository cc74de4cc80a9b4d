"""Payments through WeChat Pay (APIv3, JSAPI): money, orders and their state machine, notification checks.

Pure: no I/O, times and ids are passed in. The cryptography (request signatures, the platform's
signatures, AES-256-GCM) lives in ``chalicelib.adapters.wechatpay``; what is decided here is *whether*
what arrived may change an order, and to what.

Money is integer fen. ``amount_fen`` refuses 0, negatives, non-integers, bools and anything above
``MAX_AMOUNT_FEN`` before a request can reach WeChat Pay. The client never sends a price: the server
takes it from the booking record (registration) or from the HIS pre-settlement (outpatient charges).

An order (``Order``, ``order_id`` = WeChat Pay ``out_trade_no`` = the HIS ``order_id`` /
``settlement_request_no``) moves only along ``TRANSITIONS``::

    created ─► paying ─► paid ─► settled ─► refunding ─► refunded
       │          │        └──────────────► refunding
       └──────────┴─► closed ─► paid   (a payment that still arrives is taken, then settled or refunded)

Every transition is applied by the store with a condition on the state it leaves, so a notification
delivered 50 times at once, or again 15 times later, applies once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

# 50,000 元: far above any registration fee or outpatient bill this account takes online.
MAX_AMOUNT_FEN = 5_000_000
NOTIFICATION_WINDOW_SECONDS = 300
ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{6,32}$")
REQUEST_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Pay within this long after the order is made (the HIS settlement lock is 15 min; WeChat Pay's
# time_expire must be at least 2 minutes before the HIS lock expires, spec §10.3).
DEFAULT_PAY_WINDOW = timedelta(minutes=12)
HIS_LOCK_MARGIN = timedelta(minutes=2)


class AmountError(ValueError):
    """Not an amount we would ever ask WeChat Pay for."""


def amount_fen(value: Any) -> int:
    """``value`` as a payable amount in fen, or ``AmountError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise AmountError("amount must be an integer number of fen")
    if value <= 0:
        raise AmountError("amount must be positive")
    if value > MAX_AMOUNT_FEN:
        raise AmountError("amount exceeds the online payment cap")
    return value


def yuan_text(fen: int) -> str:
    """5000 -> "50.00" (display only; integer arithmetic)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


class OrderKind(StrEnum):
    REGISTRATION = "registration"  # 挂号费
    CHARGES = "charges"  # 门诊缴费


class OrderState(StrEnum):
    CREATED = "created"  # recorded; waiting for the HIS pre-settlement or the prepay
    PAYING = "paying"  # prepay_id obtained: the patient may pay
    PAID = "paid"  # WeChat Pay confirmed the payment
    SETTLED = "settled"  # the HIS accepted it (charges settled / registration confirmed)
    REFUNDING = "refunding"  # a full refund is under way
    REFUNDED = "refunded"
    CLOSED = "closed"  # never paid: expired, given up, or the HIS refused before payment


TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.CREATED: frozenset({OrderState.PAYING, OrderState.PAID, OrderState.CLOSED}),
    OrderState.PAYING: frozenset({OrderState.PAID, OrderState.CLOSED}),
    OrderState.PAID: frozenset({OrderState.SETTLED, OrderState.REFUNDING}),
    OrderState.SETTLED: frozenset({OrderState.REFUNDING}),
    OrderState.REFUNDING: frozenset({OrderState.REFUNDED}),
    OrderState.REFUNDED: frozenset(),
    # Money must never be lost: a payment that completes as we close is still taken (then refunded).
    OrderState.CLOSED: frozenset({OrderState.PAID}),
}
UNPAID = frozenset({OrderState.CREATED, OrderState.PAYING, OrderState.CLOSED})
STATE_TEXT = {
    OrderState.CREATED: "正在准备支付",
    OrderState.PAYING: "待支付",
    OrderState.PAID: "已支付，正在确认",
    OrderState.SETTLED: "已缴费",
    OrderState.REFUNDING: "退款中",
    OrderState.REFUNDED: "已退款",
    OrderState.CLOSED: "已关闭",
}


class TransitionError(ValueError):
    pass


def can_transition(from_state: OrderState, to_state: OrderState) -> bool:
    return to_state in TRANSITIONS[from_state]


def sources_of(to_state: OrderState) -> frozenset[OrderState]:
    """The states an order may be in for a move to ``to_state`` (the store's write condition)."""
    return frozenset(s for s, targets in TRANSITIONS.items() if to_state in targets)


@dataclass(frozen=True)
class PaymentProof:
    """What WeChat Pay confirmed; handed to the paid handler of the order's kind."""

    transaction_id: str
    out_trade_no: str
    amount_fen: int
    paid_at: datetime
    mch_id: str


@dataclass(frozen=True)
class RefundLine:
    out_refund_no: str
    amount_fen: int
    reason: str
    state: str  # accepted | success | abnormal | closed
    at: datetime


@dataclass(frozen=True)
class Order:
    order_id: str  # = out_trade_no
    kind: OrderKind
    openid: str
    patient_id: str
    subject_id: str  # appointment_id (registration) or the settlement (charges; "" until pre-settled)
    amount_fen: int
    description: str
    state: OrderState
    created_at: datetime
    expires_at: datetime  # WeChat Pay time_expire
    version: int = 0
    prepay_id: str | None = None
    transaction_id: str | None = None
    paid_at: datetime | None = None
    handled: bool = False  # the paid handler ran
    items: tuple[Mapping[str, Any], ...] = ()  # charges: the charges as pre-settled (display)
    settlement: Mapping[str, Any] | None = None  # charges: the HIS settlement once settled (receipt, guidance)
    refunds: tuple[RefundLine, ...] = ()
    message: str = ""  # Chinese, what happened (shown on the pages)
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        amount_fen(self.amount_fen)
        if not ORDER_ID_PATTERN.match(self.order_id):
            raise ValueError("order_id must be 6-32 of [A-Za-z0-9_-] (a WeChat Pay out_trade_no)")
        for at in (self.created_at, self.expires_at):
            if at.tzinfo is None:
                raise ValueError("times must be timezone-aware")

    @property
    def business_type(self) -> str:
        return "REGISTRATION" if self.kind is OrderKind.REGISTRATION else "OUTPATIENT"

    def moved(self, to_state: OrderState, at: datetime, **changes: Any) -> Order:
        """This order in ``to_state`` (the store writes it only if the held one is still in ``self.state``)."""
        if not can_transition(self.state, to_state):
            raise TransitionError(f"{self.state} -> {to_state} is not allowed")
        return replace(self, state=to_state, version=self.version + 1, updated_at=at, **changes)

    def changed(self, at: datetime, **changes: Any) -> Order:
        """Same state, other fields changed (a new version)."""
        return replace(self, version=self.version + 1, updated_at=at, **changes)

    def to_dict(self) -> dict[str, Any]:
        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at else None

        return {
            "order_id": self.order_id, "kind": self.kind.value, "openid": self.openid, "patient_id": self.patient_id,
            "subject_id": self.subject_id, "amount_fen": self.amount_fen, "description": self.description,
            "state": self.state.value, "created_at": iso(self.created_at), "expires_at": iso(self.expires_at),
            "version": self.version, "prepay_id": self.prepay_id, "transaction_id": self.transaction_id,
            "paid_at": iso(self.paid_at), "handled": self.handled, "items": [dict(i) for i in self.items],
            "settlement": dict(self.settlement) if self.settlement is not None else None,
            "refunds": [{"out_refund_no": r.out_refund_no, "amount_fen": r.amount_fen, "reason": r.reason,
                         "state": r.state, "at": r.at.isoformat()} for r in self.refunds],
            "message": self.message, "updated_at": iso(self.updated_at),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Order:
        def at(name: str) -> datetime | None:
            value = raw.get(name)
            return datetime.fromisoformat(value) if isinstance(value, str) and value else None

        created, expires = at("created_at"), at("expires_at")
        assert created is not None and expires is not None
        return cls(
            order_id=str(raw["order_id"]), kind=OrderKind(raw["kind"]), openid=str(raw["openid"]),
            patient_id=str(raw["patient_id"]), subject_id=str(raw.get("subject_id") or ""),
            amount_fen=int(raw["amount_fen"]), description=str(raw.get("description") or ""),
            state=OrderState(raw["state"]), created_at=created, expires_at=expires, version=int(raw.get("version") or 0),
            prepay_id=raw.get("prepay_id"), transaction_id=raw.get("transaction_id"), paid_at=at("paid_at"),
            handled=bool(raw.get("handled")), items=tuple(raw.get("items") or ()), settlement=raw.get("settlement"),
            refunds=tuple(RefundLine(str(r["out_refund_no"]), int(r["amount_fen"]), str(r.get("reason") or ""),
                                     str(r.get("state") or "accepted"), datetime.fromisoformat(r["at"]))
                          for r in raw.get("refunds") or ()),
            message=str(raw.get("message") or ""), updated_at=at("updated_at"),
        )

    def with_refund(self, line: RefundLine, at: datetime) -> Order:
        """Record (or update) one refund line by ``out_refund_no``."""
        others = tuple(r for r in self.refunds if r.out_refund_no != line.out_refund_no)
        return self.changed(at, refunds=(*others, line))

    @property
    def refunded_fen(self) -> int:
        return sum(r.amount_fen for r in self.refunds if r.state in ("accepted", "success"))


def charges_order_id(openid: str, request_key: str, key: bytes) -> str:
    """The order (and ``settlement_request_no``) of one "pay these charges" attempt: the same page attempt
    (``request_key``) always names the same order, so double taps and retries make one."""
    digest = hmac.new(key, f"{openid}\n{request_key}".encode(), hashlib.sha256).hexdigest()
    return f"STL{digest[:29]}"


def full_refund_no(order_id: str) -> str:
    """The one ``out_refund_no`` of the full refund of an order (so it can only ever be owed once)."""
    return f"RF{order_id}"[:32]


def pay_deadline(now: datetime, his_lock_expires_at: datetime | None, pay_by: datetime | None = None) -> datetime:
    """WeChat Pay ``time_expire``: within our pay window, ≥ 2 min before the HIS lock expires (spec §10.3)."""
    deadline = now + DEFAULT_PAY_WINDOW
    if his_lock_expires_at is not None:
        deadline = min(deadline, his_lock_expires_at - HIS_LOCK_MARGIN)
    if pay_by is not None:
        deadline = min(deadline, pay_by)
    return deadline


# ---- notifications ----------------------------------------------------------------------------------
class Refusal(StrEnum):
    """Why a notification (or a query answer) was not applied; recorded as a security event."""

    MISSING_HEADERS = "missing_headers"
    UNKNOWN_SERIAL = "unknown_serial"
    STALE_TIMESTAMP = "stale_timestamp"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED = "malformed"
    DECRYPT_FAILED = "decrypt_failed"
    WRONG_APPID = "wrong_appid"
    WRONG_MCHID = "wrong_mchid"
    UNKNOWN_ORDER = "unknown_order"
    WRONG_AMOUNT = "wrong_amount"
    WRONG_CURRENCY = "wrong_currency"
    NOT_SUCCESS = "not_success"
    OTHER_TRANSACTION = "other_transaction"  # the order was already paid under another transaction_id


def timestamp_fresh(timestamp: str, now: datetime, window: int = NOTIFICATION_WINDOW_SECONDS) -> bool:
    """``Wechatpay-Timestamp`` (epoch seconds) within ±``window`` of now."""
    if not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(int(timestamp) - now.timestamp()) <= window


@dataclass(frozen=True)
class Transaction:
    """The decrypted ``resource`` of a TRANSACTION.* notification or a query answer (fields we use)."""

    appid: str
    mchid: str
    out_trade_no: str
    transaction_id: str
    trade_state: str
    total_fen: int | None
    payer_total_fen: int | None
    currency: str
    success_time: datetime | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Transaction:
        amount = _amount_of(raw)
        return cls(
            appid=str(raw.get("appid") or ""), mchid=str(raw.get("mchid") or ""),
            out_trade_no=str(raw.get("out_trade_no") or ""), transaction_id=str(raw.get("transaction_id") or ""),
            trade_state=str(raw.get("trade_state") or ""),
            total_fen=_whole_fen(amount.get("total")), payer_total_fen=_whole_fen(amount.get("payer_total")),
            currency=str(amount.get("currency") or "CNY"), success_time=_aware_time(raw.get("success_time")),
        )


def check_transaction(tx: Transaction, order: Order | None, appid: str, mchid: str) -> Refusal | None:
    """Whether a successful transaction may mark ``order`` paid (None: it may)."""
    if not hmac.compare_digest(tx.appid, appid):
        return Refusal.WRONG_APPID
    if not hmac.compare_digest(tx.mchid, mchid):
        return Refusal.WRONG_MCHID
    if order is None or order.order_id != tx.out_trade_no:
        return Refusal.UNKNOWN_ORDER
    if tx.currency != "CNY":
        return Refusal.WRONG_CURRENCY
    if tx.total_fen != order.amount_fen:
        return Refusal.WRONG_AMOUNT
    if tx.trade_state != "SUCCESS" or not tx.transaction_id or tx.success_time is None:
        return Refusal.NOT_SUCCESS
    if order.transaction_id and order.transaction_id != tx.transaction_id:
        return Refusal.OTHER_TRANSACTION
    return None


@dataclass(frozen=True)
class RefundResult:
    """The decrypted ``resource`` of a REFUND.* notification, or a refund query answer."""

    mchid: str
    out_trade_no: str
    out_refund_no: str
    refund_id: str
    status: str  # SUCCESS | CLOSED | ABNORMAL | PROCESSING
    refund_fen: int | None
    total_fen: int | None
    success_time: datetime | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RefundResult:
        amount = _amount_of(raw)
        return cls(
            mchid=str(raw.get("mchid") or ""), out_trade_no=str(raw.get("out_trade_no") or ""),
            out_refund_no=str(raw.get("out_refund_no") or ""), refund_id=str(raw.get("refund_id") or ""),
            status=str(raw.get("refund_status") or raw.get("status") or ""),
            refund_fen=_whole_fen(amount.get("refund")), total_fen=_whole_fen(amount.get("total")),
            success_time=_aware_time(raw.get("success_time")),
        )


def _amount_of(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    amount = raw.get("amount")
    return amount if isinstance(amount, Mapping) else {}


def _whole_fen(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _aware_time(value: Any) -> datetime | None:
    """A timezone-aware ISO 8601 time, or None (absent, malformed or without an offset)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


# ---- JSAPI --------------------------------------------------------------------------------------------
def jsapi_message(appid: str, timestamp: str, nonce: str, prepay_id: str) -> str:
    """The string the merchant signs for ``WeixinJSBridge.invoke('getBrandWCPayRequest', …)``."""
    return f"{appid}\n{timestamp}\n{nonce}\nprepay_id={prepay_id}\n"


@dataclass(frozen=True)
class SecurityEvent:
    """A refused notification or answer: no personal data (no openid, no patient id)."""

    event_id: str
    at: datetime
    channel: str  # payment_notify | refund_notify | query
    reason: Refusal
    serial: str = ""
    out_trade_no: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "at": self.at.isoformat(), "channel": self.channel,
                "reason": self.reason.value, "serial": self.serial[:64], "out_trade_no": self.out_trade_no[:32],
                "detail": self.detail[:200]}


# ---- the WeChat Pay trade bill ----------------------------------------------------------------------------
@dataclass(frozen=True)
class BillLine:
    kind: str  # PAYMENT | REFUND
    transaction_id: str
    out_trade_no: str
    out_refund_no: str | None
    amount_fen: int
    at: datetime


def _bill_fen(text: str) -> int:
    """"50.00" -> 5000 without floating point."""
    text = text.strip()
    match = re.fullmatch(r"(\d{1,12})(?:\.(\d{1,2}))?", text)
    if not match:
        raise ValueError(f"not an amount: {text!r}")
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def parse_trade_bill(text: str, tz: Any) -> tuple[list[BillLine], list[int]]:
    """WeChat Pay's trade bill (ALL): a header line, data lines whose fields start with a backquote, then a
    summary. Returns the lines and the numbers of the lines that could not be read."""
    lines: list[BillLine] = []
    problems: list[int] = []
    rows = text.splitlines()
    if not rows:
        return lines, problems
    header = [h.strip().lstrip("\ufeff") for h in rows[0].split(",")]
    index = {name: n for n, name in enumerate(header)}
    needed = ("交易时间", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "商户退款单号", "退款金额", "退款状态")
    if not all(n in index for n in needed):
        return lines, [1]
    for n, row in enumerate(rows[1:], start=2):
        if not row.startswith("`"):
            break  # the summary block
        fields = [f.strip().lstrip("`") for f in row.split(",")]
        if len(fields) < len(header):
            problems.append(n)
            continue
        try:
            at = datetime.strptime(fields[index["交易时间"]], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
            state = fields[index["交易状态"]]
            if state == "SUCCESS":
                lines.append(BillLine("PAYMENT", fields[index["微信订单号"]], fields[index["商户订单号"]], None,
                                      _bill_fen(fields[index["应结订单金额"]]), at))
            elif state == "REFUND":
                lines.append(BillLine("REFUND", fields[index["微信订单号"]], fields[index["商户订单号"]],
                                      fields[index["商户退款单号"]], _bill_fen(fields[index["退款金额"]]), at))
        except (ValueError, KeyError):
            problems.append(n)
    return lines, problems


@dataclass(frozen=True)
class ChargeSelection:
    """The charges a patient chose to pay, checked against the HIS's current list."""

    charge_ids: tuple[str, ...]
    total_fen: int
    charges: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)


class SelectionError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


def select_charges(charge_ids: Any, his_charges: Sequence[Mapping[str, Any]]) -> ChargeSelection:
    """The total comes from the HIS's list, never from the client; every chosen charge must be unpaid and
    payable online."""
    if not isinstance(charge_ids, list) or not charge_ids or len(charge_ids) > 50 \
            or not all(isinstance(c, str) and 0 < len(c) <= 64 for c in charge_ids) \
            or len(set(charge_ids)) != len(charge_ids):
        raise SelectionError("BAD_REQUEST", "请选择要缴费的项目")
    by_id = {str(c.get("charge_id")): c for c in his_charges}
    chosen = []
    for cid in charge_ids:
        charge = by_id.get(cid)
        if charge is None or charge.get("status") != "unpaid":
            raise SelectionError("CHARGES_CHANGED", "缴费项目已变化，请刷新后重试")
        if not charge.get("payable_online"):
            raise SelectionError("NOT_PAYABLE", "所选项目需到收费窗口缴费")
        chosen.append(charge)
    total = 0
    for charge in chosen:
        fen = charge.get("total_fen")
        if isinstance(fen, bool) or not isinstance(fen, int) or fen <= 0:
            raise SelectionError("CHARGES_CHANGED", "缴费项目已变化，请刷新后重试")
        total += fen
    try:
        amount_fen(total)
    except AmountError as exc:
        raise SelectionError("AMOUNT_NOT_PAYABLE", "金额超出线上缴费限额，请到收费窗口缴费") from exc
    return ChargeSelection(tuple(charge_ids), total, tuple(chosen))
