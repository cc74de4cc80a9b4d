"""Billing and reconciliation (§7.8): charges, settlements, refunds, the daily reconciliation summary and file."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Blueprint, Response, g, request

from .. import billing, policy, reconciliation, views_billing
from ..clock import parse_local_date
from ..errors import validation_error
from ..pagination import paginate
from ..simulator import Simulator
from ..validation import Params
from ..web import PATIENT_READ, WRITE, json_body, json_response, operation, sim

bp = Blueprint("billing", __name__)

CHARGE_STATUSES = ("unpaid", "locked", "paid", "partially_refunded", "refunded", "void")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def _now(simulator: Simulator) -> datetime:
    """The simulated time, with the billing expiries applied (also done by ``Simulator.tick``; cheap to repeat)."""
    now = simulator.now()
    billing.expire_billing(simulator.state, now)
    return now


def _hold_until(simulator: Simulator, now: datetime) -> datetime:
    """now + the settlement lock TTL; inside the enforced maintenance window it moves to 00:45 (§5.5)."""
    expiry = now + timedelta(seconds=policy.SETTLEMENT_LOCK_TTL_SECONDS)
    inside, _, end = simulator.maintenance_window(expiry)
    if simulator.config.enforce_maintenance and inside:
        return end + timedelta(minutes=15)
    return expiry


@bp.get("/patients/<patient_id>/charges")
@operation("listCharges", PATIENT_READ)
def list_charges(patient_id: str) -> Response:
    params = Params(request.args)
    status = params.enum("status", CHARGE_STATUSES) or "unpaid"
    visit_id = params.string("visit_id", max_length=40)
    params.check()
    simulator = sim()
    _now(simulator)
    found, unpaid_total = billing.charges_of(simulator.state, g.app_id, patient_id, status, visit_id)
    return json_response({"items": [views_billing.charge(c) for c in found], "unpaid_total_fen": unpaid_total})


@bp.post("/settlements")
@operation("prepareSettlement", WRITE, idempotent=True)
def prepare() -> Response:
    simulator = sim()
    now = _now(simulator)
    settlement = billing.prepare(simulator.state, g.app_id, json_body(), now, _hold_until(simulator, now))
    return json_response(views_billing.settlement(simulator.state, settlement), 201)


@bp.post("/settlements/<settlement_id>/confirm")
@operation("confirmSettlement", WRITE, idempotent=True)
def confirm(settlement_id: str) -> Response:
    simulator = sim()
    settlement = billing.confirm(simulator.state, g.app_id, settlement_id, json_body(), _now(simulator))
    return json_response(views_billing.settlement(simulator.state, settlement))


@bp.post("/settlements/<settlement_id>/cancel")
@operation("cancelSettlement", WRITE, idempotent=True)
def cancel(settlement_id: str) -> Response:
    simulator = sim()
    settlement = billing.cancel(simulator.state, g.app_id, settlement_id, json_body(), _now(simulator))
    return json_response(views_billing.settlement(simulator.state, settlement))


@bp.post("/settlements/<settlement_id>/refunds")
@operation("refundSettlementItems", WRITE, idempotent=True)
def refund(settlement_id: str) -> Response:
    simulator = sim()
    result = billing.refund(simulator.state, g.app_id, settlement_id, json_body(), _now(simulator))
    return json_response(views_billing.refund(result), 201)


@bp.get("/settlements")
@operation("querySettlements", PATIENT_READ)
def query() -> Response:
    params = Params(request.args)
    request_no = params.string("settlement_request_no", max_length=32)
    patient_id = params.string("patient_id")
    date_from = params.local_date("date_from")
    date_to = params.local_date("date_to")
    params.date_range(date_from, date_to, None, ("date_from", "date_to"))
    offset, size = params.page()
    if bool(request_no) == bool(patient_id):
        message = "exactly one of settlement_request_no, patient_id is required"
        params.problems["settlement_request_no"] = params.problems["patient_id"] = message
    params.check()
    simulator = sim()
    _now(simulator)
    state = simulator.state
    if request_no:
        found = billing.by_request_no(state, g.app_id, request_no)
    else:
        assert patient_id is not None
        found = billing.of_patient(state, g.app_id, patient_id, date_from, date_to)
    page, next_cursor = paginate(found, offset, size, request.args)
    return json_response({"items": [views_billing.settlement(state, s) for s in page], "next_cursor": next_cursor})


@bp.get("/settlements/<settlement_id>")
@operation("getSettlement", PATIENT_READ)
def get(settlement_id: str) -> Response:
    simulator = sim()
    _now(simulator)
    return json_response(views_billing.settlement(simulator.state, billing.get(simulator.state, g.app_id, settlement_id)))


def _date(raw: str) -> date:
    day = parse_local_date(raw)
    if day is None:
        raise validation_error({"date": "must be a date YYYY-MM-DD"})
    return day


@bp.get("/reconciliation/<raw_date>")
@operation("getReconciliationSummary", PATIENT_READ)
def summary(raw_date: str) -> Response:
    simulator = sim()
    rec = reconciliation.reconcile(simulator.state, g.app_id, _date(raw_date), simulator.now())
    return json_response(reconciliation.summary_json(rec))


@bp.get("/reconciliation/<raw_date>/file")
@operation("getReconciliationFile", PATIENT_READ)
def file(raw_date: str) -> Response:
    simulator = sim()
    day = _date(raw_date)
    rec = reconciliation.ready_file(simulator.state, g.app_id, day, simulator.now())
    response = Response(rec.body, status=200, content_type=CSV_CONTENT_TYPE)
    response.headers["X-His-Content-SHA256"] = rec.sha256
    response.headers["Content-Disposition"] = f'attachment; filename="reconciliation-{day.isoformat()}.csv"'
    return response
