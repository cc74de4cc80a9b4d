"""A newcomer's first minutes, in the whole local stack: follow the account in the WeChat simulator, get the
welcome, press every menu item and land on a working page or reply, and send a location to get the nearest
campus. The simulator posts real (AES) WeChat XML to the app's webhook under ``chalice local``."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest
import requests
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


@pytest.fixture
def simulator(page: Page, local_stack: Any) -> Page:
    """A brand-new WeChat user (not following) in the simulator; the app's published menu is kept."""
    newcomer = f"o-e2e-{uuid.uuid4().hex[:22]}"
    created = requests.post(f"{local_stack.wechat_url}/_fake/users", timeout=5,
                            json={"openid": newcomer, "nickname": "新用户", "subscribed": False})
    created.raise_for_status()
    page.goto(f"{local_stack.wechat_url}/_sim/?openid={newcomer}")
    expect(page.locator("#user-status")).to_have_text("未关注")
    return page


def _published_menu(local_stack: Any) -> list[dict[str, Any]]:
    menu = requests.get(f"{local_stack.wechat_url}/_fake/menu", timeout=5).json()["menu"]
    return list(menu["button"] if isinstance(menu, dict) else menu)


def test_follow_press_every_menu_item_and_find_the_nearest_campus(simulator: Page, local_stack: Any) -> None:
    page = simulator
    timeline = page.locator("#timeline")
    replies = timeline.locator(".row--out")

    page.get_by_role("button", name="关注公众号").click()
    expect(timeline.locator(".news-card .card__title").first).to_contain_text("欢迎关注")
    expect(page.locator("#user-status")).to_have_text("已关注")

    menu = _published_menu(local_stack)
    assert [top["name"] for top in menu] == ["诊前", "诊中", "诊后"]
    for top in menu:
        for item in top["sub_button"]:
            before = replies.count()
            page.locator("#menu-bar").get_by_role("button", name=top["name"]).click()
            page.get_by_role("menuitem", name=item["name"]).click()
            if item["type"] == "click":
                expect(replies).to_have_count(before + 1)
                expect(replies.last).not_to_contain_text("出错")
                assert replies.last.inner_text().strip(), item["name"]
            else:  # a page of ours, opened inside the simulated WeChat browser as this user
                expect(page.locator("#webview")).to_be_visible()
                frame = page.frame_locator("#webview-frame")
                expect(frame.locator("#yw-main")).to_be_visible()
                expect(frame.locator("#yw-main .weui-loading")).to_have_count(0)
                expect(frame.locator("#yw-main")).not_to_contain_text("加载失败")
                expect(frame.locator("#yw-main")).not_to_contain_text("页面出了点问题")
                page.locator("#webview-close").click()

    # Send a location (the first preset is next to the main campus).
    if page.locator("#input-bar").is_hidden():
        page.locator("#toggle-input").click()
    before = replies.count()
    page.locator("#more-btn").click()
    page.locator('[data-more="location"]').click()
    page.locator("#sheet-ok").click()
    expect(replies).to_have_count(before + 1)
    expect(replies.last).to_contain_text("离您最近的是本部院区")
    expect(replies.last).to_contain_text("campuses.html#campus-")


def test_a_typed_question_is_answered_from_the_knowledge_base(simulator: Page) -> None:
    page = simulator
    page.get_by_role("button", name="关注公众号").click()
    expect(page.locator("#user-status")).to_have_text("已关注")
    if page.locator("#input-bar").is_hidden():
        page.locator("#toggle-input").click()
    page.get_by_label("消息内容").fill("请问怎么停车")
    page.get_by_role("button", name="发送").click()
    expect(page.locator("#timeline .row--out").last).to_contain_text("停车")


def test_opening_a_page_as_a_wechat_user_logs_in_through_oauth(page: Page, local_stack: Any) -> None:
    """The simulated WeChat browser → /api/auth/login → the fake's OAuth authorize → our callback → session."""
    openid = f"o-e2e-{uuid.uuid4().hex[:22]}"
    requests.post(f"{local_stack.wechat_url}/_fake/users", json={"openid": openid, "subscribed": True},
                  timeout=5).raise_for_status()
    login = f"{local_stack.h5_url}api/auth/login?next=/campuses.html"
    page.goto(f"{local_stack.wechat_url}/_sim/open?openid={openid}&url={quote(login, safe='')}")
    # (a browser carries the authorize URL's "#wechat_redirect" along the redirects; WeChat's own does not)
    expect(page).to_have_url(re.compile(re.escape(f"{local_stack.h5_url}campuses.html") + "(#wechat_redirect)?$"))
    me = page.evaluate("() => fetch('/api/me').then(r => r.json())")
    assert me == {"logged_in": True, "openid_tail": openid[-4:]}
    # The app exchanged the code with (fake) WeChat for exactly this user.
    exchanges = requests.get(f"{local_stack.wechat_url}/_fake/calls", params={"path": "/sns/oauth2/access_token"},
                             timeout=5).json()["calls"]
    assert [c["response"].get("openid") for c in exchanges].count(openid) == 1
