"""Customer-service messages (the 48 h rule), template messages (followers only, job-finished event) and mass sends
(one delivery per subscribed recipient), each landing in the recipient's timeline."""

from __future__ import annotations

import time

import pytest

from devstack.wechat_fake.state import HOUR, FakeState

from .conftest import CHEN, LI, ZHANG, AppDouble, WeChatApi

CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"


def text(openid, content="您好"):
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


def template(openid, template_id="TPL1"):
    return {"touser": openid, "template_id": template_id, "url": "http://127.0.0.1:8080/v",
            "data": {"thing1": {"value": "心血管内科"}, "time2": {"value": "08:30"}}}


# ---------------------------------------------------------------- custom
def test_custom_message_within_48_hours_is_delivered_to_the_timeline(wx: WeChatApi, state: FakeState):
    assert wx.post(CUSTOM, text(CHEN, "报告已出")) == {"errcode": 0, "errmsg": "ok"}
    entries = state.timeline(CHEN)
    assert [(e["direction"], e["source"], e["kind"], e["content"]) for e in entries] == [
        ("out", "custom", "text", "报告已出")]


def test_48_hour_window(wx: WeChatApi, state: FakeState):
    assert wx.post(CUSTOM, text(LI))["errcode"] == 45015  # seeded: last interaction 72 h ago
    state.advance(47 * HOUR)
    wx.token(refresh=True)  # the access token itself lasts only 2 h
    assert wx.post(CUSTOM, text(CHEN))["errcode"] == 0
    state.advance(1 * HOUR)
    wx.token(refresh=True)
    body = wx.post(CUSTOM, text(CHEN))
    assert body["errcode"] == 45015
    assert body["errmsg"].startswith("response out of time limit or subscription is canceled")
    assert state.timeline(LI) == [] and len(state.timeline(CHEN)) == 1


def test_never_interacted_or_unsubscribed_users_are_refused(wx: WeChatApi, state: FakeState):
    quiet = state.add_user("从未互动", subscribed=True)
    assert wx.post(CUSTOM, text(quiet.openid))["errcode"] == 45015
    state.touch(ZHANG)  # recent interaction, but not following
    assert wx.post(CUSTOM, text(ZHANG))["errcode"] == 45015


def test_the_48_hour_rule_can_be_switched_off(wx: WeChatApi, state: FakeState):
    state.config.enforce_48h = False
    assert wx.post(CUSTOM, text(LI))["errcode"] == 0
    assert wx.post(CUSTOM, text(ZHANG))["errcode"] == 45015, "unfollowed users still get nothing"


@pytest.mark.parametrize(("body", "errcode"), [
    (text("o-nobody"), 40003),
    ({"msgtype": "text", "text": {"content": "x"}}, 40003),
    ({"touser": CHEN, "msgtype": "fax", "fax": {}}, 40008),
    (text(CHEN, ""), 44004),
    ({"touser": CHEN, "msgtype": "text"}, 44004),
    (text(CHEN, "字" * 683), 45002),  # 2049 bytes
    ({"touser": CHEN, "msgtype": "news", "news": {"articles": []}}, 44003),
    ({"touser": CHEN, "msgtype": "news", "news": {"articles": [{"title": "a"}, {"title": "b"}]}}, 45008),
    ({"touser": CHEN, "msgtype": "image", "image": {}}, 40007),
])
def test_custom_message_validation(wx: WeChatApi, body, errcode):
    assert wx.post(CUSTOM, body)["errcode"] == errcode


def test_custom_news_card(wx: WeChatApi, state: FakeState):
    article = {"title": "就诊提醒", "description": "请提前15分钟到达", "url": "http://127.0.0.1:8080/v", "picurl": ""}
    assert wx.post(CUSTOM, {"touser": CHEN, "msgtype": "news", "news": {"articles": [article]}})["errcode"] == 0
    assert state.timeline(CHEN)[0]["articles"] == [article]


# ---------------------------------------------------------------- template
def test_template_message(wx: WeChatApi, state: FakeState):
    first = wx.post(TEMPLATE, template(LI))  # templates ignore the 48 h window
    second = wx.post(TEMPLATE, template(CHEN))
    assert first["errcode"] == 0 and isinstance(first["msgid"], int) and second["msgid"] != first["msgid"]
    entry = state.timeline(LI)[0]
    assert (entry["kind"], entry["source"], entry["msgid"], entry["url"]) == ("template", "template", first["msgid"],
                                                                             "http://127.0.0.1:8080/v")
    assert entry["data"] == {"thing1": "心血管内科", "time2": "08:30"}


@pytest.mark.parametrize(("body", "errcode"), [
    (template("o-nobody"), 40003),
    (template(ZHANG), 43004),
    ({**template(CHEN), "template_id": ""}, 40037),
    ({**template(CHEN), "data": {"thing1": "not an object"}}, 47001),
])
def test_template_validation(wx: WeChatApi, body, errcode):
    assert wx.post(TEMPLATE, body)["errcode"] == errcode


def test_registered_templates_make_unknown_ids_fail(client, wx: WeChatApi, state: FakeState):
    client.post("/_fake/templates", json={"template_id": "TPL1", "title": "就诊提醒", "content": "{{thing1.DATA}}"})
    assert wx.post(TEMPLATE, template(CHEN, "TPL-unknown"))["errcode"] == 40037
    assert wx.post(TEMPLATE, template(CHEN, "TPL1"))["errcode"] == 0
    assert state.timeline(CHEN)[0]["title"] == "就诊提醒"
    assert wx.get("/cgi-bin/template/get_all_private_template")["template_list"][0]["template_id"] == "TPL1"


def wait_for_posts(double: AppDouble, count: int) -> None:
    deadline = time.monotonic() + 3
    while len(double.posts) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_template_send_pushes_the_job_finished_event(wx: WeChatApi, app_double: AppDouble):
    msgid = wx.post(TEMPLATE, template(CHEN))["msgid"]
    wait_for_posts(app_double, 1)
    [post] = app_double.posts
    assert post["params"]["openid"] == CHEN and post["params"]["encrypt_type"] == "aes"
    assert (post["message"].event, post["message"].id, post["message"].status) == (
        "templatesendjobfinish", msgid, "success")


def test_job_finished_events_can_be_switched_off(wx: WeChatApi, state: FakeState, app_double: AppDouble):
    state.config.push_template_events = False
    wx.post(TEMPLATE, template(CHEN))
    time.sleep(0.1)
    assert app_double.posts == []


# ---------------------------------------------------------------- mass
def test_mass_send_by_tag_reaches_subscribed_members_only(wx: WeChatApi, state: FakeState):
    tag = wx.post("/cgi-bin/tags/create", {"tag": {"name": "心内科随访"}})["tag"]["id"]
    wx.post("/cgi-bin/tags/members/batchtagging", {"tagid": tag, "openid_list": [LI, ZHANG]})
    body = {"filter": {"is_to_all": False, "tag_id": tag}, "msgtype": "text", "text": {"content": "门诊调整通知"}}
    sent = wx.post("/cgi-bin/message/mass/sendall", body)
    assert sent["errcode"] == 0 and sent["errmsg"] == "send job submission success" and "msg_data_id" not in sent
    assert [e["content"] for e in state.timeline(LI)] == ["门诊调整通知"]
    assert state.timeline(ZHANG) == [] and state.timeline(CHEN) == []
    assert state.timeline(LI)[0]["msg_id"] == sent["msg_id"]


def test_mass_send_to_all_with_mpnews(wx: WeChatApi, state: FakeState):
    body = {"filter": {"is_to_all": True}, "msgtype": "mpnews", "mpnews": {"media_id": "MEDIA1"},
            "send_ignore_reprint": 0}
    sent = wx.post("/cgi-bin/message/mass/sendall", body)
    assert isinstance(sent["msg_data_id"], int)
    assert {o for o in (LI, CHEN, ZHANG) if state.timeline(o)} == {LI, CHEN}
    assert state.timeline(CHEN)[0]["media_id"] == "MEDIA1"


@pytest.mark.parametrize(("path", "body", "errcode"), [
    ("/cgi-bin/message/mass/sendall", {"filter": {"tag_id": 999}, "msgtype": "text", "text": {"content": "x"}}, 40050),
    ("/cgi-bin/message/mass/sendall", {"filter": {"is_to_all": True}, "msgtype": "news", "news": {}}, 40008),
    ("/cgi-bin/message/mass/sendall", {"msgtype": "text", "text": {"content": "x"}}, 47001),
    ("/cgi-bin/message/mass/send", {"touser": [CHEN], "msgtype": "text", "text": {"content": "x"}}, 40130),
    ("/cgi-bin/message/mass/send", {"touser": [CHEN, "o-x"], "msgtype": "text", "text": {"content": "x"}}, 40003),
])
def test_mass_validation(wx: WeChatApi, path, body, errcode):
    assert wx.post(path, body)["errcode"] == errcode


def test_mass_send_by_openid_list(wx: WeChatApi, state: FakeState):
    sent = wx.post("/cgi-bin/message/mass/send", {"touser": [CHEN, LI, ZHANG], "msgtype": "text",
                                                   "text": {"content": "停诊通知"}})
    assert sent["errcode"] == 0
    assert [bool(state.timeline(o)) for o in (CHEN, LI, ZHANG)] == [True, True, False]
