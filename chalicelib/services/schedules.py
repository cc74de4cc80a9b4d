"""Browse (排班/号源): schedules and their slots read live through the bridge, stop notices, fees from the
synced fee schedule, and doctor search over the synced reference data.

Schedules are public hospital information: no login and no ``end_user`` on the middleware requests.
Reads go through ``live_read`` (the bridge's read function, a short timeout, the kept copy with its "as
of" time when the HIS cannot answer now; definite refusals are the answer). Server time decides release:
before a schedule's ``release_at`` it is listed (so the patient sees when it opens) but with no
remaining count and no slots, whatever the middleware returned.

``schedule_detail`` and ``list_schedules`` are also what the booking core calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from chalicelib.domain.doctor_search import (
    MAX_RESULTS,
    DoctorMatch,
    DoctorSearchError,
    normalize_keyword,
    search_doctors,
)
from chalicelib.domain.his_messages import HisRequest
from chalicelib.domain.reference import Campus, FeeEntry
from chalicelib.domain.refusals import RefusalError
from chalicelib.domain.schedules import (
    Schedule,
    ScheduleFormatError,
    ScheduleQuery,
    Slot,
    fee_entry_for,
    is_released,
    is_valid_id,
    release_countdown_target,
    schedule_from_his,
    schedules_from_his,
    shanghai_date,
    slots_from_his,
    stop_messages_from_his,
    visible_slots,
)
from chalicelib.observability import get_logger
from chalicelib.services.live_reads import HisRefusedError, LiveReadUnavailableError, live_read
from chalicelib.services.ports import (
    BlobStore,
    Clock,
    HisLiveReader,
    IdFactory,
    LiveCopies,
    ReferenceRepository,
    ScheduleNotices,
)

log = get_logger("schedules")

SCHEDULE_NOT_FOUND_MESSAGE = "没有找到该排班，可能已调整，请返回重新选择"
BROWSE_UNAVAILABLE_MESSAGE = "暂时无法查询号源，请稍后再试"
QUERY_PARAMS = ("department_id", "doctor_id", "campus_id", "reg_type", "date_from", "date_to")
MAX_DOCTORS = MAX_RESULTS


@dataclass(frozen=True)
class ScheduleContext:
    """The ports the browse use cases need (built by ``bootstrap.schedules_context``)."""

    reader: HisLiveReader
    copies: LiveCopies
    reference: ReferenceRepository
    clock: Clock
    new_id: IdFactory
    blobs: BlobStore | None = None
    stops: ScheduleNotices | None = None  # stops recorded from the middleware's events (saves a notices read)


class SchedulesError(RefusalError):
    """A browse refusal the page shows (see ``RefusalError``)."""


class ScheduleNotFoundError(SchedulesError):
    def __init__(self, message: str = SCHEDULE_NOT_FOUND_MESSAGE) -> None:
        super().__init__(404, "NOT_FOUND", message)


@dataclass(frozen=True)
class ScheduleList:
    items: list[Schedule]
    as_of: datetime
    live: bool
    now: datetime | None = None  # our clock when this was answered (the page's countdown offset)
    next_release_at: datetime | None = None
    stop_messages: Mapping[str, str] = field(default_factory=dict)  # schedule_id → text for stopped ones


@dataclass(frozen=True)
class ScheduleDetail:
    schedule: Schedule
    slots: list[Slot]  # visible slots only: empty before release, and on stopped or closed schedules
    as_of: datetime
    live: bool
    now: datetime | None = None  # our clock when this was answered (the page's countdown offset)
    stop_message: str | None = None
    fee: FeeEntry | None = None  # the fee schedule's entry explaining ``schedule.fee_fen``, if one does
    slots_known: bool = True  # False: released, but the slots could not be read now


@dataclass(frozen=True)
class DoctorResults:
    matches: list[DoctorMatch]
    campuses: dict[str, Campus]
    keyword: str | None


# ---- reads through the bridge -----------------------------------------------------------------------
def _request(ctx: ScheduleContext, operation: str, path_params: dict[str, str] | None = None,
             query: dict[str, str] | None = None) -> HisRequest:
    return HisRequest(request_id=ctx.new_id(), operation=operation, requested_at=ctx.clock(),
                      path_params=path_params or {}, query=query or {}, context={"purpose": "live_read"})


def _read(ctx: ScheduleContext, key: str, request: HisRequest) -> tuple[Any, datetime, bool]:
    try:
        view = live_read(key, request, ctx.reader, ctx.copies, ctx.clock, ctx.blobs)
    except LiveReadUnavailableError as exc:
        raise SchedulesError(503, exc.code, exc.message) from exc
    return view.body, view.as_of, view.live


def _unreadable(exc: ScheduleFormatError, what: str) -> SchedulesError:
    log.error("unreadable answer from the HIS", extra={"what": what, "error": str(exc)})
    return SchedulesError(503, "HIS_UNAVAILABLE", BROWSE_UNAVAILABLE_MESSAGE)


def _refused(exc: HisRefusedError, operation: str) -> SchedulesError:
    log.error("the HIS refused a schedule read", extra={"operation": operation, "his_code": exc.code,
                                                        "status": exc.status})
    return SchedulesError(503, "HIS_UNAVAILABLE", BROWSE_UNAVAILABLE_MESSAGE)


def _stop_messages(ctx: ScheduleContext, stopped: list[Schedule], date_from: date, date_to: date,
                   department_id: str | None, doctor_id: str | None) -> dict[str, str]:
    """The approved texts of the stops among ``stopped``: from the stops our events recorded, else one
    ``listScheduleNotices`` read. Best effort: without them the page says "该时段停诊"."""
    found: dict[str, str] = {}
    for s in stopped:
        held = ctx.stops.stop_of(s.schedule_id) if ctx.stops is not None else None
        if held is not None and held.public_message.strip():
            found[s.schedule_id] = held.public_message.strip()
    if all(s.schedule_id in found for s in stopped):
        return found
    query = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
    if department_id:
        query["department_id"] = department_id
    elif doctor_id:
        query["doctor_id"] = doctor_id
    key = "schedule-notices#" + "#".join(f"{k}={v}" for k, v in sorted(query.items()))
    try:
        body, _, _ = _read(ctx, key, _request(ctx, "listScheduleNotices", query=query))
        read = stop_messages_from_his(body)
    except (SchedulesError, HisRefusedError, ScheduleFormatError) as exc:
        log.warning("stop notices not available now", extra={"error": type(exc).__name__})
        return found
    return {**read, **found} if found else read


def _fee(ctx: ScheduleContext, schedule: Schedule) -> FeeEntry | None:
    doctor = ctx.reference.doctor(schedule.doctor_id) if schedule.doctor_id else None
    return fee_entry_for(ctx.reference.fees(), schedule, doctor.title_code if doctor else None)


# ---- use cases --------------------------------------------------------------------------------------
def list_schedules(ctx: ScheduleContext, query: ScheduleQuery) -> ScheduleList:
    """Schedules of a department or doctor over the query's dates (``parse_schedule_query``), as the
    middleware lists them; stopped ones with their notice text. Raises ``SchedulesError`` (503) when
    neither the HIS nor a kept copy can answer."""
    request = _request(ctx, "listSchedules", query=query.his_query())
    try:
        body, as_of, live = _read(ctx, query.key(), request)
        items = schedules_from_his(body)
    except HisRefusedError as exc:
        raise _refused(exc, "listSchedules") from exc
    except ScheduleFormatError as exc:
        raise _unreadable(exc, "listSchedules") from exc
    now = ctx.clock()
    stopped = [s for s in items if s.stopped]
    messages = _stop_messages(ctx, stopped, query.date_from, query.date_to, query.department_id,
                              query.doctor_id) if stopped else {}
    return ScheduleList(items, as_of, live, now, release_countdown_target(items, now), messages)


def schedule_detail(ctx: ScheduleContext, schedule_id: str) -> ScheduleDetail:
    """One schedule with its visible slots (none before release, whatever the HIS returned).

    Raises ``ScheduleNotFoundError`` for an unknown id and ``SchedulesError`` (503) when neither the HIS
    nor a kept copy can answer."""
    if not is_valid_id(schedule_id):
        raise ScheduleNotFoundError()
    try:
        body, as_of, live = _read(ctx, f"schedule#{schedule_id}",
                                  _request(ctx, "getSchedule", {"schedule_id": schedule_id}))
        schedule = schedule_from_his(body) if isinstance(body, Mapping) else None
    except HisRefusedError as exc:
        if exc.status == 404:
            raise ScheduleNotFoundError() from exc
        raise _refused(exc, "getSchedule") from exc
    except ScheduleFormatError as exc:
        raise _unreadable(exc, "getSchedule") from exc
    if schedule is None:
        raise _unreadable(ScheduleFormatError("schedule is not an object"), "getSchedule")
    now = ctx.clock()
    slots: list[Slot] = []
    slots_known = True
    if is_released(schedule, now) and schedule.status not in ("stopped", "closed"):
        try:
            slot_body, slot_as_of, slot_live = _read(ctx, f"slots#{schedule_id}",
                                                     _request(ctx, "listSlots", {"schedule_id": schedule_id}))
            slots = visible_slots(schedule, slots_from_his(slot_body), now)
            as_of, live = min(as_of, slot_as_of), live and slot_live
        except (SchedulesError, HisRefusedError, ScheduleFormatError) as exc:
            log.warning("slots not available now", extra={"error": type(exc).__name__})
            slots_known = False
    stop_message = None
    if schedule.stopped:
        messages = _stop_messages(ctx, [schedule], schedule.date, schedule.date, schedule.department_id, None)
        stop_message = messages.get(schedule.schedule_id)
    return ScheduleDetail(schedule, slots, as_of, live, now, stop_message, _fee(ctx, schedule), slots_known)


def campus_names(ctx: ScheduleContext) -> dict[str, str]:
    return {c.campus_id: c.name for c in ctx.reference.campuses()}


def _filter_id(raw: str | None, message: str) -> str | None:
    value = (raw or "").strip() or None
    if value is not None and not is_valid_id(value):
        raise DoctorSearchError(message)
    return value


def find_doctors(ctx: ScheduleContext, keyword: str | None, department_id: str | None,
                 campus_id: str | None) -> DoctorResults:
    """Doctor search over the synced reference data (``domain.doctor_search``); needs a keyword or a
    department. Raises ``DoctorSearchError`` (Chinese message) for a bad keyword or filter."""
    department_id = _filter_id(department_id, "科室参数不正确")
    campus_id = _filter_id(campus_id, "院区参数不正确")
    words = normalize_keyword(keyword)
    if words is None and department_id is None:
        raise DoctorSearchError("请输入医生姓名或擅长的疾病")
    departments = {d.department_id: d for d in ctx.reference.departments()}
    matches = search_doctors(ctx.reference.doctors(), departments, words, department_id, campus_id)
    campuses = {c.campus_id: c for c in ctx.reference.campuses()}
    return DoctorResults(matches, campuses, words)


def today(ctx: ScheduleContext) -> date:
    return shanghai_date(ctx.clock())
