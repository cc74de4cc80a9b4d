"""Daily reconciliation (对账, spec §7.8.3): the HIS file, our own records, the WeChat Pay bill.

Three sources describe the same money: (a) our records (``OurRecord``: what we were paid and what we
refunded, written by booking and payments), (b) the WeChat Pay bill (optional: the payments side adds
it) and (c) the HIS file for one Shanghai accounting date. ``reconcile`` matches payments on
``transaction_id`` and refunds on ``out_refund_no`` (= ``refund_request_no`` or ``his_refund_id``),
looks on the neighbouring days for what a day does not have (a refund approved at 23:10 and executed
after midnight lands on different days in different sources), and classifies what is left as the
spec's table does, with an owner, an action and whether it is safe to compensate automatically.

Everything here is pure: the file arrives as bytes, times and dates are passed in.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.refunds import BusinessType

SHANGHAI = ZoneInfo("Asia/Shanghai")

PAYMENT = "PAYMENT"
REFUND = "REFUND"

# The columns the matcher cannot do without; every other column may be missing, and unknown ones are ignored.
REQUIRED_COLUMNS = ("record_type", "amount_fen", "accounted_at", "transaction_id", "refund_request_no", "his_refund_id")
_LOCAL_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?\+08:00$")
_FEN = re.compile(r"^[0-9]{1,15}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ReconciliationFileError(ValueError):
    """The file as a whole cannot be read (not UTF-8, no usable header); single bad lines are not this."""


def shanghai_day(at: datetime) -> date:
    """The Shanghai calendar date of an aware time (a record belongs to the date of its accounting time)."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    return at.astimezone(SHANGHAI).date()


def day_start(day: date) -> datetime:
    """00:00 Asia/Shanghai of ``day``, as an aware time."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


def previous_day(now: datetime) -> date:
    """Yesterday in Shanghai (the day the schedule reconciles)."""
    return shanghai_day(now) - timedelta(days=1)


def refund_key(out_refund_no: str) -> str:
    return f"{REFUND}#{out_refund_no}"


def payment_key(transaction_id: str) -> str:
    return f"{PAYMENT}#{transaction_id}"


# ---- the HIS side -------------------------------------------------------------------------------
@dataclass(frozen=True)
class HisRecord:
    """One line of the HIS file. ``record_type`` and ``business_type`` are kept as given (unknown
    values are tolerated, spec §9); ``amount_fen`` is always a positive integer."""

    line_no: int
    record_type: str
    business_type: str
    his_trade_id: str
    his_refund_id: str | None
    caller_ref: str | None
    refund_request_no: str | None
    transaction_id: str | None
    out_trade_no: str | None
    amount_fen: int
    accounted_at: datetime
    patient_id: str | None

    @property
    def out_refund_no(self) -> str | None:
        """The WeChat Pay ``out_refund_no`` of a refund: ours, or the hospital's id when it initiated it."""
        return self.refund_request_no or self.his_refund_id

    @property
    def keys(self) -> tuple[str, ...]:
        """Natural keys to match on (a refund answers to both of its references)."""
        if self.record_type == PAYMENT and self.transaction_id:
            return (payment_key(self.transaction_id),)
        if self.record_type == REFUND:
            return tuple(refund_key(ref) for ref in dict.fromkeys((self.refund_request_no, self.his_refund_id)) if ref)
        return ()


@dataclass(frozen=True)
class LineProblem:
    """A line that could not be used. ``reason`` never quotes the line (it carries patient ids)."""

    line_no: int
    reason: str


@dataclass(frozen=True)
class HisFile:
    records: tuple[HisRecord, ...]
    problems: tuple[LineProblem, ...]
    sha256: str


def _text(row: Mapping[str, str | None], name: str) -> str | None:
    value = row.get(name)
    value = value.strip() if isinstance(value, str) else None
    return value or None


def _record(line_no: int, row: Mapping[str, str | None]) -> HisRecord:
    record_type = (_text(row, "record_type") or "").upper()
    if not record_type:
        raise ValueError("record_type is empty")
    raw_amount = _text(row, "amount_fen") or ""
    if not _FEN.match(raw_amount):
        raise ValueError("amount_fen is not a whole number of fen")
    amount = int(raw_amount)
    if amount <= 0:
        raise ValueError("amount_fen is not positive")
    raw_at = _text(row, "accounted_at") or ""
    if not _LOCAL_DATE_TIME.match(raw_at):
        raise ValueError("accounted_at is not a +08:00 date-time")
    accounted_at = datetime.fromisoformat(raw_at)
    record = HisRecord(
        line_no=line_no,
        record_type=record_type,
        business_type=(_text(row, "business_type") or "").upper(),
        his_trade_id=_text(row, "his_trade_id") or "",
        his_refund_id=_text(row, "his_refund_id"),
        caller_ref=_text(row, "caller_ref"),
        refund_request_no=_text(row, "refund_request_no"),
        transaction_id=_text(row, "transaction_id"),
        out_trade_no=_text(row, "out_trade_no"),
        amount_fen=amount,
        accounted_at=accounted_at,
        patient_id=_text(row, "patient_id"),
    )
    if record_type == PAYMENT and not record.transaction_id:
        raise ValueError("a payment without transaction_id")
    if record_type == REFUND and not record.out_refund_no:
        raise ValueError("a refund without refund_request_no or his_refund_id")
    return record


def parse_his_file(data: bytes) -> HisFile:
    """Read the HIS reconciliation CSV (header row first). Unknown columns are ignored; a malformed
    line is reported in ``problems`` and the rest are still read."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReconciliationFileError("the file is not UTF-8") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise ReconciliationFileError("the file is empty (no header row)")
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ReconciliationFileError(f"the header lacks {', '.join(missing)}")
    records: list[HisRecord] = []
    problems: list[LineProblem] = []
    try:
        for values in reader:
            line_no = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(names):
                problems.append(LineProblem(line_no, f"{len(values)} fields where the header has {len(names)}"))
                continue
            try:
                records.append(_record(line_no, dict(zip(names, values, strict=True))))
            except ValueError as exc:
                problems.append(LineProblem(line_no, str(exc)))
    except csv.Error as exc:
        problems.append(LineProblem(reader.line_num, f"unreadable from here on ({exc.__class__.__name__})"))
    return HisFile(tuple(records), tuple(problems), hashlib.sha256(data).hexdigest())


def sha256_matches(data: bytes, expected: str | None) -> bool:
    """Whether the file is the one the summary describes (``file_sha256``); no expectation, no match."""
    if not expected or not _SHA256.match(expected.lower()):
        return False
    return hmac.compare_digest(hashlib.sha256(data).hexdigest(), expected.lower())


@dataclass(frozen=True)
class HisSummary:
    """``GET /reconciliation/{date}`` (counts and totals only, no personal data)."""

    day: date
    status: str  # generating | ready | (unknown values: treated as not ready)
    file_sha256: str | None = None
    record_count: int | None = None
    payment_count: int | None = None
    payment_total_fen: int | None = None
    refund_count: int | None = None
    refund_total_fen: int | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "status": self.status, "file_sha256": self.file_sha256,
                "record_count": self.record_count, "payment_count": self.payment_count,
                "payment_total_fen": self.payment_total_fen, "refund_count": self.refund_count,
                "refund_total_fen": self.refund_total_fen}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_summary(payload: Any) -> HisSummary:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("date"), str):
        raise ReconciliationFileError("the summary has no date")
    try:
        day = date.fromisoformat(payload["date"])
    except ValueError as exc:
        raise ReconciliationFileError("the summary's date is not YYYY-MM-DD") from exc
    sha = payload.get("file_sha256")
    return HisSummary(
        day=day,
        status=str(payload.get("status") or ""),
        file_sha256=sha.lower() if isinstance(sha, str) and _SHA256.match(sha.lower()) else None,
        record_count=_int_or_none(payload.get("record_count")),
        payment_count=_int_or_none(payload.get("payment_count")),
        payment_total_fen=_int_or_none(payload.get("payment_total_fen")),
        refund_count=_int_or_none(payload.get("refund_count")),
        refund_total_fen=_int_or_none(payload.get("refund_total_fen")),
    )


# ---- our side and WeChat Pay's --------------------------------------------------------------------
class RecordKind(StrEnum):
    PAYMENT = PAYMENT
    REFUND = REFUND


def _check_money(amount_fen: int, at: datetime) -> None:
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise ValueError("amount_fen must be a positive integer number of fen")
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")


@dataclass(frozen=True)
class OurRecord:
    """Money we took or gave back through WeChat Pay: a payment once WeChat Pay confirmed it (``at`` =
    its success time), a refund once WeChat Pay accepted it."""

    kind: RecordKind
    business_type: BusinessType
    caller_ref: str  # order_id or settlement_request_no
    transaction_id: str | None
    out_trade_no: str | None
    out_refund_no: str | None
    amount_fen: int
    at: datetime
    patient_id: str | None = None

    def __post_init__(self) -> None:
        _check_money(self.amount_fen, self.at)
        if self.kind is RecordKind.PAYMENT and not self.transaction_id:
            raise ValueError("a payment needs its transaction_id")
        if self.kind is RecordKind.REFUND and not self.out_refund_no:
            raise ValueError("a refund needs its out_refund_no")

    @property
    def key(self) -> str:
        """The natural key: one record per payment (transaction_id) and per refund (out_refund_no)."""
        return payment_key(self.transaction_id or "") if self.kind is RecordKind.PAYMENT else refund_key(
            self.out_refund_no or "")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "business_type": self.business_type.value, "caller_ref": self.caller_ref,
                "transaction_id": self.transaction_id, "out_trade_no": self.out_trade_no,
                "out_refund_no": self.out_refund_no, "amount_fen": self.amount_fen, "at": self.at.isoformat(),
                "patient_id": self.patient_id}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> OurRecord:
        return cls(RecordKind(raw["kind"]), BusinessType(raw["business_type"]), str(raw["caller_ref"]),
                   raw.get("transaction_id"), raw.get("out_trade_no"), raw.get("out_refund_no"),
                   int(raw["amount_fen"]), datetime.fromisoformat(raw["at"]), raw.get("patient_id"))


@dataclass(frozen=True)
class BillEntry:
    """One line of the WeChat Pay bill (交易账单), as the payments side will parse it."""

    kind: RecordKind
    transaction_id: str
    out_trade_no: str
    out_refund_no: str | None
    amount_fen: int
    at: datetime  # WeChat Pay's payment or refund time

    def __post_init__(self) -> None:
        _check_money(self.amount_fen, self.at)
        if self.kind is RecordKind.REFUND and not self.out_refund_no:
            raise ValueError("a refund needs its out_refund_no")

    @property
    def key(self) -> str:
        return payment_key(self.transaction_id) if self.kind is RecordKind.PAYMENT else refund_key(
            self.out_refund_no or "")


# ---- discrepancies ---------------------------------------------------------------------------------
class Owner(StrEnum):
    INTEGRATOR = "integrator"  # us
    FINANCE_OFFICE = "finance_office"  # 财务科


class DiscrepancyKind(StrEnum):
    PAID_NOT_IN_HIS = "paid_not_in_his"  # paid at WeChat Pay / ours, the HIS has no such payment
    REFUND_NOT_EXECUTED = "refund_not_executed"  # approved in the HIS, not executed at WeChat Pay / not known to us
    NOT_PAID = "in_his_not_paid"  # the HIS accounted a payment nobody paid
    AMOUNT_MISMATCH = "amount_mismatch"
    REFUND_NOT_IN_HIS = "refund_not_in_his"  # refunded at WeChat Pay / by us without an approval in the HIS
    MISSING_IN_OUR_RECORDS = "missing_in_our_records"  # WeChat Pay has it, we do not
    NOT_IN_WECHATPAY_BILL = "not_in_wechatpay_bill"  # we recorded it, WeChat Pay's bill does not have it
    DUPLICATE_IN_HIS = "duplicate_in_his"  # the same payment or refund twice in the file
    UNRECOGNISED_RECORD = "unrecognised_record"  # a record_type we do not know (spec §9)


@dataclass(frozen=True)
class Handling:
    owner: Owner
    action: str
    auto_compensable: bool = False


HANDLING: dict[DiscrepancyKind, Handling] = {
    DiscrepancyKind.PAID_NOT_IN_HIS: Handling(Owner.INTEGRATOR, "确认订单（如仍可确认），否则全额退款"),
    DiscrepancyKind.REFUND_NOT_EXECUTED: Handling(Owner.INTEGRATOR, "通过微信支付执行退款", auto_compensable=True),
    DiscrepancyKind.NOT_PAID: Handling(Owner.FINANCE_OFFICE, "当日报财务科核查（HIS记账但未收款）"),
    DiscrepancyKind.AMOUNT_MISMATCH: Handling(Owner.FINANCE_OFFICE, "当日报财务科核查（金额不一致）"),
    DiscrepancyKind.REFUND_NOT_IN_HIS: Handling(Owner.FINANCE_OFFICE, "报财务科核查（已退款但HIS无退费记录）"),
    DiscrepancyKind.MISSING_IN_OUR_RECORDS: Handling(Owner.INTEGRATOR, "核查本系统交易记录（微信支付有、本系统无）"),
    DiscrepancyKind.NOT_IN_WECHATPAY_BILL: Handling(Owner.INTEGRATOR, "核查微信支付账单（本系统有、账单无）"),
    DiscrepancyKind.DUPLICATE_IN_HIS: Handling(Owner.FINANCE_OFFICE, "报财务科核查（对账文件重复记录）"),
    DiscrepancyKind.UNRECOGNISED_RECORD: Handling(Owner.FINANCE_OFFICE, "报财务科核查（未知记录类型）"),
}


@dataclass(frozen=True)
class Discrepancy:
    kind: DiscrepancyKind
    key: str  # "PAYMENT#<transaction_id>" or "REFUND#<out_refund_no>"
    record_type: str
    business_type: str
    at: datetime  # the time of the record that shows it (HIS accounting time, else ours, else WeChat Pay's)
    his_amount_fen: int | None = None
    our_amount_fen: int | None = None
    bill_amount_fen: int | None = None
    his_trade_id: str | None = None
    his_refund_id: str | None = None
    caller_ref: str | None = None
    patient_id: str | None = None
    line_no: int | None = None
    # The next day's HIS file was not seen yet; it may still account this (late confirmation, §7.8.3).
    awaiting_next_day: bool = False
    resolved: str = ""  # why it no longer needs anyone (e.g. "accounted in the HIS file of 2025-06-17")

    @property
    def handling(self) -> Handling:
        return HANDLING[self.kind]

    @property
    def reference(self) -> str:
        """transaction_id or out_refund_no."""
        return self.key.split("#", 1)[1]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "key": self.key, "record_type": self.record_type,
                "business_type": self.business_type, "at": self.at.isoformat(), "his_amount_fen": self.his_amount_fen,
                "our_amount_fen": self.our_amount_fen, "bill_amount_fen": self.bill_amount_fen,
                "his_trade_id": self.his_trade_id, "his_refund_id": self.his_refund_id, "caller_ref": self.caller_ref,
                "patient_id": self.patient_id, "line_no": self.line_no, "awaiting_next_day": self.awaiting_next_day,
                "resolved": self.resolved}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Discrepancy:
        return cls(DiscrepancyKind(raw["kind"]), raw["key"], raw["record_type"], raw["business_type"],
                   datetime.fromisoformat(raw["at"]), raw.get("his_amount_fen"), raw.get("our_amount_fen"),
                   raw.get("bill_amount_fen"), raw.get("his_trade_id"), raw.get("his_refund_id"),
                   raw.get("caller_ref"), raw.get("patient_id"), raw.get("line_no"),
                   bool(raw.get("awaiting_next_day")), str(raw.get("resolved") or ""))


@dataclass(frozen=True)
class Totals:
    payment_count: int = 0
    payment_total_fen: int = 0
    refund_count: int = 0
    refund_total_fen: int = 0

    @property
    def net_total_fen(self) -> int:
        return self.payment_total_fen - self.refund_total_fen

    def to_dict(self) -> dict[str, int]:
        return {"payment_count": self.payment_count, "payment_total_fen": self.payment_total_fen,
                "refund_count": self.refund_count, "refund_total_fen": self.refund_total_fen}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Totals:
        return cls(int(raw["payment_count"]), int(raw["payment_total_fen"]), int(raw["refund_count"]),
                   int(raw["refund_total_fen"]))


def _totals(items: Iterable[tuple[str, int]]) -> Totals:
    payments: list[int] = []
    refunds: list[int] = []
    for kind, amount in items:
        (payments if kind == PAYMENT else refunds if kind == REFUND else []).append(amount)
    return Totals(len(payments), sum(payments), len(refunds), sum(refunds))


@dataclass(frozen=True)
class Reconciliation:
    """The outcome of matching one Shanghai day."""

    day: date
    his: Totals
    ours: Totals
    bill: Totals | None
    matched: int  # HIS records of the day found where they should be
    matched_across_days: int  # of those, or of ours, found on a neighbouring day (§7.8.3 day boundary)
    discrepancies: tuple[Discrepancy, ...]
    his_keys: frozenset[str] = field(default_factory=frozenset)  # every key of the day's HIS file

    @property
    def open(self) -> tuple[Discrepancy, ...]:
        return tuple(d for d in self.discrepancies if not d.resolved)


def _at_day(at: datetime, day: date) -> bool:
    return shanghai_day(at) == day


def reconcile(
    day: date,
    his_records: Sequence[HisRecord],
    our_records: Sequence[OurRecord],
    bill: Sequence[BillEntry] | None = None,
    neighbour_his_keys: Mapping[date, frozenset[str]] | None = None,
) -> Reconciliation:
    """Match ``day``'s HIS file against our records and, when given, the WeChat Pay bill.

    ``our_records`` and ``bill`` should cover ``day`` and its neighbours (a record on a neighbouring day
    may answer for one of ``day``); ``neighbour_his_keys`` holds the keys of the HIS files of the
    neighbouring days that were already read. Without the bill, "paid" / "refunded at WeChat Pay" is
    judged from our records.
    """
    neighbours = dict(neighbour_his_keys or {})
    ours_by_key = {r.key: r for r in our_records}
    bill_by_key = {e.key: e for e in bill} if bill is not None else None
    found: list[Discrepancy] = []
    seen_his: dict[str, HisRecord] = {}
    matched = across = 0

    def money_source(key: str) -> tuple[OurRecord | None, BillEntry | None, bool]:
        our = ours_by_key.get(key)
        entry = bill_by_key.get(key) if bill_by_key is not None else None
        return our, entry, (entry is not None) if bill_by_key is not None else (our is not None)

    for rec in his_records:
        if not rec.keys:
            found.append(_from_his(DiscrepancyKind.UNRECOGNISED_RECORD, f"{rec.record_type}#line{rec.line_no}", rec))
            continue
        key = next((k for k in rec.keys if k in ours_by_key or k in (bill_by_key or {})), rec.keys[0])
        if any(k in seen_his for k in rec.keys):
            found.append(_from_his(DiscrepancyKind.DUPLICATE_IN_HIS, key, rec))
            continue
        seen_his.update(dict.fromkeys(rec.keys, rec))
        our, entry, moved = money_source(key)
        if not moved:
            kind = DiscrepancyKind.NOT_PAID if rec.record_type == PAYMENT else DiscrepancyKind.REFUND_NOT_EXECUTED
            found.append(_from_his(kind, key, rec, our, entry))
            continue
        matched += 1
        if any(x is not None and not _at_day(x.at, day) for x in (our, entry)):
            across += 1
        if any(x is not None and x.amount_fen != rec.amount_fen for x in (our, entry)):
            found.append(_from_his(DiscrepancyKind.AMOUNT_MISMATCH, key, rec, our, entry))
        elif bill_by_key is not None and our is None:
            found.append(_from_his(DiscrepancyKind.MISSING_IN_OUR_RECORDS, key, rec, our, entry))

    skip = set(seen_his) | {d.key for d in found}
    unmatched, crossed = _money_without_his(day, our_records, bill, skip, neighbours)
    found.extend(unmatched)
    across += crossed

    all_his = [(r.record_type, r.amount_fen) for r in his_records]
    return Reconciliation(
        day=day,
        his=_totals(all_his),
        ours=_totals([(r.kind.value, r.amount_fen) for r in our_records if _at_day(r.at, day)]),
        bill=_totals([(e.kind.value, e.amount_fen) for e in bill if _at_day(e.at, day)]) if bill is not None else None,
        matched=matched,
        matched_across_days=across,
        discrepancies=tuple(found),
        his_keys=frozenset(k for r in his_records for k in r.keys),
    )


def _money_without_his(
    day: date,
    our_records: Sequence[OurRecord],
    bill: Sequence[BillEntry] | None,
    skip: set[str],
    neighbours: Mapping[date, frozenset[str]],
) -> tuple[list[Discrepancy], int]:
    """Money that moved on ``day`` (ours or WeChat Pay's) with no HIS record of the day: found on a
    neighbouring day's HIS file (counted), or a discrepancy."""
    ours_by_key = {r.key: r for r in our_records}
    bill_by_key = {e.key: e for e in bill} if bill is not None else None
    next_day_known = (day + timedelta(days=1)) in neighbours
    elsewhere: frozenset[str] = frozenset().union(*neighbours.values())
    candidates: dict[str, tuple[OurRecord | None, BillEntry | None]] = {}
    for r in our_records:
        if _at_day(r.at, day):
            candidates[r.key] = (r, bill_by_key.get(r.key) if bill_by_key is not None else None)
    for e in bill or ():
        if _at_day(e.at, day):
            candidates[e.key] = (ours_by_key.get(e.key), e)
    found: list[Discrepancy] = []
    across = 0
    for key, (our, entry) in sorted(candidates.items()):
        if key in skip:
            continue
        if key in elsewhere:
            across += 1
            if bill_by_key is not None and (our is None or entry is None):
                kind = DiscrepancyKind.MISSING_IN_OUR_RECORDS if our is None else DiscrepancyKind.NOT_IN_WECHATPAY_BILL
                found.append(_unaccounted(kind, key, our, entry, awaiting=False))
            continue
        if bill_by_key is not None and entry is None:
            kind = DiscrepancyKind.NOT_IN_WECHATPAY_BILL  # only we think money moved
        elif key.startswith(PAYMENT + "#"):
            kind = DiscrepancyKind.PAID_NOT_IN_HIS
        else:
            kind = DiscrepancyKind.REFUND_NOT_IN_HIS
        found.append(_unaccounted(kind, key, our, entry, awaiting=not next_day_known))
    return found, across


def _from_his(kind: DiscrepancyKind, key: str, rec: HisRecord, our: OurRecord | None = None,
              entry: BillEntry | None = None) -> Discrepancy:
    return Discrepancy(
        kind, key, rec.record_type, rec.business_type, rec.accounted_at, his_amount_fen=rec.amount_fen,
        our_amount_fen=our.amount_fen if our else None, bill_amount_fen=entry.amount_fen if entry else None,
        his_trade_id=rec.his_trade_id or None, his_refund_id=rec.his_refund_id, caller_ref=rec.caller_ref,
        patient_id=rec.patient_id, line_no=rec.line_no,
    )


def _unaccounted(kind: DiscrepancyKind, key: str, our: OurRecord | None, entry: BillEntry | None,
                 awaiting: bool) -> Discrepancy:
    source_at = our.at if our is not None else entry.at if entry is not None else None
    assert source_at is not None
    return Discrepancy(
        kind, key, key.split("#", 1)[0], our.business_type.value if our else "", source_at,
        our_amount_fen=our.amount_fen if our else None, bill_amount_fen=entry.amount_fen if entry else None,
        caller_ref=our.caller_ref if our else None, patient_id=our.patient_id if our else None,
        awaiting_next_day=awaiting,
    )


def resolve_with_next_day(previous: Reconciliation, next_day_keys: frozenset[str]) -> Reconciliation:
    """Close the previous day's discrepancies that were waiting for the next day's HIS file and are in it."""
    changed = False
    updated: list[Discrepancy] = []
    nxt = previous.day + timedelta(days=1)
    for d in previous.discrepancies:
        if d.awaiting_next_day and not d.resolved and d.key in next_day_keys:
            updated.append(replace(d, awaiting_next_day=False, resolved=f"accounted in the HIS file of {nxt.isoformat()}"))
            changed = True
        elif d.awaiting_next_day:
            updated.append(replace(d, awaiting_next_day=False))  # the next day's file is read: it stays open
            changed = True
        else:
            updated.append(d)
    return replace(previous, discrepancies=tuple(updated)) if changed else previous


# ---- a day's run and its report ------------------------------------------------------------------
class RunState(StrEnum):
    WAITING = "waiting"  # the summary or the file is not ready or not both here yet; the schedule asks again
    DONE = "done"
    FAILED = "failed"  # the file could not be used (wrong hash, unreadable); the schedule asks again


@dataclass(frozen=True)
class ReconciliationReport:
    day: date
    state: RunState
    updated_at: datetime
    detail: str = ""
    summary: HisSummary | None = None
    file_sha256: str | None = None  # of the file this report was made from
    verified: bool = False  # the file's SHA-256 equals the summary's ``file_sha256``
    result: Reconciliation | None = None
    problems: tuple[LineProblem, ...] = ()
    compensated: tuple[str, ...] = ()  # out_refund_nos recorded as refund obligations by this run

    @property
    def done(self) -> bool:
        return self.state is RunState.DONE

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "date": self.day.isoformat(), "state": self.state.value, "updated_at": self.updated_at.isoformat(),
            "detail": self.detail, "summary": self.summary.to_dict() if self.summary else None,
            "file_sha256": self.file_sha256, "verified": self.verified,
            "result": None if r is None else {
                "his": r.his.to_dict(), "ours": r.ours.to_dict(), "bill": r.bill.to_dict() if r.bill else None,
                "matched": r.matched, "matched_across_days": r.matched_across_days,
                "discrepancies": [d.to_dict() for d in r.discrepancies], "his_keys": sorted(r.his_keys)},
            "problems": [[p.line_no, p.reason] for p in self.problems],
            "compensated": list(self.compensated),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ReconciliationReport:
        day = date.fromisoformat(raw["date"])
        r = raw.get("result")
        result = None if not r else Reconciliation(
            day=day, his=Totals.from_dict(r["his"]), ours=Totals.from_dict(r["ours"]),
            bill=Totals.from_dict(r["bill"]) if r.get("bill") else None, matched=int(r["matched"]),
            matched_across_days=int(r["matched_across_days"]),
            discrepancies=tuple(Discrepancy.from_dict(d) for d in r["discrepancies"]),
            his_keys=frozenset(r.get("his_keys") or ()))
        s = raw.get("summary")
        return cls(
            day=day, state=RunState(raw["state"]), updated_at=datetime.fromisoformat(raw["updated_at"]),
            detail=str(raw.get("detail") or ""), summary=parse_summary(s) if s else None,
            file_sha256=raw.get("file_sha256"), verified=bool(raw.get("verified")), result=result,
            problems=tuple(LineProblem(int(n), str(reason)) for n, reason in raw.get("problems") or ()),
            compensated=tuple(raw.get("compensated") or ()),
        )
