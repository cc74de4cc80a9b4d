"""Browse on fakes: schedules and slots read live with the kept copy as fallback, release decided by the
server's clock (and never earlier than the middleware's), stop notices, fees from the fee schedule."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.his_events import ScheduleStopped
from chalicelib.domain.schedules import parse_schedule_query
from chalicelib.services import schedules as service
from chalicelib.services.schedules import ScheduleContext, ScheduleNotFoundError, SchedulesError
from tests.fakes_his_events import FakeScheduleNotices
from tests.fakes_live_reads import FakeLiveCopies
from tests.fakes_schedules import STOP_MESSAGE, FakeSchedulesBridge

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 26)
BEFORE_RELEASE = datetime(2026, 11, 26, 7, 59, 30, tzinfo=SHANGHAI)
AFTER_RELEASE = datetime(2026, 11, 26, 8, 0, 5, tzinfo=SHANGHAI)
DAY7_LI = "S20261203D0301DR10023AM"  # released today at 08:00
DAY1_LI = "S20261127D0301DR10023AM"
DAY1_POOL = "S20261127D0301POOLPM"  # sold out
ZHAO_STOPPED = "S20261128D0301DR10025AM"


class World:
    def __init__(self, now: datetime, his_now: datetime | None = None, reference: Any = None) -> None:
        self.now = now
        self.bridge = FakeSchedulesBridge(TODAY, his_now or now)
        self.copies = FakeLiveCopies()
        self.stops = FakeScheduleNotices()
        self.ids = iter(range(1, 10_000))
        self.ctx = ScheduleContext(reader=self.bridge, copies=self.copies, reference=reference, clock=lambda: self.now,
                                   new_id=lambda: f"req-{next(self.ids)}", stops=self.stops)

    def operations(self) -> list[str]:
        return [r.operation for r in self.bridge.requests]


@pytest.fixture
def world(reference_repo: Any) -> World:
    return World(BEFORE_RELEASE, reference=reference_repo)


def _query(**params: str) -> Any:
    return parse_schedule_query(TODAY, department_id="D0301", **params)


# ---- the list ---------------------------------------------------------------------------------------
def test_the_default_list_is_the_release_window_and_counts_down_to_the_next_release(world):
    found = service.list_schedules(world.ctx, _query())
    assert found.live and found.as_of == BEFORE_RELEASE and found.now == BEFORE_RELEASE
    (sent,) = [r for r in world.bridge.requests if r.operation == "listSchedules"]
    assert sent.query == {"department_id": "D0301", "date_from": "2026-11-26", "date_to": "2026-12-03"}
    assert sent.end_user is None and sent.context == {"purpose": "live_read"}
    assert len(found.items) == 8 * 2 + 1
    assert {s.date for s in found.items} == {TODAY + timedelta(days=n) for n in range(8)}
    assert found.next_release_at == datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI)
    day7 = [s for s in found.items if s.date == date(2026, 12, 3)]
    assert len(day7) == 2 and all(s.status == "not_released" for s in day7)
    assert found.stop_messages == {ZHAO_STOPPED: STOP_MESSAGE}


def test_after_the_days_release_the_countdown_moves_to_tomorrow(world):
    world.now = world.bridge.his_now = AFTER_RELEASE
    found = service.list_schedules(world.ctx, _query())
    assert found.next_release_at == datetime(2026, 11, 27, 8, 0, tzinfo=SHANGHAI)
    assert all(s.status != "not_released" for s in found.items)


def test_a_stop_recorded_from_the_events_saves_the_notices_read(world):
    world.stops.record_stop(ScheduleStopped(ZHAO_STOPPED, date(2026, 11, 28), "morning", "D0301", 2, "emergency_duty",
                                            "今日停诊（事件）", "auto_cancelled_full_refund"))
    found = service.list_schedules(world.ctx, _query())
    assert found.stop_messages == {ZHAO_STOPPED: "今日停诊（事件）"}
    assert world.operations() == ["listSchedules"]


def test_without_the_notices_a_stop_is_still_a_stop(world):
    world.bridge.notices_down = True
    found = service.list_schedules(world.ctx, _query())
    assert found.stop_messages == {}
    assert [s.schedule_id for s in found.items if s.stopped] == [ZHAO_STOPPED]


def test_a_silent_bridge_shows_the_kept_copy_with_its_time(world):
    service.list_schedules(world.ctx, _query())
    world.now += timedelta(minutes=3)
    world.bridge.silent = True
    found = service.list_schedules(world.ctx, _query())
    assert not found.live and found.as_of == BEFORE_RELEASE and len(found.items) == 17


def test_with_nothing_kept_an_outage_is_a_503_in_chinese(world):
    world.bridge.down = True
    with pytest.raises(SchedulesError) as caught:
        service.list_schedules(world.ctx, _query())
    assert caught.value.status == 503 and caught.value.message == "医院系统暂时无法访问，请稍后再试"


# ---- one schedule -----------------------------------------------------------------------------------
def test_before_release_a_schedule_has_no_slots_and_the_slots_are_not_even_asked_for(world):
    world.bridge.leak_slots = True
    d = service.schedule_detail(world.ctx, DAY7_LI)
    assert d.schedule.schedule_id == DAY7_LI and d.slots == [] and d.slots_known
    assert world.operations() == ["getSchedule"]


def test_our_clock_past_release_is_not_enough_while_the_middleware_says_not_released(world):
    world.now, world.bridge.his_now = AFTER_RELEASE, BEFORE_RELEASE + timedelta(seconds=28)
    world.bridge.leak_slots = True
    assert service.schedule_detail(world.ctx, DAY7_LI).slots == []
    # and the middleware's clock past release is not enough while ours is not
    world.now, world.bridge.his_now = BEFORE_RELEASE, AFTER_RELEASE
    d = service.schedule_detail(world.ctx, DAY7_LI)
    assert d.schedule.status == "open" and d.slots == []


def test_after_release_the_slots_show_with_their_state(world):
    world.now = world.bridge.his_now = AFTER_RELEASE
    d = service.schedule_detail(world.ctx, DAY7_LI)
    assert len(d.slots) == 12 and all(s.status == "available" for s in d.slots)
    assert d.slots[0].window_text() == "08:00-08:10"
    taken = service.schedule_detail(world.ctx, DAY1_LI)
    assert [s.seq_no for s in taken.slots if s.status != "available"] == [1, 2, 5]
    assert world.operations() == ["getSchedule", "listSlots", "getSchedule", "listSlots"]


def test_a_stopped_schedule_has_its_notice_and_no_slots(world):
    d = service.schedule_detail(world.ctx, ZHAO_STOPPED)
    assert d.schedule.stopped and d.stop_message == STOP_MESSAGE and d.slots == []
    (notices,) = [r for r in world.bridge.requests if r.operation == "listScheduleNotices"]
    assert notices.query == {"date_from": "2026-11-28", "date_to": "2026-11-28", "department_id": "D0301"}
    assert "listSlots" not in world.operations()


def test_slots_that_cannot_be_read_leave_the_schedule_readable(world):
    world.now = world.bridge.his_now = AFTER_RELEASE
    service.schedule_detail(world.ctx, DAY1_LI)
    world.bridge.silent = True
    world.copies.items.pop(f"slots#{DAY1_LI}")
    d = service.schedule_detail(world.ctx, DAY1_LI)
    assert not d.live and d.slots == [] and not d.slots_known


@pytest.mark.parametrize("schedule_id", ["S20991231NOPE", "bad id!", "x" * 41, ""])
def test_an_unknown_or_malformed_id_is_not_found(world, schedule_id):
    with pytest.raises(ScheduleNotFoundError) as caught:
        service.schedule_detail(world.ctx, schedule_id)
    assert caught.value.status == 404 and caught.value.code == "NOT_FOUND"
    assert world.operations() == (["getSchedule"] if schedule_id == "S20991231NOPE" else [])


def test_the_fee_breakdown_is_the_fee_schedules_entry_for_that_amount(world):
    expert = service.schedule_detail(world.ctx, DAY1_LI)
    assert expert.fee is not None and expert.fee.fee_fen == 5000 and expert.fee.title_code == "chief_physician"
    assert [(c.name, c.amount_fen) for c in expert.fee.components] == [("诊察费", 5000)]
    pool = service.schedule_detail(world.ctx, DAY1_POOL)
    assert pool.fee is not None and pool.fee.reg_type == "general" and pool.fee.fee_fen == 1000
    world.bridge.schedules[DAY1_LI]["fee_fen"] = 4500  # a fee the schedule does not explain: amount only
    assert service.schedule_detail(world.ctx, DAY1_LI).fee is None


# ---- doctor search ----------------------------------------------------------------------------------
def test_find_doctors_needs_a_keyword_or_a_department(world):
    from chalicelib.domain.doctor_search import DoctorSearchError

    with pytest.raises(DoctorSearchError, match="请输入医生姓名"):
        service.find_doctors(world.ctx, "  ", None, None)
    with pytest.raises(DoctorSearchError, match="科室参数不正确"):
        service.find_doctors(world.ctx, "李", "D03 01!", None)
    found = service.find_doctors(world.ctx, None, "D0301", None)
    assert [m.doctor.doctor_id for m in found.matches] == ["DR10023", "DR10025", "DR10024"]
    assert world.bridge.requests == []
