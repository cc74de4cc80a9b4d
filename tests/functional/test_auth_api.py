"""H5 login, the session cookie, /api/me, logout and the JS-SDK config through ``chalice.test.Client``."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.api.openapi import document
from chalicelib.config import load_settings, stage_environment
from chalicelib.domain import jssdk
from chalicelib.services.ports import WeChatSendError

# Documented operations this module exercises (JSON bodies validated against the document by ``_validate``).
EXERCISED = {"/api/auth/login", "/api/auth/callback", "/api/auth/logout", "/api/me", "/api/wechat/jssdk-config"}
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWx1234"
H5 = "http://127.0.0.1:8080"


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class FakeOneTimeCodes:
    def __init__(self) -> None:
        self.claimed: set[str] = set()

    def claim(self, code_hash: str, at: datetime) -> bool:
        if code_hash in self.claimed:
            return False
        self.claimed.add(code_hash)
        return True


class FakeOAuth:
    def __init__(self) -> None:
        self.codes: list[str] = []
        self.error: WeChatSendError | None = None

    def openid_for_code(self, code: str) -> str:
        self.codes.append(code)
        if self.error:
            raise self.error
        return OPENID


class FakeTickets:
    def __init__(self) -> None:
        self.error: WeChatSendError | None = None

    def ticket(self) -> str:
        if self.error:
            raise self.error
        return "local-jsapi-ticket"


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.codes = FakeOneTimeCodes()
        self.oauth = FakeOAuth()
        self.tickets = FakeTickets()


def _settings(**changes: Any) -> Any:
    return replace(load_settings(stage_environment("local")), **changes)


def _install(world: World, settings: Any) -> None:
    bootstrap.use_settings(settings)
    bootstrap.override(clock=world.clock, one_time_codes=world.codes, wechat_oauth=world.oauth,
                       jsapi_tickets=world.tickets)


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def client(world: World) -> Any:
    _install(world, _settings())
    with Client(app, stage_name="local") as c:
        yield c


def _cookies(resp: Any) -> dict[str, dict[str, str]]:
    """Set-Cookie headers as {name: {"value": ..., attribute: value-or-""}}."""
    raw = resp.headers.get("Set-Cookie") or resp.headers.get("set-cookie") or []
    out = {}
    for header in [raw] if isinstance(raw, str) else raw:
        first, *attrs = [p.strip() for p in header.split(";")]
        name, _, value = first.partition("=")
        out[name] = {"value": value, **{a.partition("=")[0].lower(): a.partition("=")[2] for a in attrs}}
    return out


def _login(client: Any, next_path: str = "/departments.html") -> tuple[str, str]:
    resp = client.http.get(f"/api/auth/login?next={next_path}")
    assert resp.status_code == 302
    state = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]
    return state, _cookies(resp)["yw_oauth"]["value"]


def _callback(client: Any, state: str, oauth_cookie: str | None, code: str = "CODE123") -> Any:
    headers = {"cookie": f"other=1; yw_oauth={oauth_cookie}"} if oauth_cookie else {}
    return client.http.get(f"/api/auth/callback?code={code}&state={state}", headers=headers)


def _logged_in(client: Any) -> str:
    state, oauth_cookie = _login(client)
    resp = _callback(client, state, oauth_cookie)
    assert resp.status_code == 302
    return _cookies(resp)["yw_session"]["value"]


def _validate(template: str, method: str, status: int, body: Any) -> None:
    doc = document()
    response = doc["paths"][template][method]["responses"][str(status)]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = {**response["content"]["application/json"]["schema"], "components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)


# ---- login ------------------------------------------------------------------------------------------
def test_login_redirects_to_wechat_with_a_browser_bound_state(client):
    resp = client.http.get("/api/auth/login?next=/departments.html")
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("http://127.0.0.1:8091/connect/oauth2/authorize?appid=wx00000000local0001"
                               "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fapi%2Fauth%2Fcallback"
                               "&response_type=code&scope=snsapi_base&state=")
    assert location.endswith("#wechat_redirect")
    assert resp.headers["Cache-Control"] == "no-store"
    cookie = _cookies(resp)["yw_oauth"]
    assert cookie["value"] and cookie["path"] == "/api/auth" and cookie["max-age"] == "600"
    assert "httponly" in cookie and cookie["samesite"] == "Lax"
    assert "secure" not in cookie  # local stage: plain http


def test_cookies_are_secure_outside_local(world):
    _install(world, _settings(stage="prod", session_secret="p" * 40, h5_base_url="https://h5.example.cn"))
    with Client(app, stage_name="local") as c:
        resp = c.http.get("/api/auth/login")
        assert "redirect_uri=https%3A%2F%2Fh5.example.cn%2Fapi%2Fauth%2Fcallback" in resp.headers["Location"]
        assert "secure" in _cookies(resp)["yw_oauth"]
        state, oauth_cookie = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0], \
            _cookies(resp)["yw_oauth"]["value"]
        done = _cookies(_callback(c, state, oauth_cookie))
        assert "secure" in done["yw_session"] and "httponly" in done["yw_session"]
        assert done["yw_session"]["samesite"] == "Lax" and done["yw_session"]["path"] == "/"
        assert "secure" in _cookies(c.http.post("/api/auth/logout"))["yw_session"]


def test_without_a_session_secret_outside_local_nothing_is_signed(world):
    _install(world, _settings(stage="prod", session_secret=""))
    with Client(app, stage_name="local") as c:
        resp = c.http.get("/api/auth/login")
        assert resp.status_code == 503
        assert "Set-Cookie" not in resp.headers and "Location" not in resp.headers


@pytest.mark.parametrize("next_path", ["//evil.com", "http://evil.com/", "/%5Cevil.com", "%2F%2Fevil.com"])
def test_an_unsafe_next_returns_to_the_home_page(client, next_path):
    resp = client.http.get(f"/api/auth/login?next={next_path}")
    state = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]
    done = _callback(client, state, _cookies(resp)["yw_oauth"]["value"])
    assert done.status_code == 302 and done.headers["Location"] == "/index.html"


# ---- callback ---------------------------------------------------------------------------------------
def test_callback_sets_the_session_clears_the_oauth_cookie_and_returns_to_the_page(client, world):
    state, oauth_cookie = _login(client, "/department.html%3Fid%3DD0301")
    resp = _callback(client, state, oauth_cookie)
    assert resp.status_code == 302 and resp.headers["Location"] == "/department.html?id=D0301"
    cookies = _cookies(resp)
    session = cookies["yw_session"]
    assert session["value"] and session["path"] == "/" and session["max-age"] == str(12 * 3600)
    assert "httponly" in session and session["samesite"] == "Lax" and "secure" not in session
    assert cookies["yw_oauth"]["value"] == "" and cookies["yw_oauth"]["max-age"] == "0"
    assert cookies["yw_oauth"]["path"] == "/api/auth"
    assert OPENID not in json.dumps(resp.headers)
    assert world.oauth.codes == ["CODE123"]


def test_a_replayed_callback_is_refused_with_a_page_and_the_code_is_exchanged_once(client, world):
    state, oauth_cookie = _login(client)
    assert _callback(client, state, oauth_cookie).status_code == 302
    again = _callback(client, state, oauth_cookie)
    assert again.status_code == 400
    assert again.headers["Content-Type"].startswith("text/html")
    page = again.body.decode("utf-8")
    assert "该登录链接已使用过，请重新打开页面" in page and 'href="/api/auth/login?next=/index.html"' in page
    assert "yw_session" not in _cookies(again)
    assert world.oauth.codes == ["CODE123"]


def test_callback_without_the_browsers_oauth_cookie_has_expired(client, world):
    state, _ = _login(client)
    resp = _callback(client, state, None)
    assert resp.status_code == 400 and "链接已过期，请重新打开页面" in resp.body.decode("utf-8")
    assert world.oauth.codes == [] and world.codes.claimed == set()


def test_callback_after_ten_minutes_has_expired(client, world):
    state, oauth_cookie = _login(client)
    world.clock.now = T0 + timedelta(minutes=10, seconds=1)
    resp = _callback(client, state, oauth_cookie)
    assert resp.status_code == 400 and "链接已过期，请重新打开页面" in resp.body.decode("utf-8")


def test_callback_with_another_browsers_state_is_refused(client, world):
    attacker_state, _ = _login(client)
    _, victim_cookie = _login(client)
    resp = _callback(client, attacker_state, victim_cookie)
    assert resp.status_code == 400 and "登录校验未通过" in resp.body.decode("utf-8")
    assert world.oauth.codes == []


@pytest.mark.parametrize("query", ["", "?code=abc", "?state=abc", "?code=<script>&state=x"])
def test_callback_with_missing_or_odd_parameters(client, query):
    resp = client.http.get(f"/api/auth/callback{query}")
    assert resp.status_code == 400 and resp.headers["Content-Type"].startswith("text/html")
    assert "<script>" not in resp.body.decode("utf-8")


def test_callback_when_wechat_is_busy_or_refuses(client, world):
    world.oauth.error = WeChatSendError(-1, "system busy")
    state, oauth_cookie = _login(client)
    resp = _callback(client, state, oauth_cookie, code="C1")
    assert resp.status_code == 503 and "微信服务暂时繁忙，请稍后再试" in resp.body.decode("utf-8")
    world.oauth.error = WeChatSendError(40029, "invalid code")
    state, oauth_cookie = _login(client)
    resp = _callback(client, state, oauth_cookie, code="C2")
    assert resp.status_code == 400 and "微信登录未成功" in resp.body.decode("utf-8")


# ---- /api/me and logout -----------------------------------------------------------------------------
def test_me_with_a_session_shows_only_the_openid_tail(client):
    session = _logged_in(client)
    resp = client.http.get("/api/me", headers={"cookie": f"yw_session={session}"})
    assert resp.status_code == 200
    assert resp.json_body == {"logged_in": True, "openid_tail": "1234"}
    assert OPENID not in resp.body.decode("utf-8")
    _validate("/api/me", "get", 200, resp.json_body)


def test_me_without_a_session_asks_for_login_back_to_the_calling_page(client):
    resp = client.http.get("/api/me", headers={"referer": f"{H5}/department.html?id=D0301"})
    assert resp.status_code == 401
    assert resp.json_body == {"code": "LOGIN_REQUIRED", "message": "请在微信中重新打开页面",
                              "login_url": "/api/auth/login?next=/department.html%3Fid%3DD0301"}
    _validate("/api/me", "get", 401, resp.json_body)
    foreign = client.http.get("/api/me", headers={"referer": "https://evil.com/x.html"})
    assert foreign.json_body["login_url"] == "/api/auth/login?next=/index.html"


def test_no_openid_is_taken_from_the_query_or_a_forged_cookie(client, world):
    session = _logged_in(client)
    assert client.http.get(f"/api/me?openid={OPENID}").status_code == 401
    body, mac = session.split(".")
    assert client.http.get("/api/me", headers={"cookie": f"yw_session={body}.{mac[::-1]}"}).status_code == 401
    assert client.http.get("/api/me", headers={"cookie": f"yw_session={OPENID}"}).status_code == 401
    world.clock.now = T0 + timedelta(hours=12, minutes=1)
    assert client.http.get("/api/me", headers={"cookie": f"yw_session={session}"}).status_code == 401


def test_logout_clears_the_session_cookie(client):
    resp = client.http.post("/api/auth/logout")
    assert resp.status_code == 200 and resp.json_body == {"logged_in": False}
    cleared = _cookies(resp)["yw_session"]
    assert cleared["value"] == "" and cleared["max-age"] == "0" and cleared["path"] == "/"
    _validate("/api/auth/logout", "post", 200, resp.json_body)


# ---- JS-SDK -----------------------------------------------------------------------------------------
def test_jssdk_config_signs_one_of_our_pages(client, world):
    url = f"{H5}/department.html?id=D0301"
    resp = client.http.get(f"/api/wechat/jssdk-config?url={url.replace('?', '%3F').replace('=', '%3D')}%23top")
    assert resp.status_code == 200
    body = resp.json_body
    _validate("/api/wechat/jssdk-config", "get", 200, body)
    assert body["appId"] == "wx00000000local0001" and body["timestamp"] == int(T0.timestamp())
    assert body["signature"] == jssdk.signature(jsapi_ticket="local-jsapi-ticket", noncestr=body["nonceStr"],
                                                timestamp=body["timestamp"], url=url)


@pytest.mark.parametrize("query", ["", "?url=https://evil.com/", "?url=http://127.0.0.1:8080.evil.com/"])
def test_jssdk_config_refuses_other_pages(client, query):
    resp = client.http.get(f"/api/wechat/jssdk-config{query}")
    assert resp.status_code == 400 and resp.json_body["message"] == "页面地址不正确，无法使用微信功能"
    _validate("/api/wechat/jssdk-config", "get", 400, resp.json_body)


def test_jssdk_config_when_wechat_is_busy(client, world):
    world.tickets.error = WeChatSendError(None, "timeout")
    resp = client.http.get(f"/api/wechat/jssdk-config?url={H5}/index.html")
    assert resp.status_code == 503 and resp.json_body["message"] == "微信服务暂时繁忙，请稍后再试"
