"""Reference data queries (§7.2) and the test hook that edits a department."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import not_found, validation_error
from .state import Department, Doctor, FeeEntry, HisState, Location


def departments(state: HisState, campus_id: str | None = None, bookable: bool | None = None) -> list[Department]:
    found = [
        d
        for d in state.departments.values()
        if (campus_id is None or d.campus_id == campus_id) and (bookable is None or d.bookable == bookable)
    ]
    return sorted(found, key=lambda d: (d.sort_order, d.department_id))


def doctors(
    state: HisState, department_id: str | None = None, campus_id: str | None = None, keyword: str | None = None
) -> list[Doctor]:
    """Doctors filtered by department, by campus (any of their departments there) and by a substring of the name
    or of a specialty; ordered by id."""
    found = []
    for doc in state.doctors.values():
        if department_id and department_id not in doc.department_ids:
            continue
        if campus_id and not any(
            state.departments[d].campus_id == campus_id for d in doc.department_ids if d in state.departments
        ):
            continue
        if keyword and keyword not in doc.name and not any(keyword in s for s in doc.specialties):
            continue
        found.append(doc)
    return sorted(found, key=lambda d: d.doctor_id)


def fee_schedule(state: HisState, campus_id: str | None = None) -> list[FeeEntry]:
    """All entries, or those valid at ``campus_id`` (campus-independent entries included)."""
    return [e for e in state.fee_schedule if campus_id is None or e.campus_id in (None, campus_id)]


_EDITABLE: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "intro": (str, type(None)),
    "bookable": bool,
    "status": str,
    "gender_restriction": str,
    "min_age_years": (int, type(None)),
    "max_age_years": (int, type(None)),
    "sort_order": int,
    "parent_id": (str, type(None)),
}
_LOCATION_FIELDS = ("building", "floor", "room", "description")


def update_department(state: HisState, department_id: str, changes: dict[str, Any], now: datetime) -> Department:
    """Apply a partial update (test hook); bumps ``updated_at`` and so the ``/departments`` ETag."""
    dept = state.departments.get(department_id)
    if dept is None:
        raise not_found("department", department_id)
    problems: dict[str, str] = {}
    for key, value in changes.items():
        if key == "location":
            if not isinstance(value, dict) or any(k not in _LOCATION_FIELDS for k in value):
                problems[key] = f"an object with any of {', '.join(_LOCATION_FIELDS)}"
        elif key not in _EDITABLE:
            problems[key] = "not editable"
        elif not isinstance(value, _EDITABLE[key]) or (isinstance(value, bool) and _EDITABLE[key] is int):
            problems[key] = "wrong type"
    if changes.get("status") not in (None, "active", "inactive"):
        problems["status"] = "active or inactive"
    if changes.get("gender_restriction") not in (None, "any", "female", "male"):
        problems["gender_restriction"] = "any, female or male"
    if problems:
        raise validation_error(problems)
    for key, value in changes.items():
        if key == "location":
            current = dept.location
            dept.location = Location(current.campus_id, **{f: value.get(f, getattr(current, f)) for f in _LOCATION_FIELDS})
        else:
            setattr(dept, key, value)
    dept.updated_at = now
    return dept
