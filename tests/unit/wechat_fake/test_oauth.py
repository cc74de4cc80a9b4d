"""网页授权: authorize answers as the simulated user (cookie from ``/_sim/open``) or asks which user to be; codes are
single-use and short-lived; the exchange checks the app's credentials."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from devstack.wechat_fake.oauth import COOKIE
from devstack.wechat_fake.state import FakeState

from .conftest import APPID, CHEN, LI, SECRET

H5 = "http://127.0.0.1:8080/index.html"


def authorize_path(**overrides):
    query = {"appid": APPID, "redirect_uri": H5, "response_type": "code", "scope": "snsapi_base", "state": "home",
             **overrides}
    return "/connect/oauth2/authorize?" + urlencode(query)


def code_for(client, openid, **overrides):
    client.set_cookie(COOKIE, openid)
    response = client.get(authorize_path(**overrides))
    assert response.status_code == 302, response.data
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def exchange(client, code, **overrides):
    query = {"appid": APPID, "secret": SECRET, "code": code, "grant_type": "authorization_code", **overrides}
    return client.get("/sns/oauth2/access_token", query_string=query).json


def test_without_a_current_user_the_page_asks_which_test_user_to_be(client):
    response = client.get(authorize_path())
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "选择测试用户" in page
    assert "张阿姨" in page and "李先生" in page and "陈女士" in page
    assert f"/_sim/open?openid={CHEN}&amp;url=" in page


def test_open_as_user_sets_the_cookie_and_redirects(client):
    target = "http://localhost" + authorize_path()
    response = client.get("/_sim/open", query_string={"openid": LI, "url": target})
    assert response.status_code == 302 and response.headers["Location"] == target
    assert client.get_cookie(COOKIE).value == LI
    landed = client.get(authorize_path())
    location = urlsplit(landed.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == H5
    assert parse_qs(location.query)["state"] == ["home"]


@pytest.mark.parametrize(("query", "message"), [
    ({"openid": "o-nobody", "url": H5}, "openid 参数错误"),
    ({"openid": LI, "url": "javascript:alert(1)"}, "url 参数错误"),
])
def test_open_as_user_rejects_bad_input(client, query, message):
    response = client.get("/_sim/open", query_string=query)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_code_is_exchanged_once(client):
    code = code_for(client, CHEN)
    body = exchange(client, code)
    assert set(body) == {"access_token", "expires_in", "refresh_token", "openid", "scope"}
    assert (body["openid"], body["scope"], body["expires_in"]) == (CHEN, "snsapi_base", 7200)
    again = exchange(client, code)
    assert again["errcode"] == 40163 and again["errmsg"].startswith("code been used")


def test_code_expires_after_five_minutes(client, state: FakeState):
    fresh = code_for(client, CHEN)
    stale = code_for(client, CHEN)
    state.advance(299)
    assert exchange(client, fresh)["openid"] == CHEN
    state.advance(1)
    assert exchange(client, stale)["errcode"] == 40029


@pytest.mark.parametrize(("overrides", "errcode"), [
    ({"secret": "wrong"}, 40125),
    ({"appid": "wxother"}, 40013),
    ({"grant_type": "client_credential"}, 40002),
    ({"code": "0" * 32}, 40029),
    ({"code": ""}, 41008),
])
def test_exchange_errors(client, overrides, errcode):
    query = {"code": code_for(client, CHEN), **overrides}
    assert exchange(client, **query)["errcode"] == errcode


def test_redirect_uri_with_a_query_keeps_it(client):
    client.set_cookie(COOKIE, CHEN)
    location = client.get(authorize_path(redirect_uri=H5 + "?next=%2Fcards")).headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["next"] == ["/cards"] and query["state"] == ["home"] and len(query["code"][0]) == 32


@pytest.mark.parametrize(("overrides", "message"), [
    ({"appid": "wxother"}, "appid 参数错误"),
    ({"redirect_uri": "/relative"}, "redirect_uri 参数错误"),
    ({"scope": "snsapi_login"}, "scope 参数错误"),
    ({"response_type": "token"}, "response_type 参数错误"),
])
def test_authorize_errors_are_pages(client, overrides, message):
    client.set_cookie(COOKIE, CHEN)
    response = client.get(authorize_path(**overrides))
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_userinfo_needs_the_userinfo_scope(client):
    base = exchange(client, code_for(client, CHEN))
    query = {"access_token": base["access_token"], "openid": CHEN, "lang": "zh_CN"}
    assert client.get("/sns/userinfo", query_string=query).json["errcode"] == 48001
    full = exchange(client, code_for(client, CHEN, scope="snsapi_userinfo"))
    info = client.get("/sns/userinfo", query_string={**query, "access_token": full["access_token"]}).json
    assert (info["openid"], info["nickname"]) == (CHEN, "陈女士")
    assert client.get("/sns/auth", query_string={"access_token": full["access_token"], "openid": CHEN}).json == {
        "errcode": 0, "errmsg": "ok"}


def test_refresh_token(client):
    first = exchange(client, code_for(client, CHEN))
    query = {"appid": APPID, "grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    refreshed = client.get("/sns/oauth2/refresh_token", query_string=query).json
    assert refreshed["openid"] == CHEN and refreshed["access_token"] != first["access_token"]
    bad = client.get("/sns/oauth2/refresh_token", query_string={**query, "refresh_token": "x"}).json
    assert bad["errcode"] == 40030
