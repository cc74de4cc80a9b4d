"""H5 API: the logged-in user's bound patients and their lab and exam reports (read live, with a kept copy).

Every answer is personal: ``Cache-Control: no-store``. ``as_of`` says when the HIS gave the data and
``live`` whether it came just now (false: the HIS could not answer and this is the kept copy).
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import require_login
from chalicelib.api.errors import JSON, NO_STORE, refusal
from chalicelib.api.views import local_time
from chalicelib.domain.patients import RELATION_NAMES, PatientBinding
from chalicelib.domain.reports import LabResult, ReportDetail, ReportQueryError, ReportSummary, parse_report_query
from chalicelib.services import reports as service
from chalicelib.services.reports import ReportsError

bp = Blueprint(__name__)


def _ctx() -> Any:
    return bootstrap.container().reports_context


def _param(name: str) -> str | None:
    params = bp.current_request.query_params
    return params.get(name) if params else None


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers={**JSON, **NO_STORE})


def _refusal(exc: ReportsError | ReportQueryError) -> Response:
    if isinstance(exc, ReportQueryError):
        return _json({"code": "BAD_REQUEST", "message": exc.message}, 400)
    return refusal(exc)


# ---- JSON shapes ------------------------------------------------------------------------------------
def patient_view(b: PatientBinding) -> dict[str, Any]:
    return {"patient_id": b.patient_id, "label": b.label, "relation": b.relation.value,
            "relation_name": RELATION_NAMES.get(b.relation, "")}


def summary_view(r: ReportSummary) -> dict[str, Any]:
    return {
        "report_id": r.report_id, "category": r.category, "category_name": r.category_name, "title": r.title,
        "status": r.status, "state": r.state, "state_text": r.state_text, "state_note": r.state_note,
        "version": r.version, "amended": r.amended, "ordered_at": local_time(r.ordered_at),
        "expected_at": local_time(r.expected_at), "finalized_at": local_time(r.finalized_at),
        "release_at": local_time(r.release_at), "online_viewable": r.online_viewable,
        "not_viewable_reason": r.not_viewable_reason, "abnormal_count": r.abnormal_count,
        "has_critical": r.has_critical, "specimen": r.specimen, "modality": r.modality, "body_part": r.body_part,
        "ordering_doctor_name": r.ordering_doctor_name,
    }


def item_view(i: LabResult) -> dict[str, Any]:
    return {"code": i.code, "name": i.name, "value": i.value, "unit": i.unit, "reference_range": i.reference_range,
            "flag": i.flag, "flag_text": i.flag_text, "abnormal": i.abnormal, "critical": i.critical}


def detail_view(d: ReportDetail) -> dict[str, Any]:
    amendment = {"amended_at": local_time(d.amendment.amended_at), "reason": d.amendment.reason} if d.amendment else None
    return {
        **summary_view(d.summary), "amended": d.amended, "items": [item_view(i) for i in d.items],
        "abnormal_items": [i.name for i in d.abnormal_items], "findings": d.findings, "conclusion": d.conclusion,
        "reported_by": d.reported_by, "reviewed_by": d.reviewed_by, "amendment": amendment,
        "amendment_note": d.amendment_note, "pdf_available": d.pdf_available,
    }


# ---- routes -----------------------------------------------------------------------------------------
@bp.route("/api/patients", methods=["GET"])
def patients() -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    return _json({"items": [patient_view(b) for b in service.my_patients(openid, _ctx())]})


@bp.route("/api/patients/{patient_id}/reports", methods=["GET"])
def reports(patient_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        query = parse_report_query(_param("category"), _param("days"))
        found = service.list_reports(openid, patient_id, query, _ctx())
    except (ReportsError, ReportQueryError) as exc:
        return _refusal(exc)
    return _json({"patient": patient_view(found.patient), "items": [summary_view(r) for r in found.reports],
                  "category": query.category, "days": query.days, "as_of": local_time(found.as_of), "live": found.live})


@bp.route("/api/patients/{patient_id}/reports/{report_id}", methods=["GET"])
def report(patient_id: str, report_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        found = service.report_detail(openid, patient_id, report_id, _ctx())
    except ReportsError as exc:
        return _refusal(exc)
    return _json({"patient": patient_view(found.patient), "report": detail_view(found.report),
                  "as_of": local_time(found.as_of), "live": found.live})


@bp.route("/api/patients/{patient_id}/reports/{report_id}/pdf", methods=["GET"])
def report_pdf(patient_id: str, report_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        link = service.report_pdf(openid, patient_id, report_id, _ctx())
    except ReportsError as exc:
        return _refusal(exc)
    return _json({"url": link.url, "expires_in": link.expires_in})
