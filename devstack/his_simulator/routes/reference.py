"""Reference data (§7.2): campuses, departments, doctors, fee schedule."""

from __future__ import annotations

from flask import Blueprint, Response, request

from .. import reference, views
from ..errors import not_found
from ..pagination import paginate
from ..validation import Params
from ..web import REFERENCE, etag_response, json_response, operation, sim

bp = Blueprint("reference", __name__)


@bp.get("/campuses")
@operation("listCampuses", REFERENCE)
def list_campuses() -> Response:
    state = sim().state
    return etag_response({"items": [views.campus(c) for c in sorted(state.campuses.values(), key=lambda c: c.campus_id)]})


@bp.get("/departments")
@operation("listDepartments", REFERENCE)
def list_departments() -> Response:
    params = Params(request.args)
    campus_id = params.string("campus_id")
    bookable = params.boolean("bookable")
    params.check()
    state = sim().state
    return etag_response({"items": [views.department(state, d) for d in reference.departments(state, campus_id, bookable)]})


@bp.get("/departments/<department_id>")
@operation("getDepartment", REFERENCE)
def get_department(department_id: str) -> Response:
    state = sim().state
    dept = state.departments.get(department_id)
    if dept is None:
        raise not_found("department", department_id)
    return json_response(views.department(state, dept))


@bp.get("/doctors")
@operation("listDoctors", REFERENCE)
def list_doctors() -> Response:
    params = Params(request.args)
    department_id = params.string("department_id")
    campus_id = params.string("campus_id")
    keyword = params.string("keyword", max_length=20)
    offset, size = params.page()
    params.check()
    found = reference.doctors(sim().state, department_id, campus_id, keyword)
    page, next_cursor = paginate(found, offset, size, request.args)
    return json_response({"items": [views.doctor(d) for d in page], "next_cursor": next_cursor})


@bp.get("/doctors/<doctor_id>")
@operation("getDoctor", REFERENCE)
def get_doctor(doctor_id: str) -> Response:
    doc = sim().state.doctors.get(doctor_id)
    if doc is None:
        raise not_found("doctor", doctor_id)
    return json_response(views.doctor(doc))


@bp.get("/fee-schedule")
@operation("getFeeSchedule", REFERENCE)
def fee_schedule() -> Response:
    params = Params(request.args)
    campus_id = params.string("campus_id")
    params.check()
    return etag_response({"items": [views.fee_entry(e) for e in reference.fee_schedule(sim().state, campus_id)]})
