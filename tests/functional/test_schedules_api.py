"""Browse through ``chalice.test.Client``: schedules with counts and release gating, one schedule with its slots,
stop texts and fee breakdown, doctor search; public (no login) and nothing personal; Chinese 400s."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from tests.fakes import FakeBlobStore
from tests.fakes_his_events import FakeScheduleNotices
from tests.fakes_live_reads import FakeLiveCopies
from tests.fakes_schedules import STOP_MESSAGE, FakeSchedulesBridge
from tests.functional.test_auth_api import _settings, _validate

# Documented operations this module exercises (JSON bodies validated against the document by ``_validate``).
EXERCISED = {"/api/schedules", "/api/schedules/{schedule_id}", "/api/doctors"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
BEFORE_RELEASE = datetime(2026, 11, 26, 7, 59, 30, tzinfo=SHANGHAI)
DAY7_LI = "S20261203D0301DR10023AM"
DAY1_LI = "S20261127D0301DR10023AM"
DAY1_POOL = "S20261127D0301POOLPM"
ZHAO_STOPPED = "S20261128D0301DR10025AM"
LIST, ONE, DOCTORS = "/api/schedules", "/api/schedules/{schedule_id}", "/api/doctors"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Browse:
    def __init__(self, client: Any, bridge: FakeSchedulesBridge, clock: Clock) -> None:
        self.client, self.bridge, self.clock = client, bridge, clock

    def get(self, path: str) -> Any:
        return self.client.http.get(path)

    def at(self, now: datetime) -> None:
        self.clock.now = self.bridge.his_now = now


@pytest.fixture
def b(reference_repo: Any) -> Any:
    clock = Clock(BEFORE_RELEASE)
    bridge = FakeSchedulesBridge(BEFORE_RELEASE.date(), BEFORE_RELEASE)
    bootstrap.use_settings(_settings())
    bootstrap.override(clock=clock, his_live_reader=bridge, live_copies=FakeLiveCopies(), blob_store=FakeBlobStore(),
                       reference_repository=reference_repo, schedule_notices=FakeScheduleNotices())
    with Client(app, stage_name="local") as client:
        yield Browse(client, bridge, clock)


def body(resp: Any) -> Any:
    return json.loads(resp.body)


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["schedule_id"]: i for i in items}


# ---- the list ---------------------------------------------------------------------------------------
def test_the_list_needs_no_login_and_shows_counts_release_and_stops(b):
    resp = b.get("/api/schedules?department_id=D0301")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    data = body(resp)
    _validate(LIST, "get", 200, data)
    assert (data["date_from"], data["date_to"]) == ("2026-11-26", "2026-12-03")
    assert data["server_time"] == "2026-11-26T07:59:30+08:00" and data["next_release_at"] == "2026-11-26T08:00:00+08:00"
    assert data["live"] is True and data["as_of"] == "2026-11-26T07:59:30+08:00"
    items = by_id(data["items"])
    assert len(items) == 17
    day1 = items[DAY1_LI]
    assert (day1["remaining"], day1["capacity"], day1["released"], day1["status_name"]) == (9, 12, True, "可预约")
    assert (day1["fee_fen"], day1["fee_text"], day1["doctor_name"], day1["session_name"]) == (5000, "50.00", "李明", "上午")
    assert day1["location"]["text"] == "本部院区 门诊楼 3F 305诊室" and day1["bookable"] is True
    assert day1["cancel_deadline"] == "2026-11-26T18:00:00+08:00"
    full = items[DAY1_POOL]
    assert (full["remaining"], full["status"], full["waitlist_open"], full["doctor_id"]) == (0, "full", True, None)
    later = items[DAY7_LI]
    assert (later["released"], later["remaining"]) == (False, None)
    assert (later["status"], later["status_name"]) == ("not_released", "未放号")
    assert later["release_at"] == "2026-11-26T08:00:00+08:00" and later["bookable"] is False
    stopped = items[ZHAO_STOPPED]
    assert (stopped["stopped"], stopped["status_name"], stopped["stop_message"]) == (True, "停诊", STOP_MESSAGE)
    assert stopped["remaining"] is None and stopped["bookable"] is False and stopped["waitlist_open"] is False
    assert all(r.end_user is None for r in b.bridge.requests)


def test_at_release_time_the_new_day_opens_by_the_servers_clock(b):
    b.at(BEFORE_RELEASE + timedelta(seconds=31))
    data = body(b.get("/api/schedules?department_id=D0301"))
    later = by_id(data["items"])[DAY7_LI]
    assert (later["released"], later["remaining"], later["status"]) == (True, 12, "open")
    assert data["next_release_at"] == "2026-11-27T08:00:00+08:00"


def test_a_doctors_schedules_and_a_narrower_range(b):
    data = body(b.get("/api/schedules?doctor_id=DR10023&date_from=2026-11-27&date_to=2026-11-28&reg_type=expert"))
    assert [i["schedule_id"] for i in data["items"]] == [DAY1_LI, "S20261128D0301DR10023AM"]
    assert b.bridge.requests[-1].query == {"doctor_id": "DR10023", "date_from": "2026-11-27", "date_to": "2026-11-28",
                                           "reg_type": "expert"}


@pytest.mark.parametrize(("query", "message"), [
    ("", "请先选择科室或医生"),
    ("department_id=D0301&date_from=2026-11-26&date_to=2026-12-10", "一次最多查询14天的排班"),
    ("department_id=D0301&date_from=2026-11-20", "开始日期不能早于今天"),
    ("department_id=D0301&date_from=26-11-2026", "开始日期格式不正确，应为YYYY-MM-DD"),
    ("department_id=D0301&reg_type=vip", "号别参数不正确，应为普通号、专家号或特需号"),
    ("department_id=D0301%27--", "科室参数不正确"),
])
def test_a_bad_query_is_a_400_in_chinese_and_never_reaches_the_hospital(b, query, message):
    resp = b.get(f"/api/schedules?{query}")
    assert resp.status_code == 400 and body(resp) == {"code": "BAD_REQUEST", "message": message}
    _validate(LIST, "get", 400, body(resp))
    assert b.bridge.requests == []


def test_when_the_hospital_is_silent_the_kept_copy_shows_and_with_nothing_kept_a_503(b):
    b.get("/api/schedules?department_id=D0301")
    b.bridge.silent = True
    b.clock.now += timedelta(minutes=2)
    data = body(b.get("/api/schedules?department_id=D0301"))
    assert data["live"] is False and data["as_of"] == "2026-11-26T07:59:30+08:00"
    assert data["server_time"] == "2026-11-26T08:01:30+08:00"
    resp = b.get("/api/schedules?department_id=D0302")
    assert resp.status_code == 503 and body(resp)["code"] == "HIS_UNAVAILABLE"
    _validate(LIST, "get", 503, body(resp))


# ---- one schedule -----------------------------------------------------------------------------------
def test_one_released_schedule_has_its_slots_and_fee_breakdown(b):
    resp = b.get(f"/api/schedules/{DAY1_LI}")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    data = body(resp)
    _validate(ONE, "get", 200, data)
    slots = data["slots"]
    assert len(slots) == 12 and slots[0] == {"slot_id": f"{DAY1_LI}-01", "seq_no": 1,
                                             "start_time": "2026-11-27T08:00:00+08:00",
                                             "end_time": "2026-11-27T08:10:00+08:00",
                                             "window_text": "08:00-08:10", "available": False}
    assert [s["seq_no"] for s in slots if not s["available"]] == [1, 2, 5]
    assert data["fee"] == {"fee_fen": 5000, "fee_text": "50.00", "reg_type_name": "专家号", "notes": None,
                           "components": [{"name": "诊察费", "amount_fen": 5000, "amount_text": "50.00"}]}
    assert data["slots_known"] is True and data["server_time"] == "2026-11-26T07:59:30+08:00"


def test_before_release_no_slot_is_shown_even_if_the_hospital_hands_them_out(b):
    b.bridge.leak_slots = True
    data = body(b.get(f"/api/schedules/{DAY7_LI}"))
    _validate(ONE, "get", 200, data)
    assert data["slots"] == [] and data["schedule"]["released"] is False and data["schedule"]["remaining"] is None
    b.at(BEFORE_RELEASE + timedelta(seconds=31))
    data = body(b.get(f"/api/schedules/{DAY7_LI}"))
    assert len(data["slots"]) == 12 and data["schedule"]["released"] is True


def test_a_stopped_schedule_says_why(b):
    data = body(b.get(f"/api/schedules/{ZHAO_STOPPED}"))
    _validate(ONE, "get", 200, data)
    assert data["schedule"]["stop_message"] == STOP_MESSAGE and data["slots"] == []
    b.bridge.notices_down = True
    b.bridge.schedules[DAY1_LI]["stopped"] = True  # stopped, notice not readable: the generic text
    assert body(b.get(f"/api/schedules/{DAY1_LI}"))["schedule"]["stop_message"] == "该时段停诊"


@pytest.mark.parametrize("schedule_id", ["S20991231D0301NOPEAM", "bad%20id"])
def test_an_unknown_schedule_is_not_found(b, schedule_id):
    resp = b.get(f"/api/schedules/{schedule_id}")
    assert resp.status_code == 404
    assert body(resp) == {"code": "NOT_FOUND", "message": "没有找到该排班，可能已调整，请返回重新选择"}
    _validate(ONE, "get", 404, body(resp))


def test_one_schedule_when_the_hospital_is_down(b):
    b.bridge.down = True
    resp = b.get(f"/api/schedules/{DAY1_LI}")
    assert resp.status_code == 503 and body(resp)["message"] == "医院系统暂时无法访问，请稍后再试"
    _validate(ONE, "get", 503, body(resp))


# ---- doctor search ----------------------------------------------------------------------------------
def test_doctor_search_by_name_with_spaces_and_by_specialty(b):
    resp = b.get("/api/doctors?keyword=%20%E6%9D%8E%20%E6%98%8E%20")  # " 李 明 "
    assert resp.status_code == 200
    data = body(resp)
    _validate(DOCTORS, "get", 200, data)
    assert data["keyword"] == "李明" and data["limit"] == 50
    (li,) = data["items"]
    assert (li["doctor_id"], li["name"], li["title_name"], li["matched_on"]) == ("DR10023", "李明", "主任医师", "name")
    assert [d["department_id"] for d in li["departments"]] == ["D0301"]
    assert li["departments"][0]["campus_name"] == "本部院区"
    hits = body(b.get("/api/doctors?keyword=%E5%BF%83%E5%BE%8B"))["items"]  # 心律
    assert [(d["doctor_id"], d["matched_on"]) for d in hits] == [("DR10024", "specialty")]
    assert b.bridge.requests == []


def test_doctor_search_within_a_department_and_a_campus(b):
    data = body(b.get("/api/doctors?department_id=D0301"))
    assert [d["doctor_id"] for d in data["items"]] == ["DR10023", "DR10025", "DR10024"]
    assert body(b.get("/api/doctors?department_id=D0301&campus_id=C02"))["items"] == []
    assert [d["doctor_id"] for d in body(b.get("/api/doctors?keyword=%E7%8E%8B&campus_id=C01"))["items"]] == ["DR10024"]


@pytest.mark.parametrize(("query", "message"), [
    ("", "请输入医生姓名或擅长的疾病"), ("keyword=%20%20", "请输入医生姓名或擅长的疾病"),
    (f"keyword={'a' * 21}", "搜索内容最多20个字"), ("keyword=x&campus_id=C0%3C1", "院区参数不正确")])
def test_doctor_search_refusals(b, query, message):
    resp = b.get(f"/api/doctors?{query}")
    assert resp.status_code == 400 and body(resp) == {"code": "BAD_REQUEST", "message": message}
    _validate(DOCTORS, "get", 400, body(resp))
