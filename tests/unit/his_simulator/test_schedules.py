"""§7.3 schedules, slots and notices: 14 days, statuses from the clock, validation, pagination, contract shapes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from devstack.his_simulator.clock import SHANGHAI
from devstack.his_simulator.simulator import Simulator

from .conftest import SignedClient, frozen_simulator, signed_client
from .contract import assert_conforms

MONDAY_BEFORE_RELEASE = datetime(2025, 6, 16, 7, 59, 30, tzinfo=SHANGHAI)


def all_pages(api: SignedClient, path: str, query: dict[str, str | int]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = api.get(path, query | ({"cursor": cursor} if cursor else {})).get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_fourteen_days_of_schedules(api: SignedClient, sim: Simulator) -> None:
    today = sim.now().date()
    query = {"department_id": "D0601", "date_from": today.isoformat(),
             "date_to": (today + timedelta(days=13)).isoformat(), "page_size": 200}
    body = api.get("/v1/schedules", query).get_json()
    assert_conforms("/schedules", "get", 200, body)
    assert {s["date"] for s in body["items"]} == {(today + timedelta(days=d)).isoformat() for d in range(14)}
    future = {s.date for s in sim.state.schedules.values() if s.date >= today}
    assert future == {today + timedelta(days=d) for d in range(14)}
    assert {s.session for s in sim.state.schedules.values()} == {"morning", "afternoon", "evening"}
    assert len(sim.state.schedules) > 300


def test_schedule_fields_follow_policy(api: SignedClient, sim: Simulator) -> None:
    for schedule in sim.state.schedules.values():
        assert schedule.release_at == datetime.combine(schedule.date - timedelta(days=7), datetime.min.time(),
                                                       SHANGHAI).replace(hour=8)
        assert schedule.cancel_deadline.date() == schedule.date - timedelta(days=1)
        assert schedule.cancel_deadline.hour == 18
        assert 0 <= schedule.capacity - len(schedule.taken) <= schedule.capacity


def test_status_follows_the_clock() -> None:
    sim = frozen_simulator(MONDAY_BEFORE_RELEASE)
    with signed_client(sim) as api:
        query = {"department_id": "D0301", "date_from": "2025-06-16", "date_to": "2025-06-29", "page_size": 200}
        before = {s["schedule_id"]: s["status"] for s in api.get("/v1/schedules", query).get_json()["items"]}
        assert before["S20250623D0301DR10023AM"] == "not_released"
        assert before["S20250616D0301DR10023AM"] in ("open", "full")
        assert all(status == "not_released" for sid, status in before.items() if sid[1:9] > "20250622")
        sim.advance(31)  # 08:00:01: the 23rd is released, this morning's session has started
        after = {s["schedule_id"]: s["status"] for s in api.get("/v1/schedules", query).get_json()["items"]}
        assert after["S20250623D0301DR10023AM"] == "open"
        assert after["S20250616D0301DR10023AM"] == "closed"
        assert after["S20250624D0301DR10088AM"] == "not_released"


def test_full_and_stopped_schedules_exist(sim: Simulator, api: SignedClient) -> None:
    today = sim.now().date()
    statuses = []
    for dept in ("D0302", "D0303", "D0304", "D0401", "D0402", "D0501", "D0701", "D0801", "D1401"):
        query = {"department_id": dept, "date_from": today.isoformat(),
                 "date_to": (today + timedelta(days=13)).isoformat(), "page_size": 200}
        statuses += [s["status"] for s in api.get("/v1/schedules", query).get_json()["items"]]
    assert "stopped" in statuses and "not_released" in statuses
    assert sum(1 for s in sim.state.schedules.values() if s.capacity == len(s.taken)) >= 2


def test_schedule_filters(api: SignedClient, sim: Simulator) -> None:
    today = sim.now().date()
    span = {"date_from": today.isoformat(), "date_to": (today + timedelta(days=13)).isoformat(), "page_size": 200}
    by_doctor = api.get("/v1/schedules", span | {"doctor_id": "DR10023"}).get_json()["items"]
    assert by_doctor and {s["doctor_id"] for s in by_doctor} == {"DR10023"}
    assert {s["location"]["campus_id"] for s in by_doctor} == {"C01", "C02"}
    east = api.get("/v1/schedules", span | {"doctor_id": "DR10023", "campus_id": "C02"}).get_json()["items"]
    assert east and all(s["location"]["campus_id"] == "C02" for s in east)
    experts = api.get("/v1/schedules", span | {"department_id": "D0301", "reg_type": "expert"}).get_json()["items"]
    assert experts and all(s["reg_type"] == "expert" for s in experts)
    pools = [s for s in api.get("/v1/schedules", span | {"department_id": "D0301"}).get_json()["items"]
             if s["doctor_id"] is None]
    assert pools and all(s["reg_type"] == "general" and s["doctor_name"] is None for s in pools)
    assert api.get("/v1/schedules", span | {"department_id": "D9999"}).get_json() == {"items": [], "next_cursor": None}


def test_schedules_are_ordered_and_paginate(api: SignedClient, sim: Simulator) -> None:
    today = sim.now().date()
    query = {"department_id": "D0601", "date_from": today.isoformat(),
             "date_to": (today + timedelta(days=13)).isoformat()}
    everything = api.get("/v1/schedules", query | {"page_size": 200}).get_json()["items"]
    order = {"morning": 0, "afternoon": 1, "evening": 2}
    keys = [(s["date"], order[s["session"]], s["department_id"], s["doctor_id"] or "") for s in everything]
    assert keys == sorted(keys)
    paged = all_pages(api, "/v1/schedules", query | {"page_size": 9})
    assert [s["schedule_id"] for s in paged] == [s["schedule_id"] for s in everything]
    assert len(everything) > 9


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"date_from": "2025-06-23", "date_to": "2025-06-24"}, {"department_id", "doctor_id"}),
        ({"department_id": "D0301", "date_from": "2025-06-23"}, {"date_to"}),
        ({"department_id": "D0301", "date_from": "2025/06/23", "date_to": "2025-06-24"}, {"date_from"}),
        ({"department_id": "D0301", "date_from": "2025-06-23", "date_to": "2025-07-07"}, {"date_to"}),
        ({"department_id": "D0301", "date_from": "2025-06-24", "date_to": "2025-06-23"}, {"date_to"}),
        ({"department_id": "D0301", "date_from": "2025-02-30", "date_to": "2025-03-01"}, {"date_from"}),
        ({"department_id": "D0301", "date_from": "2025-06-23", "date_to": "2025-06-24", "reg_type": "vip"},
         {"reg_type"}),
        ({"date_from": "x", "date_to": "y", "page_size": "0"}, {"department_id", "doctor_id", "date_from",
                                                                  "date_to", "page_size"}),
    ],
)
def test_schedule_query_validation(api: SignedClient, query: dict[str, str], fields: set[str]) -> None:
    response = api.get("/v1/schedules", query)
    assert response.status_code == 400
    body = response.get_json()
    assert_conforms("/schedules", "get", 400, body)
    assert body["code"] == "VALIDATION_ERROR" and body["retryable"] is False
    assert {f["field"] for f in body["details"]["fields"]} == fields


def test_fourteen_day_range_is_the_maximum(api: SignedClient) -> None:
    query = {"department_id": "D0301", "date_from": "2025-06-23", "date_to": "2025-07-06"}
    assert api.get("/v1/schedules", query).status_code == 200


def test_schedule_by_id_and_slots() -> None:
    sim = frozen_simulator(MONDAY_BEFORE_RELEASE)
    with signed_client(sim) as api:
        one = api.get("/v1/schedules/S20250623D0301DR10023AM")
        assert one.status_code == 200
        assert_conforms("/schedules/{schedule_id}", "get", 200, one.get_json())
        slots = api.get("/v1/schedules/S20250623D0301DR10023AM/slots").get_json()
        assert_conforms("/schedules/{schedule_id}/slots", "get", 200, slots)
        items = slots["items"]
        assert [s["seq_no"] for s in items] == list(range(1, 25))
        fifth = items[4]
        assert fifth == {"slot_id": "S20250623D0301DR10023AM-05", "seq_no": 5,
                         "start_time": "2025-06-23T08:40:00+08:00", "end_time": "2025-06-23T08:50:00+08:00",
                         "status": "not_released"}
        sim.advance(31)
        assert {s["status"] for s in api.get("/v1/schedules/S20250623D0301DR10023AM/slots").get_json()["items"]} == {
            "available"}


def test_pool_slots_share_ten_minute_windows_inside_the_session(api: SignedClient, sim: Simulator) -> None:
    pool = next(s for s in sim.state.schedules.values() if s.doctor_id is None and s.capacity > 21)
    items = api.get(f"/v1/schedules/{pool.schedule_id}/slots").get_json()["items"]
    assert len(items) == pool.capacity
    starts = [datetime.fromisoformat(s["start_time"]) for s in items]
    assert starts == sorted(starts) and starts[0] == pool.start_time
    assert all(datetime.fromisoformat(s["end_time"]) <= pool.end_time for s in items)
    assert all((datetime.fromisoformat(s["end_time"]) - st).seconds == 600 for s, st in zip(items, starts, strict=True))
    taken = sum(1 for s in items if s["status"] == "unavailable")
    assert taken == len(pool.taken) or pool.start_time <= sim.now()


def test_unknown_schedule_is_404(api: SignedClient) -> None:
    for path in ("/v1/schedules/S20990101D0301POOLAM", "/v1/schedules/S20990101D0301POOLAM/slots"):
        body = api.get(path).get_json()
        assert body["code"] == "RESOURCE_NOT_FOUND" and body["details"]["resource"] == "schedule"


def test_schedule_notices(api: SignedClient, sim: Simulator) -> None:
    today = sim.now().date()
    query = {"date_from": today.isoformat(), "date_to": (today + timedelta(days=13)).isoformat()}
    body = api.get("/v1/schedule-notices", query).get_json()
    assert_conforms("/schedule-notices", "get", 200, body)
    notices = body["items"]
    assert {n["type"] for n in notices} == {"stopped", "changed"}
    published = [n["published_at"] for n in notices]
    assert published == sorted(published, reverse=True)
    for notice in notices:
        schedule = api.get(f"/v1/schedules/{notice['schedule_id']}").get_json()
        assert schedule["version"] >= 2
        if notice["type"] == "stopped":
            assert notice["handling"] == "auto_cancelled_full_refund"
            assert schedule["status"] == "stopped" and schedule["stop_notice_id"] == notice["notice_id"]
        else:
            assert notice["changes"] and notice["handling"] in ("kept_free_cancellation", "kept")
    substitution = next(n for n in notices if n["changes"] and n["changes"][0]["field"] == "doctor_id")
    assert substitution["handling"] == "kept_free_cancellation" and substitution["free_cancel_until"]
    old_doctor = substitution["changes"][0]["old_value"]
    by_old_doctor = api.get("/v1/schedule-notices", query | {"doctor_id": old_doctor}).get_json()["items"]
    assert substitution["notice_id"] in {n["notice_id"] for n in by_old_doctor}
    one_dept = api.get("/v1/schedule-notices", query | {"department_id": "D0303"}).get_json()["items"]
    assert one_dept and all(n["department_id"] == "D0303" for n in one_dept)
    paged = all_pages(api, "/v1/schedule-notices", query | {"page_size": 1})
    assert [n["notice_id"] for n in paged] == [n["notice_id"] for n in notices]


def test_schedule_notices_need_a_date_range(api: SignedClient) -> None:
    body = api.get("/v1/schedule-notices", {"date_from": date(2025, 6, 23).isoformat()}).get_json()
    assert body["code"] == "VALIDATION_ERROR"
    assert [f["field"] for f in body["details"]["fields"]] == ["date_to"]
