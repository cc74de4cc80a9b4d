"""The ``/_fake`` admin API: recorded calls, fault injection, reset, test users, switches, clock."""

from __future__ import annotations

import pytest

from devstack.wechat_fake.state import HOUR, FakeState

from .conftest import APPID, CHEN, LI, SECRET, WeChatApi

CUSTOM = "/cgi-bin/message/custom/send"


def text(openid):
    return {"touser": openid, "msgtype": "text", "text": {"content": "您好"}}


def test_calls_are_recorded_filterable_and_without_secrets(client, wx: WeChatApi):
    wx.post(CUSTOM, text(CHEN))
    wx.post(CUSTOM, text(LI))
    wx.get("/cgi-bin/user/info", openid=CHEN, lang="zh_CN")
    everything = client.get("/_fake/calls").json["calls"]
    assert [c["path"] for c in everything] == ["/cgi-bin/token", CUSTOM, CUSTOM, "/cgi-bin/user/info"]
    token_call = everything[0]
    assert token_call["query"] == {"grant_type": "client_credential", "appid": APPID, "secret": "***"}
    assert token_call["response"]["access_token"].endswith("…") and len(token_call["response"]["access_token"]) == 13
    assert SECRET not in str(everything)

    to_chen = client.get("/_fake/calls", query_string={"path": CUSTOM, "openid": CHEN}).json["calls"]
    assert len(to_chen) == 1
    assert (to_chen[0]["method"], to_chen[0]["openid"], to_chen[0]["body"]["touser"], to_chen[0]["errcode"]) == (
        "POST", CHEN, CHEN, 0)
    assert to_chen[0]["response"] == {"errcode": 0, "errmsg": "ok"} and to_chen[0]["at"] > 0
    refused = client.get("/_fake/calls", query_string={"path": CUSTOM, "openid": LI}).json["calls"]
    assert refused[0]["errcode"] == 45015
    assert len(client.get("/_fake/calls", query_string={"openid": CHEN}).json["calls"]) == 2

    assert client.delete("/_fake/calls").json == {"ok": True}
    assert client.get("/_fake/calls").json["calls"] == []


def test_faults_answer_the_next_n_calls_of_a_path(client, wx: WeChatApi):
    wx.token()
    created = client.post("/_fake/faults", json={"path": CUSTOM, "errcode": 45047, "count": 2})
    assert created.status_code == 201 and created.json["faults"][0]["remaining"] == 2
    assert wx.get("/cgi-bin/user/get")["total"] == 2, "other paths are unaffected"
    assert [wx.post(CUSTOM, text(CHEN))["errcode"] for _ in range(3)] == [45047, 45047, 0]
    assert client.get("/_fake/faults").json["faults"] == []


def test_a_fault_can_hit_the_token_endpoint_with_a_custom_message(client):
    client.post("/_fake/faults", json={"path": "/cgi-bin/token", "errcode": -1, "errmsg": "system error"})
    query = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    assert client.get("/cgi-bin/token", query_string=query).json["errcode"] == -1
    assert "access_token" in client.get("/cgi-bin/token", query_string=query).json


def test_faults_can_be_cleared(client, wx: WeChatApi):
    client.post("/_fake/faults", json={"path": CUSTOM, "errcode": 40001, "count": 5})
    client.delete("/_fake/faults")
    assert wx.post(CUSTOM, text(CHEN))["errcode"] == 0


@pytest.mark.parametrize("body", [
    {"path": "cgi-bin/x", "errcode": 1},
    {"path": CUSTOM, "errcode": 0},
    {"path": CUSTOM, "errcode": "45047"},
    {"path": CUSTOM, "errcode": 45047, "count": 0},
])
def test_fault_validation(client, body):
    assert client.post("/_fake/faults", json=body).status_code == 400


def test_reset_forgets_everything_and_restores_switches(client, wx: WeChatApi, state: FakeState):
    old_token = wx.token()
    wx.post("/cgi-bin/menu/create", {"button": [{"type": "click", "name": "A", "key": "A"}]})
    wx.post(CUSTOM, text(CHEN))
    client.post("/_fake/users", json={"nickname": "临时"})
    client.post("/_fake/config", json={"enforce_48h": False, "encrypt_mode": "plain"})
    assert client.post("/_fake/reset").json == {"ok": True}
    assert (state.config.enforce_48h, state.config.encrypt_mode) == (True, "aes")
    assert len(client.get("/_fake/users").json["users"]) == 3
    assert state.timeline(CHEN) == [] and client.get("/_fake/calls").json["calls"] == []
    assert wx.get("/cgi-bin/menu/get")["errcode"] == 40001 and old_token == wx.token()
    assert wx.get("/cgi-bin/menu/get", access_token=wx.token(refresh=True))["errcode"] == 46003


def test_users_are_listed_created_and_updated(client, wx: WeChatApi):
    listed = client.get("/_fake/users").json["users"]
    assert [(u["nickname"], u["subscribed"]) for u in listed] == [("张阿姨", False), ("李先生", True), ("陈女士", True)]
    created = client.post("/_fake/users", json={"openid": "o-test-1", "nickname": "赵先生", "subscribed": True,
                                                "last_interaction_seconds_ago": 47 * HOUR})
    assert created.status_code == 201 and created.json["subscribe_time"] > 0
    assert wx.post(CUSTOM, text("o-test-1"))["errcode"] == 0
    updated = client.post("/_fake/users", json={"openid": "o-test-1", "last_interaction_seconds_ago": 49 * HOUR})
    assert updated.status_code == 200 and updated.json["nickname"] == "赵先生"
    assert wx.post(CUSTOM, text("o-test-1"))["errcode"] == 45015
    generated = client.post("/_fake/users", json={"nickname": "钱女士"}).json
    assert generated["openid"].startswith("o-sim-") and len(generated["openid"]) == 28
    assert client.get(f"/_fake/users/{generated['openid']}").json["nickname"] == "钱女士"
    assert client.get("/_fake/users/o-nobody").status_code == 404


@pytest.mark.parametrize("body", [
    {"nickname": ""},
    {"nickname": "x", "subscribed": "yes"},
    {"nickname": "x", "tags": [999]},
    {"nickname": "x", "last_interaction_at": "yesterday"},
    {"openid": 5},
])
def test_user_validation_creates_nothing(client, body):
    assert client.post("/_fake/users", json=body).status_code == 400
    assert len(client.get("/_fake/users").json["users"]) == 3


def test_config_switches(client, state: FakeState):
    changed = client.post("/_fake/config", json={"enforce_48h": False, "token_grace_seconds": 30,
                                                 "webhook_url": "http://127.0.0.1:8000/wechat"})
    assert changed.status_code == 200 and changed.json["token_grace_seconds"] == 30
    assert "secret" not in changed.json and "aes_key" not in changed.json and "token" not in changed.json
    assert state.config.enforce_48h is False
    for bad in ({"enforce_48h": "no"}, {"token_grace_seconds": -1}, {"encrypt_mode": "rsa"}, {"secret": "x"}):
        assert client.post("/_fake/config", json=bad).status_code == 400, bad


def test_clock_advances(client, state: FakeState):
    before = client.get("/_fake/clock").json["now"]
    after = client.post("/_fake/clock", json={"advance_seconds": 3600}).json["now"]
    assert 3600 <= after - before < 3610
    assert client.post("/_fake/clock", json={}).status_code == 400


def test_unknown_wechat_path_says_so(client, wx: WeChatApi):
    response = client.get("/cgi-bin/not/real", query_string={"access_token": wx.token()})
    assert response.status_code == 404 and "/cgi-bin/not/real" in response.json["errmsg"]
