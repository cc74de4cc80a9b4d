"""What patients read about the hospital: the home page, campuses, departments, doctors, fees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.reference import (
    Campus,
    Dataset,
    Department,
    DepartmentGroup,
    Doctor,
    FeeEntry,
    doctors_of_department,
    fees_for,
    group_departments,
    visible_departments,
)
from chalicelib.services.ports import ReferenceRepository


class NotFoundError(LookupError):
    """The asked-for item does not exist or is no longer active."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        self.what = what
        self.message = message


@dataclass(frozen=True)
class HospitalProfile:
    name: str
    intro: str | None


@dataclass(frozen=True)
class Overview:
    profile: HospitalProfile
    campuses: list[Campus]
    department_count: int
    doctor_count: int
    as_of: datetime | None


@dataclass(frozen=True)
class Directory:
    groups: list[DepartmentGroup]
    campuses: list[Campus]
    as_of: datetime | None


@dataclass(frozen=True)
class DepartmentDetail:
    department: Department
    campus: Campus | None
    doctors: list[Doctor]
    fees: list[FeeEntry]
    campuses: dict[str, Campus]
    as_of: datetime | None


@dataclass(frozen=True)
class DoctorDetail:
    doctor: Doctor
    departments: list[Department]
    fees: list[FeeEntry]
    campuses: dict[str, Campus]
    as_of: datetime | None


def _as_of(repo: ReferenceRepository, *datasets: Dataset) -> datetime | None:
    """When the oldest of ``datasets`` was last confirmed with the HIS; None if any never was."""
    states = repo.sync_states()
    times = [states[d].fetched_at if d in states else None for d in datasets]
    return None if any(t is None for t in times) else min(t for t in times if t is not None)


def _active_campuses(repo: ReferenceRepository) -> list[Campus]:
    return sorted((c for c in repo.campuses() if c.active), key=lambda c: c.campus_id)


def hospital_overview(repo: ReferenceRepository, profile: HospitalProfile) -> Overview:
    return Overview(
        profile=profile,
        campuses=_active_campuses(repo),
        department_count=len(visible_departments(repo.departments())),
        doctor_count=sum(1 for d in repo.doctors() if d.active),
        as_of=_as_of(repo, *Dataset),
    )


def list_campuses(repo: ReferenceRepository) -> tuple[list[Campus], datetime | None]:
    return _active_campuses(repo), _as_of(repo, Dataset.CAMPUSES)


def department_directory(repo: ReferenceRepository, campus_id: str | None) -> Directory:
    campuses = _active_campuses(repo)
    return Directory(
        groups=group_departments(repo.departments(), campus_id),
        campuses=campuses,
        as_of=_as_of(repo, Dataset.CAMPUSES, Dataset.DEPARTMENTS),
    )


def department_detail(repo: ReferenceRepository, department_id: str) -> DepartmentDetail:
    dept = repo.department(department_id)
    if dept is None or not dept.active or not dept.bookable:
        raise NotFoundError("department", "没有找到该科室，可能已停用或调整")
    campuses = {c.campus_id: c for c in _active_campuses(repo)}
    doctors = doctors_of_department(repo.doctors_of_department(department_id), department_id)
    return DepartmentDetail(
        department=dept,
        campus=campuses.get(dept.campus_id),
        doctors=doctors,
        fees=fees_for(repo.fees(), dept.campus_id),
        campuses=campuses,
        as_of=_as_of(repo, *Dataset),
    )


def doctor_detail(repo: ReferenceRepository, doctor_id: str) -> DoctorDetail:
    doctor = repo.doctor(doctor_id)
    if doctor is None or not doctor.active:
        raise NotFoundError("doctor", "没有找到该医生，可能已停诊或调整")
    departments = [d for d in (repo.department(i) for i in doctor.department_ids) if d is not None and d.active]
    campus_id = departments[0].campus_id if departments else None
    fees = [f for f in fees_for(repo.fees(), campus_id, doctor.title_code) if f.reg_type != "general"]
    return DoctorDetail(
        doctor=doctor,
        departments=departments,
        fees=fees,
        campuses={c.campus_id: c for c in _active_campuses(repo)},
        as_of=_as_of(repo, *Dataset),
    )


def fee_schedule(repo: ReferenceRepository, campus_id: str | None) -> tuple[list[FeeEntry], datetime | None]:
    return fees_for(repo.fees(), campus_id), _as_of(repo, Dataset.FEE_SCHEDULE)
