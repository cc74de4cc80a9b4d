"""Doctor search (找医生) over the synced reference data: by name or specialty (擅长), within a department
or a campus. Pure Python.

Whitespace anywhere in the keyword is ignored (``李 四`` finds 李四: phones insert spaces, people type
them). Results are ranked: the exact name, then names starting with the keyword, names containing it,
then specialties; within a rank the most senior first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chalicelib.domain.reference import Department, Doctor

MAX_RESULTS = 50
MAX_KEYWORD = 20


class DoctorSearchError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DoctorMatch:
    doctor: Doctor
    departments: tuple[Department, ...]  # the doctor's active, bookable departments (within the campus filter)
    matched_on: str  # "name" | "specialty" | "department" (no keyword: listed for the department or campus)


def normalize_keyword(raw: str | None) -> str | None:
    """The keyword without any whitespace, or None; raises ``DoctorSearchError`` when it is too long."""
    keyword = "".join((raw or "").split())
    if not keyword:
        return None
    if len(keyword) > MAX_KEYWORD:
        raise DoctorSearchError(f"搜索内容最多{MAX_KEYWORD}个字")
    return keyword


def _rank(doctor: Doctor, keyword: str | None) -> tuple[int, str] | None:
    if keyword is None:
        return (0, "department")
    name = "".join(doctor.name.split()).lower()
    k = keyword.lower()
    if name == k:
        return (0, "name")
    if name.startswith(k):
        return (1, "name")
    if k in name:
        return (2, "name")
    if any(k in "".join(s.split()).lower() for s in doctor.specialties):
        return (3, "specialty")
    return None


def search_doctors(
    doctors: Iterable[Doctor],
    departments: Mapping[str, Department],
    keyword: str | None,
    department_id: str | None = None,
    campus_id: str | None = None,
    limit: int = MAX_RESULTS,
) -> list[DoctorMatch]:
    """Active doctors with at least one active, bookable department (at ``campus_id`` when given, and
    ``department_id`` when given) whose name or specialties contain ``keyword`` (normalized)."""
    ranked: list[tuple[int, int, str, str, DoctorMatch]] = []
    for doctor in doctors:
        if not doctor.active:
            continue
        depts = tuple(
            d for d in (departments.get(i) for i in doctor.department_ids)
            if d is not None and d.active and d.bookable and (campus_id is None or d.campus_id == campus_id)
        )
        if not depts or (department_id is not None and all(d.department_id != department_id for d in depts)):
            continue
        found = _rank(doctor, keyword)
        if found is None:
            continue
        rank, matched_on = found
        ranked.append((rank, doctor.title_rank, doctor.name, doctor.doctor_id, DoctorMatch(doctor, depts, matched_on)))
    ranked.sort(key=lambda r: r[:4])
    return [r[4] for r in ranked[:limit]]
