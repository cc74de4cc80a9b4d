"""Schedules (排班) and their slots (号源) as the middleware gives them (spec §7.3), shaped for patients.

Pure Python. A schedule is one doctor (or a department pool) in one session on one date, with the number
of slots allocated to our channel (``capacity``), the fee, the release time and the cancellation deadline.
The middleware's clock decides release and deadlines; we compare with the time passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.reference import REG_TYPE_NAMES, FeeEntry, Location, fees_for

SHANGHAI = ZoneInfo("Asia/Shanghai")

SESSION_NAMES = {"morning": "上午", "afternoon": "下午", "evening": "夜间"}
STATUS_NAMES = {
    "not_released": "未放号",
    "open": "可预约",
    "full": "已约满",
    "stopped": "停诊",
    "closed": "已停止预约",
}
# Spec §5.5: stop starting bookings and payments at 23:15, so nothing straddles the 23:30-00:30 maintenance.
BOOKING_PAUSE_START = (23, 15)
BOOKING_PAUSE_END = (0, 30)
MAX_RANGE_DAYS = 14  # listSchedules takes at most 14 days


class ScheduleFormatError(ValueError):
    """The middleware's schedule or slot JSON lacks a field we rely on."""


@dataclass(frozen=True)
class Schedule:
    schedule_id: str
    date: date
    session: str
    start_time: datetime
    end_time: datetime
    department_id: str
    department_name: str
    doctor_id: str | None
    doctor_name: str | None
    doctor_title_name: str | None
    reg_type: str
    fee_fen: int
    capacity: int
    remaining: int
    release_at: datetime
    cancel_deadline: datetime
    status: str
    location: Location
    stop_notice_id: str | None
    version: int

    @property
    def session_name(self) -> str:
        return SESSION_NAMES.get(self.session, self.session)

    @property
    def reg_type_name(self) -> str:
        return REG_TYPE_NAMES.get(self.reg_type, self.reg_type)

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, "暂不可预约")

    @property
    def stopped(self) -> bool:
        return self.status == "stopped"

    def released(self, now: datetime) -> bool:
        """Server time decides: nothing is visible or holdable before ``release_at``."""
        return now >= self.release_at

    def bookable(self, now: datetime) -> bool:
        return self.released(now) and self.status in ("open", "not_released", "full") and now < self.start_time

    def cancellable_online(self, now: datetime) -> bool:
        return now < self.cancel_deadline

    def title(self) -> str:
        who = self.doctor_name or f"{self.department_name}（普通门诊）"
        return f"{who} {self.date.isoformat()} {self.session_name}"


@dataclass(frozen=True)
class Slot:
    slot_id: str
    seq_no: int
    start_time: datetime
    end_time: datetime
    status: str  # available | unavailable | not_released

    def window_text(self) -> str:
        return f"{self.start_time.astimezone(SHANGHAI):%H:%M}-{self.end_time.astimezone(SHANGHAI):%H:%M}"


def _time(raw: Mapping[str, Any], name: str) -> datetime:
    value = raw.get(name)
    if not isinstance(value, str):
        raise ScheduleFormatError(f"{name} is missing")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ScheduleFormatError(f"{name} is not a date-time") from exc
    if parsed.tzinfo is None:
        raise ScheduleFormatError(f"{name} has no offset")
    return parsed


def _opt(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    return str(value) if value not in (None, "") else None


def location_from_his(raw: Any) -> Location:
    if not isinstance(raw, Mapping):
        raise ScheduleFormatError("location is missing")
    return Location(
        campus_id=str(raw.get("campus_id") or ""),
        building=str(raw.get("building") or ""),
        floor=str(raw.get("floor") or ""),
        room=_opt(raw, "room"),
        description=_opt(raw, "description"),
        campus_name=_opt(raw, "campus_name"),
    )


def schedule_from_his(raw: Mapping[str, Any]) -> Schedule:
    try:
        return Schedule(
            schedule_id=str(raw["schedule_id"]),
            date=date.fromisoformat(str(raw["date"])),
            session=str(raw["session"]),
            start_time=_time(raw, "start_time"),
            end_time=_time(raw, "end_time"),
            department_id=str(raw["department_id"]),
            department_name=str(raw.get("department_name") or ""),
            doctor_id=_opt(raw, "doctor_id"),
            doctor_name=_opt(raw, "doctor_name"),
            doctor_title_name=_opt(raw, "doctor_title_name"),
            reg_type=str(raw["reg_type"]),
            fee_fen=int(raw["fee_fen"]),
            capacity=int(raw["capacity"]),
            remaining=int(raw["remaining"]),
            release_at=_time(raw, "release_at"),
            cancel_deadline=_time(raw, "cancel_deadline"),
            status=str(raw["status"]),
            location=location_from_his(raw.get("location")),
            stop_notice_id=_opt(raw, "stop_notice_id"),
            version=int(raw.get("version") or 0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ScheduleFormatError):
            raise
        raise ScheduleFormatError(f"malformed schedule: {exc}") from exc


def schedules_from_his(body: Any) -> list[Schedule]:
    items = body.get("items") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        raise ScheduleFormatError("schedules: items is missing")
    return sorted((schedule_from_his(i) for i in items if isinstance(i, Mapping)),
                  key=lambda s: (s.start_time, s.schedule_id))


def slot_from_his(raw: Mapping[str, Any]) -> Slot:
    try:
        return Slot(str(raw["slot_id"]), int(raw["seq_no"]), _time(raw, "start_time"), _time(raw, "end_time"),
                    str(raw["status"]))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ScheduleFormatError):
            raise
        raise ScheduleFormatError(f"malformed slot: {exc}") from exc


def slots_from_his(body: Any) -> list[Slot]:
    items = body.get("items") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        raise ScheduleFormatError("slots: items is missing")
    return sorted((slot_from_his(i) for i in items if isinstance(i, Mapping)), key=lambda s: s.seq_no)


def in_booking_pause(now: datetime) -> bool:
    """23:15-00:30 Shanghai: bookings are not started (the middleware's nightly maintenance follows)."""
    local = now.astimezone(SHANGHAI)
    hm = (local.hour, local.minute)
    return hm >= BOOKING_PAUSE_START or hm < BOOKING_PAUSE_END


def next_release(now: datetime, hour: int = 8) -> datetime:
    """The next 08:00 Shanghai release (放号) after ``now``: the countdown on the booking pages.
    (The schedule's own ``release_at`` decides for a schedule; this is the general countdown.)"""
    local = now.astimezone(SHANGHAI)
    today_release = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    nxt = today_release if local < today_release else today_release + timedelta(days=1)
    return nxt


def shanghai_date(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


# ---- Browse: queries, release gating, stop notices, fees (owner: browse) --------------------------------
DEFAULT_RANGE_DAYS = 7  # today .. today+7: the release window (D-7 at 08:00)
STOPPED_TEXT = "该时段停诊"
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
REG_TYPES = ("general", "expert", "special_needs")


def is_valid_id(value: str | None) -> bool:
    """A middleware id as we accept it from a page: 1-40 of ``[A-Za-z0-9_-]`` (spec §2.2: opaque, ≤ 40)."""
    return bool(value) and len(value or "") <= 40 and all(c in _ID_CHARS for c in value or "")


class ScheduleQueryError(ValueError):
    """A query a patient's page sent that we cannot run; ``message`` is Chinese, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ScheduleQuery:
    date_from: date
    date_to: date
    department_id: str | None = None
    doctor_id: str | None = None
    campus_id: str | None = None
    reg_type: str | None = None

    def his_query(self) -> dict[str, str]:
        q = {"date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()}
        for name in ("department_id", "doctor_id", "campus_id", "reg_type"):
            value = getattr(self, name)
            if value:
                q[name] = value
        return q

    def key(self) -> str:
        """The kept-copy key of this query's answer."""
        return "schedules#" + "#".join(f"{k}={v}" for k, v in sorted(self.his_query().items()))


def _parse_date(raw: str | None, what: str) -> date | None:
    if raw is None or not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ScheduleQueryError(f"{what}格式不正确，应为YYYY-MM-DD") from exc


def _parse_id(raw: str | None, message: str) -> str | None:
    value = (raw or "").strip() or None
    if value is not None and not is_valid_id(value):
        raise ScheduleQueryError(message)
    return value


def parse_schedule_query(
    today: date,
    *,
    department_id: str | None = None,
    doctor_id: str | None = None,
    campus_id: str | None = None,
    reg_type: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
) -> ScheduleQuery:
    """Validate a page's query: a department or a doctor, a range of at most 14 days from today on
    (default today .. today+7, the release window)."""
    dept = _parse_id(department_id, "科室参数不正确")
    doctor = _parse_id(doctor_id, "医生参数不正确")
    campus = _parse_id(campus_id, "院区参数不正确")
    if dept is None and doctor is None:
        raise ScheduleQueryError("请先选择科室或医生")
    kind = (reg_type or "").strip() or None
    if kind is not None and kind not in REG_TYPES:
        raise ScheduleQueryError("号别参数不正确，应为普通号、专家号或特需号")
    start = _parse_date(date_from, "开始日期") or today
    end = _parse_date(date_to, "结束日期") or max(start, today) + timedelta(days=DEFAULT_RANGE_DAYS)
    if start < today:
        raise ScheduleQueryError("开始日期不能早于今天")
    if end < start:
        raise ScheduleQueryError("结束日期不能早于开始日期")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise ScheduleQueryError(f"一次最多查询{MAX_RANGE_DAYS}天的排班")
    return ScheduleQuery(start, end, dept, doctor, campus, kind)


def is_released(schedule: Schedule, now: datetime) -> bool:
    """Released only when both clocks agree: ours has passed ``release_at`` and the middleware no longer
    says ``not_released`` (its clock is authoritative; a few seconds of skew must not show slots early)."""
    return schedule.released(now) and schedule.status != "not_released"


def visible_slots(schedule: Schedule, slots: list[Slot], now: datetime) -> list[Slot]:
    """The slots a patient may see: none before release or on a stopped or closed schedule, and never a
    slot the middleware still calls ``not_released``."""
    if not is_released(schedule, now) or schedule.status in ("stopped", "closed"):
        return []
    return [s for s in slots if s.status != "not_released"]


def release_countdown_target(schedules: list[Schedule], now: datetime) -> datetime:
    """What the booking page counts down to: the earliest release still ahead among ``schedules``,
    else the next general 08:00 release."""
    ahead = [s.release_at for s in schedules if s.release_at > now]
    return min(ahead) if ahead else next_release(now)


def stop_messages_from_his(body: Any) -> dict[str, str]:
    """``schedule_id`` → the approved ``public_message`` of its stop notice (``listScheduleNotices``);
    for several notices of one schedule the newest (first; the middleware lists newest first) wins."""
    items = body.get("items") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        raise ScheduleFormatError("schedule notices: items is missing")
    found: dict[str, str] = {}
    for item in items:
        if not isinstance(item, Mapping) or item.get("type") != "stopped":
            continue
        schedule_id, message = item.get("schedule_id"), item.get("public_message")
        if isinstance(schedule_id, str) and isinstance(message, str) and message.strip():
            found.setdefault(schedule_id, message.strip())
    return found


def stop_text(schedule: Schedule, messages: Mapping[str, str]) -> str | None:
    if not schedule.stopped:
        return None
    return messages.get(schedule.schedule_id) or STOPPED_TEXT


def fee_entry_for(fees: list[FeeEntry], schedule: Schedule, title_code: str | None) -> FeeEntry | None:
    """The fee schedule's entry that explains ``schedule.fee_fen`` (its components are shown as detail).

    The schedule's ``fee_fen`` is what is charged (spec §7.2); an entry is shown only when it is for the
    schedule's registration type and campus, fits the doctor's title, and adds up to that same amount: a
    breakdown of some other amount would mislead."""
    candidates = [f for f in fees_for(fees, schedule.location.campus_id or None, title_code)
                  if f.reg_type == schedule.reg_type and f.fee_fen == schedule.fee_fen]
    exact = [f for f in candidates if f.title_code == title_code and f.campus_id == (schedule.location.campus_id or None)]
    chosen = exact or candidates
    return chosen[0] if chosen else None
