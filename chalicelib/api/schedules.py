"""H5 API: browse schedules (排班) and slots (号源), and doctor search. Public hospital information: no
login, nothing personal. Schedules are read live (``as_of`` / ``live`` as for reports) and never cached
(``no-store``): remaining counts move, and ``server_time`` is the page's clock for release countdowns.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.errors import JSON, NO_STORE, refusal
from chalicelib.api.views import local_time
from chalicelib.domain.doctor_search import DoctorMatch, DoctorSearchError
from chalicelib.domain.reference import FeeEntry, format_fen
from chalicelib.domain.schedules import (
    STOPPED_TEXT,
    Schedule,
    ScheduleQueryError,
    Slot,
    is_released,
    parse_schedule_query,
)
from chalicelib.services import schedules as service
from chalicelib.services.schedules import SchedulesError

bp = Blueprint(__name__)


def _ctx() -> Any:
    return bootstrap.container().schedules_context


def _param(name: str) -> str | None:
    params = bp.current_request.query_params
    return params.get(name) if params else None


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers={**JSON, **NO_STORE})


def _refusal(exc: SchedulesError | ScheduleQueryError | DoctorSearchError) -> Response:
    if isinstance(exc, SchedulesError):
        return refusal(exc)
    return _json({"code": "BAD_REQUEST", "message": exc.message}, 400)


# ---- JSON shapes ------------------------------------------------------------------------------------
def schedule_view(s: Schedule, now: datetime, stop_message: str | None, campus_names: Mapping[str, str]) -> dict[str, Any]:
    released = is_released(s, now)
    loc = s.location
    campus_name = loc.campus_name or campus_names.get(loc.campus_id) or ""
    status = s.status if released or s.stopped else "not_released"
    return {
        "schedule_id": s.schedule_id, "date": s.date.isoformat(), "session": s.session, "session_name": s.session_name,
        "start_time": local_time(s.start_time), "end_time": local_time(s.end_time),
        "department_id": s.department_id, "department_name": s.department_name, "doctor_id": s.doctor_id,
        "doctor_name": s.doctor_name, "doctor_title_name": s.doctor_title_name, "reg_type": s.reg_type,
        "reg_type_name": s.reg_type_name, "fee_fen": s.fee_fen, "fee_text": format_fen(s.fee_fen),
        "capacity": s.capacity, "remaining": s.remaining if released and not s.stopped else None,
        "status": status, "status_name": "停诊" if s.stopped else ("未放号" if not released else s.status_name),
        "stopped": s.stopped, "stop_message": (stop_message or STOPPED_TEXT) if s.stopped else None, "released": released,
        "bookable": released and s.status == "open" and now < s.start_time,
        "release_at": local_time(s.release_at), "cancel_deadline": local_time(s.cancel_deadline),
        "location": {"campus_id": loc.campus_id, "campus_name": campus_name, "building": loc.building,
                     "floor": loc.floor, "room": loc.room, "description": loc.description,
                     "text": " ".join(p for p in (campus_name, loc.display()) if p)},
        "waitlist_open": released and s.status == "full",
    }


def slot_view(s: Slot) -> dict[str, Any]:
    return {"slot_id": s.slot_id, "seq_no": s.seq_no, "start_time": local_time(s.start_time),
            "end_time": local_time(s.end_time), "window_text": s.window_text(), "available": s.status == "available"}


def fee_view(s: Schedule, entry: FeeEntry | None) -> dict[str, Any]:
    components = [{"name": c.name, "amount_fen": c.amount_fen, "amount_text": format_fen(c.amount_fen)}
                  for c in (entry.components if entry else ())]
    return {"fee_fen": s.fee_fen, "fee_text": format_fen(s.fee_fen), "reg_type_name": s.reg_type_name,
            "components": components, "notes": entry.notes if entry else None}


def doctor_match_view(m: DoctorMatch, campuses: Mapping[str, Any]) -> dict[str, Any]:
    return {**views.doctor_summary(m.doctor), "matched_on": m.matched_on,
            "departments": [views.department_summary(d, campuses) for d in m.departments]}


# ---- routes -----------------------------------------------------------------------------------------
@bp.route("/api/schedules", methods=["GET"])
def schedules() -> Response:
    ctx = _ctx()
    try:
        query = parse_schedule_query(service.today(ctx), **{k: _param(k) for k in service.QUERY_PARAMS})
        found = service.list_schedules(ctx, query)
    except (SchedulesError, ScheduleQueryError) as exc:
        return _refusal(exc)
    names, now = service.campus_names(ctx), found.now or ctx.clock()
    items = [schedule_view(s, now, found.stop_messages.get(s.schedule_id), names) for s in found.items]
    return _json({"items": items, "date_from": query.date_from.isoformat(), "date_to": query.date_to.isoformat(),
                  "server_time": local_time(now), "next_release_at": local_time(found.next_release_at),
                  "as_of": local_time(found.as_of), "live": found.live})


@bp.route("/api/schedules/{schedule_id}", methods=["GET"])
def schedule(schedule_id: str) -> Response:
    ctx = _ctx()
    try:
        d = service.schedule_detail(ctx, schedule_id)
    except SchedulesError as exc:
        return _refusal(exc)
    now = d.now or ctx.clock()
    return _json({"schedule": schedule_view(d.schedule, now, d.stop_message, service.campus_names(ctx)),
                  "slots": [slot_view(s) for s in d.slots], "slots_known": d.slots_known,
                  "fee": fee_view(d.schedule, d.fee), "server_time": local_time(now),
                  "as_of": local_time(d.as_of), "live": d.live})


@bp.route("/api/doctors", methods=["GET"])
def doctors() -> Response:
    try:
        found = service.find_doctors(_ctx(), _param("keyword"), _param("department_id"), _param("campus_id"))
    except DoctorSearchError as exc:
        return _refusal(exc)
    return _json({"items": [doctor_match_view(m, found.campuses) for m in found.matches], "keyword": found.keyword,
                  "limit": service.MAX_DOCTORS})
