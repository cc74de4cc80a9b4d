"""A newcomer's whole booking in the local stack, in the WeChat simulator: bind a demo card (SMS code), wait on
the schedule page for the 放号 countdown, book at release time, pay the registration fee on the simulated
WeChat Pay sheet, get the booking notice in the chat, cancel, and see the fee refunded and the slot return.

Every hop is real: the booking API holds the slot in DynamoDB (moto), the saga locks and confirms through the
request queue, the bridge and the HIS simulator; the fake WeChat Pay signs and sends its notification; the
notice goes out through the fake WeChat API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Frame, Page, expect

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The HIS simulator's demo patient 王芳 (devstack/his_simulator/seed_patients.py; fictitious).
WANG_ID, WANG_PHONE, WANG_PATIENT = "110102197804151265", "13800000004", "P000987654"
HIS_WAIT_MS = 30_000
RELEASE_IN = timedelta(seconds=40)


def _admin(local_stack: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(local_stack.his_url.removesuffix("/v1") + "/_sim" + path, json=body, timeout=10)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def _add_session(local_stack: Any, release_at: datetime) -> str:
    """A department-pool session of D0301 on a day and session the seed left free (加开号源)."""
    admin = local_stack.his_url.removesuffix("/v1") + "/_sim/schedules"
    for days in range(1, 7):
        for session in ("evening", "afternoon", "morning"):
            day = (datetime.now(SHANGHAI) + timedelta(days=days)).date()
            response = requests.post(admin, timeout=10, json={
                "date": day.isoformat(), "session": session, "department_id": "D0301", "reg_type": "general",
                "capacity": 2, "release_at": release_at.isoformat()})
            if response.status_code == 201:
                return str(response.json()["schedule_id"])
            assert response.json()["code"] == "DUPLICATE_REQUEST", response.text
    raise AssertionError("no free session to add")


def _remaining(local_stack: Any, schedule_id: str) -> int:
    body = requests.get(f"{local_stack.h5_url}/api/schedules/{schedule_id}", timeout=10).json()
    return sum(1 for s in body["slots"] if s["available"])


def _webview(page: Page) -> Frame:
    handle = page.locator("#webview-frame").element_handle()
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    return frame


def _bind_wang(page: Page, local_stack: Any) -> None:
    page.locator("#menu-bar").get_by_role("button", name="诊中").click()
    page.get_by_role("menuitem", name="就诊卡").click()
    frame = page.frame_locator("#webview-frame")
    frame.locator("#add-patient").click()
    frame.locator("#relation").select_option("parent")
    frame.locator("#name").fill("王芳")
    frame.locator("#id_number").fill(WANG_ID)
    frame.locator("#phone").fill(WANG_PHONE)
    frame.locator("#get-code").click()
    expect(frame.locator("#code-hint")).to_contain_text("138****0004", timeout=HIS_WAIT_MS)
    messages = requests.get(f"{local_stack.wechat_url}/_fake/sms", params={"phone": WANG_PHONE}, timeout=5).json()
    code = re.search(r"验证码是(\d{6})", messages["messages"][-1]["text"])
    assert code is not None
    frame.locator("#code").fill(code.group(1))
    frame.locator("#verify").click()
    expect(frame.locator("#bind-done")).to_contain_text("王*（父母）")


def test_a_newcomer_binds_books_at_release_pays_is_told_cancels_and_the_slot_returns(page: Page, local_stack: Any) -> None:
    # A session released in 40 s, with 2 slots for our channel (the hospital adds one: 加开号源).
    release_at = (datetime.now(SHANGHAI) + RELEASE_IN).replace(microsecond=0)
    schedule_id = _add_session(local_stack, release_at)

    openid = f"o-e2e-{uuid.uuid4().hex[:22]}"
    requests.post(f"{local_stack.wechat_url}/_fake/users", timeout=5, json={
        "openid": openid, "nickname": "新用户", "subscribed": True, "last_interaction_seconds_ago": 0}).raise_for_status()
    page.goto(f"{local_stack.wechat_url}/_sim/?openid={openid}")
    expect(page.locator("#user-status")).to_have_text("已关注")
    _bind_wang(page, local_stack)

    # The schedule page counts down to the release; nothing can be booked before it.
    webview = _webview(page)
    webview.goto(f"{local_stack.h5_url}/schedule.html?id={schedule_id}")
    frame = page.frame_locator("#webview-frame")
    assert datetime.now(SHANGHAI) < release_at, "the binding took longer than the release delay"
    expect(frame.locator("[data-test=release-countdown]")).to_be_visible()
    expect(frame.locator("[data-test=slot]")).to_have_count(0)

    # At release the page shows the slots; the patient books.
    release_wait_ms = int(RELEASE_IN.total_seconds() * 1000) + 15_000
    expect(frame.locator("[data-test=confirm-booking]")).to_be_enabled(timeout=release_wait_ms)
    assert datetime.now(SHANGHAI) >= release_at
    expect(frame.locator("[data-test=slot]").first).to_be_visible(timeout=HIS_WAIT_MS)
    frame.locator("[data-test=patient]").filter(has_text="王*").click()
    expect(frame.locator(f"input[name=patient][value={WANG_PATIENT}]")).to_be_checked()
    frame.locator("[data-test=confirm-booking]").click()

    # Locked at the hospital: pay the fee within the window.
    state = frame.locator("[data-test=appointment-state]")
    expect(state).to_have_attribute("data-state", "awaiting_payment", timeout=HIS_WAIT_MS)
    frame.locator("[data-test=pay]").click()
    frame.locator("#yp-sim-pay").click()
    expect(state).to_have_attribute("data-state", "confirmed", timeout=HIS_WAIT_MS)
    expect(frame.locator("#appointment-seq")).to_contain_text("号")
    appointment_id = re.search(r"id=([A-Za-z0-9_-]+)", webview.url)
    assert appointment_id is not None
    assert _remaining(local_stack, schedule_id) == 1

    # The booking notice reaches the patient's chat in the simulator.
    timeline = page.locator("#timeline")
    notice = timeline.locator(".row--out").filter(has_text="预约成功")
    expect(notice).to_have_count(1, timeout=HIS_WAIT_MS)
    expect(notice).to_contain_text("【就诊人：王*（父母）】")
    expect(notice).to_contain_text("心")

    # Cancel before the deadline: the fee goes back, and the slot returns to the pool.
    frame.locator("[data-test=cancel-appointment]").click()
    frame.locator("[data-test=dialog-ok]").click()
    expect(state).to_have_attribute("data-state", "cancelled", timeout=HIS_WAIT_MS)
    expect(frame.locator("#state-message")).to_contain_text("将原路退回")
    expect(timeline.locator(".row--out").filter(has_text="您已取消预约")).to_have_count(1, timeout=HIS_WAIT_MS)
    deadline = datetime.now() + timedelta(seconds=20)
    while _remaining(local_stack, schedule_id) != 2 and datetime.now() < deadline:
        page.wait_for_timeout(500)
    assert _remaining(local_stack, schedule_id) == 2
    refunds = requests.get(f"{local_stack.wechatpay_url}/_fake/orders", timeout=5).json()
    assert appointment_id.group(1) in str(refunds)
