"""HIS events (spec §8): the envelope, typed data per event type, and the pure decisions about them.

An event reaches us as a queue message ``{"source": "push" | "pull" | "delayed", "received_at": iso,
"delivery_attempt": n, "envelope": {...}}``. Parsing is tolerant (unknown fields are ignored, an unknown
event type parses with ``data = None`` and is acknowledged and ignored, §8.2.1) and strict where it
matters (a missing id, a naive time: ``EventFormatError``).

Decisions kept here, without I/O: which resource and version an event carries (§8.1 "no ordering
guarantee"), whether a time-sensitive one is too late (§8.2.5), when a report may be announced, the
follow-up plan of a completed visit, and the text of each notice. Events carry no names, ID numbers or
results (§4.5), and notices add none: no diagnosis, no values, only what happened and where to look.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from chalicelib.domain.refunds import BusinessType, RefundObligation, RefundSource
from chalicelib.domain.wechat import NoticeKind

SHANGHAI = ZoneInfo("Asia/Shanghai")
LEDGER_KEEP = timedelta(days=9)  # §8.2.2: at least 8 days (24 h of retries + 7 days of pull retention)
QUEUE_NOTICE_MAX_AGE = timedelta(minutes=20)  # a queue notice older than this is no use to anyone
MAX_SQS_DELAY_SECONDS = 900  # SQS DelaySeconds limit
FOLLOW_UP_AFTER_DAYS = 3
FOLLOW_UP_AT = time(10, 0)


class EventFormatError(ValueError):
    """An event message or envelope does not have the documented shape (it can never be processed)."""


class EventType(StrEnum):
    SCHEDULE_CHANGED = "schedule.changed"
    SCHEDULE_STOPPED = "schedule.stopped"
    APPOINTMENT_STATUS_CHANGED = "appointment.status_changed"
    QUEUE_APPROACHING = "queue.approaching"
    QUEUE_CALLED = "queue.called"
    REPORT_FINALIZED = "report.finalized"
    CHARGE_CREATED = "charge.created"
    VISIT_COMPLETED = "visit.completed"


class EventSource(StrEnum):
    PUSH = "push"  # the bridge's receiver (signature verified there)
    PULL = "pull"  # the events-pull poller (GET /events)
    DELAYED = "delayed"  # our own re-enqueue of an event that is not due yet


# ---- reading values -----------------------------------------------------------------------------------
def _req(raw: Mapping[str, Any], name: str) -> Any:
    value = raw.get(name)
    if value is None or value == "":
        raise EventFormatError(f"{name} is required")
    return value


def _str(raw: Mapping[str, Any], name: str) -> str:
    value = _req(raw, name)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise EventFormatError(f"{name} must be a string")
    return str(value)


def _opt_str(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    return None if value is None or value == "" else str(value)


def _int(raw: Mapping[str, Any], name: str) -> int:
    value = _req(raw, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventFormatError(f"{name} must be an integer")
    return value


def _opt_int(raw: Mapping[str, Any], name: str) -> int | None:
    return None if raw.get(name) is None else _int(raw, name)


def _bool(raw: Mapping[str, Any], name: str) -> bool:
    value = raw.get(name)
    if not isinstance(value, bool):
        raise EventFormatError(f"{name} must be true or false")
    return value


def parse_time(value: Any, name: str) -> datetime:
    """An ISO 8601 date-time with an explicit offset, in Asia/Shanghai."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise EventFormatError(f"{name} is not an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        raise EventFormatError(f"{name} must carry its UTC offset")
    return parsed.astimezone(SHANGHAI)


def _time(raw: Mapping[str, Any], name: str) -> datetime:
    return parse_time(_req(raw, name), name)


def _opt_time(raw: Mapping[str, Any], name: str) -> datetime | None:
    return None if raw.get(name) in (None, "") else parse_time(raw[name], name)


def _date(raw: Mapping[str, Any], name: str) -> date:
    try:
        return date.fromisoformat(_str(raw, name))
    except ValueError as exc:
        raise EventFormatError(f"{name} is not a YYYY-MM-DD date") from exc


def _obj(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    if not isinstance(value, Mapping):
        raise EventFormatError(f"{name} must be an object")
    return value


# ---- typed data ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Room:
    campus_id: str
    building: str
    floor: str
    campus_name: str | None = None
    room: str | None = None
    description: str | None = None

    @property
    def label(self) -> str:
        """``门诊楼3F 305诊室`` (campus first when named)."""
        place = f"{self.building}{self.floor}" + (f" {self.room}" if self.room else "")
        return f"{self.campus_name} {place}" if self.campus_name else place

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Room:
        return cls(_str(raw, "campus_id"), _str(raw, "building"), _str(raw, "floor"), _opt_str(raw, "campus_name"),
                   _opt_str(raw, "room"), _opt_str(raw, "description"))


@dataclass(frozen=True)
class ScheduleChange:
    field: str  # doctor_id, start_time, end_time, location, fee_fen (others tolerated)
    old_value: Any
    new_value: Any


@dataclass(frozen=True)
class ScheduleChanged:
    schedule_id: str
    date: date
    session: str
    department_id: str
    version: int
    changes: tuple[ScheduleChange, ...]
    handling: str
    notice_id: str | None = None
    doctor_id: str | None = None
    free_cancel_until: datetime | None = None
    affected_appointments: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ScheduleChanged:
        changes = raw.get("changes") or []
        if not isinstance(changes, list):
            raise EventFormatError("changes must be a list")
        parsed = tuple(ScheduleChange(_str(c, "field"), c.get("old_value"), c.get("new_value"))
                       for c in changes if isinstance(c, Mapping))
        return cls(_str(raw, "schedule_id"), _date(raw, "date"), _str(raw, "session"), _str(raw, "department_id"),
                   _int(raw, "version"), parsed, _str(raw, "handling"), _opt_str(raw, "notice_id"),
                   _opt_str(raw, "doctor_id"), _opt_time(raw, "free_cancel_until"),
                   _opt_int(raw, "affected_appointments"))


@dataclass(frozen=True)
class ScheduleStopped:
    schedule_id: str
    date: date
    session: str
    department_id: str
    version: int
    reason_code: str
    public_message: str
    handling: str
    notice_id: str | None = None
    doctor_id: str | None = None
    affected_appointments: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ScheduleStopped:
        return cls(_str(raw, "schedule_id"), _date(raw, "date"), _str(raw, "session"), _str(raw, "department_id"),
                   _int(raw, "version"), _str(raw, "reason_code"), str(raw.get("public_message") or ""),
                   _str(raw, "handling"), _opt_str(raw, "notice_id"), _opt_str(raw, "doctor_id"),
                   _opt_int(raw, "affected_appointments"))


@dataclass(frozen=True)
class RegistrationRefund:
    his_refund_id: str
    refund_amount_fen: int
    initiated_by: str  # caller | hospital
    created_at: datetime
    refund_request_no: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> RegistrationRefund:
        return cls(_str(raw, "his_refund_id"), _int(raw, "refund_amount_fen"), _str(raw, "initiated_by"),
                   _time(raw, "created_at"), _opt_str(raw, "refund_request_no"))


@dataclass(frozen=True)
class AppointmentStatusChanged:
    appointment_id: str
    patient_id: str
    old_status: str
    new_status: str
    status_version: int
    changed_at: datetime
    order_id: str | None = None  # ours; None for appointments made through other channels
    status_reason: str | None = None
    refund: RegistrationRefund | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> AppointmentStatusChanged:
        refund = raw.get("refund")
        return cls(_str(raw, "appointment_id"), _str(raw, "patient_id"), _str(raw, "old_status"),
                   _str(raw, "new_status"), _int(raw, "status_version"), _time(raw, "changed_at"),
                   _opt_str(raw, "order_id"), _opt_str(raw, "status_reason"),
                   RegistrationRefund.parse(_obj(raw, "refund")) if refund is not None else None)


@dataclass(frozen=True)
class QueueApproaching:
    visit_id: str
    appointment_id: str
    patient_id: str
    queue_no: str
    people_ahead: int
    room: Room
    current_called_no: str | None = None
    estimated_wait_minutes: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> QueueApproaching:
        return cls(_str(raw, "visit_id"), _str(raw, "appointment_id"), _str(raw, "patient_id"),
                   _str(raw, "queue_no"), _int(raw, "people_ahead"), Room.parse(_obj(raw, "room")),
                   _opt_str(raw, "current_called_no"), _opt_int(raw, "estimated_wait_minutes"))


@dataclass(frozen=True)
class QueueCalled:
    visit_id: str
    appointment_id: str
    patient_id: str
    queue_no: str
    call_count: int
    called_at: datetime
    room: Room
    doctor_name: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> QueueCalled:
        called = cls(_str(raw, "visit_id"), _str(raw, "appointment_id"), _str(raw, "patient_id"),
                     _str(raw, "queue_no"), _int(raw, "call_count"), _time(raw, "called_at"),
                     Room.parse(_obj(raw, "room")), _opt_str(raw, "doctor_name"))
        if called.call_count < 1:
            raise EventFormatError("call_count must be at least 1")
        return called


@dataclass(frozen=True)
class ReportFinalized:
    report_id: str
    patient_id: str
    category: str  # lab | exam
    title: str
    status: str  # final | amended
    version: int
    finalized_at: datetime
    released_at: datetime
    visit_id: str | None = None

    @property
    def amended(self) -> bool:
        return self.status == "amended"

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ReportFinalized:
        return cls(_str(raw, "report_id"), _str(raw, "patient_id"), _str(raw, "category"), _str(raw, "title"),
                   _str(raw, "status"), _int(raw, "version"), _time(raw, "finalized_at"), _time(raw, "released_at"),
                   _opt_str(raw, "visit_id"))


@dataclass(frozen=True)
class ChargeCreated:
    charge_id: str
    patient_id: str
    visit_id: str
    type: str
    title: str
    total_fen: int
    payable_online: bool
    created_at: datetime
    expires_at: datetime | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ChargeCreated:
        charge = cls(_str(raw, "charge_id"), _str(raw, "patient_id"), _str(raw, "visit_id"), _str(raw, "type"),
                     _str(raw, "title"), _int(raw, "total_fen"), _bool(raw, "payable_online"),
                     _time(raw, "created_at"), _opt_time(raw, "expires_at"))
        if charge.total_fen < 0:
            raise EventFormatError("total_fen must not be negative")
        return charge


@dataclass(frozen=True)
class VisitCompleted:
    visit_id: str
    patient_id: str
    department_id: str
    completed_at: datetime
    followup_allowed: bool
    version: int
    appointment_id: str | None = None
    doctor_id: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> VisitCompleted:
        return cls(_str(raw, "visit_id"), _str(raw, "patient_id"), _str(raw, "department_id"),
                   _time(raw, "completed_at"), _bool(raw, "followup_allowed"), _int(raw, "version"),
                   _opt_str(raw, "appointment_id"), _opt_str(raw, "doctor_id"))


EventData = (ScheduleChanged | ScheduleStopped | AppointmentStatusChanged | QueueApproaching | QueueCalled
             | ReportFinalized | ChargeCreated | VisitCompleted)

_PARSERS: dict[str, Callable[[Mapping[str, Any]], EventData]] = {
    EventType.SCHEDULE_CHANGED: ScheduleChanged.parse,
    EventType.SCHEDULE_STOPPED: ScheduleStopped.parse,
    EventType.APPOINTMENT_STATUS_CHANGED: AppointmentStatusChanged.parse,
    EventType.QUEUE_APPROACHING: QueueApproaching.parse,
    EventType.QUEUE_CALLED: QueueCalled.parse,
    EventType.REPORT_FINALIZED: ReportFinalized.parse,
    EventType.CHARGE_CREATED: ChargeCreated.parse,
    EventType.VISIT_COMPLETED: VisitCompleted.parse,
}


@dataclass(frozen=True)
class HisEvent:
    event_id: str
    event_type: str
    occurred_at: datetime
    app_id: str
    data: EventData | None  # None: an event type we do not know (acknowledged and ignored)


def parse_envelope(raw: Any) -> HisEvent:
    if not isinstance(raw, Mapping):
        raise EventFormatError("the envelope must be a JSON object")
    event_id, event_type = _str(raw, "event_id"), _str(raw, "event_type")
    if len(event_id) > 128:
        raise EventFormatError("event_id is too long")
    occurred_at = _time(raw, "occurred_at")
    parser = _PARSERS.get(event_type)
    if parser is None:
        return HisEvent(event_id, event_type, occurred_at, str(raw.get("app_id") or ""), None)
    try:
        data = parser(_obj(raw, "data"))
    except EventFormatError as exc:
        raise EventFormatError(f"{event_type} {event_id}: {exc}") from exc
    return HisEvent(event_id, event_type, occurred_at, str(raw.get("app_id") or ""), data)


@dataclass(frozen=True)
class EventMessage:
    """What travels on the events queue: the envelope as the middleware sent it, and how it came."""

    source: EventSource
    received_at: datetime
    envelope: Mapping[str, Any]
    delivery_attempt: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source.value, "received_at": self.received_at.isoformat(),
                "delivery_attempt": self.delivery_attempt, "envelope": dict(self.envelope)}

    @classmethod
    def from_json(cls, raw: Any) -> EventMessage:
        if not isinstance(raw, Mapping):
            raise EventFormatError("the message must be a JSON object")
        try:
            source = EventSource(str(raw.get("source")))
        except ValueError as exc:
            raise EventFormatError(f"unknown source {raw.get('source')!r}") from exc
        attempt = raw.get("delivery_attempt", 1)
        return cls(source, _time(raw, "received_at"), _obj(raw, "envelope"),
                   attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 1)


def to_json(value: Any) -> Any:
    """A parsed event value back to JSON-ready data (the spec's shape: ISO dates, lists)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


# ---- versions and timing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResourceVersion:
    """The resource an event describes and its position in that resource's history."""

    resource: str
    version: int


def resource_version(data: EventData) -> ResourceVersion | None:
    """Schedules, appointments, reports and visits carry versions. A visit's queue is ordered
    ``approaching`` (0) before any call; calls are ordered by ``called_at`` (epoch seconds), which stays
    monotonic even if ``call_count`` restarted after a re-queue (the spec does not say it does not).
    Charges have no history: None."""
    match data:
        case ScheduleChanged() | ScheduleStopped():
            return ResourceVersion(f"schedule:{data.schedule_id}", data.version)
        case AppointmentStatusChanged():
            return ResourceVersion(f"appointment:{data.appointment_id}", data.status_version)
        case QueueApproaching():
            return ResourceVersion(f"queue:{data.visit_id}", 0)
        case QueueCalled():
            return ResourceVersion(f"queue:{data.visit_id}", int(data.called_at.timestamp()))
        case ReportFinalized():
            return ResourceVersion(f"report:{data.report_id}", data.version)
        case VisitCompleted():
            return ResourceVersion(f"visit:{data.visit_id}", data.version)
    return None


def supersedes(version: int, event_id: str, held_version: int | None, held_event_id: str | None) -> bool:
    """May an event at ``version`` apply over the state held? Newer versions may; the event that wrote
    the held version may again (its retry); anything else at the same or a lower version is stale."""
    if held_version is None:
        return True
    return version > held_version or (version == held_version and event_id == held_event_id)


def too_late(event: HisEvent, now: datetime) -> bool:
    """Queue notices are worth sending only while they are current (§8.2.5)."""
    return now - event.occurred_at > QUEUE_NOTICE_MAX_AGE


def release_delay_seconds(report: ReportFinalized, now: datetime) -> int:
    """Seconds to wait before the report may be announced (0: now), capped at one SQS delay."""
    remaining = (report.released_at - now).total_seconds()
    return 0 if remaining <= 0 else min(MAX_SQS_DELAY_SECONDS, math.ceil(remaining))


# ---- effects as data ------------------------------------------------------------------------------------
class FollowUpState(StrEnum):
    PLANNED = "planned"
    CANCELLED = "cancelled"  # followup_allowed is false (policy or the patient declined)


@dataclass(frozen=True)
class FollowUpPlan:
    """When to send a visit's follow-up questionnaire. One per visit; the newest visit version wins."""

    visit_id: str
    patient_id: str
    department_id: str
    completed_at: datetime
    due_at: datetime
    version: int
    state: FollowUpState
    appointment_id: str | None = None
    doctor_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = to_json(self)
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FollowUpPlan:
        return cls(str(raw["visit_id"]), str(raw["patient_id"]), str(raw["department_id"]),
                   parse_time(raw["completed_at"], "completed_at"), parse_time(raw["due_at"], "due_at"),
                   int(raw["version"]), FollowUpState(raw["state"]), _opt_str(raw, "appointment_id"),
                   _opt_str(raw, "doctor_id"))


def follow_up_plan(visit: VisitCompleted) -> FollowUpPlan:
    """Due three days after completion at 10:00 Shanghai time; cancelled when follow-up is not allowed."""
    day = visit.completed_at.astimezone(SHANGHAI).date() + timedelta(days=FOLLOW_UP_AFTER_DAYS)
    state = FollowUpState.PLANNED if visit.followup_allowed else FollowUpState.CANCELLED
    return FollowUpPlan(visit.visit_id, visit.patient_id, visit.department_id, visit.completed_at,
                        datetime.combine(day, FOLLOW_UP_AT, tzinfo=SHANGHAI), visit.version, state,
                        visit.appointment_id, visit.doctor_id)


def hospital_refund(change: AppointmentStatusChanged) -> RefundObligation | None:
    """A refund the hospital approved for one of our orders: we execute it with ``out_refund_no =
    his_refund_id`` (§7.5.5). Other channels' payments (``order_id`` null) are not ours to refund."""
    refund = change.refund
    if refund is None or refund.initiated_by != "hospital" or change.order_id is None or refund.refund_amount_fen <= 0:
        return None
    return RefundObligation(
        out_refund_no=refund.his_refund_id, business_type=BusinessType.REGISTRATION,
        his_trade_id=change.appointment_id, caller_ref=change.order_id, amount_fen=refund.refund_amount_fen,
        patient_id=change.patient_id, source=RefundSource.HOSPITAL,
        reason=change.status_reason or "hospital_cancelled", created_at=refund.created_at,
        his_refund_id=refund.his_refund_id,
    )


# ---- notices ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoticeDraft:
    """A notice for every WeChat user bound to ``patient_id``: the notice id is ``<key>:<openid>``;
    ``page`` is an H5 page path (made absolute by the caller), empty for none."""

    kind: NoticeKind
    key: str
    patient_id: str
    text: str
    fields: Mapping[str, str] = field(default_factory=dict)
    page: str = ""


SESSION_NAMES = {"morning": "上午", "afternoon": "下午", "evening": "夜间"}
CATEGORY_NAMES = {"lab": "检验", "exam": "检查"}
CHANGE_NAMES = {"doctor_id": "出诊医生", "start_time": "就诊时间", "end_time": "结束时间", "location": "就诊地点",
                "fee_fen": "挂号费"}
GENERIC_STOP = "因医生停诊"


def yuan(fen: int) -> str:
    """Integer fen as ``30.00元`` (no floating point)."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}元"


def shanghai_text(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _day_session(day: date, session: str) -> str:
    return f"{day.month}月{day.day}日{SESSION_NAMES.get(session, '')}"


def report_ready_notice(report: ReportFinalized) -> NoticeDraft:
    category = CATEGORY_NAMES.get(report.category, "")
    if report.amended:
        text = f"您的{category}报告「{report.title}」已更正，请查看最新版本。"
    else:
        text = f"您的{category}报告「{report.title}」已出，可在线查看。"
    return NoticeDraft(
        NoticeKind.REPORT_READY, f"report_ready:{report.report_id}:v{report.version}", report.patient_id, text,
        {"keyword1": report.title, "keyword2": f"{category}报告" if category else "报告",
         "keyword3": shanghai_text(report.released_at), "keyword4": "已更正" if report.amended else "已出"},
        "report.html?" + urlencode({"patient_id": report.patient_id, "id": report.report_id}),  # the page reads ``id``
    )


def queue_approaching_notice(q: QueueApproaching) -> NoticeDraft:
    wait = f"，预计约{q.estimated_wait_minutes}分钟" if q.estimated_wait_minutes is not None else ""
    text = f"快到您了：排队号{q.queue_no}，前面还有{q.people_ahead}人{wait}。请到{q.room.label}附近候诊。"
    return NoticeDraft(
        NoticeKind.QUEUE_APPROACHING, f"queue_approaching:{q.visit_id}", q.patient_id, text,
        {"keyword1": q.queue_no, "keyword2": f"{q.people_ahead}人", "keyword3": q.room.label,
         "keyword4": f"约{q.estimated_wait_minutes}分钟" if q.estimated_wait_minutes is not None else "以现场叫号为准"},
    )


def queue_called_notice(q: QueueCalled) -> NoticeDraft:
    again = f"第{q.call_count}次呼叫：" if q.call_count > 1 else ""
    text = f"{again}请{q.queue_no}号到{q.room.label}就诊。"
    if q.call_count > 1:
        text += "过号请到护士站重新排队。"
    return NoticeDraft(
        NoticeKind.QUEUE_CALLED, f"queue_called:{q.visit_id}:{int(q.called_at.timestamp())}", q.patient_id, text,
        {"keyword1": q.queue_no, "keyword2": q.room.label, "keyword3": shanghai_text(q.called_at),
         "keyword4": f"第{q.call_count}次呼叫"},
    )


def appointment_notice(change: AppointmentStatusChanged, stop: ScheduleStopped | None) -> NoticeDraft | None:
    """What a patient is told about a change the hospital made: a stop, a counter cancellation, a no-show.
    Changes the patient made here (cancel, check-in) are told by the flows that made them."""
    key = f"appointment:{change.appointment_id}:v{change.status_version}"
    refund = hospital_refund(change)
    refund_text = f"挂号费{yuan(refund.amount_fen)}将原路退回。" if refund else ""
    fields = {"keyword1": "", "keyword2": shanghai_text(change.changed_at),
              "keyword3": yuan(refund.amount_fen) if refund else "无"}
    if change.new_status == "cancelled" and change.status_reason == "schedule_stopped":
        when = f"{_day_session(stop.date, stop.session)}的" if stop else ""
        reason = stop.public_message.strip() if stop and stop.public_message.strip() else GENERIC_STOP
        text = f"很抱歉，您{when}预约已取消（{reason}）。{refund_text}如需就诊请重新预约。"
        return NoticeDraft(NoticeKind.APPOINTMENT_CANCELLED, key, change.patient_id, text,
                           {**fields, "keyword1": "医生停诊，预约已取消"})
    if change.new_status == "cancelled" and change.status_reason == "counter_cancelled":
        text = f"您的预约已在医院窗口取消。{refund_text}"
        return NoticeDraft(NoticeKind.APPOINTMENT_CANCELLED, key, change.patient_id, text,
                           {**fields, "keyword1": "窗口退号，预约已取消"})
    if change.new_status == "no_show":
        text = "您的预约因未在就诊时段内签到，已记为爽约，挂号费不予退还。如需就诊请重新预约。"
        return NoticeDraft(NoticeKind.APPOINTMENT_MISSED, key, change.patient_id, text,
                           {**fields, "keyword1": "未签到，记为爽约"})
    return None


def _change_text(c: ScheduleChange) -> str:
    name = CHANGE_NAMES.get(c.field, "门诊安排")
    if c.field in ("start_time", "end_time") and isinstance(c.new_value, str):
        return f"{name}调整为{c.new_value}"
    if c.field == "fee_fen" and isinstance(c.new_value, int) and not isinstance(c.new_value, bool):
        return f"{name}调整为{yuan(c.new_value)}"
    return f"{name}有调整"


def schedule_changed_notice(change: ScheduleChanged, appointment_id: str, patient_id: str) -> NoticeDraft:
    what = "，".join(dict.fromkeys(_change_text(c) for c in change.changes)) or "门诊安排有调整"
    cancel = (f"如需取消，可在{shanghai_text(change.free_cancel_until)}前免费退号。"
              if change.free_cancel_until else "")
    text = f"您预约的{_day_session(change.date, change.session)}门诊有变更：{what}。{cancel}"
    return NoticeDraft(
        NoticeKind.SCHEDULE_CHANGED, f"schedule_changed:{appointment_id}:v{change.version}", patient_id, text,
        {"keyword1": _day_session(change.date, change.session), "keyword2": what,
         "keyword3": shanghai_text(change.free_cancel_until) if change.free_cancel_until else "无"},
    )


def unpaid_charge_notice(charge: ChargeCreated) -> NoticeDraft:
    until = f"请在{shanghai_text(charge.expires_at)}前缴费，" if charge.expires_at else ""
    text = f"您有一笔待缴费用：{charge.title}，{yuan(charge.total_fen)}。{until}可在线缴费。"
    return NoticeDraft(
        NoticeKind.UNPAID_CHARGES, f"unpaid_charge:{charge.charge_id}", charge.patient_id, text,
        {"keyword1": charge.title, "keyword2": yuan(charge.total_fen),
         "keyword3": shanghai_text(charge.expires_at) if charge.expires_at else "当日有效"},
        "charges.html",
    )

