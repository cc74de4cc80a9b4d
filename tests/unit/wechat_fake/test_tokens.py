"""Access tokens: credentials checked like WeChat, a new token supersedes the previous one (after an optional
grace), expiry gives 42001, and every ``/cgi-bin`` call needs a valid one."""

from __future__ import annotations

import pytest

from devstack.wechat_fake.state import FakeState

from .conftest import APPID, SECRET, WeChatApi


def fetch(client, **query):
    return client.get("/cgi-bin/token", query_string={"grant_type": "client_credential", **query}).json


def call_with(client, token):
    return client.get("/cgi-bin/user/get", query_string={"access_token": token} if token is not None else {}).json


def test_token_shape(client):
    body = fetch(client, appid=APPID, secret=SECRET)
    assert set(body) == {"access_token", "expires_in"} and body["expires_in"] == 7200
    assert len(body["access_token"]) > 100


@pytest.mark.parametrize(("query", "errcode"), [
    ({"appid": "wxsomeoneelse", "secret": SECRET}, 40013),
    ({"appid": APPID, "secret": "wrong"}, 40125),
    ({"appid": APPID}, 41004),
    ({"secret": SECRET}, 41002),
])
def test_bad_credentials(client, query, errcode):
    body = fetch(client, **query)
    assert body["errcode"] == errcode and " rid: " in body["errmsg"]


def test_grant_type_must_be_client_credential(client):
    body = client.get("/cgi-bin/token", query_string={"grant_type": "password", "appid": APPID, "secret": SECRET}).json
    assert body["errcode"] == 40002


def test_a_new_token_invalidates_the_previous_one(client):
    first = fetch(client, appid=APPID, secret=SECRET)["access_token"]
    assert "errcode" not in call_with(client, first)
    second = fetch(client, appid=APPID, secret=SECRET)["access_token"]
    assert second != first
    assert call_with(client, first)["errcode"] == 40001
    assert call_with(client, first)["errmsg"].startswith("invalid credential, access_token is invalid or not latest")
    assert "errcode" not in call_with(client, second)


def test_grace_period_keeps_the_previous_token_for_a_while(client, state: FakeState):
    state.config.token_grace_seconds = 300
    first = fetch(client, appid=APPID, secret=SECRET)["access_token"]
    fetch(client, appid=APPID, secret=SECRET)
    assert "errcode" not in call_with(client, first)
    state.advance(301)
    assert call_with(client, first)["errcode"] == 40001


def test_expired_and_missing_and_unknown_tokens(client, state: FakeState):
    token = fetch(client, appid=APPID, secret=SECRET)["access_token"]
    state.advance(7199)
    assert "errcode" not in call_with(client, token)
    state.advance(2)
    assert call_with(client, token)["errcode"] == 42001
    assert call_with(client, None)["errcode"] == 41001
    assert call_with(client, "not-a-token")["errcode"] == 40001


def test_admin_expires_the_current_token(client, wx: WeChatApi):
    wx.get("/cgi-bin/user/get")
    assert client.post("/_fake/tokens/expire").json == {"expired": True}
    assert call_with(client, wx.token())["errcode"] == 42001
    assert "errcode" not in call_with(client, wx.token(refresh=True))


def test_stable_token_is_reused_unless_forced(client):
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    first = client.post("/cgi-bin/stable_token", json=body).json["access_token"]
    assert client.post("/cgi-bin/stable_token", json=body).json["access_token"] == first
    forced = client.post("/cgi-bin/stable_token", json={**body, "force_refresh": True}).json["access_token"]
    assert forced != first and call_with(client, first)["errcode"] == 40001
    assert client.post("/cgi-bin/stable_token", json={**body, "secret": "x"}).json["errcode"] == 40125


def test_jsapi_ticket(wx: WeChatApi):
    first = wx.get("/cgi-bin/ticket/getticket", type="jsapi")
    assert first["errcode"] == 0 and first["expires_in"] == 7200 and first["ticket"]
    assert wx.get("/cgi-bin/ticket/getticket", type="jsapi")["ticket"] == first["ticket"]
    assert wx.get("/cgi-bin/ticket/getticket", type="other")["errcode"] == 40097
