"""The WeChat simulator page (``/_sim/`` of the fake WeChat platform) in the WeChat-like headless Chromium, against
the fake alone and the tiny official-account server of the integration tests (it checks signatures and decrypts
with wechatpy, and answers with encrypted replies)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from devstack.wechat_fake.server import start_in_thread
from tests.integration.test_wechat_fake_http import ACCOUNT, AES_KEY, APPID, CHEN, SECRET, TOKEN, ZHANG, EchoWebhook

pytestmark = pytest.mark.e2e

MENU = {"button": [
    {"name": "就医服务", "sub_button": [
        {"type": "view", "name": "预约挂号", "url": "http://127.0.0.1:9/h5/book"},
        {"type": "click", "name": "科室介绍", "key": "DEPTS"},
    ]},
    {"type": "click", "name": "联系我们", "key": "CONTACT"},
    {"name": "我的", "sub_button": [{"type": "view", "name": "就诊卡", "url": "http://127.0.0.1:9/h5/cards"}]},
]}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[EchoWebhook, str]]:
    hook = EchoWebhook()
    server, _thread, base_url = start_in_thread("127.0.0.1", 0, webhook_url=hook.url, appid=APPID, secret=SECRET,
                                                token=TOKEN, aes_key=AES_KEY, account_id=ACCOUNT)
    yield hook, base_url
    server.shutdown()
    hook.stop()


@pytest.fixture
def sim(servers: tuple[EchoWebhook, str]) -> tuple[EchoWebhook, str]:
    hook, base_url = servers
    requests.post(f"{base_url}/_fake/reset", timeout=5).raise_for_status()
    hook.received.clear()
    return hook, base_url


def access_token(base_url: str) -> str:
    query = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    return str(requests.get(f"{base_url}/cgi-bin/token", params=query, timeout=5).json()["access_token"])


def wechat_post(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{base_url}{path}", params={"access_token": access_token(base_url)}, json=body, timeout=5)
    return dict(response.json())


def test_pick_a_user_follow_and_chat(page: Page, sim: tuple[EchoWebhook, str]) -> None:
    hook, base_url = sim
    page.goto(f"{base_url}/_sim/?openid={CHEN}")
    expect(page.locator("#user-status")).to_have_text("已关注")

    page.locator("#user-select").select_option(ZHANG)
    expect(page.locator("#user-status")).to_have_text("未关注")
    page.get_by_role("button", name="关注公众号").click()

    timeline = page.locator("#timeline")
    expect(timeline.get_by_text("张阿姨 关注公众号")).to_be_visible()
    expect(timeline.locator(".row--out .bubble")).to_have_text(["欢迎关注示例市第一人民医院！"])
    expect(page.locator("#user-status")).to_have_text("已关注")
    hook.wait_for(lambda r: r["args"]["openid"] == ZHANG and getattr(r["message"], "event", None) == "subscribe")

    # No menu has been published, so the page opens on the keyboard.
    page.get_by_label("消息内容").fill("明天心内科有号吗")
    page.get_by_role("button", name="发送").click()
    expect(timeline.locator(".row--in .bubble")).to_have_text(["明天心内科有号吗"])
    expect(timeline.locator(".row--out .bubble").last).to_have_text("收到：明天心内科有号吗")
    hook.wait_for(lambda r: r["message"].type == "text" and r["message"].content == "明天心内科有号吗")


def test_menu_published_through_the_api_appears_and_a_click_reaches_the_app(
        page: Page, sim: tuple[EchoWebhook, str]) -> None:
    hook, base_url = sim
    page.goto(f"{base_url}/_sim/?openid={CHEN}")
    expect(page.get_by_label("消息内容")).to_be_visible()

    assert wechat_post(base_url, "/cgi-bin/menu/create", MENU)["errcode"] == 0
    menu_bar = page.locator("#menu-bar")
    expect(menu_bar.get_by_role("button")).to_have_text(["就医服务", "联系我们", "我的"])  # picked up by polling

    menu_bar.get_by_role("button", name="就医服务").click()
    expect(page.get_by_role("menuitem")).to_have_text(["预约挂号", "科室介绍"])
    page.get_by_role("menuitem", name="科室介绍").click()

    card = page.locator("#timeline .news-card")
    expect(card.locator(".card__title")).to_have_text("科室介绍")
    expect(card).to_contain_text("按键 DEPTS")
    expect(page.locator("#timeline").get_by_text("陈女士 点击菜单「科室介绍」")).to_be_visible()
    hook.wait_for(lambda r: getattr(r["message"], "event", None) == "click" and r["message"].key == "DEPTS")


def test_messages_the_app_pushes_appear_in_the_timeline(page: Page, sim: tuple[EchoWebhook, str]) -> None:
    _hook, base_url = sim
    page.goto(f"{base_url}/_sim/?openid={CHEN}")
    expect(page.locator("#user-status")).to_have_text("已关注")

    sent = wechat_post(base_url, "/cgi-bin/message/custom/send",
                       {"touser": CHEN, "msgtype": "text", "text": {"content": "您的检验报告已出。"}})
    assert sent["errcode"] == 0
    template = {"touser": CHEN, "template_id": "TPL1", "url": "http://127.0.0.1:9/h5/visit",
                "data": {"thing1": {"value": "心血管内科"}, "time2": {"value": "6月23日 08:30"}}}
    assert wechat_post(base_url, "/cgi-bin/message/template/send", template)["errcode"] == 0

    timeline = page.locator("#timeline")
    expect(timeline.locator('[data-source="custom"] .bubble')).to_have_text("您的检验报告已出。")
    expect(timeline.locator('[data-source="template"] .kv dd')).to_have_text(["心血管内科", "6月23日 08:30"])


def test_create_a_test_user(page: Page, sim: tuple[EchoWebhook, str]) -> None:
    _hook, base_url = sim
    page.goto(f"{base_url}/_sim/")
    page.get_by_role("button", name="新建用户").click()
    page.get_by_label("昵称").fill("王大爷")
    page.get_by_role("button", name="确定").click()

    expect(page.locator("#user-select option:checked")).to_have_text("王大爷（未关注）")
    expect(page.get_by_role("button", name="关注公众号")).to_be_visible()
    users = requests.get(f"{base_url}/_fake/users", timeout=5).json()["users"]
    created = [u for u in users if u["nickname"] == "王大爷"]
    assert len(created) == 1 and created[0]["openid"].startswith("o-sim-") and not created[0]["subscribed"]
