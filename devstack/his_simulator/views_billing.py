"""JSON shapes of the billing and reconciliation schemas (``Charge``, ``Settlement``, ``Refund``, ``Guidance``,
``ReconciliationSummary``) and the CSV rows of §7.8.3."""

from __future__ import annotations

import copy
from typing import Any

from . import views
from .clock import fmt
from .state import Charge, Guidance, HisState, LedgerEntry, Refund, Settlement

Json = dict[str, Any]

CSV_COLUMNS = (
    "record_type",
    "business_type",
    "his_trade_id",
    "his_refund_id",
    "caller_ref",
    "refund_request_no",
    "transaction_id",
    "out_trade_no",
    "amount_fen",
    "accounted_at",
    "patient_id",
)


def charge(c: Charge) -> Json:
    return views.charge(c)


def _charge_in(state: HisState, snapshot: Json) -> Json:
    """The charge as priced at pre-settlement, with its current status and item execution/refund flags."""
    body = copy.deepcopy(snapshot)
    live = state.charges.get(body["charge_id"])
    if live is None:
        return body
    body["status"] = live.status
    flags = {i.item_id: (i.execution_status, i.refunded) for i in live.items}
    for item in body["items"]:
        if item["item_id"] in flags:
            item["execution_status"], item["refunded"] = flags[item["item_id"]]
    return body


def guidance(state: HisState, g: Guidance) -> Json:
    return {
        "charge_id": g.charge_id,
        "action": g.action,
        "location": views.location(state, g.location),
        "window": g.window,
        "ticket_no": g.ticket_no,
        "instructions": g.instructions,
        "needs_booking": g.needs_booking,
    }


def refund(r: Refund) -> Json:
    return {
        "his_refund_id": r.his_refund_id,
        "refund_request_no": r.refund_request_no,
        "settlement_id": r.settlement_id,
        "status": r.status,
        "refund_amount_fen": r.refund_amount_fen,
        "items": [{"charge_id": i.charge_id, "item_id": i.item_id, "amount_fen": i.amount_fen} for i in r.items],
        "reversal_receipt": views.e_receipt(r.reversal_receipt),
        "created_at": fmt(r.created_at),
    }


def settlement(state: HisState, s: Settlement) -> Json:
    return {
        "settlement_id": s.settlement_id,
        "settlement_request_no": s.settlement_request_no,
        "patient_id": s.patient_id,
        "status": s.status,
        "charges": [_charge_in(state, snapshot) for snapshot in s.charges_snapshot],
        "total_fen": s.total_fen,
        "expires_at": fmt(s.expires_at) if s.status == "pending" else None,
        "payment": views.payment(s.payment),
        "late_confirm": s.late_confirm,
        "settled_at": fmt(s.settled_at),
        "e_receipt": views.e_receipt(s.e_receipt),
        "guidance": [guidance(state, g) for g in s.guidance],
        "refunds": [refund(r) for r in s.refunds],
        "created_at": fmt(s.created_at),
        "updated_at": fmt(s.updated_at),
    }


def ledger_line(e: LedgerEntry) -> Json:
    """A reconciliation record as JSON (admin API): the CSV columns with nulls for empty cells."""
    return {
        "record_type": e.record_type,
        "business_type": e.business_type,
        "his_trade_id": e.his_trade_id,
        "his_refund_id": e.his_refund_id,
        "caller_ref": e.caller_ref,
        "refund_request_no": e.refund_request_no,
        "transaction_id": e.transaction_id,
        "out_trade_no": e.out_trade_no,
        "amount_fen": e.amount_fen,
        "accounted_at": fmt(e.accounted_at),
        "patient_id": e.patient_id,
    }


def csv_row(e: LedgerEntry) -> list[str]:
    """The §7.8.3 columns of one record: empty cells for absent values, ``amount_fen`` always positive."""
    line = ledger_line(e)
    return ["" if line[name] is None else str(line[name]) for name in CSV_COLUMNS]
