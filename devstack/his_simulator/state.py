"""The simulator's in-memory HIS: plain dataclasses for every resource of the interface spec.

Entities hold facts only; anything that depends on the clock (schedule and slot status, report viewability, lock
expiry) is computed by the service modules at read time. JSON shapes live in ``views.py``. The whole state is
guarded by the simulator's lock; nothing here is thread-safe on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

Session = Literal["morning", "afternoon", "evening"]
RegType = Literal["general", "expert", "special_needs"]
SESSION_CODES: dict[str, str] = {"morning": "AM", "afternoon": "PM", "evening": "EV"}
SESSION_ORDER: dict[str, int] = {"morning": 0, "afternoon": 1, "evening": 2}

TITLE_NAMES: dict[str, str] = {
    "chief_physician": "主任医师",
    "associate_chief_physician": "副主任医师",
    "attending_physician": "主治医师",
    "resident_physician": "住院医师",
}
REG_TYPE_NAMES: dict[str, str] = {"general": "普通号", "expert": "专家号", "special_needs": "特需号"}

EXTERNAL_HOLDER = "EXTERNAL"  # a slot held by another channel or patient outside the simulation


# ---------------------------------------------------------------- reference data


@dataclass
class Location:
    campus_id: str
    building: str
    floor: str
    room: str | None = None
    description: str | None = None


@dataclass
class Building:
    name: str
    floors: dict[str, list[str]]  # floor ("3F") -> rooms ("305诊室", "西药房")


@dataclass
class Campus:
    campus_id: str
    name: str
    short_name: str | None
    address: str
    latitude: float
    longitude: float
    phone: str | None
    transport: str | None
    buildings: list[Building]
    status: str
    updated_at: datetime


@dataclass
class Department:
    department_id: str
    name: str
    parent_id: str | None
    campus_id: str
    location: Location
    intro: str | None
    bookable: bool
    gender_restriction: str = "any"  # any | female | male
    min_age_years: int | None = None
    max_age_years: int | None = None
    sort_order: int = 0
    status: str = "active"
    updated_at: datetime | None = None
    rooms: list[str] = field(default_factory=list)  # consulting rooms, assigned to the doctors' schedules


@dataclass
class Doctor:
    doctor_id: str
    name: str
    title_code: str
    academic_title: str | None
    department_ids: list[str]
    specialties: list[str]
    intro: str | None
    photo_url: str | None
    status: str
    updated_at: datetime

    @property
    def title_name(self) -> str:
        return TITLE_NAMES[self.title_code]


@dataclass
class FeeComponent:
    name: str
    amount_fen: int


@dataclass
class FeeEntry:
    reg_type: str
    title_code: str | None
    campus_id: str | None
    components: list[FeeComponent]
    effective_from: date
    notes: str | None = None

    @property
    def fee_fen(self) -> int:
        return sum(c.amount_fen for c in self.components)


# ---------------------------------------------------------------- schedules


@dataclass
class Schedule:
    schedule_id: str
    date: date
    session: str
    start_time: datetime
    end_time: datetime
    department_id: str
    doctor_id: str | None
    reg_type: str
    fee_fen: int
    capacity: int
    release_at: datetime
    cancel_deadline: datetime
    location: Location
    version: int
    updated_at: datetime
    stop_notice_id: str | None = None
    # seq_no -> holder: an appointment id, or EXTERNAL for a slot taken outside the simulation
    taken: dict[int, str] = field(default_factory=dict)
    free_cancel_until: datetime | None = None  # set by a change notice with kept_free_cancellation

    @property
    def stopped(self) -> bool:
        return self.stop_notice_id is not None


@dataclass
class ScheduleChange:
    field: str
    old_value: Any
    new_value: Any


@dataclass
class ScheduleNotice:
    notice_id: str
    type: str  # stopped | changed
    schedule_id: str
    date: date
    session: str
    department_id: str
    doctor_id: str | None
    reason_code: str
    public_message: str
    handling: str
    published_at: datetime
    changes: list[ScheduleChange] = field(default_factory=list)
    free_cancel_until: datetime | None = None
    affected_appointments: int = 0


# ---------------------------------------------------------------- patients


@dataclass
class Card:
    card_no: str
    card_type: str  # e_card | physical_card | insurance_card
    status: str = "active"


@dataclass
class Guardian:
    name: str
    id_type: str
    id_number: str
    phone: str
    relationship: str


@dataclass
class Patient:
    patient_id: str
    name: str
    gender: str
    birth_date: date
    id_type: str
    id_number: str | None
    phone: str
    created_at: datetime
    cards: list[Card] = field(default_factory=list)
    address: str | None = None
    guardian: Guardian | None = None
    restricted_until: datetime | None = None  # online booking suspended (no-shows, §7.1)
    no_show_dates: list[date] = field(default_factory=list)


# ---------------------------------------------------------------- appointments, visits and queue


@dataclass
class Payment:
    channel: str
    transaction_id: str
    out_trade_no: str
    amount_fen: int
    paid_at: datetime
    mch_id: str | None = None


@dataclass
class RegistrationRefund:
    his_refund_id: str
    refund_request_no: str | None
    refund_amount_fen: int
    initiated_by: str  # caller | hospital
    created_at: datetime


@dataclass
class Appointment:
    appointment_id: str
    app_id: str | None  # the integrator app that booked it; None for other channels
    order_id: str | None
    channel: str
    status: str
    status_version: int
    status_reason: str | None
    patient_id: str
    schedule_id: str
    seq_no: int
    fee_fen: int
    created_at: datetime
    updated_at: datetime
    lock_expires_at: datetime | None = None
    payment: Payment | None = None
    late_confirm: bool = False
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None
    refund: RegistrationRefund | None = None
    visit_id: str | None = None


@dataclass
class QueueEntry:
    queue_no: str
    position: int  # order of calling within the schedule's queue
    status: str  # waiting | called | missed | in_consultation | completed
    late: bool
    call_count: int = 0
    approaching_sent: bool = False
    updated_at: datetime | None = None


@dataclass
class DiagnosisCategory:
    code: str
    primary: bool
    system: str = "ICD-10"


@dataclass
class Visit:
    visit_id: str
    patient_id: str
    appointment_id: str | None
    campus_id: str
    department_id: str
    doctor_id: str | None
    visit_type: str  # outpatient | emergency
    status: str  # in_progress | completed
    started_at: datetime
    completed_at: datetime | None
    diagnosis_categories: list[DiagnosisCategory]
    followup_allowed: bool
    version: int = 1
    schedule_id: str | None = None
    queue: QueueEntry | None = None
    checked_in_at: datetime | None = None


# ---------------------------------------------------------------- reports


@dataclass
class LabItem:
    code: str
    name: str
    value: str
    numeric_value: float | None
    unit: str | None
    reference_range: str | None
    flag: str  # N H L A C


@dataclass
class Amendment:
    amended_at: datetime
    reason: str


@dataclass
class Report:
    report_id: str
    patient_id: str
    visit_id: str | None
    category: str  # lab | exam
    title: str
    status: str  # pending | final | amended
    version: int
    ordered_at: datetime
    release_rule_code: str
    department_id: str | None = None
    ordering_doctor_name: str | None = None
    specimen: str | None = None
    modality: str | None = None
    body_part: str | None = None
    expected_at: datetime | None = None
    finalized_at: datetime | None = None
    critical_acknowledged_at: datetime | None = None
    items: list[LabItem] = field(default_factory=list)
    findings: str | None = None
    conclusion: str | None = None
    reported_by: str | None = None
    reviewed_by: str | None = None
    amendment: Amendment | None = None
    pdf_available: bool = True

    @property
    def source_system(self) -> str:
        return "LIS" if self.category == "lab" else "PACS"


# ---------------------------------------------------------------- billing


@dataclass
class ChargeItem:
    item_id: str
    name: str
    specification: str | None
    quantity: float
    unit: str
    unit_price_fen: int
    amount_fen: int
    execution_status: str = "not_executed"
    refunded: bool = False


@dataclass
class Charge:
    charge_id: str
    patient_id: str
    visit_id: str
    type: str  # prescription | lab | exam | treatment | material | other
    title: str
    department_id: str
    doctor_name: str | None
    status: str  # unpaid | locked | paid | partially_refunded | refunded | void
    payable_online: bool
    items: list[ChargeItem]
    created_at: datetime
    expires_at: datetime | None
    not_payable_reason: str | None = None
    settlement_id: str | None = None  # the pending or settled settlement holding it

    @property
    def total_fen(self) -> int:
        return sum(item.amount_fen for item in self.items)


@dataclass
class EReceipt:
    status: str  # pending | issued | failed
    receipt_id: str | None = None
    receipt_code: str | None = None
    receipt_no: str | None = None
    verification_code: str | None = None
    issued_at: datetime | None = None
    view_url: str | None = None


@dataclass
class Guidance:
    charge_id: str
    action: str  # collect_medicine | exam | lab_sample | treatment
    location: Location
    window: str | None = None
    ticket_no: str | None = None
    instructions: str | None = None
    needs_booking: bool = False


@dataclass
class RefundItem:
    charge_id: str
    item_id: str
    amount_fen: int


@dataclass
class Refund:
    his_refund_id: str
    refund_request_no: str
    settlement_id: str
    status: str
    refund_amount_fen: int
    items: list[RefundItem]
    created_at: datetime
    reversal_receipt: EReceipt | None = None


@dataclass
class Settlement:
    settlement_id: str
    app_id: str
    settlement_request_no: str
    patient_id: str
    status: str  # pending | settled | cancelled | expired | partially_refunded | refunded
    charge_ids: list[str]
    charges_snapshot: list[dict[str, Any]]  # JSON of the charges at pre-settlement
    total_fen: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    payment: Payment | None = None
    late_confirm: bool = False
    settled_at: datetime | None = None
    e_receipt: EReceipt | None = None
    guidance: list[Guidance] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)


# ---------------------------------------------------------------- reconciliation and events


@dataclass
class LedgerEntry:
    """One line of the daily reconciliation file (§7.8.3), appended when money is accounted."""

    record_type: str  # PAYMENT | REFUND
    business_type: str  # REGISTRATION | OUTPATIENT
    his_trade_id: str
    his_refund_id: str | None
    caller_ref: str | None
    refund_request_no: str | None
    transaction_id: str
    out_trade_no: str
    amount_fen: int
    accounted_at: datetime
    patient_id: str
    app_id: str


@dataclass
class Event:
    seq: int
    event_id: str
    event_type: str
    occurred_at: datetime
    app_id: str
    data: dict[str, Any]
    deliveries: int = 0
    delivered_at: datetime | None = None


@dataclass
class BillingControls:
    """Hospital-side switches of the simulator (admin API), reset with the state."""

    receipt_mode: str = "issued"  # issued | pending | failed: what a confirmation gets from the e-receipt platform
    receipt_lag_seconds: int | None = 60  # pending receipts are issued this long after settlement; None: only by hand
    receipt_due: dict[str, datetime] = field(default_factory=dict)  # settlement_id -> when its pending receipt issues
    confirm_failures: dict[str, str] = field(default_factory=dict)  # settlement_id -> code for its next confirmation
    ready_dates: dict[date, datetime] = field(default_factory=dict)  # reconciliation dates made ready early -> when


# ---------------------------------------------------------------- the whole HIS


@dataclass
class HisState:
    seed_date: date
    policies_updated_at: datetime
    campuses: dict[str, Campus] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)
    doctors: dict[str, Doctor] = field(default_factory=dict)
    fee_schedule: list[FeeEntry] = field(default_factory=list)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    notices: dict[str, ScheduleNotice] = field(default_factory=dict)
    patients: dict[str, Patient] = field(default_factory=dict)
    appointments: dict[str, Appointment] = field(default_factory=dict)
    visits: dict[str, Visit] = field(default_factory=dict)
    reports: dict[str, Report] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    settlements: dict[str, Settlement] = field(default_factory=dict)
    ledger: list[LedgerEntry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # (app_id, patient_id) pairs: patients linked to an app (§4.6)
    links: set[tuple[str, str]] = field(default_factory=set)
    # (app_id, kind, reference) -> id of what it created: order_id, settlement_request_no, refund_request_no,
    # transaction_id (§5.3 DUPLICATE_REQUEST)
    business_refs: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # per-prefix counters for new ids
    counters: dict[str, int] = field(default_factory=dict)
    billing: BillingControls = field(default_factory=BillingControls)

    def next_number(self, prefix: str, start: int = 1) -> int:
        value = self.counters.get(prefix, start - 1) + 1
        self.counters[prefix] = value
        return value

    def is_linked(self, app_id: str, patient_id: str) -> bool:
        return (app_id, patient_id) in self.links

    def find_card(self, card_no: str) -> tuple[Patient, Card] | None:
        for patient in self.patients.values():
            for card in patient.cards:
                if card.card_no == card_no:
                    return patient, card
        return None

    def find_by_identity(self, id_type: str, id_number: str) -> Patient | None:
        for patient in self.patients.values():
            if patient.id_type == id_type and patient.id_number is not None and patient.id_number == id_number:
                return patient
        return None
