"""Patients and cards (§7.4) and patient linking (§4.6)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from . import schemas
from .clock import parse_local_date
from .errors import HisError, not_found, validation_error
from .identity import age_on, resident_id_problems
from .state import Card, Guardian, HisState, Patient

GUARDIAN_REQUIRED_UNDER_YEARS = 14
FIRST_PATIENT_NUMBER = 800001


def require_patient(state: HisState, patient_id: str) -> Patient:
    patient = state.patients.get(patient_id)
    if patient is None:
        raise not_found("patient", patient_id)
    return patient


def require_linked(state: HisState, app_id: str, patient_id: str) -> Patient:
    """The patient, if it exists (else 404) and is linked to the app (else 403 PATIENT_NOT_LINKED)."""
    patient = require_patient(state, patient_id)
    if not state.is_linked(app_id, patient_id):
        raise HisError("PATIENT_NOT_LINKED", details={"patient_id": patient_id})
    return patient


def link(state: HisState, app_id: str, patient_id: str) -> None:
    state.links.add((app_id, patient_id))


def unlink(state: HisState, app_id: str, patient_id: str) -> None:
    require_patient(state, patient_id)
    state.links.discard((app_id, patient_id))


# ---------------------------------------------------------------- lookup


def lookup(state: HisState, app_id: str, body: Any) -> Patient:
    """Find by card + name or by document + name + phone; links the patient on success."""
    method = body.get("method") if isinstance(body, dict) else None
    if method not in ("card", "identity"):
        raise validation_error({"method": "must be one of card, identity"})
    schema = "PatientLookupByCard" if method == "card" else "PatientLookupByIdentity"
    problems = schemas.field_errors(schema, body)
    if problems:
        raise validation_error(problems)
    if method == "card":
        found = state.find_card(body["card_no"])
        if found is None or found[1].status == "cancelled":
            raise HisError("PATIENT_NOT_FOUND")
        patient = found[0]
        if patient.name != body["name"]:
            raise HisError("IDENTITY_MISMATCH", details={"mismatched": ["name"]})
    else:
        candidate = state.find_by_identity(body["id_type"], body["id_number"])
        if candidate is None:
            raise HisError("PATIENT_NOT_FOUND")
        patient = candidate
        mismatched = [f for f in ("name", "phone") if getattr(patient, f) != body[f]]
        if mismatched:
            raise HisError("IDENTITY_MISMATCH", details={"mismatched": mismatched})
    link(state, app_id, patient.patient_id)
    return patient


# ---------------------------------------------------------------- create (建档)


def create(state: HisState, app_id: str, body: Any, now: datetime) -> tuple[Patient, bool]:
    """Create a record and e-card, or return the existing patient with the same document and name."""
    problems = schemas.field_errors("PatientCreateRequest", body)
    if problems:
        raise validation_error(problems)
    birth = parse_local_date(body["birth_date"])
    if birth is None:
        raise validation_error({"birth_date": "must be a date YYYY-MM-DD"})
    problems = _create_problems(body, birth, now.date())
    if problems:
        raise validation_error(problems)
    id_type: str = body["id_type"]
    id_number: str | None = body.get("id_number") if id_type != "none" else None
    if id_number is not None:
        existing = state.find_by_identity(id_type, id_number)
        if existing is not None:
            if existing.name != body["name"]:
                raise HisError("IDENTITY_MISMATCH", details={"mismatched": ["name"]})
            link(state, app_id, existing.patient_id)
            return existing, False
    number = state.next_number("patient", FIRST_PATIENT_NUMBER)
    patient_id = f"P{number:09d}"
    raw_guardian = body.get("guardian")
    patient = Patient(
        patient_id=patient_id,
        name=body["name"],
        gender=body["gender"],
        birth_date=birth,
        id_type=id_type,
        id_number=id_number,
        phone=body["phone"],
        created_at=now,
        cards=[Card(f"E{now.year}{number:09d}", "e_card")],
        address=body.get("address"),
        guardian=Guardian(**raw_guardian) if isinstance(raw_guardian, dict) else None,
    )
    state.patients[patient_id] = patient
    link(state, app_id, patient_id)
    return patient, True


def _create_problems(body: dict[str, Any], birth: date, today: date) -> dict[str, str]:
    problems: dict[str, str] = {}
    if birth > today:
        problems["birth_date"] = "must not be in the future"
    id_type = body["id_type"]
    id_number = body.get("id_number")
    if id_type == "none":
        if id_number:
            problems["id_number"] = "must be null when id_type is none"
    elif not id_number:
        problems["id_number"] = "required unless id_type is none"
    elif id_type == "resident_id":
        reasons = resident_id_problems(id_number, body["gender"], birth)
        if reasons:
            problems["id_number"] = "; ".join(reasons)
    guardian = body.get("guardian")
    minor = birth <= today and age_on(birth, today) < GUARDIAN_REQUIRED_UNDER_YEARS
    if guardian is None and (minor or id_type == "none"):
        problems["guardian"] = "required for patients under 14 and when id_type is none"
    if isinstance(guardian, dict):
        if guardian["id_type"] == "none":
            problems["guardian.id_type"] = "a guardian needs an identity document"
        elif guardian["id_type"] == "resident_id":
            reasons = resident_id_problems(guardian["id_number"], None, None)
            if reasons:
                problems["guardian.id_number"] = "; ".join(reasons)
            elif age_on(date.fromisoformat(_birth_part(guardian["id_number"])), today) < 18:
                problems["guardian.id_number"] = "the guardian must be an adult"
    return problems


def _birth_part(resident_id: str) -> str:
    return f"{resident_id[6:10]}-{resident_id[10:12]}-{resident_id[12:14]}"
