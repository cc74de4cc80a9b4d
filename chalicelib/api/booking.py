"""H5 API: booking a slot, my appointments, cancelling and rescheduling, the waitlist; and the booking
saga's queue results and timers. Every answer is personal: ``Cache-Control: no-store``."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate, Response

from chalicelib import bootstrap
from chalicelib.api.auth import require_login
from chalicelib.api.errors import JSON, NO_STORE, refusal
from chalicelib.api.his_results import result_handler
from chalicelib.api.views import local_time
from chalicelib.domain.booking import REQUEST_KEY, Appointment, BookingError, PaymentProof, View
from chalicelib.domain.his_messages import HisResult
from chalicelib.domain.patients import RELATION_NAMES, Relation
from chalicelib.domain.reference import REG_TYPE_NAMES, format_fen
from chalicelib.domain.schedules import SESSION_NAMES
from chalicelib.domain.waitlist import STATE_TEXT as WAITLIST_STATE_TEXT
from chalicelib.services import booking as service
from chalicelib.services import waitlist
from chalicelib.services.booking import BookingContext
from chalicelib.services.payments import paid_handler

bp = Blueprint(__name__)


def _ctx() -> BookingContext:
    return bootstrap.container().booking_context


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers={**JSON, **NO_STORE})


def _body() -> Any:
    try:
        return bp.current_request.json_body
    except Exception:  # Chalice raises BadRequestError for malformed JSON
        return None


# ---- JSON shapes ------------------------------------------------------------------------------------------
def _relation_name(relation: str) -> str:
    try:
        return RELATION_NAMES[Relation(relation)]
    except ValueError:
        return ""


def appointment_view(a: Appointment, now: Any) -> dict[str, Any]:
    v = a.visit
    loc = v.location
    where = " ".join(p for p in (loc.campus_name or "", loc.display()) if p)
    return {
        "appointment_id": a.appointment_id, "state": a.state.value, "state_text": a.state_text(), "final": a.final,
        "patient": {"patient_id": a.patient_id, "label": a.patient_label, "relation_name": _relation_name(a.relation)},
        "schedule_id": v.schedule_id, "department_id": v.department_id, "department_name": v.department_name,
        "doctor_name": v.doctor_name,
        "doctor_title_name": v.doctor_title_name, "reg_type_name": REG_TYPE_NAMES.get(v.reg_type, v.reg_type),
        "date": v.date.isoformat(), "session_name": SESSION_NAMES.get(v.session, v.session),
        "slot": {"seq_no": a.slot.seq_no, "start_time": local_time(a.slot.start_time),
                 "end_time": local_time(a.slot.end_time), "window_text": a.slot.window_text()},
        "fee_fen": v.fee_fen, "fee_text": format_fen(v.fee_fen),
        "location": {"campus_name": loc.campus_name, "building": loc.building, "floor": loc.floor, "room": loc.room,
                     "description": loc.description, "text": where},
        "cancel_deadline": local_time(v.cancel_deadline), "cancellable": a.cancellable(now),
        "lock_expires_at": local_time(a.lock_expires_at), "pay_by": local_time(a.pay_by),
        "needs_payment": a.needs_payment, "message": a.message or a.state_text(),
        "refund_fen": a.refund_owed_fen, "created_at": local_time(a.created_at),
    }


def _entry_view(position: waitlist.WaitlistPosition, ctx: BookingContext) -> dict[str, Any]:
    e = position.entry
    snapshot = ctx.pool.snapshot(e.schedule_id)
    s = snapshot.schedule if snapshot else None
    return {
        "schedule_id": e.schedule_id, "state": e.state.value, "state_text": WAITLIST_STATE_TEXT[e.state],
        "place": position.place,
        "patient": {"patient_id": e.patient_id, "label": e.patient_label, "relation_name": _relation_name(e.relation)},
        "offer": {"offer_id": e.offer.offer_id, "expires_at": local_time(e.offer.expires_at)}
        if e.offer is not None and e.state.value == "offered" else None,
        "schedule": None if s is None else {"date": s.date.isoformat(), "session_name": s.session_name,
                                            "department_name": s.department_name, "doctor_name": s.doctor_name},
    }


# ---- routes -----------------------------------------------------------------------------------------------
@bp.route("/api/appointments", methods=["POST"], content_types=["application/json"])
def book() -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        made = service.book(_ctx(), openid, service.parse_book(_body()))
    except BookingError as exc:
        return refusal(exc)
    return _json({"appointment": appointment_view(made, _ctx().clock())}, 202)


@bp.route("/api/appointments", methods=["GET"])
def my_appointments() -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    params = bp.current_request.query_params
    raw = (params.get("view") if params else None) or View.UPCOMING.value
    if raw not in {v.value for v in View}:
        return refusal(BookingError(400, "BAD_REQUEST", "查看范围只能是即将就诊、历史或已取消"))
    ctx = _ctx()
    items = service.my_appointments(ctx, openid, View(raw))
    return _json({"items": [appointment_view(a, ctx.clock()) for a in items], "view": raw})


@bp.route("/api/appointments/{appointment_id}", methods=["GET"])
def appointment(appointment_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    ctx = _ctx()
    try:
        found = service.appointment_of(ctx, openid, appointment_id)
    except BookingError as exc:
        return refusal(exc)
    return _json({"appointment": appointment_view(found, ctx.clock())})


@bp.route("/api/appointments/{appointment_id}/cancel", methods=["POST"])
def cancel(appointment_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    ctx = _ctx()
    try:
        moved = service.cancel(ctx, openid, appointment_id)
    except BookingError as exc:
        return refusal(exc)
    return _json({"appointment": appointment_view(moved, ctx.clock())}, 202)


@bp.route("/api/appointments/{appointment_id}/reschedule", methods=["POST"], content_types=["application/json"])
def reschedule(appointment_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    ctx = _ctx()
    try:
        body = _body()
        old = service.appointment_of(ctx, openid, appointment_id)
        cmd = service.parse_book({**body, "patient_id": old.patient_id} if isinstance(body, dict) else body)
        made = service.reschedule(ctx, openid, appointment_id, cmd)
    except BookingError as exc:
        return refusal(exc)
    return _json({"appointment": appointment_view(made, ctx.clock())}, 202)


@bp.route("/api/schedules/{schedule_id}/waitlist", methods=["POST"], content_types=["application/json"])
def join_waitlist(schedule_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    body = _body()
    patient_id = body.get("patient_id") if isinstance(body, dict) else None
    ctx = _ctx()
    try:
        position = waitlist.join(ctx, openid, schedule_id, patient_id if isinstance(patient_id, str) else "")
    except BookingError as exc:
        return refusal(exc)
    return _json({"entry": _entry_view(position, ctx)}, 201)


@bp.route("/api/schedules/{schedule_id}/waitlist/{patient_id}", methods=["DELETE"])
def leave_waitlist(schedule_id: str, patient_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        waitlist.leave(_ctx(), openid, schedule_id, patient_id)
    except BookingError as exc:
        return refusal(exc)
    return Response(body="", status_code=204, headers=dict(NO_STORE))


@bp.route("/api/waitlist", methods=["GET"])
def my_waitlist() -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    ctx = _ctx()
    return _json({"items": [_entry_view(p, ctx) for p in waitlist.my_entries(ctx, openid)],
                  "server_time": local_time(ctx.clock())})


@bp.route("/api/waitlist/offers/{offer_id}/claim", methods=["POST"], content_types=["application/json"])
def claim_offer(offer_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    body = _body()
    key = body.get("request_key") if isinstance(body, dict) else None
    ctx = _ctx()
    try:
        if not isinstance(key, str) or not REQUEST_KEY.match(key):
            raise BookingError(400, "BAD_REQUEST", "请求缺少有效的预约编号，请刷新页面后重试")
        made = waitlist.claim(ctx, openid, offer_id, key)
    except BookingError as exc:
        return refusal(exc)
    return _json({"appointment": appointment_view(made, ctx.clock())}, 202)


# ---- the saga's queue results and timers ------------------------------------------------------------------
@result_handler(service.PURPOSE)
def _apply_booking_result(result: HisResult, c: bootstrap.Container) -> object:
    return service.apply_his_result(result, c.booking_context)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def booking_timers(event: Any) -> dict[str, Any]:
    return {"fired": service.sweep(bootstrap.container().booking_context)}


@paid_handler("registration")
def _registration_paid(ctx: BookingContext, appointment_id: str, proof: Any) -> object:
    """WeChat Pay confirmed a registration fee (the payments side calls this once per paid order)."""
    return service.registration_paid(ctx, appointment_id, PaymentProof(
        proof.transaction_id, proof.out_trade_no, proof.amount_fen, proof.paid_at, proof.mch_id or None))
