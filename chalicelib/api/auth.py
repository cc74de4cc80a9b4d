"""H5 login through WeChat OAuth2 (snsapi_base), the session cookie, and the JS-SDK page config.

Other blueprints identify the patient only through ``require_login(request)`` (or
``current_openid(request)``): the openid comes from the signed session cookie, never from a query
string or a body.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from chalice.app import Blueprint, Request, Response

from chalicelib import bootstrap
from chalicelib.api.errors import JSON, NO_STORE, error_response
from chalicelib.observability import get_logger
from chalicelib.services import h5_login
from chalicelib.services.h5_login import AUTH_PATH, OAUTH_COOKIE, SESSION_COOKIE

bp = Blueprint(__name__)
log = get_logger("auth")
LOGIN_REQUIRED_MESSAGE = "请在微信中重新打开页面"


# ---- for every blueprint ------------------------------------------------------------------------------
def cookie_value(request: Request, name: str) -> str | None:
    """The first cookie called ``name`` in the request's Cookie header (the most specific path comes first)."""
    raw = request.headers.get("cookie") or ""
    for part in raw.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"') or None
    return None


def current_openid(request: Request) -> str | None:
    """The logged-in patient's openid, from the signed session cookie; None when not logged in."""
    session = h5_login.session_from_cookie(cookie_value(request, SESSION_COOKIE), _container().clock(), _key())
    return session.openid if session else None


def require_login(request: Request) -> str | Response:
    """The openid, or the 401 answer that sends the page through login (return it as it is)."""
    openid = current_openid(request)
    if openid:
        return openid
    body = {"code": "LOGIN_REQUIRED", "message": LOGIN_REQUIRED_MESSAGE, "login_url": h5_login.login_url(_page_of(request))}
    return Response(body=body, status_code=401, headers={**JSON, **NO_STORE})


# ---- helpers ----------------------------------------------------------------------------------------
def _container() -> Any:
    return bootstrap.container()


def _key() -> bytes:
    s = _container().settings
    return h5_login.signing_key(s.stage, s.session_secret)


def _param(name: str) -> str | None:
    params = bp.current_request.query_params
    return params.get(name) if params else None


def _page_of(request: Request) -> str | None:
    """The page that made an API call (its Referer, when it is one of our H5 pages)."""
    referer = request.headers.get("referer") or ""
    if not referer.startswith(_container().settings.h5_base_url + "/"):
        return None
    parts = urlsplit(referer)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _cookie(name: str, value: str, path: str, max_age: int) -> str:
    secure = "" if _container().settings.stage == "local" else "; Secure"
    expired = "; Expires=Thu, 01 Jan 1970 00:00:00 GMT" if max_age == 0 else ""
    return f"{name}={value}; Max-Age={max_age}{expired}; Path={path}; HttpOnly; SameSite=Lax{secure}"


def _redirect(location: str, cookies: list[str]) -> Response:
    return Response(body="", status_code=302, headers={"Location": location, "Set-Cookie": cookies, **NO_STORE})


_FAILED_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<title>登录未完成</title><link rel="stylesheet" href="/vendor/weui/weui.min.css">
<link rel="stylesheet" href="/assets/app.css">
</head><body><div class="weui-msg" role="alert" data-code="{code}">
<div class="weui-msg__icon-area"><i class="weui-icon-info weui-icon_msg"></i></div>
<div class="weui-msg__text-area"><h2 class="weui-msg__title">{message}</h2></div>
<div class="weui-msg__opr-area"><p class="weui-btn-area">
<a href="{retry}" class="weui-btn weui-btn_primary">重新进入</a>
<a href="/index.html" class="weui-btn weui-btn_default">返回首页</a>
</p></div></div></body></html>
"""


def _login_failed(exc: h5_login.AuthError) -> Response:
    log.warning("h5 login refused", extra={"reason": exc.code, "errcode": getattr(exc.__cause__, "errcode", None)})
    page = _FAILED_PAGE.format(code=html.escape(exc.code), message=html.escape(exc.message),
                               retry=html.escape(h5_login.login_url(None)))
    headers: dict[str, str | list[str]] = {"Content-Type": "text/html; charset=utf-8",
                                           "Set-Cookie": [_cookie(OAUTH_COOKIE, "", AUTH_PATH, 0)]}
    return Response(body=page, status_code=exc.status, headers={**headers, **NO_STORE})


# ---- routes -------------------------------------------------------------------------------------------
@bp.route("/api/auth/login", methods=["GET"])
def login() -> Response:
    s = _container().settings
    started = h5_login.start_login(_param("next"), _container().clock(), _key(), appid=s.wechat_appid,
                                   open_base_url=s.wechat_open_base_url, h5_base_url=s.h5_base_url)
    return _redirect(started.authorize_url, [_cookie(OAUTH_COOKIE, started.oauth_cookie, AUTH_PATH, started.max_age)])


@bp.route("/api/auth/callback", methods=["GET"])
def callback() -> Response:
    c = _container()
    oauth_cookie = cookie_value(bp.current_request, OAUTH_COOKIE)
    try:
        done = h5_login.finish_login(_param("code"), _param("state"), oauth_cookie, c.clock(), c.one_time_codes,
                                     c.wechat_oauth, _key())
    except h5_login.AuthError as exc:
        return _login_failed(exc)
    session = _cookie(SESSION_COOKIE, done.session_cookie, "/", done.max_age)
    return _redirect(done.next_path, [session, _cookie(OAUTH_COOKIE, "", AUTH_PATH, 0)])


@bp.route("/api/auth/logout", methods=["POST"])
def logout() -> Response:
    cleared = _cookie(SESSION_COOKIE, "", "/", 0)
    return Response(body={"logged_in": False}, headers={**JSON, **NO_STORE, "Set-Cookie": [cleared]})


@bp.route("/api/me", methods=["GET"])
def me() -> dict[str, Any] | Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    return {"logged_in": True, "openid_tail": openid[-4:]}


@bp.route("/api/wechat/jssdk-config", methods=["GET"])
def jssdk_config() -> dict[str, Any] | Response:
    c = _container()
    s = c.settings
    try:
        return h5_login.jssdk_config(_param("url"), c.jsapi_tickets, c.clock(), h5_login.new_nonce(), s.wechat_appid,
                                     s.h5_base_url)
    except h5_login.AuthError as exc:
        return error_response(exc.status, exc.code, exc.message)
