"""网页授权 (OAuth2): ``/connect/oauth2/authorize`` answers as the "current simulated user" (a cookie on the
fake's origin set by ``/_sim/open``), ``/sns/oauth2/access_token`` exchanges the single-use code.

With no current user the authorize page asks which test user to be, in Chinese, as a small page."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, redirect, request
from markupsafe import escape
from werkzeug.wrappers import Response as BaseResponse

from .errors import WeChatError
from .web import fake, reply

bp = Blueprint("wechat_oauth", __name__)
COOKIE = "wechat_fake_openid"
SCOPES = ("snsapi_base", "snsapi_userinfo")


def _is_http_url(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>"
        "body{font:18px/1.6 -apple-system,'PingFang SC','Noto Sans CJK SC','WenQuanYi Zen Hei',sans-serif;"
        "margin:0;background:#ededed;color:#111}main{max-width:480px;margin:0 auto;padding:24px 16px}"
        "h1{font-size:22px}a.user{display:block;background:#fff;border-radius:8px;padding:16px;margin:12px 0;"
        "color:#111;text-decoration:none;font-size:20px}small{color:#666;font-size:14px}"
        f"</style></head><body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return Response(html, status=status, mimetype="text/html")


def _error_page(message: str) -> Response:
    return _page("微信网页授权出错", f"<p>{escape(message)}</p><p><small>（模拟的微信授权页）</small></p>", 400)


@bp.get("/connect/oauth2/authorize")
def authorize() -> BaseResponse:
    args = request.args
    state = fake()
    if args.get("appid") != state.config.appid:
        return _error_page("appid 参数错误")
    redirect_uri = args.get("redirect_uri")
    if not _is_http_url(redirect_uri):
        return _error_page("redirect_uri 参数错误")
    if args.get("response_type") != "code":
        return _error_page("response_type 参数错误")
    scope = args.get("scope", "")
    if scope not in SCOPES:
        return _error_page("scope 参数错误")
    openid = request.cookies.get(COOKIE)
    if openid not in state.users:
        return _choose_user(request.url)
    code = state.issue_code(str(openid), scope)
    assert redirect_uri is not None
    glue = "&" if urlsplit(redirect_uri).query else "?"
    target = f"{redirect_uri}{glue}{urlencode({'code': code, 'state': args.get('state', '')})}"
    return redirect(target, 302)


def _choose_user(authorize_url: str) -> Response:
    state = fake()
    with state.lock:
        users = list(state.users.values())
    links = "".join(
        f'<a class="user" href="/_sim/open?{escape(urlencode({"openid": u.openid, "url": authorize_url}))}">'
        f"{escape(u.nickname)}<br><small>{escape(u.openid)} · {'已关注' if u.subscribed else '未关注'}</small></a>"
        for u in users
    )
    intro = "<p>模拟微信还不知道“当前用户”是谁。请选择以哪位测试用户的身份打开这个网页：</p>"
    return _page("选择测试用户", intro + links)


@bp.get("/_sim/open")
def open_as_user() -> BaseResponse:
    """Become ``openid`` on this origin (cookie) and go to ``url`` — the H5 page then runs the OAuth flow."""
    openid = request.args.get("openid", "")
    url = request.args.get("url", "")
    if openid not in fake().users:
        return _error_page("openid 参数错误：没有这个测试用户")
    if not _is_http_url(url):
        return _error_page("url 参数错误：需要 http(s) 地址")
    response = redirect(url, 302)
    response.set_cookie(COOKIE, openid, httponly=True, samesite="Lax")
    return response


@bp.get("/sns/oauth2/access_token")
def access_token() -> Response:
    args = request.args
    state = fake()
    state.check_app(args.get("appid"), args.get("secret"))
    if args.get("grant_type") != "authorization_code":
        raise WeChatError(40002)
    return reply(state.exchange_code(args.get("code")))


def _sns_token(value: str | None) -> dict[str, Any]:
    state = fake()
    with state.lock:
        grant = state.sns_tokens.get(value or "")
    if grant is None:
        raise WeChatError(40001)
    if state.now() >= grant["expires_at"]:
        raise WeChatError(42001)
    return grant


@bp.get("/sns/oauth2/refresh_token")
def refresh_token() -> Response:
    args = request.args
    state = fake()
    if args.get("appid") != state.config.appid:
        raise WeChatError(40013)
    if args.get("grant_type") != "refresh_token":
        raise WeChatError(40002)
    with state.lock:
        grant = next((g for g in state.sns_tokens.values() if g["refresh_token"] == args.get("refresh_token")), None)
        if grant is None:
            raise WeChatError(40030)
        fresh = {**grant, "access_token": secrets.token_urlsafe(64), "expires_at": state.now() + 7200}
        state.sns_tokens[fresh["access_token"]] = fresh
    return reply({k: v for k, v in fresh.items() if k != "expires_at"})


@bp.get("/sns/auth")
def check_auth() -> Response:
    grant = _sns_token(request.args.get("access_token"))
    if grant["openid"] != request.args.get("openid"):
        raise WeChatError(40003)
    return reply({"errcode": 0, "errmsg": "ok"})


@bp.get("/sns/userinfo")
def userinfo() -> Response:
    grant = _sns_token(request.args.get("access_token"))
    if grant["scope"] != "snsapi_userinfo":
        raise WeChatError(48001)
    user = fake().user(grant["openid"])
    return reply({"openid": user.openid, "nickname": user.nickname, "sex": 0, "province": "", "city": "",
                  "country": "", "headimgurl": "", "privilege": []})
