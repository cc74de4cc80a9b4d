"""JSON shapes of the H5 API (documented in ``chalicelib/api/openapi.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.reference import (
    REG_TYPE_NAMES,
    Campus,
    Department,
    DepartmentGroup,
    Doctor,
    FeeEntry,
    format_fen,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TITLE_NAMES = {
    "chief_physician": "主任医师",
    "associate_chief_physician": "副主任医师",
    "attending_physician": "主治医师",
    "resident_physician": "住院医师",
}


def local_time(at: datetime | None) -> str | None:
    return at.astimezone(SHANGHAI).isoformat(timespec="seconds") if at else None


def campus(c: Campus) -> dict[str, Any]:
    return {
        "campus_id": c.campus_id,
        "name": c.name,
        "short_name": c.short_name,
        "address": c.address,
        "phone": c.phone,
        "transport": c.transport,
        "location": {"latitude": c.location.latitude, "longitude": c.location.longitude},
    }


def department_summary(d: Department, campuses: Mapping[str, Campus]) -> dict[str, Any]:
    c = campuses.get(d.campus_id)
    return {
        "department_id": d.department_id,
        "name": d.name,
        "campus_id": d.campus_id,
        "campus_name": c.name if c else d.location.campus_name,
        "location_text": d.location.display(),
        "restriction": d.restriction_text(),
    }


def department_full(d: Department, campuses: Mapping[str, Campus]) -> dict[str, Any]:
    return {
        **department_summary(d, campuses),
        "intro": d.intro,
        "location": {
            "building": d.location.building,
            "floor": d.location.floor,
            "room": d.location.room,
            "description": d.location.description,
        },
    }


def group(g: DepartmentGroup, campuses: Mapping[str, Campus]) -> dict[str, Any]:
    return {"group_id": g.group_id, "name": g.name, "departments": [department_summary(d, campuses) for d in g.departments]}


def doctor_summary(d: Doctor) -> dict[str, Any]:
    return {
        "doctor_id": d.doctor_id,
        "name": d.name,
        "title_name": d.title_name or TITLE_NAMES.get(d.title_code, ""),
        "academic_title": d.academic_title,
        "specialties": list(d.specialties),
        "photo_url": d.photo_url,
    }


def doctor_full(d: Doctor) -> dict[str, Any]:
    return {**doctor_summary(d), "intro": d.intro, "title_code": d.title_code}


def fee(f: FeeEntry) -> dict[str, Any]:
    return {
        "reg_type": f.reg_type,
        "reg_type_name": f.reg_type_name or REG_TYPE_NAMES.get(f.reg_type, f.reg_type),
        "title_name": TITLE_NAMES.get(f.title_code or "") if f.title_code else None,
        "campus_id": f.campus_id,
        "fee_fen": f.fee_fen,
        "fee_text": format_fen(f.fee_fen),
        "components": [
            {"name": c.name, "amount_fen": c.amount_fen, "amount_text": format_fen(c.amount_fen)} for c in f.components
        ],
        "notes": f.notes,
    }
