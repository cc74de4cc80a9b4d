"""The simulator's actions: the XML WeChat would post (checked by a wechatpy-based stand-in for the app), what WeChat
would record (follow state, the 48 h window) and how replies and failures show in the timeline."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from wechatpy.replies import TextReply

from devstack.wechat_fake.state import HOUR, FakeState

from .conftest import ACCOUNT, CHEN, LI, ZHANG, AppDouble, WeChatApi


def send(client, openid: str, action: str, **fields: Any) -> Any:
    return client.post("/_sim/api/send", json={"openid": openid, "action": action, **fields})


def test_follow_marks_subscribed_opens_the_window_and_shows_the_reply(client, state: FakeState, app_double: AppDouble):
    app_double.answer = lambda m, aes: (200, app_double.encrypt(
        TextReply(content="欢迎关注！", message=m).render(), app_double.posts[-1]["params"]))
    body = send(client, ZHANG, "subscribe").json
    post = app_double.posts[0]
    assert post["url"] == "http://app.test/wechat" and post["headers"]["Content-Type"] == "text/xml"
    assert (post["message"].event, post["message"].source, post["message"].target) == ("subscribe", ZHANG, ACCOUNT)
    assert post["body"].startswith(f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt>")
    user = state.users[ZHANG]
    assert user.subscribed and user.subscribe_scene == "ADD_SCENE_SEARCH"
    assert user.last_interaction_at is not None and state.now() - user.last_interaction_at < 5
    assert [(e["direction"], e["kind"], e["content"]) for e in body["entries"]] == [
        ("in", "event", "关注公众号"), ("out", "text", "欢迎关注！")]
    assert body["entries"][0]["xml"] == post["xml"]
    assert body["delivery"]["status"] == 200 and body["delivery"]["error"] is None


def test_scanning_a_scene_code_follows_with_qrscene_or_sends_scan(client, state: FakeState, app_double: AppDouble):
    send(client, ZHANG, "scan", scene="dept:D0301")
    first = app_double.posts[-1]["message"]
    assert (first.event, first.scene_id) == ("subscribe_scan", "dept:D0301") and first.ticket
    assert "<EventKey><![CDATA[qrscene_dept:D0301]]></EventKey>" in app_double.posts[-1]["xml"]
    assert state.users[ZHANG].qr_scene_str == "dept:D0301"
    send(client, ZHANG, "scan", scene="checkin:C01-3F-305")
    second = app_double.posts[-1]["message"]
    assert (second.event, second.scene_id) == ("scan", "checkin:C01-3F-305")
    assert second.ticket and second.ticket != first.ticket


def test_scene_ticket_matches_a_code_created_through_the_api(client, wx: WeChatApi, app_double: AppDouble):
    created = wx.post("/cgi-bin/qrcode/create", {"action_name": "QR_LIMIT_STR_SCENE",
                                                 "action_info": {"scene": {"scene_str": "dept:D0601"}}})
    send(client, CHEN, "scan", scene="dept:D0601")
    assert app_double.posts[-1]["message"].ticket == created["ticket"]


def test_text_and_passive_reply_and_the_window(client, state: FakeState, wx: WeChatApi, app_double: AppDouble):
    assert wx.post("/cgi-bin/message/custom/send", {"touser": LI, "msgtype": "text",
                                                     "text": {"content": "x"}})["errcode"] == 45015
    entries = send(client, LI, "text", content="明天有号吗").json["entries"]
    assert app_double.posts[-1]["message"].content == "明天有号吗" and app_double.posts[-1]["message"].id > 0
    assert [e["content"] for e in entries] == ["明天有号吗", "收到：明天有号吗"]
    assert wx.post("/cgi-bin/message/custom/send", {"touser": LI, "msgtype": "text",
                                                     "text": {"content": "x"}})["errcode"] == 0


def test_view_does_not_open_the_window_but_click_does(client, state: FakeState, app_double: AppDouble):
    state.users[CHEN].last_interaction_at = state.now() - 50 * HOUR
    send(client, CHEN, "view", url="http://127.0.0.1:8080/book")
    message = app_double.posts[-1]["message"]
    assert (message.event, message.url) == ("view", "http://127.0.0.1:8080/book")
    assert state.now() - state.users[CHEN].last_interaction_at > 48 * HOUR
    send(client, CHEN, "click", key="DEPTS")
    assert app_double.posts[-1]["message"].key == "DEPTS"
    assert state.now() - state.users[CHEN].last_interaction_at < 5


def test_menu_names_label_the_users_side(client, wx: WeChatApi, app_double: AppDouble):
    wx.post("/cgi-bin/menu/create", {"button": [{"name": "服务", "sub_button": [
        {"type": "click", "name": "科室介绍", "key": "DEPTS"}]}]})
    entry = send(client, CHEN, "click", key="DEPTS").json["entries"][0]
    assert entry["content"] == "点击菜单「科室介绍」"


def test_location_message_and_event(client, app_double: AppDouble):
    send(client, CHEN, "location", lat=30.124512, lng=120.122831, label="本部院区")
    message = app_double.posts[-1]["message"]
    assert (message.type, message.location, message.label, message.scale) == (
        "location", ("30.124512", "120.122831"), "本部院区", "15")
    send(client, CHEN, "location_event", lat=30.141806, lng=120.187644)
    event = app_double.posts[-1]["message"]
    assert (event.event, event.latitude, event.longitude) == ("location", 30.141806, 120.187644)
    assert send(client, CHEN, "location", lat="north", lng=1).status_code == 400


def test_image_and_voice(client, app_double: AppDouble):
    send(client, CHEN, "image")
    image = app_double.posts[-1]["message"]
    assert image.type == "image" and image.media_id.startswith("sim-media-") and image.image
    send(client, CHEN, "voice", recognition="挂号")
    voice = app_double.posts[-1]["message"]
    assert (voice.type, voice.format, voice.recognition) == ("voice", "amr", "挂号")


def test_unfollow_marks_unsubscribed_and_ignores_the_reply(client, state: FakeState, wx: WeChatApi,
                                                         app_double: AppDouble):
    entries = send(client, CHEN, "unsubscribe").json["entries"]
    assert app_double.posts[-1]["message"].event == "unsubscribe"
    assert not state.users[CHEN].subscribed and len(entries) == 1
    assert wx.post("/cgi-bin/message/custom/send", {"touser": CHEN, "msgtype": "text",
                                                     "text": {"content": "x"}})["errcode"] == 45015
    assert send(client, CHEN, "text", content="还在吗").status_code == 409


@pytest.mark.parametrize(("openid", "action", "fields", "status"), [
    (ZHANG, "text", {"content": "未关注"}, 409),
    (CHEN, "subscribe", {}, 409),
    ("o-nobody", "text", {"content": "x"}, 404),
    (CHEN, "text", {"content": "   "}, 400),
    (CHEN, "dance", {}, 400),
])
def test_actions_wechat_would_not_allow(client, app_double: AppDouble, openid, action, fields, status):
    assert send(client, openid, action, **fields).status_code == status
    assert app_double.posts == []


def test_plain_mode(client, state: FakeState, app_double: AppDouble):
    state.config.encrypt_mode = "plain"
    entries = send(client, CHEN, "text", content="明文").json["entries"]
    post = app_double.posts[-1]
    assert "encrypt_type" not in post["params"] and post["body"] == post["xml"]
    assert entries[-1]["content"] == "收到：明文"


def reply_xml(to: str = CHEN, sender: str = ACCOUNT, kind: str = "text", extra: str = "<Content>hi</Content>") -> str:
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>1</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>{extra}</xml>")


@pytest.mark.parametrize(("answer", "expected"), [
    (lambda d, p: (500, "boom"), "HTTP 500"),
    (lambda d, p: (200, reply_xml()), "安全模式下回复必须加密"),
    (lambda d, p: (200, d.encrypt(reply_xml(to=LI), p)), f"ToUserName 应为用户 openid {CHEN}"),
    (lambda d, p: (200, d.encrypt(reply_xml(sender="gh_other"), p)), "FromUserName 应为公众号原始 ID"),
    (lambda d, p: (200, d.encrypt(reply_xml(kind="dance"), p)), "不支持的回复类型"),
    (lambda d, p: (200, d.encrypt(reply_xml(kind="news", extra="<ArticleCount>2</ArticleCount><Articles><item>"
                                             "<Title>a</Title></item></Articles>"), p)), "ArticleCount"),
    (lambda d, p: (200, d.encrypt(reply_xml(), p).replace("<MsgSignature><![CDATA[", "<MsgSignature><![CDATA[0")),
     "MsgSignature 校验失败"),
    (lambda d, p: (200, "<html>oops"), "不是合法的 XML"),
])
def test_bad_replies_show_as_errors(client, state: FakeState, app_double: AppDouble, answer, expected):
    app_double.answer = lambda m, aes: answer(app_double, app_double.posts[-1]["params"])
    entries = send(client, CHEN, "text", content="你好").json["entries"]
    error = entries[-1]
    assert (error["direction"], error["kind"]) == ("system", "error")
    assert expected in error["content"]
    assert state.timeline(CHEN)[-1] == error


def test_success_or_empty_reply_shows_nothing(client, app_double: AppDouble):
    for body in ("success", ""):
        app_double.answer = lambda m, aes, b=body: (200, b)
        assert len(send(client, CHEN, "text", content="好的").json["entries"]) == 1


def test_unreachable_or_slow_webhook(client, state: FakeState, app_double: AppDouble, monkeypatch):
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(requests, "post", refuse)
    assert "无法连接公众号服务器" in send(client, CHEN, "text", content="1").json["entries"][-1]["content"]

    def slow(*_args: Any, **_kwargs: Any) -> Any:
        raise requests.ReadTimeout("slow")

    monkeypatch.setattr(requests, "post", slow)
    assert "5 秒内未响应" in send(client, CHEN, "text", content="2").json["entries"][-1]["content"]
    state.config.webhook_url = ""
    assert "未配置" in send(client, CHEN, "text", content="3").json["entries"][-1]["content"]
    pushes = client.get("/_fake/pushes").json["pushes"]
    assert [p["kind"] for p in pushes] == ["text", "text", "text"] and all(p["error"] for p in pushes)


def test_news_reply_and_timeline_polling(client, app_double: AppDouble):
    news = ("<ArticleCount>1</ArticleCount><Articles><item><Title><![CDATA[科室介绍]]></Title>"
            "<Description><![CDATA[心血管内科]]></Description><PicUrl><![CDATA[]]></PicUrl>"
            "<Url><![CDATA[http://127.0.0.1:8080/d]]></Url></item></Articles>")
    app_double.answer = lambda m, aes: (200, app_double.encrypt(reply_xml(kind="news", extra=news),
                                                                app_double.posts[-1]["params"]))
    first = send(client, CHEN, "click", key="DEPTS").json["entries"]
    assert first[-1]["articles"] == [{"title": "科室介绍", "description": "心血管内科", "picurl": "",
                                      "url": "http://127.0.0.1:8080/d"}]
    polled = client.get("/_sim/api/timeline", query_string={"openid": CHEN, "after": first[0]["id"]}).json
    assert [e["id"] for e in polled["entries"]] == [first[-1]["id"]] and polled["user"]["openid"] == CHEN
    assert client.get("/_sim/api/timeline", query_string={"openid": "o-nobody"}).status_code == 404


def test_page_and_state(client, wx: WeChatApi):
    page = client.get("/_sim/")
    assert page.status_code == 200 and '<meta charset="utf-8">' in page.get_data(as_text=True)
    assert client.get("/_sim/static/sim.js").status_code == 200
    assert client.get("/_sim").headers["Location"].endswith("/_sim/")
    wx.post("/cgi-bin/menu/create", {"button": [{"type": "click", "name": "科室", "key": "D"}]})
    state = client.get("/_sim/api/state").json
    assert state["account"]["id"] == ACCOUNT and state["mode"] == "aes" and state["menu"][0]["key"] == "D"
    assert any(s["scene"].startswith("dept:") for s in state["scenes"]) and state["locations"]


def test_create_user_from_the_page(client, state: FakeState):
    created = client.post("/_sim/api/users", json={"nickname": "王大爷"})
    assert created.status_code == 201 and not created.json["subscribed"]
    assert state.users[created.json["openid"]].last_interaction_at is not None
    assert client.post("/_sim/api/users", json={"nickname": ""}).status_code == 400
