"""Hospital-side billing drivers of the unsigned admin API (``/_sim``; never part of the contract): new charges,
executed items, e-receipt lag, a refused confirmation, early reconciliation and out-of-band ledger lines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from flask import Blueprint, Response, request

from .. import billing, reconciliation, views_billing
from ..clock import fmt, parse_local_date
from ..errors import validation_error
from ..web import json_body, json_response, sim

bp = Blueprint("sim_admin_billing", __name__)

T = TypeVar("T")


def _object_body() -> dict[str, Any]:
    body = json_body()
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise validation_error({"body": "must be a JSON object"})
    return body


def _locked(action: Callable[[], T]) -> T:
    """Run ``action`` under the simulator's lock, after applying the passing of time."""
    simulator = sim()
    with simulator.lock:
        billing.expire_billing(simulator.state, simulator.now())
        return action()


def _date(raw: str) -> date:
    day = parse_local_date(raw)
    if day is None:
        raise validation_error({"date": "must be a date YYYY-MM-DD"})
    return day


@bp.post("/patients/<patient_id>/charges")
def create_charge(patient_id: str) -> Response:
    """Body: ``items`` [{name, specification?, quantity (default 1), unit?, unit_price_fen, amount_fen?}], optional
    ``visit_id`` (default: the patient's latest visit), ``type``, ``title``, ``payable_online`` (default true),
    ``not_payable_reason``, ``department_id``, ``doctor_name``, ``validity_hours`` (default 72), ``charge_id``."""
    simulator = sim()
    body = _object_body()
    charge = _locked(lambda: billing.create_charge(simulator.state, patient_id, body, simulator.now()))
    return json_response(views_billing.charge(charge), 201)


@bp.get("/charges/<charge_id>")
def get_charge(charge_id: str) -> Response:
    simulator = sim()
    charge = _locked(lambda: billing.require_charge(simulator.state, charge_id))
    return json_response(views_billing.charge(charge))


@bp.post("/charges/<charge_id>/items/<item_id>/execute")
def execute_item(charge_id: str, item_id: str) -> Response:
    simulator = sim()
    charge = _locked(lambda: billing.execute_item(simulator.state, charge_id, item_id))
    return json_response(views_billing.charge(charge))


@bp.post("/charges/<charge_id>/void")
def void_charge(charge_id: str) -> Response:
    simulator = sim()
    charge = _locked(lambda: billing.void_charge(simulator.state, charge_id))
    return json_response(views_billing.charge(charge))


@bp.post("/settlements/<settlement_id>/e-receipt/issue")
def issue_receipt(settlement_id: str) -> Response:
    simulator = sim()
    settlement = _locked(lambda: billing.issue_receipt(simulator.state, settlement_id, simulator.now()))
    return json_response(views_billing.settlement(simulator.state, settlement))


@bp.post("/settlements/<settlement_id>/refuse-confirmation")
def refuse_confirmation(settlement_id: str) -> Response:
    """Body ``{"code": "LOCK_EXPIRED"}`` (any §6 code): the next confirmation answers it once, changing nothing."""
    simulator = sim()
    code = _object_body().get("code", "LOCK_EXPIRED")
    _locked(lambda: billing.refuse_next_confirmation(simulator.state, settlement_id, code))
    return json_response({"settlement_id": settlement_id, "code": code, "armed": True})


def _controls_json() -> dict[str, Any]:
    ctl = billing.controls(sim().state)
    return {
        "receipt_mode": ctl.receipt_mode,
        "receipt_lag_seconds": ctl.receipt_lag_seconds,
        "pending_receipts": {sid: fmt(when) for sid, when in sorted(ctl.receipt_due.items())},
        "refused_confirmations": dict(sorted(ctl.confirm_failures.items())),
        "ready_dates": {day.isoformat(): fmt(when) for day, when in sorted(ctl.ready_dates.items())},
    }


@bp.get("/billing")
def get_controls() -> Response:
    return json_response(_locked(_controls_json))


@bp.post("/billing/e-receipts")
def receipt_mode() -> Response:
    """Body ``{"mode": "issued" | "pending" | "failed", "lag_seconds": 60 | null}``: what the next confirmations get.
    Pending receipts are issued ``lag_seconds`` after settlement (null: only by ``…/e-receipt/issue``)."""
    simulator = sim()
    body = _object_body()
    _locked(lambda: billing.set_receipt_mode(simulator.state, body.get("mode"), body.get("lag_seconds", 60)))
    return json_response(_locked(_controls_json))


@bp.post("/reconciliation/<raw_date>/ready")
def reconciliation_ready(raw_date: str) -> Response:
    """Generate the date's reconciliation now; answers its summary for the configured app."""
    simulator = sim()
    day = _date(raw_date)

    def ready() -> dict[str, Any]:
        now = simulator.now()
        reconciliation.make_ready(simulator.state, day, now)
        return reconciliation.summary_json(reconciliation.reconcile(simulator.state, simulator.config.app_id, day, now))

    return json_response(_locked(ready))


@bp.post("/ledger")
def add_ledger_line() -> Response:
    """An out-of-band reconciliation line, e.g. ``{"record_type": "REFUND", "his_trade_id": "ST…", "transaction_id":
    "42…", "amount_fen": 100, "patient_id": "P…"}`` (a counter refund the integrator never heard of)."""
    simulator = sim()
    body = _object_body()
    entry = _locked(lambda: reconciliation.add_line(simulator.state, simulator.config.app_id, body, simulator.now()))
    return json_response(views_billing.ledger_line(entry), 201)


@bp.get("/ledger")
def list_ledger() -> Response:
    """``?date=YYYY-MM-DD``: the configured app's lines of that Shanghai date; without it every line."""
    simulator = sim()
    raw = request.args.get("date")
    day = _date(raw) if raw else None

    def lines() -> list[dict[str, Any]]:
        state = simulator.state
        found = reconciliation.records(state, simulator.config.app_id, day) if day else list(state.ledger)
        return [views_billing.ledger_line(e) for e in found]

    return json_response({"items": _locked(lines)})
