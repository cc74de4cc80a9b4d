"""Reports (§7.7), check-in and queue (§7.6), visits (§7.9)."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from .. import queueing, reports, views_clinical, visits
from ..errors import HisError
from ..pagination import paginate
from ..validation import Params
from ..web import PATIENT_READ, WRITE, json_body, json_response, operation, sim

bp = Blueprint("clinical", __name__)

@bp.get("/patients/<patient_id>/reports")
@operation("listReports", PATIENT_READ)
def list_reports(patient_id: str) -> Response:
    params = Params(request.args)
    date_from = params.local_date("date_from", required=True)
    date_to = params.local_date("date_to", required=True)
    params.date_range(date_from, date_to, reports.MAX_RANGE_DAYS, ("date_from", "date_to"))
    category = params.enum("category", reports.CATEGORIES)
    status = params.enum("status", reports.STATUSES)
    offset, size = params.page()
    params.check()
    assert date_from is not None and date_to is not None
    simulator = sim()
    now = simulator.now()
    found = reports.of_patient(simulator.state, g.app_id, patient_id, date_from, date_to, category, status, now)
    page, next_cursor = paginate(found, offset, size, request.args)
    return json_response({"items": [views_clinical.report_summary(r, now) for r in page], "next_cursor": next_cursor})


@bp.get("/patients/<patient_id>/reports/<report_id>")
@operation("getReport", PATIENT_READ)
def get_report(patient_id: str, report_id: str) -> Response:
    simulator = sim()
    now = simulator.now()
    report = reports.get_viewable(simulator.state, g.app_id, patient_id, report_id, now)
    return json_response(views_clinical.report_detail(report, now))


@bp.get("/patients/<patient_id>/reports/<report_id>/pdf")
@operation("getReportPdf", PATIENT_READ)
def get_report_pdf(patient_id: str, report_id: str) -> Response:
    simulator = sim()
    report = reports.get_viewable(simulator.state, g.app_id, patient_id, report_id, simulator.now())
    if not report.pdf_available:
        raise HisError("RESOURCE_NOT_FOUND", "report PDF not available", {"resource": "report_pdf", "id": report_id})
    response = Response(views_clinical.report_pdf(simulator.state, report), content_type="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{report.report_id}-v{report.version}.pdf"'
    return response


@bp.post("/appointments/<appointment_id>/check-in")
@operation("checkInAppointment", WRITE, idempotent=True)
def check_in(appointment_id: str) -> Response:
    simulator = sim()
    geofence = bool(getattr(simulator.config, queueing.GEOFENCE_SWITCH, True))
    appt, visit = queueing.check_in(simulator.state, g.app_id, appointment_id, json_body(), simulator.now(), geofence)
    return json_response(views_clinical.check_in_result(simulator.state, appt.appointment_id, visit))


@bp.get("/visits/<visit_id>/queue")
@operation("getQueueStatus", PATIENT_READ)
def queue_status(visit_id: str) -> Response:
    simulator = sim()
    visit = visits.get(simulator.state, g.app_id, visit_id)
    if visit.queue is None:
        raise HisError("RESOURCE_NOT_FOUND", "visit has no queue", {"resource": "queue", "id": visit_id})
    return json_response(views_clinical.queue_status(simulator.state, visit))


@bp.get("/visits")
@operation("listVisits", PATIENT_READ)
def list_visits() -> Response:
    params = Params(request.args)
    completed_from = params.local_datetime("completed_from", required=True)
    completed_to = params.local_datetime("completed_to", required=True)
    if completed_from and completed_to and completed_to < completed_from:
        params.problems["completed_to"] = "must not be before completed_from"
    elif completed_from and completed_to and completed_to - completed_from > visits.MAX_RANGE:
        params.problems["completed_to"] = "the range may span at most 31 days"
    patient_id = params.string("patient_id")
    department_id = params.string("department_id")
    offset, size = params.page()
    params.check()
    assert completed_from is not None and completed_to is not None
    state = sim().state
    found = visits.completed_between(state, g.app_id, completed_from, completed_to, patient_id, department_id)
    page, next_cursor = paginate(found, offset, size, request.args)
    return json_response({"items": [views_clinical.visit_json(state, v) for v in page], "next_cursor": next_cursor})


@bp.get("/visits/<visit_id>")
@operation("getVisit", PATIENT_READ)
def get_visit(visit_id: str) -> Response:
    state = sim().state
    return json_response(views_clinical.visit_json(state, visits.get(state, g.app_id, visit_id)))
