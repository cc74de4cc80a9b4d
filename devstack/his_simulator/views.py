"""JSON shapes of the spec's schemas (``openapi.yaml`` components), built from the state.

Personal identifiers leave only masked (§4.5). Clock-dependent values take ``now``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import schedules as sched
from .clock import fmt
from .identity import mask_id_number, mask_phone
from .state import (
    REG_TYPE_NAMES,
    Appointment,
    Campus,
    Charge,
    Department,
    Doctor,
    EReceipt,
    Event,
    FeeEntry,
    HisState,
    Location,
    Patient,
    Payment,
    RegistrationRefund,
    Schedule,
    ScheduleNotice,
    Visit,
)

Json = dict[str, Any]


def location(state: HisState, loc: Location) -> Json:
    campus = state.campuses.get(loc.campus_id)
    return {
        "campus_id": loc.campus_id,
        "campus_name": campus.name if campus else None,
        "building": loc.building,
        "floor": loc.floor,
        "room": loc.room,
        "description": loc.description,
    }


def campus(c: Campus) -> Json:
    return {
        "campus_id": c.campus_id,
        "name": c.name,
        "short_name": c.short_name,
        "address": c.address,
        "location": {"latitude": c.latitude, "longitude": c.longitude, "coordinate_system": "GCJ-02"},
        "phone": c.phone,
        "transport": c.transport,
        "status": c.status,
        "updated_at": fmt(c.updated_at),
    }


def department(state: HisState, d: Department) -> Json:
    return {
        "department_id": d.department_id,
        "name": d.name,
        "parent_id": d.parent_id,
        "campus_id": d.campus_id,
        "location": location(state, d.location),
        "intro": d.intro,
        "bookable": d.bookable,
        "gender_restriction": d.gender_restriction,
        "min_age_years": d.min_age_years,
        "max_age_years": d.max_age_years,
        "sort_order": d.sort_order,
        "status": d.status,
        "updated_at": fmt(d.updated_at),
    }


def doctor(d: Doctor) -> Json:
    return {
        "doctor_id": d.doctor_id,
        "name": d.name,
        "title_code": d.title_code,
        "title_name": d.title_name,
        "academic_title": d.academic_title,
        "department_ids": list(d.department_ids),
        "specialties": list(d.specialties),
        "intro": d.intro,
        "photo_url": d.photo_url,
        "status": d.status,
        "updated_at": fmt(d.updated_at),
    }


def fee_entry(e: FeeEntry) -> Json:
    return {
        "reg_type": e.reg_type,
        "reg_type_name": REG_TYPE_NAMES[e.reg_type],
        "title_code": e.title_code,
        "campus_id": e.campus_id,
        "fee_fen": e.fee_fen,
        "components": [{"name": c.name, "amount_fen": c.amount_fen} for c in e.components],
        "effective_from": e.effective_from.isoformat(),
        "notes": e.notes,
    }


def schedule(state: HisState, s: Schedule, now: datetime) -> Json:
    dept = state.departments[s.department_id]
    doc = state.doctors.get(s.doctor_id) if s.doctor_id else None
    return {
        "schedule_id": s.schedule_id,
        "date": s.date.isoformat(),
        "session": s.session,
        "start_time": fmt(s.start_time),
        "end_time": fmt(s.end_time),
        "department_id": s.department_id,
        "department_name": dept.name,
        "doctor_id": s.doctor_id,
        "doctor_name": doc.name if doc else None,
        "doctor_title_name": doc.title_name if doc else None,
        "reg_type": s.reg_type,
        "fee_fen": s.fee_fen,
        "capacity": s.capacity,
        "remaining": sched.remaining(s),
        "release_at": fmt(s.release_at),
        "cancel_deadline": fmt(s.cancel_deadline),
        "status": sched.status(s, now),
        "location": location(state, s.location),
        "stop_notice_id": s.stop_notice_id,
        "version": s.version,
        "updated_at": fmt(s.updated_at),
    }


def slot(s: Schedule, seq_no: int, now: datetime) -> Json:
    start, end = sched.slot_window(s, seq_no)
    return {
        "slot_id": sched.slot_id(s, seq_no),
        "seq_no": seq_no,
        "start_time": fmt(start),
        "end_time": fmt(end),
        "status": sched.slot_status(s, seq_no, now),
    }


def notice(n: ScheduleNotice) -> Json:
    return {
        "notice_id": n.notice_id,
        "type": n.type,
        "schedule_id": n.schedule_id,
        "date": n.date.isoformat(),
        "session": n.session,
        "department_id": n.department_id,
        "doctor_id": n.doctor_id,
        "reason_code": n.reason_code,
        "public_message": n.public_message,
        "changes": [{"field": c.field, "old_value": c.old_value, "new_value": c.new_value} for c in n.changes],
        "affected_appointments": n.affected_appointments,
        "handling": n.handling,
        "free_cancel_until": fmt(n.free_cancel_until),
        "published_at": fmt(n.published_at),
    }


def patient(p: Patient, created: bool | None = None) -> Json:
    body: Json = {
        "patient_id": p.patient_id,
        "name": p.name,
        "gender": p.gender,
        "birth_date": p.birth_date.isoformat(),
        "id_type": p.id_type,
        "id_number_masked": mask_id_number(p.id_type, p.id_number),
        "phone_masked": mask_phone(p.phone),
        "cards": [{"card_no": c.card_no, "card_type": c.card_type, "status": c.status} for c in p.cards],
        "created_at": fmt(p.created_at),
    }
    if created is not None:
        body["created"] = created
    return body


def payment(p: Payment | None) -> Json | None:
    if p is None:
        return None
    return {
        "channel": p.channel,
        "mch_id": p.mch_id,
        "transaction_id": p.transaction_id,
        "out_trade_no": p.out_trade_no,
        "amount_fen": p.amount_fen,
        "paid_at": fmt(p.paid_at),
    }


def registration_refund(r: RegistrationRefund | None) -> Json | None:
    if r is None:
        return None
    return {
        "his_refund_id": r.his_refund_id,
        "refund_request_no": r.refund_request_no,
        "refund_amount_fen": r.refund_amount_fen,
        "initiated_by": r.initiated_by,
        "created_at": fmt(r.created_at),
    }


def appointment(state: HisState, a: Appointment) -> Json:
    s = state.schedules[a.schedule_id]
    dept = state.departments[s.department_id]
    doc = state.doctors.get(s.doctor_id) if s.doctor_id else None
    start, end = sched.slot_window(s, a.seq_no)
    return {
        "appointment_id": a.appointment_id,
        "order_id": a.order_id,
        "channel": a.channel,
        "status": a.status,
        "status_version": a.status_version,
        "status_reason": a.status_reason,
        "patient_id": a.patient_id,
        "schedule_id": a.schedule_id,
        "visit_date": s.date.isoformat(),
        "session": s.session,
        "department_id": s.department_id,
        "department_name": dept.name,
        "doctor_id": s.doctor_id,
        "doctor_name": doc.name if doc else None,
        "reg_type": s.reg_type,
        "fee_fen": a.fee_fen,
        "slot": {
            "slot_id": sched.slot_id(s, a.seq_no),
            "seq_no": a.seq_no,
            "start_time": fmt(start),
            "end_time": fmt(end),
        },
        "location": location(state, s.location),
        "lock_expires_at": fmt(a.lock_expires_at) if a.status == "locked" else None,
        "payment": payment(a.payment),
        "late_confirm": a.late_confirm,
        "confirmed_at": fmt(a.confirmed_at),
        "cancel_deadline": fmt(s.cancel_deadline),
        "cancelled_at": fmt(a.cancelled_at),
        "refund": registration_refund(a.refund),
        "checkin_opens_at": fmt(sched.checkin_opens_at(s, a.seq_no)),
        "visit_id": a.visit_id,
        "created_at": fmt(a.created_at),
        "updated_at": fmt(a.updated_at),
    }


def visit(state: HisState, v: Visit) -> Json:
    dept = state.departments.get(v.department_id)
    doc = state.doctors.get(v.doctor_id) if v.doctor_id else None
    return {
        "visit_id": v.visit_id,
        "patient_id": v.patient_id,
        "appointment_id": v.appointment_id,
        "campus_id": v.campus_id,
        "department_id": v.department_id,
        "department_name": dept.name if dept else None,
        "doctor_id": v.doctor_id,
        "doctor_name": doc.name if doc else None,
        "visit_type": v.visit_type,
        "status": v.status,
        "started_at": fmt(v.started_at),
        "completed_at": fmt(v.completed_at),
        "diagnosis_categories": (
            [{"system": d.system, "code": d.code, "primary": d.primary} for d in v.diagnosis_categories]
            if v.followup_allowed
            else []
        ),
        "followup_allowed": v.followup_allowed,
        "version": v.version,
    }


def charge(c: Charge) -> Json:
    return {
        "charge_id": c.charge_id,
        "patient_id": c.patient_id,
        "visit_id": c.visit_id,
        "type": c.type,
        "title": c.title,
        "department_id": c.department_id,
        "doctor_name": c.doctor_name,
        "status": c.status,
        "payable_online": c.payable_online,
        "not_payable_reason": c.not_payable_reason,
        "items": [
            {
                "item_id": i.item_id,
                "name": i.name,
                "specification": i.specification,
                "quantity": i.quantity,
                "unit": i.unit,
                "unit_price_fen": i.unit_price_fen,
                "amount_fen": i.amount_fen,
                "execution_status": i.execution_status,
                "refunded": i.refunded,
            }
            for i in c.items
        ],
        "total_fen": c.total_fen,
        "created_at": fmt(c.created_at),
        "expires_at": fmt(c.expires_at),
    }


def e_receipt(r: EReceipt | None) -> Json | None:
    if r is None:
        return None
    return {
        "status": r.status,
        "receipt_id": r.receipt_id,
        "receipt_code": r.receipt_code,
        "receipt_no": r.receipt_no,
        "verification_code": r.verification_code,
        "issued_at": fmt(r.issued_at),
        "view_url": r.view_url,
    }


def event(e: Event) -> Json:
    return {
        "event_id": e.event_id,
        "event_type": e.event_type,
        "occurred_at": fmt(e.occurred_at),
        "app_id": e.app_id,
        "data": e.data,
    }
