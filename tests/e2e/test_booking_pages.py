"""Browse in a WeChat-like headless Chromium against the whole local stack: schedules come from the HIS simulator
through the bridge's read function. 预约挂号 → a department → its doctors' and the pool's date × session grids
with remaining counts, a stopped session (stopped in the simulator) with its notice, sessions not yet released
with their release time and a live countdown; doctor search; one schedule with its slots, fee, location,
cancellation deadline and the logged-in user's patient; a schedule before release shows a countdown and no slots.

The full book → pay → cancel flow is the booking core's e2e test (it drives the same pages)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Page, expect

from devstack.stack import DEMO_OPENID

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
STOP_TEXT = "呼吸内科专家因参加紧急会诊停诊，已预约的患者将自动退号退费"


def _admin(stack: Any, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    resp = requests.request(method, stack.his_url.removesuffix("/v1") + "/_sim" + path, json=body, timeout=10)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def _api(stack: Any, path: str) -> Any:
    resp = requests.get(stack.api_url + path.lstrip("/"), timeout=20)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _window(stack: Any, query: str) -> dict[str, Any]:
    """What the booking page asks for: the release window and the next day to be released (today .. today+8)."""
    today = datetime.fromisoformat(_api(stack, f"schedules?{query}")["date_from"]).date()
    return dict(_api(stack, f"schedules?{query}&date_to={today + timedelta(days=8)}"))


def _login(page: Page, stack: Any, next_path: str) -> None:
    """Open a page as the demo WeChat user (张阿姨, who has bound 张三) through the simulated OAuth login."""
    login = f"{stack.h5_url}api/auth/login?next={quote(next_path, safe='')}"
    page.goto(f"{stack.wechat_url}/_sim/open?openid={DEMO_OPENID}&url={quote(login, safe='')}")


def test_a_department_shows_each_doctors_grid_with_counts_stops_and_release_times(page: Page, local_stack: Any) -> None:
    listed = _window(local_stack, "department_id=D0302")
    day3 = (datetime.fromisoformat(listed["date_from"]).date() + timedelta(days=3)).isoformat()
    victim = next(s for s in listed["items"] if s["date"] == day3 and not s["stopped"])
    _admin(local_stack, "POST", f"/schedules/{victim['schedule_id']}/stop",
           {"reason_code": "emergency_duty", "public_message": STOP_TEXT})

    page.goto(f"{local_stack.h5_url}booking.html")
    expect(page).to_have_title("预约挂号")
    expect(page.locator("[data-test=my-appointments]")).to_have_attribute("href", "appointments.html")
    page.locator("[data-test=department][data-id=D0302]").first.click()
    expect(page).to_have_url(re.compile(r"booking\.html\?department_id=D0302$"))
    expect(page.locator("#booking-title")).to_have_text("呼吸内科")

    sections = page.locator("[data-test=doctor-section]")
    expect(sections.last).to_contain_text("普通门诊")
    assert sections.count() >= 2
    cells = page.locator("[data-test=schedule-cell]")
    expect(cells.first).to_be_visible()
    fresh = _window(local_stack, "department_id=D0302")
    assert cells.count() == len(fresh["items"])

    opened = [s for s in fresh["items"] if s["bookable"]]
    assert opened, "the simulator seeds bookable schedules"
    one = page.locator(f"[data-test=schedule-cell][data-schedule-id='{opened[0]['schedule_id']}']")
    expect(one).to_have_attribute("data-state", "open")
    expect(one).to_contain_text(f"余{opened[0]['remaining']}")
    expect(one).to_contain_text(f"¥{opened[0]['fee_text']}")

    stopped = page.locator(f"[data-test=schedule-cell][data-schedule-id='{victim['schedule_id']}']")
    expect(stopped).to_have_attribute("data-state", "stopped")
    expect(stopped).to_have_text("停诊")
    expect(page.locator("[data-test=stop-message]").filter(has_text=STOP_TEXT)).to_have_count(1)

    later = [s for s in fresh["items"] if not s["released"] and not s["stopped"]]
    assert later and all(s["remaining"] is None for s in later)
    cell = page.locator(f"[data-test=schedule-cell][data-schedule-id='{later[0]['schedule_id']}']")
    expect(cell).to_have_attribute("data-state", "not_released")
    expect(cell).to_contain_text("08:00")
    release_day = datetime.fromisoformat(later[0]["release_at"])
    note = page.locator("[data-test=release-note]").first
    expect(note).to_contain_text(f"{release_day.month}月{release_day.day}日 08:00 放号")

    countdown = page.locator("[data-test=release-countdown]")
    expect(countdown).to_contain_text("放号")
    first = page.locator("#release-left").inner_text()
    assert re.fullmatch(r"(\d+天)?\d\d:\d\d:\d\d", first), first
    expect(page.locator("#release-left")).not_to_have_text(first, timeout=3000)  # it ticks


def test_doctor_search_finds_a_doctor_and_shows_the_doctors_schedules(page: Page, local_stack: Any) -> None:
    page.goto(f"{local_stack.h5_url}booking.html")
    page.locator("[data-test=doctor-search]").fill(" 李 四 ")
    page.locator("[data-test=doctor-search-submit]").click()
    hit = page.locator("[data-test=doctor-hit][data-id=DR10023]")
    expect(hit).to_contain_text("李四")
    expect(hit).to_contain_text("心血管内科")
    hit.click()
    expect(page).to_have_url(re.compile(r"booking\.html\?doctor_id=DR10023$"))
    expect(page.locator("#booking-title")).to_have_text("李四")
    expected = _window(local_stack, "doctor_id=DR10023")["items"]
    expect(page.locator("[data-test=schedule-cell]")).to_have_count(len(expected))


def test_a_released_schedule_shows_slots_fee_location_deadline_and_the_users_patient(page: Page, local_stack: Any) -> None:
    items = _api(local_stack, "schedules?department_id=D0301")["items"]
    s = next(i for i in items if i["bookable"] and i["doctor_id"] and i["remaining"] and i["remaining"] > 1)
    detail = _api(local_stack, f"schedules/{s['schedule_id']}")
    _login(page, local_stack, f"/schedule.html?id={s['schedule_id']}")
    expect(page).to_have_url(re.compile(r"schedule\.html\?id=" + re.escape(s["schedule_id"]) + "(#wechat_redirect)?$"))

    expect(page.locator("#schedule-title")).to_contain_text(s["doctor_name"])
    expect(page.locator("#schedule-location")).to_contain_text(s["location"]["text"])
    expect(page.locator("#schedule-fee")).to_contain_text(f"¥{s['fee_text']}")
    if detail["fee"]["components"]:
        expect(page.locator("#fee-components")).to_contain_text(detail["fee"]["components"][0]["name"])
    deadline = datetime.fromisoformat(s["cancel_deadline"])
    expect(page.locator("#cancel-deadline")).to_contain_text(f"{deadline.month}月{deadline.day}日 18:00 前可在线退号")
    slots = page.locator("[data-test=slot]")
    expect(slots).to_have_count(len(detail["slots"]))
    free = [x for x in detail["slots"] if x["available"]]
    expect(page.locator("[data-test=slot]:not([disabled])")).to_have_count(len(free))
    expect(slots.first).to_contain_text(detail["slots"][0]["window_text"])
    expect(page.locator(f"[data-test=slot][data-slot-id='{free[0]['slot_id']}']")).to_have_attribute("aria-checked", "true")
    page.locator(f"[data-test=slot][data-slot-id='{free[1]['slot_id']}']").click()
    expect(page.locator(f"[data-test=slot][data-slot-id='{free[1]['slot_id']}']")).to_have_attribute("aria-checked", "true")

    expect(page.locator("[data-test=patient]")).to_have_count(1)
    expect(page.locator("[data-test=patient]")).to_contain_text("张*")
    expect(page.locator("[data-test=confirm-booking]")).to_be_enabled()
    expect(page.locator("[data-test=confirm-booking]")).to_have_text("确认预约")


def test_before_release_a_schedule_counts_down_and_cannot_be_booked(page: Page, local_stack: Any) -> None:
    items = _window(local_stack, "department_id=D0301")["items"]
    s = next(i for i in items if not i["released"] and not i["stopped"])
    _login(page, local_stack, f"/schedule.html?id={s['schedule_id']}")
    expect(page.locator("[data-test=release-countdown]")).to_contain_text("08:00 放号")
    expect(page.locator("#release-left")).to_have_text(re.compile(r"^(\d+天)?\d\d:\d\d:\d\d$"))
    expect(page.locator("[data-test=slot]")).to_have_count(0)
    expect(page.locator("[data-test=confirm-booking]")).to_be_disabled()
    expect(page.locator("[data-test=confirm-booking]")).to_have_text("未到放号时间")
