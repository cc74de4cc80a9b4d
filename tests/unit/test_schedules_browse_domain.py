"""Pure browse rules: the query a page may send, release gating, stop texts, fee entries, doctor search."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.doctor_search import DoctorSearchError, normalize_keyword, search_doctors
from chalicelib.domain.reference import Department, Doctor, FeeComponent, FeeEntry, Location
from chalicelib.domain.schedules import (
    STOPPED_TEXT,
    ScheduleQueryError,
    Slot,
    is_released,
    parse_schedule_query,
    release_countdown_target,
    schedule_from_his,
    stop_messages_from_his,
    stop_text,
    visible_slots,
)
from chalicelib.domain.schedules import fee_entry_for as fee_for_schedule
from tests.fakes_schedules import FakeSchedulesBridge

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 7, 59, 30, tzinfo=SHANGHAI)


def _schedule(schedule_id: str, his_now: datetime = NOW):
    bridge = FakeSchedulesBridge(TODAY, his_now)
    return schedule_from_his(bridge.view(schedule_id)), bridge


# ---- the query ----------------------------------------------------------------------------------------
def test_the_default_range_is_today_to_a_week_ahead():
    q = parse_schedule_query(TODAY, department_id=" D0301 ")
    assert (q.date_from, q.date_to, q.department_id) == (TODAY, date(2026, 12, 3), "D0301")
    assert q.his_query() == {"date_from": "2026-11-26", "date_to": "2026-12-03", "department_id": "D0301"}
    later = parse_schedule_query(TODAY, doctor_id="DR10023", date_from="2026-11-30", reg_type="expert", campus_id="C01")
    assert (later.date_from, later.date_to) == (date(2026, 11, 30), date(2026, 12, 7))
    assert later.key() == "schedules#campus_id=C01#date_from=2026-11-30#date_to=2026-12-07#doctor_id=DR10023#reg_type=expert"


def test_fourteen_days_is_the_most():
    q = parse_schedule_query(TODAY, department_id="D0301", date_to="2026-12-09")
    assert (q.date_to - q.date_from).days == 13


@pytest.mark.parametrize(("params", "message"), [
    ({}, "请先选择科室或医生"),
    ({"department_id": "D0301", "date_to": "2026-12-10"}, "一次最多查询14天的排班"),
    ({"department_id": "D0301", "date_from": "2026-11-25"}, "开始日期不能早于今天"),
    ({"department_id": "D0301", "date_from": "2026-11-28", "date_to": "2026-11-27"}, "结束日期不能早于开始日期"),
    ({"department_id": "D0301", "date_from": "2026/11/28"}, "开始日期格式不正确，应为YYYY-MM-DD"),
    ({"department_id": "D0301", "date_to": "tomorrow"}, "结束日期格式不正确，应为YYYY-MM-DD"),
    ({"department_id": "D0301", "reg_type": "vip"}, "号别参数不正确，应为普通号、专家号或特需号"),
    ({"department_id": "<script>"}, "科室参数不正确"),
    ({"doctor_id": "DR1' OR 1=1"}, "医生参数不正确"),
    ({"department_id": "D0301", "campus_id": "C 01"}, "院区参数不正确"),
])
def test_a_bad_query_says_what_is_wrong_in_chinese(params, message):
    with pytest.raises(ScheduleQueryError) as caught:
        parse_schedule_query(TODAY, **params)
    assert caught.value.message == message


# ---- release ------------------------------------------------------------------------------------------
def test_released_needs_both_clocks():
    day7, _ = _schedule("S20261203D0301DR10023AM")
    assert day7.status == "not_released" and not is_released(day7, NOW)
    assert not is_released(day7, NOW + timedelta(seconds=31))  # ours past 08:00, the middleware's not
    opened, _ = _schedule("S20261203D0301DR10023AM", his_now=NOW + timedelta(seconds=31))
    assert opened.status == "open" and is_released(opened, NOW + timedelta(seconds=30))
    assert not is_released(opened, NOW + timedelta(seconds=29))


def test_no_slot_is_visible_before_release_or_on_a_stopped_schedule_or_while_not_released():
    day7, bridge = _schedule("S20261203D0301DR10023AM")
    bridge.leak_slots = True
    from chalicelib.domain.schedules import slots_from_his

    leaked = slots_from_his({"items": bridge.slots("S20261203D0301DR10023AM")})
    assert len(leaked) == 12 and visible_slots(day7, leaked, NOW) == []
    stopped, _ = _schedule("S20261128D0301DR10025AM")
    assert visible_slots(stopped, leaked, NOW) == []
    opened, _ = _schedule("S20261127D0301DR10023AM")
    mixed = [*leaked[:2], Slot("x", 13, leaked[0].start_time, leaked[0].end_time, "not_released")]
    assert [s.seq_no for s in visible_slots(opened, mixed, NOW)] == [1, 2]


def test_the_countdown_targets_the_earliest_release_ahead_else_the_next_0800():
    day7, _ = _schedule("S20261203D0301DR10023AM")
    day1, _ = _schedule("S20261127D0301DR10023AM")
    assert release_countdown_target([day1, day7], NOW) == datetime(2026, 11, 26, 8, tzinfo=SHANGHAI)
    assert release_countdown_target([day1], NOW + timedelta(hours=1)) == datetime(2026, 11, 27, 8, tzinfo=SHANGHAI)


def test_stop_texts_come_from_stop_notices_only():
    body = {"items": [
        {"type": "changed", "schedule_id": "S1", "public_message": "换诊室"},
        {"type": "stopped", "schedule_id": "S2", "public_message": " 新通知 "},
        {"type": "stopped", "schedule_id": "S2", "public_message": "旧通知"},
        {"type": "stopped", "schedule_id": "S3", "public_message": ""},
        "garbage",
    ]}
    assert stop_messages_from_his(body) == {"S2": "新通知"}
    stopped, _ = _schedule("S20261128D0301DR10025AM")
    assert stop_text(stopped, {}) == STOPPED_TEXT
    assert stop_text(stopped, {stopped.schedule_id: "医生出差"}) == "医生出差"
    opened, _ = _schedule("S20261127D0301DR10023AM")
    assert stop_text(opened, {opened.schedule_id: "x"}) is None


def test_the_fee_entry_must_add_up_to_what_is_charged():
    expert, _ = _schedule("S20261127D0301DR10023AM")  # 专家号 5000 at C01
    fees = [
        FeeEntry("expert", "专家号", 3000, "2026-01-01", "associate_chief_physician", None, (FeeComponent("诊察费", 3000),)),
        FeeEntry("expert", "专家号", 5000, "2026-01-01", "chief_physician", None, (FeeComponent("诊察费", 5000),)),
        FeeEntry("expert", "专家号", 5000, "2026-01-01", "chief_physician", "C01",
                 (FeeComponent("诊察费", 4000), FeeComponent("药事服务费", 1000))),
        FeeEntry("expert", "专家号", 5000, "2026-01-01", "chief_physician", "C02", (FeeComponent("别处", 5000),)),
    ]
    chosen = fee_for_schedule(fees, expert, "chief_physician")
    assert chosen is not None and chosen.campus_id == "C01" and len(chosen.components) == 2
    assert fee_for_schedule(fees[:1], expert, "chief_physician") is None
    assert fee_for_schedule(fees, expert, "associate_chief_physician") is None


# ---- doctor search ------------------------------------------------------------------------------------
def _dept(dept_id: str, campus: str = "C01", **kw) -> Department:
    return Department(dept_id, dept_id, campus, Location(campus, "门诊楼", "3F"), kw.pop("bookable", True), **kw)


DEPTS = {d.department_id: d for d in [_dept("D1"), _dept("D2", "C02"), _dept("D3", status="inactive"),
                                      _dept("D4", bookable=False)]}
DOCTORS = [
    Doctor("A1", "李四", "chief_physician", "主任医师", ("D1",), specialties=("高血压", "冠心病")),
    Doctor("A2", "李四海", "attending_physician", "主治医师", ("D2",)),
    Doctor("A3", "王李", "chief_physician", "主任医师", ("D1", "D2")),
    Doctor("A4", "赵五", "associate_chief_physician", "副主任医师", ("D1",), specialties=("难治性 高血压",)),
    Doctor("A5", "李停", "chief_physician", "主任医师", ("D1",), status="inactive"),
    Doctor("A6", "李闭", "chief_physician", "主任医师", ("D3", "D4")),
]


def _ids(*args, **kw) -> list[str]:
    return [m.doctor.doctor_id for m in search_doctors(DOCTORS, DEPTS, *args, **kw)]


def test_whitespace_is_ignored_and_names_rank_before_specialties():
    assert normalize_keyword("  李 \u3000四 ") == "李四"
    assert _ids(normalize_keyword("李 四")) == ["A1", "A2"]
    assert _ids("李") == ["A1", "A2", "A3"]  # exact/prefix before contains; inactive doctors and departments never
    assert _ids("高血压") == ["A1", "A4"]  # same rank: the more senior first
    assert [m.matched_on for m in search_doctors(DOCTORS, DEPTS, "高血压")] == ["specialty", "specialty"]


def test_department_and_campus_narrow_the_search():
    assert _ids("李", department_id="D2") == ["A2", "A3"]
    assert _ids("李", campus_id="C02") == ["A2", "A3"]
    (match,) = search_doctors(DOCTORS, DEPTS, "王李", campus_id="C02")
    assert [d.department_id for d in match.departments] == ["D2"]
    assert _ids(None, department_id="D1") == ["A1", "A3", "A4"]


def test_at_most_fifty_and_a_keyword_of_at_most_twenty_characters():
    many = [Doctor(f"X{i:03d}", f"张{i}", "attending_physician", "主治医师", ("D1",)) for i in range(80)]
    assert len(search_doctors(many, DEPTS, "张")) == 50
    assert normalize_keyword("一" * 20) == "一" * 20
    with pytest.raises(DoctorSearchError, match="最多20个字"):
        normalize_keyword("一" * 21)
    assert normalize_keyword(" \t ") is None
