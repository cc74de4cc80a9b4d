"""Reading the HIS's reference-data JSON (interface spec §7.2, ``openapi.yaml`` schemas) tolerantly.

The spec obliges us to accept absent and ``null`` alike, ignore unknown fields and tolerate unknown
enum values (§2.2, §9). An item without its identifying fields cannot be used and is skipped (and
counted), so one bad record does not block the rest of a dataset. Our stored copies use the same
field names, so the same readers load them back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from chalicelib.domain.reference import (
    REG_TYPE_NAMES,
    Campus,
    Dataset,
    Department,
    Doctor,
    FeeComponent,
    FeeEntry,
    GeoPoint,
    Location,
    ReferenceSnapshot,
)

T = TypeVar("T")


class ReferencePayloadError(ValueError):
    """The payload as a whole is not a reference-data list."""


class _Skip(Exception):
    """One item lacks a required field."""


def _req_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _Skip(key)
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value != "" else None


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_list(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str) and v)


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise _Skip(key)
    return value


def parse_campus(data: Mapping[str, Any]) -> Campus:
    loc = _mapping(data, "location")
    lat, lng = loc.get("latitude"), loc.get("longitude")
    if not isinstance(lat, int | float) or not isinstance(lng, int | float):
        raise _Skip("location")
    return Campus(
        campus_id=_req_str(data, "campus_id"),
        name=_req_str(data, "name"),
        address=_opt_str(data, "address") or "",
        location=GeoPoint(latitude=float(lat), longitude=float(lng)),
        status=_opt_str(data, "status") or "active",
        short_name=_opt_str(data, "short_name"),
        phone=_opt_str(data, "phone"),
        transport=_opt_str(data, "transport"),
    )


def parse_location(data: Mapping[str, Any], fallback_campus_id: str) -> Location:
    return Location(
        campus_id=_opt_str(data, "campus_id") or fallback_campus_id,
        building=_opt_str(data, "building") or "",
        floor=_opt_str(data, "floor") or "",
        room=_opt_str(data, "room"),
        description=_opt_str(data, "description"),
        campus_name=_opt_str(data, "campus_name"),
    )


def parse_department(data: Mapping[str, Any]) -> Department:
    campus_id = _req_str(data, "campus_id")
    loc = data.get("location")
    return Department(
        department_id=_req_str(data, "department_id"),
        name=_req_str(data, "name"),
        campus_id=campus_id,
        location=parse_location(loc if isinstance(loc, Mapping) else {}, campus_id),
        bookable=data.get("bookable") is True,
        status=_opt_str(data, "status") or "active",
        parent_id=_opt_str(data, "parent_id"),
        intro=_opt_str(data, "intro"),
        gender_restriction=_opt_str(data, "gender_restriction") or "any",
        min_age_years=_opt_int(data, "min_age_years"),
        max_age_years=_opt_int(data, "max_age_years"),
        sort_order=_opt_int(data, "sort_order") or 0,
    )


def parse_doctor(data: Mapping[str, Any]) -> Doctor:
    title_code = _opt_str(data, "title_code") or ""
    return Doctor(
        doctor_id=_req_str(data, "doctor_id"),
        name=_req_str(data, "name"),
        title_code=title_code,
        title_name=_opt_str(data, "title_name") or "",
        department_ids=_str_list(data, "department_ids"),
        status=_opt_str(data, "status") or "active",
        academic_title=_opt_str(data, "academic_title"),
        specialties=_str_list(data, "specialties"),
        intro=_opt_str(data, "intro"),
        photo_url=_opt_str(data, "photo_url"),
    )


def parse_fee(data: Mapping[str, Any]) -> FeeEntry:
    reg_type = _req_str(data, "reg_type")
    fee = data.get("fee_fen")
    if not isinstance(fee, int) or isinstance(fee, bool) or fee < 0:
        raise _Skip("fee_fen")
    components = []
    raw_components = data.get("components")
    for comp in raw_components if isinstance(raw_components, list) else []:
        amount = comp.get("amount_fen") if isinstance(comp, Mapping) else None
        name = comp.get("name") if isinstance(comp, Mapping) else None
        if isinstance(name, str) and isinstance(amount, int) and not isinstance(amount, bool) and amount >= 0:
            components.append(FeeComponent(name=name, amount_fen=amount))
    return FeeEntry(
        reg_type=reg_type,
        reg_type_name=_opt_str(data, "reg_type_name") or REG_TYPE_NAMES.get(reg_type, reg_type),
        fee_fen=fee,
        effective_from=_opt_str(data, "effective_from") or "",
        title_code=_opt_str(data, "title_code"),
        campus_id=_opt_str(data, "campus_id"),
        components=tuple(components),
        notes=_opt_str(data, "notes"),
    )


def parse_items(payload: Any, parse: Callable[[Mapping[str, Any]], T]) -> tuple[list[T], int]:
    """Parse ``payload["items"]``; returns the parsed items and how many were unusable."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("items"), list):
        raise ReferencePayloadError("expected an object with an items list")
    parsed: list[T] = []
    skipped = 0
    for raw in payload["items"]:
        try:
            if not isinstance(raw, Mapping):
                raise _Skip("item")
            parsed.append(parse(raw))
        except _Skip:
            skipped += 1
    return parsed, skipped


def snapshot_from_payload(
    dataset: Dataset, payload: Any, fetched_at: datetime, etag: str | None
) -> tuple[ReferenceSnapshot, int]:
    """Build the snapshot of ``dataset`` from the HIS response body; also returns the skipped count."""
    if dataset is Dataset.CAMPUSES:
        campuses, skipped = parse_items(payload, parse_campus)
        return ReferenceSnapshot(dataset, fetched_at, etag, campuses=tuple(campuses)), skipped
    if dataset is Dataset.DEPARTMENTS:
        departments, skipped = parse_items(payload, parse_department)
        return ReferenceSnapshot(dataset, fetched_at, etag, departments=tuple(departments)), skipped
    if dataset is Dataset.DOCTORS:
        doctors, skipped = parse_items(payload, parse_doctor)
        return ReferenceSnapshot(dataset, fetched_at, etag, doctors=tuple(doctors)), skipped
    fees, skipped = parse_items(payload, parse_fee)
    return ReferenceSnapshot(dataset, fetched_at, etag, fees=tuple(fees)), skipped
