"""H5 API: the hospital, campuses, departments, doctors and fees (all from our synced copy)."""

from __future__ import annotations

import re
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.errors import bad_request, not_found
from chalicelib.services import reference_query as query

bp = Blueprint(__name__)

_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def _repo() -> Any:
    return bootstrap.container().reference_repository


def _campus_filter() -> str | Response | None:
    params = bp.current_request.query_params
    campus_id = (params.get("campus_id") if params else None) or None
    if campus_id is not None and not _ID.match(campus_id):
        return bad_request("院区参数不正确")
    return campus_id


@bp.route("/api/hospital", methods=["GET"])
def hospital() -> dict[str, Any]:
    o = query.hospital_overview(_repo(), bootstrap.container().hospital_profile)
    return {
        "name": o.profile.name,
        "intro": o.profile.intro,
        "campuses": [views.campus(c) for c in o.campuses],
        "stats": {"departments": o.department_count, "doctors": o.doctor_count},
        "as_of": views.local_time(o.as_of),
    }


@bp.route("/api/campuses", methods=["GET"])
def campuses() -> dict[str, Any]:
    items, as_of = query.list_campuses(_repo())
    return {"items": [views.campus(c) for c in items], "as_of": views.local_time(as_of)}


@bp.route("/api/departments", methods=["GET"])
def departments() -> dict[str, Any] | Response:
    campus_id = _campus_filter()
    if isinstance(campus_id, Response):
        return campus_id
    d = query.department_directory(_repo(), campus_id)
    by_id = {c.campus_id: c for c in d.campuses}
    return {
        "groups": [views.group(g, by_id) for g in d.groups],
        "campuses": [views.campus(c) for c in d.campuses],
        "as_of": views.local_time(d.as_of),
    }


@bp.route("/api/departments/{department_id}", methods=["GET"])
def department(department_id: str) -> dict[str, Any] | Response:
    if not _ID.match(department_id):
        return not_found("没有找到该科室，可能已停用或调整")
    try:
        d = query.department_detail(_repo(), department_id)
    except query.NotFoundError as exc:
        return not_found(exc.message)
    return {
        "department": views.department_full(d.department, d.campuses),
        "campus": views.campus(d.campus) if d.campus else None,
        "doctors": [views.doctor_summary(doc) for doc in d.doctors],
        "fees": [views.fee(f) for f in d.fees],
        "as_of": views.local_time(d.as_of),
    }


@bp.route("/api/doctors/{doctor_id}", methods=["GET"])
def doctor(doctor_id: str) -> dict[str, Any] | Response:
    if not _ID.match(doctor_id):
        return not_found("没有找到该医生，可能已停诊或调整")
    try:
        d = query.doctor_detail(_repo(), doctor_id)
    except query.NotFoundError as exc:
        return not_found(exc.message)
    return {
        "doctor": views.doctor_full(d.doctor),
        "departments": [views.department_summary(dept, d.campuses) for dept in d.departments],
        "fees": [views.fee(f) for f in d.fees],
        "as_of": views.local_time(d.as_of),
    }


@bp.route("/api/fee-schedule", methods=["GET"])
def fee_schedule() -> dict[str, Any] | Response:
    campus_id = _campus_filter()
    if isinstance(campus_id, Response):
        return campus_id
    items, as_of = query.fee_schedule(_repo(), campus_id)
    return {"items": [views.fee(f) for f in items], "as_of": views.local_time(as_of)}
