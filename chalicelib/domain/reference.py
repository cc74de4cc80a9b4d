"""Reference data of the hospital: campuses, departments, doctors and the registration fee schedule.

Pure Python. The HIS is the source of truth; we keep a synced copy (see ``services.reference_sync``)
and shape it for patients here: grouping, ordering, display names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class Dataset(str, Enum):
    """A reference data set synced from the HIS as a whole."""

    CAMPUSES = "campuses"
    DEPARTMENTS = "departments"
    DOCTORS = "doctors"
    FEE_SCHEDULE = "fee_schedule"


TITLE_RANK = {
    "chief_physician": 0,
    "associate_chief_physician": 1,
    "attending_physician": 2,
    "resident_physician": 3,
}

REG_TYPE_NAMES = {"general": "普通号", "expert": "专家号", "special_needs": "特需号"}

OTHER_GROUP_ID = "_other"
OTHER_GROUP_NAME = "其他科室"


@dataclass(frozen=True)
class GeoPoint:
    latitude: float
    longitude: float

    def distance_m(self, other: GeoPoint) -> float:
        """Great-circle distance in metres (haversine; plenty for "which campus is nearer")."""
        lat1, lat2 = math.radians(self.latitude), math.radians(other.latitude)
        dlat = lat2 - lat1
        dlng = math.radians(other.longitude - self.longitude)
        h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
        return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(h)))

    @property
    def valid(self) -> bool:
        return -90 <= self.latitude <= 90 and -180 <= self.longitude <= 180 and (self.latitude, self.longitude) != (0, 0)


@dataclass(frozen=True)
class Location:
    campus_id: str
    building: str
    floor: str
    room: str | None = None
    description: str | None = None
    campus_name: str | None = None

    def display(self) -> str:
        """Wayfinding text, e.g. ``门诊楼 3F 305诊室``."""
        parts = [self.building, self.floor, self.room or ""]
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class Campus:
    campus_id: str
    name: str
    address: str
    location: GeoPoint
    status: str = "active"
    short_name: str | None = None
    phone: str | None = None
    transport: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Department:
    department_id: str
    name: str
    campus_id: str
    location: Location
    bookable: bool
    status: str = "active"
    parent_id: str | None = None
    intro: str | None = None
    gender_restriction: str = "any"
    min_age_years: int | None = None
    max_age_years: int | None = None
    sort_order: int = 0

    @property
    def active(self) -> bool:
        return self.status == "active"

    def restriction_text(self) -> str | None:
        """A patient-facing note on who this department sees, or None."""
        notes = []
        if self.gender_restriction == "female":
            notes.append("仅限女性")
        elif self.gender_restriction == "male":
            notes.append("仅限男性")
        if self.max_age_years is not None and self.min_age_years is not None:
            notes.append(f"限{self.min_age_years}至{self.max_age_years}岁")
        elif self.max_age_years is not None:
            notes.append(f"限{self.max_age_years}岁以下")
        elif self.min_age_years is not None:
            notes.append(f"限{self.min_age_years}岁及以上")
        return "，".join(notes) or None


@dataclass(frozen=True)
class Doctor:
    doctor_id: str
    name: str
    title_code: str
    title_name: str
    department_ids: tuple[str, ...]
    status: str = "active"
    academic_title: str | None = None
    specialties: tuple[str, ...] = ()
    intro: str | None = None
    photo_url: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def title_rank(self) -> int:
        return TITLE_RANK.get(self.title_code, len(TITLE_RANK))


@dataclass(frozen=True)
class FeeComponent:
    name: str
    amount_fen: int


@dataclass(frozen=True)
class FeeEntry:
    reg_type: str
    reg_type_name: str
    fee_fen: int
    effective_from: str
    title_code: str | None = None
    campus_id: str | None = None
    components: tuple[FeeComponent, ...] = ()
    notes: str | None = None

    def applies_to(self, campus_id: str | None) -> bool:
        return self.campus_id is None or campus_id is None or self.campus_id == campus_id


@dataclass(frozen=True)
class DepartmentGroup:
    group_id: str
    name: str
    departments: tuple[Department, ...]


@dataclass(frozen=True)
class SyncState:
    """What we hold of one dataset: the HIS ETag and when the copy was fetched from the HIS."""

    dataset: Dataset
    etag: str | None
    fetched_at: datetime | None
    item_count: int = 0

    def accepts(self, fetched_at: datetime) -> bool:
        """May a copy fetched at ``fetched_at`` replace what we hold? Not if ours is newer (late,
        out-of-order results must never roll the copy back); the same one again is fine (redelivery)."""
        return self.fetched_at is None or fetched_at >= self.fetched_at


@dataclass(frozen=True)
class ReferenceSnapshot:
    """One dataset's full content as fetched from the HIS at one moment."""

    dataset: Dataset
    fetched_at: datetime
    etag: str | None
    campuses: tuple[Campus, ...] = ()
    departments: tuple[Department, ...] = ()
    doctors: tuple[Doctor, ...] = ()
    fees: tuple[FeeEntry, ...] = ()

    @property
    def item_count(self) -> int:
        return len(self.campuses) + len(self.departments) + len(self.doctors) + len(self.fees)


def visible_departments(departments: Iterable[Department], campus_id: str | None = None) -> list[Department]:
    """Active departments a patient can pick (bookable leaves), optionally at one campus."""
    return [
        d
        for d in departments
        if d.active and d.bookable and (campus_id is None or d.campus_id == campus_id)
    ]


def group_departments(departments: Sequence[Department], campus_id: str | None = None) -> list[DepartmentGroup]:
    """Group patient-visible departments under their parent (一级科室), in the hospital's order.

    Parents are departments themselves (usually not bookable) and each campus has its own, so
    groups are keyed by the parent's name: 内科 of both campuses is one group for the patient. A
    department whose parent is missing or inactive, or that has none, goes to "其他科室" at the end.
    """
    by_id = {d.department_id: d for d in departments}
    groups: dict[str, list[Department]] = {}
    heads: dict[str, Department] = {}
    for dept in visible_departments(departments, campus_id):
        parent = by_id.get(dept.parent_id or "")
        if parent is None or not parent.active:
            groups.setdefault(OTHER_GROUP_ID, []).append(dept)
            continue
        head = heads.setdefault(parent.name, parent)
        if (parent.sort_order, parent.department_id) < (head.sort_order, head.department_id):
            heads[parent.name] = parent
        groups.setdefault(parent.name, []).append(dept)

    def group_order(key: str) -> tuple[int, int, str]:
        if key == OTHER_GROUP_ID:
            return (1, 0, key)
        return (0, heads[key].sort_order, heads[key].department_id)

    result = []
    for key in sorted(groups, key=group_order):
        members = tuple(sorted(groups[key], key=lambda d: (d.sort_order, d.campus_id, d.name)))
        if key == OTHER_GROUP_ID:
            result.append(DepartmentGroup(OTHER_GROUP_ID, OTHER_GROUP_NAME, members))
        else:
            result.append(DepartmentGroup(heads[key].department_id, key, members))
    return result


def doctors_of_department(doctors: Iterable[Doctor], department_id: str) -> list[Doctor]:
    """Active doctors of a department, most senior first, then by name."""
    members = [d for d in doctors if d.active and department_id in d.department_ids]
    return sorted(members, key=lambda d: (d.title_rank, d.name, d.doctor_id))


def fees_for(fees: Iterable[FeeEntry], campus_id: str | None, title_code: str | None = None) -> list[FeeEntry]:
    """Fee entries that apply at ``campus_id`` (and to ``title_code`` when given), general first."""
    order = {"general": 0, "expert": 1, "special_needs": 2}
    chosen = [
        f
        for f in fees
        if f.applies_to(campus_id) and (title_code is None or f.title_code in (None, title_code))
    ]
    return sorted(chosen, key=lambda f: (order.get(f.reg_type, 9), TITLE_RANK.get(f.title_code or "", 9), f.fee_fen))


def format_fen(amount_fen: int) -> str:
    """``5000`` → ``"50.00"``; integer arithmetic only."""
    if amount_fen < 0:
        return "-" + format_fen(-amount_fen)
    return f"{amount_fen // 100}.{amount_fen % 100:02d}"


def nearest_campuses(point: GeoPoint, campuses: Iterable[Campus]) -> list[tuple[Campus, float]]:
    """Active campuses with a known position, nearest first, with their distance in metres."""
    ranked = [(c, point.distance_m(c.location)) for c in campuses if c.active and c.location.valid]
    return sorted(ranked, key=lambda pair: pair[1])


def format_distance(metres: float) -> str:
    """``850 米`` / ``3.2 公里`` / ``120 公里``."""
    if metres < 1000:
        return f"{max(10, round(metres, -1)):.0f} 米"
    km = metres / 1000
    return f"{km:.1f} 公里" if km < 100 else f"{km:.0f} 公里"
