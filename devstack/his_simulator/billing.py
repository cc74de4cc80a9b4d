"""Outpatient billing (§7.8.1-7.8.2): charges, two-phase settlement, refunds of unexecuted items, and what the
passing of time does to them (``expire_billing``).

Settlements follow the booking rules of §5.3: ``settlement_request_no`` and ``refund_request_no`` are business
references of the app (``DUPLICATE_REQUEST`` when reused), a WeChat ``transaction_id`` may pay for one thing only
(shared with appointments). Money is accounted in the reconciliation ledger when it moves: a ``PAYMENT`` line at
confirmation, a ``REFUND`` line at refund approval.

The hospital side (new charges, executed items, e-receipt lag, a refused confirmation) is driven through the
functions at the end, used by the ``/_sim`` admin API. Their switches live in :class:`BillingControls`, kept with
the state so that a reset forgets them.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any

from . import policy, schemas, views_billing
from .clock import fmt
from .errors import ERROR_TABLE, HisError, not_found, validation_error
from .events import emit_for_patient
from .patients import require_linked, require_patient
from .state import (
    BillingControls,
    Charge,
    ChargeItem,
    EReceipt,
    Guidance,
    HisState,
    LedgerEntry,
    Location,
    Payment,
    Refund,
    RefundItem,
    Settlement,
)

RECEIPT_MODES = ("issued", "pending", "failed")
NOT_PAYABLE_REASONS = ("insurance_required", "counter_only", "expired")
CHARGE_TYPES = ("prescription", "lab", "exam", "treatment", "material", "other")
SETTLED = ("settled", "partially_refunded", "refunded")


def controls(state: HisState) -> BillingControls:
    """The billing switches of this state (a reset builds a new state and so forgets them)."""
    return state.billing


# ---------------------------------------------------------------- time-driven changes


def expire_billing(state: HisState, now: datetime) -> None:
    """Pending settlements past ``expires_at`` expire and release their charges; unpaid charges become ``void`` at
    their ``expires_at``; pending e-receipts whose lag has passed are issued."""
    for settlement in state.settlements.values():
        if settlement.status == "pending" and settlement.expires_at is not None and now > settlement.expires_at:
            _release_charges(state, settlement)
            settlement.status = "expired"
            settlement.updated_at = settlement.expires_at
    for charge in state.charges.values():
        if charge.status == "unpaid" and charge.expires_at is not None and now >= charge.expires_at:
            charge.status = "void"
            charge.payable_online = False
            charge.not_payable_reason = "expired"
    due = controls(state).receipt_due
    for settlement_id, when in sorted(due.items(), key=lambda item: item[1]):
        if now >= when:
            issue_receipt(state, settlement_id, when)


def _release_charges(state: HisState, settlement: Settlement) -> None:
    for charge_id in settlement.charge_ids:
        charge = state.charges.get(charge_id)
        if charge is not None and charge.settlement_id == settlement.settlement_id and charge.status == "locked":
            charge.status = "unpaid"
            charge.settlement_id = None


# ---------------------------------------------------------------- charges


def charges_of(state: HisState, app_id: str, patient_id: str, status: str, visit_id: str | None) -> tuple[list[Charge], int]:
    """A linked patient's charges with ``status`` (oldest first) and the total of all their unpaid charges (of
    ``visit_id`` when given)."""
    require_linked(state, app_id, patient_id)
    mine = [c for c in state.charges.values() if c.patient_id == patient_id and (visit_id is None or c.visit_id == visit_id)]
    found = sorted((c for c in mine if c.status == status), key=lambda c: (c.created_at, c.charge_id))
    return found, sum(c.total_fen for c in mine if c.status == "unpaid")


# ---------------------------------------------------------------- pre-settlement


def prepare(state: HisState, app_id: str, body: Any, now: datetime, expires_at: datetime) -> Settlement:
    """Lock the charges until ``expires_at`` and fix the amount (``POST /settlements``)."""
    problems = schemas.field_errors("SettlementPrepareRequest", body)
    if problems:
        raise validation_error(problems)
    request_no: str = body["settlement_request_no"]
    existing = state.business_refs.get((app_id, "settlement_request_no", request_no))
    if existing is not None:
        raise HisError("DUPLICATE_REQUEST", details={"existing_id": existing, "settlement_request_no": request_no})
    patient = require_linked(state, app_id, body["patient_id"])
    charges = []
    for charge_id in body["charge_ids"]:
        charge = state.charges.get(charge_id)
        if charge is None or charge.patient_id != patient.patient_id:
            raise not_found("charge", charge_id)
        if charge.status != "unpaid" or not charge.payable_online:
            raise HisError("CHARGE_NOT_PAYABLE", details={"charge_id": charge_id, "status": charge.status,
                                                          "not_payable_reason": charge.not_payable_reason})
        charges.append(charge)
    total = sum(c.total_fen for c in charges)
    if body["expected_total_fen"] != total:
        raise HisError("AMOUNT_MISMATCH", details={"expected_fen": total, "received_fen": body["expected_total_fen"]})
    settlement_id = f"ST{now:%Y%m%d}{state.next_number('ST' + now.date().isoformat()):04d}"
    for charge in charges:
        charge.status = "locked"
        charge.settlement_id = settlement_id
    settlement = Settlement(
        settlement_id=settlement_id,
        app_id=app_id,
        settlement_request_no=request_no,
        patient_id=patient.patient_id,
        status="pending",
        charge_ids=[c.charge_id for c in charges],
        charges_snapshot=[views_billing.charge(c) for c in charges],
        total_fen=total,
        created_at=now,
        updated_at=now,
        expires_at=expires_at,
    )
    state.settlements[settlement_id] = settlement
    state.business_refs[(app_id, "settlement_request_no", request_no)] = settlement_id
    return settlement


# ---------------------------------------------------------------- confirmation and cancellation


def _own(state: HisState, app_id: str, settlement_id: str) -> Settlement:
    settlement = state.settlements.get(settlement_id)
    if settlement is None or settlement.app_id != app_id:
        raise not_found("settlement", settlement_id)
    require_linked(state, app_id, settlement.patient_id)
    return settlement


def _check_request_no(settlement: Settlement, body: Any) -> None:
    if body["settlement_request_no"] != settlement.settlement_request_no:
        raise validation_error({"settlement_request_no": "does not belong to this settlement"})


def confirm(state: HisState, app_id: str, settlement_id: str, body: Any, now: datetime) -> Settlement:
    """Settle with the WeChat Pay payment (``POST /settlements/{id}/confirm``), late if the charges allow it."""
    problems = schemas.field_errors("SettlementConfirmRequest", body)
    if problems:
        raise validation_error(problems)
    settlement = _own(state, app_id, settlement_id)
    _check_request_no(settlement, body)
    raw = body["payment"]
    if raw["amount_fen"] != settlement.total_fen:
        raise HisError("AMOUNT_MISMATCH", details={"expected_fen": settlement.total_fen, "received_fen": raw["amount_fen"]})
    transaction_id: str = raw["transaction_id"]
    owner = state.business_refs.get((app_id, "transaction_id", transaction_id))
    if owner is not None and owner != settlement_id:
        raise HisError("DUPLICATE_REQUEST", details={"existing_id": owner, "transaction_id": transaction_id})
    paid_with = settlement.payment.transaction_id if settlement.payment else None
    if settlement.status in SETTLED and paid_with == transaction_id:
        return settlement  # the same confirmation again under a new key
    if settlement.status not in ("pending", "expired"):
        raise HisError("INVALID_STATE", details={"settlement_id": settlement_id, "current_status": settlement.status})
    refusal = controls(state).confirm_failures.pop(settlement_id, None)
    if refusal is not None:
        raise HisError(refusal, details={"settlement_id": settlement_id, "simulated": True})
    charges = [state.charges[cid] for cid in settlement.charge_ids]
    if settlement.status == "expired":  # late confirmation: every charge still unpaid and unchanged
        if not all(c.status == "unpaid" and _unchanged(c, settlement) for c in charges):
            raise HisError("LOCK_EXPIRED", details={"settlement_id": settlement_id,
                                                    "expires_at": fmt(settlement.expires_at)})
        settlement.late_confirm = True
    settlement.payment = Payment(
        channel=raw["channel"],
        transaction_id=transaction_id,
        out_trade_no=raw["out_trade_no"],
        amount_fen=raw["amount_fen"],
        paid_at=datetime.fromisoformat(raw["paid_at"]),
        mch_id=raw.get("mch_id"),
    )
    state.business_refs[(app_id, "transaction_id", transaction_id)] = settlement_id
    for charge in charges:
        charge.status = "paid"
        charge.settlement_id = settlement_id
    settlement.status = "settled"
    settlement.settled_at = now
    settlement.expires_at = None
    settlement.updated_at = now
    settlement.guidance = [g for g in (guidance_for(state, c, now) for c in charges) if g is not None]
    settlement.e_receipt = _new_receipt(state, settlement_id, now)
    state.ledger.append(_ledger(settlement, "PAYMENT", settlement.total_fen, now, None, None))
    return settlement


def _unchanged(charge: Charge, settlement: Settlement) -> bool:
    snapshot = next((s for s in settlement.charges_snapshot if s["charge_id"] == charge.charge_id), None)
    if snapshot is None or snapshot["total_fen"] != charge.total_fen:
        return False
    before = [(i["item_id"], i["quantity"], i["amount_fen"]) for i in snapshot["items"]]
    return before == [(i.item_id, i.quantity, i.amount_fen) for i in charge.items]


def cancel(state: HisState, app_id: str, settlement_id: str, body: Any, now: datetime) -> Settlement:
    """Cancel a pending settlement and release its charges; cancelled or expired ones are returned unchanged."""
    if not isinstance(body, dict):
        raise validation_error({"body": "must be a JSON object"})
    if "settlement_request_no" not in body:
        raise validation_error({"settlement_request_no": "required"})
    problems = schemas.field_errors("CallerRef", body["settlement_request_no"], "settlement_request_no")
    if problems:
        raise validation_error(problems)
    settlement = _own(state, app_id, settlement_id)
    _check_request_no(settlement, body)
    if settlement.status in ("cancelled", "expired"):
        return settlement
    if settlement.status != "pending":
        raise HisError("INVALID_STATE", details={"settlement_id": settlement_id, "current_status": settlement.status})
    _release_charges(state, settlement)
    settlement.status = "cancelled"
    settlement.updated_at = now
    controls(state).confirm_failures.pop(settlement_id, None)
    expire_billing(state, now)  # a released charge past its validity is void at once
    return settlement


# ---------------------------------------------------------------- queries


def get(state: HisState, app_id: str, settlement_id: str) -> Settlement:
    return _own(state, app_id, settlement_id)


def by_request_no(state: HisState, app_id: str, request_no: str) -> list[Settlement]:
    return [s for s in state.settlements.values() if s.app_id == app_id and s.settlement_request_no == request_no]


def of_patient(
    state: HisState, app_id: str, patient_id: str, date_from: date | None, date_to: date | None
) -> list[Settlement]:
    """This app's settlements of a linked patient, oldest first; dates are the Shanghai dates of creation."""
    require_linked(state, app_id, patient_id)
    found = [
        s for s in state.settlements.values()
        if s.app_id == app_id and s.patient_id == patient_id
        and not (date_from and s.created_at.date() < date_from) and not (date_to and s.created_at.date() > date_to)
    ]
    return sorted(found, key=lambda s: (s.created_at, s.settlement_id))


# ---------------------------------------------------------------- refunds


def refund(state: HisState, app_id: str, settlement_id: str, body: Any, now: datetime) -> Refund:
    """Approve the refund of whole unexecuted lines (``POST /settlements/{id}/refunds``); all or nothing."""
    problems = schemas.field_errors("RefundRequest", body)
    if problems:
        raise validation_error(problems)
    settlement = _own(state, app_id, settlement_id)
    request_no: str = body["refund_request_no"]
    owner = state.business_refs.get((app_id, "refund_request_no", request_no))
    if owner is not None:
        raise HisError("DUPLICATE_REQUEST", details={"existing_id": owner, "refund_request_no": request_no})
    if settlement.status not in ("settled", "partially_refunded"):
        raise HisError("INVALID_STATE", details={"settlement_id": settlement_id, "current_status": settlement.status})
    lines = _refund_lines(state, settlement, body["items"])
    refund_id = f"HR{now:%Y%m%d}{state.next_number('HR' + now.date().isoformat()):04d}"
    for _, item in lines:
        item.refunded = True
    for charge in {id(c): c for c, _ in lines}.values():
        charge.status = "refunded" if all(i.refunded for i in charge.items) else "partially_refunded"
    every_item = [i for cid in settlement.charge_ids for i in state.charges[cid].items]
    settlement.status = "refunded" if all(i.refunded for i in every_item) else "partially_refunded"
    settlement.updated_at = now
    receipt = settlement.e_receipt
    reversal = None
    if receipt is not None and receipt.status == "issued":
        reversal = _receipt(state, now)
    elif receipt is not None and receipt.status == "pending":
        reversal = EReceipt(status="pending")  # issued together with the original (issue_receipt)
    result = Refund(
        his_refund_id=refund_id,
        refund_request_no=request_no,
        settlement_id=settlement_id,
        status="approved",
        refund_amount_fen=sum(item.amount_fen for _, item in lines),
        items=[RefundItem(c.charge_id, i.item_id, i.amount_fen) for c, i in lines],
        created_at=now,
        reversal_receipt=reversal,
    )
    settlement.refunds.append(result)
    state.business_refs[(app_id, "refund_request_no", request_no)] = refund_id
    state.ledger.append(_ledger(settlement, "REFUND", result.refund_amount_fen, now, refund_id, request_no))
    return result


def _refund_lines(
    state: HisState, settlement: Settlement, requested: list[dict[str, str]]
) -> list[tuple[Charge, ChargeItem]]:
    problems: dict[str, str] = {}
    lines: list[tuple[Charge, ChargeItem]] = []
    seen: set[tuple[str, str]] = set()
    for n, ref in enumerate(requested):
        key = (ref["charge_id"], ref["item_id"])
        charge = state.charges.get(ref["charge_id"]) if ref["charge_id"] in settlement.charge_ids else None
        item = next((i for i in charge.items if i.item_id == ref["item_id"]), None) if charge else None
        if charge is None or item is None:
            problems[f"items.{n}"] = "not an item of this settlement"
        elif key in seen:
            problems[f"items.{n}"] = "listed twice"
        else:
            lines.append((charge, item))
        seen.add(key)
    if problems:
        raise validation_error(problems)
    for charge, item in lines:
        if item.refunded:
            raise HisError("INVALID_STATE", message="项目已退费",
                           details={"charge_id": charge.charge_id, "item_id": item.item_id, "current_status": "refunded"})
        if item.execution_status == "executed":
            raise HisError("ITEM_ALREADY_EXECUTED", details={"charge_id": charge.charge_id, "item_id": item.item_id})
    return lines


def _ledger(
    settlement: Settlement, record_type: str, amount: int, now: datetime, refund_id: str | None, refund_no: str | None
) -> LedgerEntry:
    assert settlement.payment is not None
    return LedgerEntry(
        record_type=record_type,
        business_type="OUTPATIENT",
        his_trade_id=settlement.settlement_id,
        his_refund_id=refund_id,
        caller_ref=settlement.settlement_request_no,
        refund_request_no=refund_no,
        transaction_id=settlement.payment.transaction_id,
        out_trade_no=settlement.payment.out_trade_no,
        amount_fen=amount,
        accounted_at=now,
        patient_id=settlement.patient_id,
        app_id=settlement.app_id,
    )


# ---------------------------------------------------------------- e-receipts


def _receipt(state: HisState, now: datetime) -> EReceipt:
    number = state.next_number("receipt_no", 1234567)
    receipt_id = f"ER{now:%Y%m%d}{state.next_number('ER' + now.date().isoformat(), 871):07d}"
    return EReceipt(
        status="issued",
        receipt_id=receipt_id,
        receipt_code=f"110101{now:%y}",
        receipt_no=f"{number:010d}",
        verification_code=hashlib.sha256(receipt_id.encode()).hexdigest()[:6],
        issued_at=now,
    )


def _new_receipt(state: HisState, settlement_id: str, now: datetime) -> EReceipt:
    ctl = controls(state)
    if ctl.receipt_mode == "issued":
        return _receipt(state, now)
    if ctl.receipt_mode == "pending" and ctl.receipt_lag_seconds is not None:
        ctl.receipt_due[settlement_id] = now + timedelta(seconds=ctl.receipt_lag_seconds)
    return EReceipt(status=ctl.receipt_mode)


def issue_receipt(state: HisState, settlement_id: str, now: datetime) -> Settlement:
    """Issue the pending (or failed, reissued by the finance office) e-receipt of a settlement, and the pending
    reversal receipts of its refunds."""
    settlement = state.settlements.get(settlement_id)
    if settlement is None:
        raise not_found("settlement", settlement_id)
    controls(state).receipt_due.pop(settlement_id, None)
    if settlement.e_receipt is None or settlement.e_receipt.status == "issued":
        raise HisError("INVALID_STATE", message="no e-receipt waiting to be issued",
                       details={"settlement_id": settlement_id,
                                "current_status": settlement.e_receipt.status if settlement.e_receipt else None})
    settlement.e_receipt = _receipt(state, now)
    for past in settlement.refunds:
        if past.reversal_receipt is not None and past.reversal_receipt.status == "pending":
            past.reversal_receipt = _receipt(state, now)
    settlement.updated_at = now
    return settlement


# ---------------------------------------------------------------- guidance (where to go after paying)

# (campus, action) -> (building, floor, room, description, window prefix)
_PLACES: dict[tuple[str, str], tuple[str, str, str, str | None, str | None]] = {
    ("C01", "collect_medicine"): ("门诊楼", "1F", "西药房", "门诊大厅东侧", "西药房"),
    ("C01", "lab_sample"): ("医技楼", "2F", "检验科采血处", "经门诊楼2F连廊进入", "采血"),
    ("C01", "exam"): ("医技楼", "1F", "放射科", "经门诊楼1F连廊进入", None),
    ("C01", "treatment"): ("医技楼", "4F", "康复治疗大厅", "乘医技楼电梯至4F", None),
    ("C02", "collect_medicine"): ("综合楼", "1F", "药房", "综合楼大厅西侧", "药房"),
    ("C02", "lab_sample"): ("医技楼", "1F", "检验科采血处", None, "采血"),
    ("C02", "exam"): ("医技楼", "1F", "放射科", None, None),
    ("C02", "treatment"): ("综合楼", "1F", "挂号收费处", "请到收费处咨询治疗地点", None),
}
# keyword in an item name -> (room, floor on the main campus, instructions, needs separate booking)
_EXAM_ROOMS: list[tuple[str, str, str, str, bool]] = [
    ("超声", "超声科", "2F", "请到超声科分诊台登记排队，无需空腹", False),
    ("增强", "CT室", "1F", "增强检查需另行预约，检查前4小时禁食", True),
    ("CT", "CT室", "1F", "请到CT室登记，去除金属物品", False),
    ("磁共振", "MR室", "1F", "磁共振检查需另行预约，请勿携带金属物品", True),
    ("MR", "MR室", "1F", "磁共振检查需另行预约，请勿携带金属物品", True),
    ("镜", "内镜中心", "3F", "内镜检查需另行预约，检查前8小时禁食", True),
    ("心电", "心电图室", "2F", "请到心电图室排队", False),
    ("血压", "心电图室", "2F", "请到心电图室佩戴监测设备", False),
]
_ACTIONS = {"prescription": "collect_medicine", "lab": "lab_sample", "exam": "exam", "treatment": "treatment"}


def guidance_for(state: HisState, charge: Charge, now: datetime) -> Guidance | None:
    """What the patient does next for a paid charge; None for materials and other charges (nothing to do)."""
    action = _ACTIONS.get(charge.type)
    if action is None:
        return None
    dept = state.departments.get(charge.department_id)
    campus_id = dept.campus_id if dept else "C01"
    building, floor, room, description, window_prefix = _PLACES[(campus_id if campus_id == "C02" else "C01", action)]
    instructions = None
    needs_booking = False
    names = " ".join(i.name for i in charge.items)
    if action in ("exam", "treatment"):
        for keyword, exam_room, exam_floor, text, booking in _EXAM_ROOMS:
            if keyword in names:
                instructions, needs_booking = text, booking
                if campus_id != "C02":
                    building, room, floor, description = "医技楼", exam_room, exam_floor, "经门诊楼连廊进入医技楼"
                break
    if action == "lab_sample":
        fasting = any(k in names for k in ("血脂", "血糖", "肝功"))
        instructions = "请空腹采血（禁食8小时以上）" if fasting else "请到采血处取号采血"
    window = ticket = None
    if window_prefix is not None:
        day = now.date().isoformat()
        number = state.next_number(f"ticket:{action}:{day}", 300 if action == "collect_medicine" else 100)
        window = f"{window_prefix}{number % 4 + 1}号窗口"
        ticket = f"{'Y' if action == 'collect_medicine' else 'J'}{number:04d}"
    if action == "collect_medicine" and "中药" in charge.title and campus_id != "C02":
        room, window = "中药房", "中药房1号窗口"
    return Guidance(
        charge_id=charge.charge_id,
        action=action,
        location=Location(campus_id, building, floor, room, description),
        window=window,
        ticket_no=ticket,
        instructions=instructions,
        needs_booking=needs_booking,
    )


# ---------------------------------------------------------------- hospital side (admin API)


def create_charge(state: HisState, patient_id: str, body: dict[str, Any], now: datetime) -> Charge:
    """A new unpaid charge for a patient's visit (the doctor prescribes); emits ``charge.created`` (§8.3)."""
    patient = require_patient(state, patient_id)
    problems: dict[str, str] = {}
    visit_id = body.get("visit_id")
    visits = sorted((v for v in state.visits.values() if v.patient_id == patient.patient_id), key=lambda v: v.started_at)
    visit = state.visits.get(visit_id) if isinstance(visit_id, str) else (visits[-1] if visits else None)
    if visit is None or visit.patient_id != patient.patient_id:
        problems["visit_id"] = "must be a visit of this patient" if visit_id else "required: the patient has no visit"
    kind = body.get("type", "prescription")
    if kind not in CHARGE_TYPES:
        problems["type"] = "must be one of " + ", ".join(CHARGE_TYPES)
    payable = body.get("payable_online", True)
    reason = body.get("not_payable_reason", None if payable else "counter_only")
    if not isinstance(payable, bool):
        problems["payable_online"] = "must be a boolean"
    elif payable and reason is not None:
        problems["not_payable_reason"] = "must be null when payable_online is true"
    elif not payable and reason not in NOT_PAYABLE_REASONS:
        problems["not_payable_reason"] = "must be one of " + ", ".join(NOT_PAYABLE_REASONS)
    hours = body.get("validity_hours", policy.UNPAID_CHARGE_VALIDITY_HOURS)
    if not _number(hours) or hours <= 0:
        problems["validity_hours"] = "must be a positive number"
    lines = _item_lines(body.get("items"), problems)
    if problems:
        raise validation_error(problems)
    assert visit is not None
    charge_id = body.get("charge_id") or _new_charge_id(state, now)
    if not isinstance(charge_id, str) or charge_id in state.charges:
        raise validation_error({"charge_id": "must be a new charge id"})
    doctor = state.doctors.get(visit.doctor_id) if visit.doctor_id else None
    charge = Charge(
        charge_id=charge_id,
        patient_id=patient.patient_id,
        visit_id=visit.visit_id,
        type=kind,
        title=body.get("title") or _DEFAULT_TITLES[kind],
        department_id=body.get("department_id") or visit.department_id,
        doctor_name=body.get("doctor_name", doctor.name if doctor else None),
        status="unpaid",
        payable_online=payable,
        items=[ChargeItem(f"{charge_id}-{n}", *line) for n, line in enumerate(lines, start=1)],
        created_at=now,
        expires_at=now + timedelta(hours=hours),
        not_payable_reason=reason,
    )
    state.charges[charge_id] = charge
    emit_for_patient(state, patient.patient_id, "charge.created", {
        "charge_id": charge.charge_id, "patient_id": charge.patient_id, "visit_id": charge.visit_id,
        "type": charge.type, "title": charge.title, "total_fen": charge.total_fen,
        "payable_online": charge.payable_online, "created_at": fmt(charge.created_at), "expires_at": fmt(charge.expires_at),
    }, now)
    return charge


_DEFAULT_TITLES = {"prescription": "西药处方", "lab": "检验单", "exam": "检查单", "treatment": "治疗单",
                   "material": "材料费", "other": "其他费用"}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _item_lines(raw: Any, problems: dict[str, str]) -> list[tuple[str, str | None, float, str, int, int]]:
    """(name, specification, quantity, unit, unit_price_fen, amount_fen) per item; amount_fen defaults to
    quantity × unit price for whole quantities (no floating-point money)."""
    if not isinstance(raw, list) or not raw:
        problems["items"] = "required: a non-empty list"
        return []
    lines = []
    for n, item in enumerate(raw):
        where = f"items.{n}"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            problems[f"{where}.name"] = "required"
            continue
        quantity, price = item.get("quantity", 1), item.get("unit_price_fen")
        amount = item.get("amount_fen")
        if not _number(quantity) or quantity <= 0:
            problems[f"{where}.quantity"] = "must be a positive number"
            continue
        if not isinstance(price, int) or isinstance(price, bool) or price < 0:
            problems[f"{where}.unit_price_fen"] = "required: an integer number of fen"
            continue
        if amount is None and isinstance(quantity, int):
            amount = quantity * price
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            problems[f"{where}.amount_fen"] = "required (an integer number of fen) when quantity is not whole"
            continue
        lines.append((item["name"], item.get("specification"), quantity, item.get("unit") or "次", price, amount))
    return lines


def _new_charge_id(state: HisState, now: datetime) -> str:
    while True:
        charge_id = f"CH{now:%Y%m%d}{state.next_number('CH' + now.date().isoformat(), 2001):06d}"
        if charge_id not in state.charges:
            return charge_id


def require_charge(state: HisState, charge_id: str) -> Charge:
    charge = state.charges.get(charge_id)
    if charge is None:
        raise not_found("charge", charge_id)
    return charge


def execute_item(state: HisState, charge_id: str, item_id: str) -> Charge:
    """Mark a paid item executed (medicine dispensed, exam performed, sample collected)."""
    charge = require_charge(state, charge_id)
    item = next((i for i in charge.items if i.item_id == item_id), None)
    if item is None:
        raise not_found("charge_item", item_id)
    if charge.status not in ("paid", "partially_refunded") or item.refunded:
        raise HisError("INVALID_STATE", message="only paid, unrefunded items can be executed",
                       details={"current_status": "refunded" if item.refunded else charge.status})
    item.execution_status = "executed"
    return charge


def void_charge(state: HisState, charge_id: str) -> Charge:
    """The doctor cancels an unpaid charge."""
    charge = require_charge(state, charge_id)
    if charge.status != "unpaid":
        raise HisError("INVALID_STATE", details={"current_status": charge.status})
    charge.status = "void"
    return charge


def refuse_next_confirmation(state: HisState, settlement_id: str, code: str) -> None:
    """The next confirmation of this settlement answers ``code`` (once) and changes nothing."""
    settlement = state.settlements.get(settlement_id)
    if settlement is None:
        raise not_found("settlement", settlement_id)
    if code not in ERROR_TABLE:
        raise validation_error({"code": "must be an error code of the contract (§6)"})
    if settlement.status not in ("pending", "expired"):
        raise HisError("INVALID_STATE", details={"current_status": settlement.status})
    controls(state).confirm_failures[settlement_id] = code


def set_receipt_mode(state: HisState, mode: Any, lag_seconds: Any) -> BillingControls:
    problems = {}
    if mode not in RECEIPT_MODES:
        problems["mode"] = "must be one of " + ", ".join(RECEIPT_MODES)
    if lag_seconds is not None and (not isinstance(lag_seconds, int) or isinstance(lag_seconds, bool) or lag_seconds < 0):
        problems["lag_seconds"] = "must be a non-negative integer or null (issue by hand)"
    if problems:
        raise validation_error(problems)
    ctl = controls(state)
    ctl.receipt_mode, ctl.receipt_lag_seconds = mode, lag_seconds
    return ctl
