"""Visits for follow-up (§7.9): completed encounters of linked patients, and the doctor completing (or reopening
and completing again) a visit, which emits ``visit.completed`` with the visit's ``version``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from .appointments import _change as change_status
from .clock import fmt
from .errors import HisError, not_found, validation_error
from .events import emit_for_patient
from .patients import require_linked
from .state import DiagnosisCategory, HisState, Visit

MAX_RANGE = timedelta(days=31)
_ICD10_CATEGORY = re.compile(r"^[A-Z][0-9]{2}$")
# Excluded from online follow-up by hospital policy (§7.9): reproductive health departments, and sensitive
# categories (mental and behavioural disorders, HIV disease, sexually transmitted infections).
SENSITIVE_DEPARTMENTS = frozenset({"D0501", "D0502"})
_SENSITIVE_CODES = re.compile(r"^(F\d\d|B2[0-4]|A5\d|A6[0-4])$")


def completed_between(
    state: HisState,
    app_id: str,
    completed_from: datetime,
    completed_to: datetime,
    patient_id: str | None,
    department_id: str | None,
) -> list[Visit]:
    """Completed visits of the app's linked patients in ``[completed_from, completed_to]``, by ``completed_at``."""
    if patient_id is not None and (patient_id not in state.patients or not state.is_linked(app_id, patient_id)):
        raise HisError("PATIENT_NOT_LINKED", details={"patient_id": patient_id})
    found = [
        v
        for v in state.visits.values()
        if v.status == "completed"
        and v.completed_at is not None
        and completed_from <= v.completed_at <= completed_to
        and state.is_linked(app_id, v.patient_id)
        and (patient_id is None or v.patient_id == patient_id)
        and (department_id is None or v.department_id == department_id)
    ]
    return sorted(found, key=lambda v: (v.completed_at or completed_from, v.visit_id))


def get(state: HisState, app_id: str, visit_id: str) -> Visit:
    visit = state.visits.get(visit_id)
    if visit is None:
        raise not_found("visit", visit_id)
    require_linked(state, app_id, visit.patient_id)
    return visit


# ---------------------------------------------------------------- the doctor's side


def require_visit(state: HisState, visit_id: str) -> Visit:
    visit = state.visits.get(visit_id)
    if visit is None:
        raise not_found("visit", visit_id)
    return visit


def _diagnoses(raw: Any) -> list[DiagnosisCategory]:
    if not isinstance(raw, list):
        raise validation_error({"diagnosis_categories": "must be an array of ICD-10 category codes"})
    found = []
    for index, item in enumerate(raw):
        code = item.get("code") if isinstance(item, dict) else item
        if not isinstance(code, str) or not _ICD10_CATEGORY.match(code):
            raise validation_error({f"diagnosis_categories.{index}": "must be a three-character ICD-10 category"})
        primary = item.get("primary", index == 0) if isinstance(item, dict) else index == 0
        found.append(DiagnosisCategory(code, bool(primary)))
    return found


def followup_allowed(visit: Visit) -> bool:
    """Hospital policy: no online follow-up for sensitive departments or diagnosis categories."""
    if visit.department_id in SENSITIVE_DEPARTMENTS:
        return False
    return not any(_SENSITIVE_CODES.match(d.code) for d in visit.diagnosis_categories)


def complete(state: HisState, visit_id: str, body: Any, now: datetime) -> Visit:
    """in_progress -> completed: the queue entry and a checked-in appointment are completed too.

    Body (optional): ``diagnosis_categories`` (codes or ``{code, primary}``) and ``followup_allowed`` (a patient
    who declined follow-up); by default follow-up is allowed unless the policy excludes the visit.
    """
    body = body if body is not None else {}
    if not isinstance(body, dict):
        raise validation_error({"body": "must be a JSON object"})
    visit = require_visit(state, visit_id)
    if visit.status != "in_progress":
        raise HisError("INVALID_STATE", details={"current_status": visit.status})
    if "diagnosis_categories" in body:
        visit.diagnosis_categories = _diagnoses(body["diagnosis_categories"])
    explicit = body.get("followup_allowed")
    if explicit is not None and not isinstance(explicit, bool):
        raise validation_error({"followup_allowed": "must be a boolean"})
    visit.followup_allowed = followup_allowed(visit) and explicit is not False
    visit.status = "completed"
    visit.completed_at = now
    if visit.queue is not None and visit.queue.status != "completed":
        visit.queue.status = "completed"
        visit.queue.updated_at = now
    appt = state.appointments.get(visit.appointment_id) if visit.appointment_id else None
    if appt is not None and appt.status == "checked_in":
        change_status(state, appt, "completed", "visit_completed", now)
    emit_for_patient(
        state,
        visit.patient_id,
        "visit.completed",
        {
            "visit_id": visit.visit_id,
            "patient_id": visit.patient_id,
            "appointment_id": visit.appointment_id,
            "department_id": visit.department_id,
            "doctor_id": visit.doctor_id,
            "completed_at": fmt(now),
            "followup_allowed": visit.followup_allowed,
            "version": visit.version,
        },
        now,
    )
    return visit


def reopen(state: HisState, visit_id: str) -> Visit:
    """A doctor reopens a completed visit (e.g. to add a prescription); the version goes up, and completing it
    again announces that version."""
    visit = require_visit(state, visit_id)
    if visit.status != "completed":
        raise HisError("INVALID_STATE", details={"current_status": visit.status})
    visit.status = "in_progress"
    visit.completed_at = None
    visit.version += 1
    return visit
