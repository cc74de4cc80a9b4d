"""Daily reconciliation (§7.8.3): the ledger lines of one app whose ``accounted_at`` falls on a Shanghai date, as a
summary and as the CSV file (UTF-8 without BOM, LF, header row).

A date's file is ready from 03:00 Shanghai time on the next day, or earlier when the admin API says so. The file is
built from the ledger on every request, so an out-of-band line added later (a hospital-initiated refund the
integrator never heard of) shows up in it: that is how reconciliation tests create a discrepancy.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from .billing import controls
from .clock import SHANGHAI, at, parse_local_datetime
from .errors import HisError, validation_error
from .state import HisState, LedgerEntry
from .views_billing import CSV_COLUMNS, csv_row

READY_TIME = "03:00"


@dataclass(frozen=True)
class Reconciliation:
    date: date
    generated_at: datetime | None  # None while generating
    records: list[LedgerEntry]
    body: bytes  # the CSV file

    @property
    def ready(self) -> bool:
        return self.generated_at is not None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def records(state: HisState, app_id: str, day: date) -> list[LedgerEntry]:
    """This app's ledger lines accounted on ``day`` (Shanghai), by accounting time (ledger order on ties)."""
    mine = [e for e in state.ledger if e.app_id == app_id and e.accounted_at.astimezone(SHANGHAI).date() == day]
    return sorted(mine, key=lambda e: e.accounted_at)


def ready_at(day: date) -> datetime:
    """When the file of ``day`` is normally generated: 03:00 on the next day."""
    return at(day + timedelta(days=1), READY_TIME)


def csv_file(lines: list[LedgerEntry]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(e) for e in lines)
    return out.getvalue().encode("utf-8")


def reconcile(state: HisState, app_id: str, day: date, now: datetime) -> Reconciliation:
    forced = controls(state).ready_dates.get(day)
    done = [t for t in (forced, ready_at(day)) if t is not None and t <= now]
    lines = records(state, app_id, day)
    return Reconciliation(day, min(done) if done else None, lines, csv_file(lines))


def summary_json(rec: Reconciliation) -> dict[str, Any]:
    """``ReconciliationSummary``: counts and totals only once the file is ready."""
    if not rec.ready:
        return {"date": rec.date.isoformat(), "status": "generating", "generated_at": None, "file_sha256": None}
    payments = [e.amount_fen for e in rec.records if e.record_type == "PAYMENT"]
    refunds = [e.amount_fen for e in rec.records if e.record_type == "REFUND"]
    return {
        "date": rec.date.isoformat(),
        "status": "ready",
        "generated_at": rec.generated_at.astimezone(SHANGHAI).isoformat(timespec="seconds") if rec.generated_at else None,
        "record_count": len(rec.records),
        "payment_count": len(payments),
        "payment_total_fen": sum(payments),
        "refund_count": len(refunds),
        "refund_total_fen": sum(refunds),
        "net_total_fen": sum(payments) - sum(refunds),
        "file_sha256": rec.sha256,
    }


def ready_file(state: HisState, app_id: str, day: date, now: datetime) -> Reconciliation:
    """The reconciliation of a ready date, else ``409 RECONCILIATION_NOT_READY`` (retry after the normal time)."""
    rec = reconcile(state, app_id, day, now)
    if not rec.ready:
        wait = max(int((ready_at(day) - now).total_seconds()), 1)
        raise HisError("RECONCILIATION_NOT_READY", details={"date": day.isoformat(),
                                                            "expected_ready_at": ready_at(day).isoformat()},
                       retry_after=wait)
    return rec


def make_ready(state: HisState, day: date, now: datetime) -> None:
    """The admin switch: ``day`` 's file is generated now (if it was not already)."""
    controls(state).ready_dates.setdefault(day, now)


# ---------------------------------------------------------------- out-of-band lines (admin API)

_RECORD_TYPES = ("PAYMENT", "REFUND")
_BUSINESS_TYPES = ("REGISTRATION", "OUTPATIENT")


def add_line(state: HisState, app_id: str, body: dict[str, Any], now: datetime) -> LedgerEntry:
    """Append a ledger line the integrator did not cause (e.g. a refund approved at a counter). Missing
    ``his_refund_id`` of a refund gets a new HIS refund id; ``accounted_at`` defaults to now."""
    problems: dict[str, str] = {}
    record_type = body.get("record_type", "REFUND")
    business_type = body.get("business_type", "OUTPATIENT")
    if record_type not in _RECORD_TYPES:
        problems["record_type"] = "must be PAYMENT or REFUND"
    if business_type not in _BUSINESS_TYPES:
        problems["business_type"] = "must be REGISTRATION or OUTPATIENT"
    for name in ("his_trade_id", "transaction_id", "patient_id"):
        if not isinstance(body.get(name), str) or not body[name]:
            problems[name] = "required"
    for name in ("his_refund_id", "caller_ref", "refund_request_no", "out_trade_no"):
        if body.get(name) is not None and not isinstance(body[name], str):
            problems[name] = "must be a string or null"
    amount = body.get("amount_fen")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        problems["amount_fen"] = "required: a positive integer number of fen"
    accounted_at = now
    if body.get("accounted_at") is not None:
        parsed = parse_local_datetime(body["accounted_at"])
        if parsed is None:
            problems["accounted_at"] = "must be an ISO 8601 date-time with the offset +08:00"
        else:
            accounted_at = parsed
    if problems:
        raise validation_error(problems)
    assert isinstance(amount, int)
    refund_id = body.get("his_refund_id")
    if record_type == "REFUND" and not refund_id:
        refund_id = f"HR{accounted_at:%Y%m%d}{state.next_number('HR' + accounted_at.date().isoformat()):04d}"
    entry = LedgerEntry(
        record_type=record_type,
        business_type=business_type,
        his_trade_id=body["his_trade_id"],
        his_refund_id=refund_id if record_type == "REFUND" else None,
        caller_ref=body.get("caller_ref"),
        refund_request_no=body.get("refund_request_no"),
        transaction_id=body["transaction_id"],
        out_trade_no=body.get("out_trade_no") or body.get("caller_ref") or "",
        amount_fen=amount,
        accounted_at=accounted_at,
        patient_id=body["patient_id"],
        app_id=body.get("app_id") or app_id,
    )
    state.ledger.append(entry)
    return entry
