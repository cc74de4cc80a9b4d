"""JSON shapes of the booking records as stored in the ``booking`` table (schedules, slots, appointments,
waitlist entries). Storage detail: the domain never sees these dicts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from chalicelib.domain.booking import Appointment, PaymentProof, SlotRef, State, Visit
from chalicelib.domain.reference import Location
from chalicelib.domain.schedules import Schedule, Slot
from chalicelib.domain.waitlist import EntryState, Offer, WaitlistEntry


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _pt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _T(value: Any) -> datetime:  # a required time
    parsed = _pt(value)
    if parsed is None:
        raise ValueError("a stored time is missing")
    return parsed


def location_json(loc: Location) -> dict[str, Any]:
    return {"campus_id": loc.campus_id, "building": loc.building, "floor": loc.floor, "room": loc.room,
            "description": loc.description, "campus_name": loc.campus_name}


def location_of(raw: dict[str, Any]) -> Location:
    return Location(str(raw["campus_id"]), str(raw["building"]), str(raw["floor"]), raw.get("room"),
                    raw.get("description"), raw.get("campus_name"))


def schedule_json(s: Schedule) -> dict[str, Any]:
    return {"schedule_id": s.schedule_id, "date": s.date.isoformat(), "session": s.session,
            "start_time": _t(s.start_time), "end_time": _t(s.end_time), "department_id": s.department_id,
            "department_name": s.department_name, "doctor_id": s.doctor_id, "doctor_name": s.doctor_name,
            "doctor_title_name": s.doctor_title_name, "reg_type": s.reg_type, "fee_fen": s.fee_fen,
            "capacity": s.capacity, "remaining": s.remaining, "release_at": _t(s.release_at),
            "cancel_deadline": _t(s.cancel_deadline), "status": s.status, "location": location_json(s.location),
            "stop_notice_id": s.stop_notice_id, "version": s.version}


def schedule_of(raw: dict[str, Any]) -> Schedule:
    return Schedule(
        schedule_id=raw["schedule_id"], date=date.fromisoformat(raw["date"]), session=raw["session"],
        start_time=_T(raw["start_time"]), end_time=_T(raw["end_time"]), department_id=raw["department_id"],
        department_name=raw["department_name"], doctor_id=raw.get("doctor_id"), doctor_name=raw.get("doctor_name"),
        doctor_title_name=raw.get("doctor_title_name"), reg_type=raw["reg_type"], fee_fen=int(raw["fee_fen"]),
        capacity=int(raw["capacity"]), remaining=int(raw["remaining"]), release_at=_T(raw["release_at"]),
        cancel_deadline=_T(raw["cancel_deadline"]), status=raw["status"], location=location_of(raw["location"]),
        stop_notice_id=raw.get("stop_notice_id"), version=int(raw.get("version") or 0))


def slot_json(s: Slot) -> dict[str, Any]:
    return {"slot_id": s.slot_id, "seq_no": s.seq_no, "start_time": _t(s.start_time), "end_time": _t(s.end_time),
            "status": s.status}


def slot_of(raw: dict[str, Any]) -> Slot:
    return Slot(raw["slot_id"], int(raw["seq_no"]), _T(raw["start_time"]), _T(raw["end_time"]), raw["status"])


def appointment_json(a: Appointment) -> dict[str, Any]:
    v = a.visit
    payment = None if a.payment is None else {
        "transaction_id": a.payment.transaction_id, "out_trade_no": a.payment.out_trade_no,
        "amount_fen": a.payment.amount_fen, "paid_at": _t(a.payment.paid_at), "mch_id": a.payment.mch_id}
    return {
        "appointment_id": a.appointment_id, "openid": a.openid, "patient_id": a.patient_id,
        "patient_label": a.patient_label, "relation": a.relation,
        "visit": {"schedule_id": v.schedule_id, "department_id": v.department_id, "department_name": v.department_name,
                  "doctor_id": v.doctor_id, "doctor_name": v.doctor_name, "doctor_title_name": v.doctor_title_name,
                  "reg_type": v.reg_type, "date": v.date.isoformat(), "session": v.session,
                  "start_time": _t(v.start_time), "end_time": _t(v.end_time), "location": location_json(v.location),
                  "cancel_deadline": _t(v.cancel_deadline), "fee_fen": v.fee_fen},
        "slot": {"slot_id": a.slot.slot_id, "seq_no": a.slot.seq_no, "start_time": _t(a.slot.start_time),
                 "end_time": _t(a.slot.end_time)},
        "state": a.state.value, "created_at": _t(a.created_at), "updated_at": _t(a.updated_at), "version": a.version,
        "his_appointment_id": a.his_appointment_id, "lock_expires_at": _t(a.lock_expires_at), "payment": payment,
        "refund_request_no": a.refund_request_no, "refund_owed_fen": a.refund_owed_fen, "message": a.message,
        "reason": a.reason, "replaces": a.replaces, "offer_id": a.offer_id, "history": [list(h) for h in a.history],
        "pending_his_status": a.pending_his_status, "pending_his_reason": a.pending_his_reason,
        "pending_his_version": a.pending_his_version, "his_status_version": a.his_status_version,
    }


def appointment_of(raw: dict[str, Any]) -> Appointment:
    v, s, p = raw["visit"], raw["slot"], raw.get("payment")
    visit = Visit(v["schedule_id"], v["department_id"], v["department_name"], v.get("doctor_id"), v.get("doctor_name"),
                  v.get("doctor_title_name"), v["reg_type"], date.fromisoformat(v["date"]), v["session"],
                  _T(v["start_time"]), _T(v["end_time"]), location_of(v["location"]), _T(v["cancel_deadline"]),
                  int(v["fee_fen"]))
    payment = None if not p else PaymentProof(p["transaction_id"], p["out_trade_no"], int(p["amount_fen"]),
                                              _T(p["paid_at"]), p.get("mch_id"))
    return Appointment(
        appointment_id=raw["appointment_id"], openid=raw["openid"], patient_id=raw["patient_id"],
        patient_label=raw["patient_label"], relation=raw["relation"], visit=visit,
        slot=SlotRef(s["slot_id"], int(s["seq_no"]), _T(s["start_time"]), _T(s["end_time"])),
        state=State(raw["state"]), created_at=_T(raw["created_at"]), updated_at=_T(raw["updated_at"]),
        version=int(raw["version"]), his_appointment_id=raw.get("his_appointment_id"),
        lock_expires_at=_pt(raw.get("lock_expires_at")), payment=payment, refund_request_no=raw.get("refund_request_no"),
        refund_owed_fen=int(raw.get("refund_owed_fen") or 0), message=raw.get("message") or "",
        reason=raw.get("reason") or "", replaces=raw.get("replaces"), offer_id=raw.get("offer_id"),
        pending_his_status=raw.get("pending_his_status") or "", pending_his_reason=raw.get("pending_his_reason") or "",
        pending_his_version=int(raw.get("pending_his_version") or 0),
        his_status_version=int(raw.get("his_status_version") or 0),
        history=tuple((str(h[0]), str(h[1])) for h in raw.get("history") or ()))


def entry_json(e: WaitlistEntry) -> dict[str, Any]:
    offer = None if e.offer is None else {"offer_id": e.offer.offer_id, "slot_id": e.offer.slot_id,
                                          "expires_at": _t(e.offer.expires_at)}
    return {"schedule_id": e.schedule_id, "patient_id": e.patient_id, "openid": e.openid,
            "patient_label": e.patient_label, "relation": e.relation, "joined_at": _t(e.joined_at),
            "state": e.state.value, "offer": offer, "version": e.version}


def entry_of(raw: dict[str, Any]) -> WaitlistEntry:
    o = raw.get("offer")
    offer = None if not o else Offer(o["offer_id"], o["slot_id"], _T(o["expires_at"]))
    return WaitlistEntry(raw["schedule_id"], raw["patient_id"], raw["openid"], raw["patient_label"], raw["relation"],
                         _T(raw["joined_at"]), EntryState(raw["state"]), offer, int(raw["version"]))
