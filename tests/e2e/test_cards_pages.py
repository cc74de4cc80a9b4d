"""就诊卡 in the whole local stack: a WeChat simulator user opens 就诊卡 from the menu, adds a demo patient of the HIS
simulator (王芳, identity method), the one-time code arrives in the fake's SMS outbox and pops up in the
simulator page, is entered, and the family list shows the patient masked with her masked cards; then she is
unbound. Real lookups go through the request queue, the bridge and the HIS simulator; the result comes back
over the result queue."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

# The HIS simulator's demo patient 王芳 (devstack/his_simulator/seed_patients.py; fictitious).
WANG_ID, WANG_PHONE, WANG_PATIENT = "110102197804151265", "13800000004", "P000987654"
HIS_WAIT_MS = 20_000


@pytest.fixture
def console_allow() -> list[str]:
    """A wrong code is answered 400 on purpose; Chromium logs that."""
    return [r"Failed to load resource: the server responded with a status of 400"]


@pytest.fixture
def simulator(page: Page, local_stack: Any) -> Page:
    """A new WeChat user who follows the account, in the simulator."""
    openid = f"o-e2e-{uuid.uuid4().hex[:22]}"
    created = requests.post(f"{local_stack.wechat_url}/_fake/users", timeout=5,
                            json={"openid": openid, "nickname": "绑卡用户", "subscribed": True,
                                  "last_interaction_seconds_ago": 0})
    created.raise_for_status()
    page.goto(f"{local_stack.wechat_url}/_sim/?openid={openid}")
    expect(page.locator("#user-status")).to_have_text("已关注")
    return page


def _codes_sent_to(local_stack: Any, phone: str) -> list[str]:
    messages = requests.get(f"{local_stack.wechat_url}/_fake/sms", params={"phone": phone}, timeout=5).json()["messages"]
    return [m.group(1) for m in (re.search(r"验证码是(\d{6})", x["text"]) for x in messages) if m]


def test_bind_a_demo_patient_with_the_sms_code_then_unbind(simulator: Page, local_stack: Any) -> None:
    page = simulator
    codes_before = _codes_sent_to(local_stack, WANG_PHONE)
    page.locator("#menu-bar").get_by_role("button", name="诊中").click()
    page.get_by_role("menuitem", name="就诊卡").click()
    expect(page.locator("#webview")).to_be_visible()
    frame = page.frame_locator("#webview-frame")
    expect(frame.locator("#family")).to_contain_text("您还没有添加就诊人")

    frame.locator("#add-patient").click()
    frame.locator("#relation").select_option("parent")
    frame.locator("#name").fill("王芳")
    frame.locator("#id_number").fill(WANG_ID)
    frame.locator("#phone").fill(WANG_PHONE)
    frame.locator("#get-code").click()
    # The HIS simulator matched name and phone; the code went to the phone on file.
    expect(frame.locator("#code-hint")).to_contain_text("138****0004", timeout=HIS_WAIT_MS)

    codes = _codes_sent_to(local_stack, WANG_PHONE)
    assert len(codes) == len(codes_before) + 1
    code = codes[-1]
    # ... and the simulator page shows the SMS as the phone would.
    toast = page.locator("#sms-toast")
    expect(toast).to_contain_text(f"验证码是{code}")
    toast.click()
    expect(page.locator("#sms-list")).to_contain_text(code)
    page.locator("#sms-close").click()

    frame.locator("#code").fill("000000")
    frame.locator("#verify").click()
    expect(frame.locator("#code-message")).to_contain_text("验证码不正确，还可以再试4次")
    frame.locator("#code").fill(code)
    frame.locator("#verify").click()
    expect(frame.locator("#bind-done")).to_contain_text("添加成功")
    expect(frame.locator("#bind-done")).to_contain_text("王*（父母）")

    frame.locator("#to-family").click()
    family = frame.locator("#family")
    expect(family).to_contain_text("王*")
    expect(family).to_contain_text("父母")
    expect(family).to_contain_text("电子就诊卡E202******7654")
    expect(family).to_contain_text("医保卡1100********5400")
    expect(family).to_contain_text("证件尾号1265")
    expect(family).to_contain_text("138****0004")
    shown = frame.locator("body").inner_text()
    for secret in ("王芳", WANG_ID, WANG_PHONE, "E2021000987654", code):
        assert secret not in shown

    frame.locator(f'[data-unbind="{WANG_PATIENT}"]').click()
    expect(frame.locator(".weui-dialog")).to_contain_text("确定解绑王*（父母）吗")
    frame.locator("#unbind-ok").click()
    expect(frame.locator("#cards-notice")).to_contain_text("已解绑")
    expect(frame.locator("#family")).to_contain_text("您还没有添加就诊人")


def test_a_wrong_phone_is_refused_with_the_counter_message(simulator: Page, local_stack: Any) -> None:
    page = simulator
    page.locator("#menu-bar").get_by_role("button", name="诊中").click()
    page.get_by_role("menuitem", name="就诊卡").click()
    frame = page.frame_locator("#webview-frame")
    frame.locator("#add-patient").click()
    frame.locator("#relation").select_option("spouse")
    frame.locator("#name").fill("王芳")
    frame.locator("#id_number").fill(WANG_ID)
    frame.locator("#phone").fill("13911112222")
    frame.locator("#get-code").click()
    expect(frame.locator("#fail-message")).to_have_text("信息与医院登记不一致，请到窗口核对", timeout=HIS_WAIT_MS)
    assert "13911112222" not in [m["phone"] for m in requests.get(
        f"{local_stack.wechat_url}/_fake/sms", timeout=5).json()["messages"]]
