"""H5 login through WeChat OAuth2 (``snsapi_base``), the signed session, and the JS-SDK page config.

The flow (https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html):

1. ``start_login``: a random nonce goes into WeChat's ``state`` (signed, expiring, letters and digits
   only: WeChat allows ``[a-zA-Z0-9]``, at most 128 bytes) and, with the page to return to, into a
   signed short-lived cookie, so the callback only succeeds in the browser that started the login.
2. ``finish_login``: both signatures and expiries are checked and the nonces compared in constant
   time; the code is claimed once (only its SHA-256 is stored) before it is exchanged for the openid.
3. The session is a signed cookie (openid, issued, expiry, version); ``session_from_cookie`` reads it.

Every refusal is an ``AuthError`` carrying a 4xx (or 503) status and a Chinese message for the patient.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from chalicelib.config import ConfigurationError
from chalicelib.domain import jssdk
from chalicelib.domain.signed_values import Reason, SignedValueError, sign, sign_compact, verify, verify_compact
from chalicelib.services.ports import JsapiTicketSource, OAuthCodeExchange, OneTimeCodes, WeChatSendError

# ---- settings of the flow ---------------------------------------------------------------------------
SESSION_COOKIE = "yw_session"
OAUTH_COOKIE = "yw_oauth"
AUTH_PATH = "/api/auth"  # the oauth cookie's Path
LOGIN_PATH = "/api/auth/login"
CALLBACK_PATH = "/api/auth/callback"
DEFAULT_NEXT = "/index.html"
STATE_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=12)
SESSION_VERSION = 1  # raise to sign every patient out
MIN_SECRET_CHARS = 32
JS_API_LIST = (
    "updateAppMessageShareData",
    "updateTimelineShareData",
    "openLocation",
    "getLocation",
    "scanQRCode",
    "closeWindow",
)

_STATE_PURPOSE = "oauth-state"
_OAUTH_COOKIE_PURPOSE = "oauth-cookie"
_SESSION_PURPOSE = "session"
_MAX_NEXT_CHARS = 512
# Same-site paths only: "/" then not "/" or "\" (no "//evil", "/\evil"); no scheme, backslash,
# whitespace or control characters anywhere (browsers drop tabs and newlines, turning "/\t/x" into "//x").
_NEXT = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")
_CODE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LOCAL_KEY = secrets.token_bytes(32)  # local stage without a configured secret: valid for this process only

EXPIRED_MESSAGE = "链接已过期，请重新打开页面"
WECHAT_BUSY_MESSAGE = "微信服务暂时繁忙，请稍后再试"
_BUSY_ERRCODES = {None, -1, 45009}  # transport failure, system busy, rate limited


class AuthError(Exception):
    """A refused login or JS-SDK request: ``code`` for programs, ``message`` (Chinese) for the patient."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class LoginRedirect:
    authorize_url: str  # WeChat's authorize page, to redirect the browser to
    oauth_cookie: str  # value of the ``yw_oauth`` cookie binding the login to this browser
    max_age: int  # seconds the oauth cookie (and the state) stay valid


@dataclass(frozen=True)
class WebSession:
    openid: str
    issued_at: datetime
    expires_at: datetime
    version: int = SESSION_VERSION

    @property
    def openid_tail(self) -> str:
        return self.openid[-4:]


@dataclass(frozen=True)
class FinishedLogin:
    session: WebSession
    session_cookie: str  # value of the ``yw_session`` cookie
    next_path: str  # same-site path to send the browser to
    max_age: int  # seconds the session cookie stays valid


def signing_key(stage: str, secret: str) -> bytes:
    """The session-signing key; refuses to run outside the local stage without a strong secret."""
    if stage != "local" and len(secret) < MIN_SECRET_CHARS:
        raise ConfigurationError(f"H5_SESSION_SECRET must be set (at least {MIN_SECRET_CHARS} characters) "
                                 f"outside the local stage; stage is {stage!r}")
    return secret.encode("utf-8") if secret else _LOCAL_KEY


def safe_next(raw: str | None) -> str:
    """``raw`` if it is a same-site path outside the API, else ``DEFAULT_NEXT``."""
    if not raw or len(raw) > _MAX_NEXT_CHARS or not _NEXT.fullmatch(raw) or raw.startswith("/api/"):
        return DEFAULT_NEXT
    return raw


def login_url(next_path: str | None) -> str:
    """Our login entry that comes back to ``next_path``."""
    return f"{LOGIN_PATH}?{urlencode({'next': safe_next(next_path)}, safe='/', quote_via=quote)}"


def new_nonce() -> str:
    return secrets.token_hex(16)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def start_login(
    next_path: str | None,
    now: datetime,
    key: bytes,
    *,
    appid: str,
    open_base_url: str,
    h5_base_url: str,
    make_nonce: Callable[[], str] = new_nonce,
) -> LoginRedirect:
    nonce = make_nonce()
    expires = now + STATE_TTL
    state = sign_compact(nonce, key=key, purpose=_STATE_PURPOSE, expires_at=expires)
    cookie = sign({"n": nonce, "next": safe_next(next_path)}, key=key, purpose=_OAUTH_COOKIE_PURPOSE, expires_at=expires)
    params = {
        "appid": appid,
        "redirect_uri": f"{h5_base_url.rstrip('/')}{CALLBACK_PATH}",
        "response_type": "code",
        "scope": "snsapi_base",
        "state": state,
    }
    query = urlencode(params, safe="", quote_via=quote)
    url = f"{open_base_url.rstrip('/')}/connect/oauth2/authorize?{query}#wechat_redirect"
    return LoginRedirect(authorize_url=url, oauth_cookie=cookie, max_age=int(STATE_TTL.total_seconds()))


def _refused(reason: Reason) -> AuthError:
    if reason is Reason.EXPIRED:
        return AuthError("LOGIN_EXPIRED", EXPIRED_MESSAGE)
    return AuthError("LOGIN_INVALID", "登录信息无效，请重新打开页面")


def _started_login(state: str | None, oauth_cookie: str | None, now: datetime, key: bytes) -> str:
    """The ``next`` path of the login this browser started, once state and cookie agree."""
    if not oauth_cookie:  # expired, or the link was opened in another browser
        raise AuthError("LOGIN_EXPIRED", EXPIRED_MESSAGE)
    try:
        started = verify(oauth_cookie, key=key, purpose=_OAUTH_COOKIE_PURPOSE, now=now)
        state_nonce = verify_compact(state or "", key=key, purpose=_STATE_PURPOSE, now=now)
    except SignedValueError as exc:
        raise _refused(exc.reason) from exc
    cookie_nonce = started.get("n")
    if not isinstance(cookie_nonce, str) or not hmac.compare_digest(
        state_nonce.encode("utf-8"), cookie_nonce.encode("utf-8")
    ):
        raise AuthError("LOGIN_MISMATCH", "登录校验未通过，请在微信中重新打开页面")
    return safe_next(started.get("next") if isinstance(started.get("next"), str) else None)


def finish_login(
    code: str | None,
    state: str | None,
    oauth_cookie: str | None,
    now: datetime,
    codes: OneTimeCodes,
    oauth: OAuthCodeExchange,
    key: bytes,
) -> FinishedLogin:
    if not code or not _CODE.fullmatch(code):
        raise AuthError("LOGIN_INVALID", "链接不完整，请在微信中重新打开页面")
    next_path = _started_login(state, oauth_cookie, now, key)
    if not codes.claim(code_hash(code), now):
        raise AuthError("CODE_USED", "该登录链接已使用过，请重新打开页面")
    try:
        openid = oauth.openid_for_code(code)
    except WeChatSendError as exc:
        if exc.errcode in _BUSY_ERRCODES:
            raise AuthError("WECHAT_UNAVAILABLE", WECHAT_BUSY_MESSAGE, 503) from exc
        raise AuthError("WECHAT_REFUSED", "微信登录未成功，请重新打开页面") from exc
    if not isinstance(openid, str) or not _OPENID.fullmatch(openid):
        raise AuthError("WECHAT_UNAVAILABLE", WECHAT_BUSY_MESSAGE, 503)
    session = WebSession(openid=openid, issued_at=now, expires_at=now + SESSION_TTL)
    return FinishedLogin(session, session_cookie(session, key), next_path, int(SESSION_TTL.total_seconds()))


def session_cookie(session: WebSession, key: bytes) -> str:
    claims: dict[str, str | int] = {"sub": session.openid, "iat": int(session.issued_at.timestamp()), "v": session.version}
    return sign(claims, key=key, purpose=_SESSION_PURPOSE, expires_at=session.expires_at)


def session_from_cookie(value: str | None, now: datetime, key: bytes) -> WebSession | None:
    """The session a ``yw_session`` cookie carries, or None (absent, tampered, expired, old version)."""
    if not value:
        return None
    try:
        claims = verify(value, key=key, purpose=_SESSION_PURPOSE, now=now)
    except SignedValueError:
        return None
    openid, issued, version = claims.get("sub"), claims.get("iat"), claims.get("v")
    if not isinstance(openid, str) or not _OPENID.fullmatch(openid) or not isinstance(issued, int):
        return None
    if version != SESSION_VERSION:
        return None
    return WebSession(openid, datetime.fromtimestamp(issued, UTC), datetime.fromtimestamp(claims["exp"], UTC), version)


def jssdk_config(
    url: str | None, tickets: JsapiTicketSource, now: datetime, nonce: str, appid: str, h5_base: str
) -> dict[str, Any]:
    """What a page passes to ``wx.config`` — only for pages under our H5 base URL."""
    if not url or not jssdk.is_page_of(url, h5_base):
        raise AuthError("BAD_REQUEST", "页面地址不正确，无法使用微信功能")
    try:
        ticket = tickets.ticket()
    except WeChatSendError as exc:
        raise AuthError("WECHAT_UNAVAILABLE", WECHAT_BUSY_MESSAGE, 503) from exc
    timestamp = int(now.timestamp())
    return {
        "appId": appid,
        "timestamp": timestamp,
        "nonceStr": nonce,
        "signature": jssdk.signature(jsapi_ticket=ticket, noncestr=nonce, timestamp=timestamp, url=url),
        "jsApiList": list(JS_API_LIST),
    }
