"""H5 login services on fakes: the happy path, every refusal, replays and open-redirect attempts."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.config import ConfigurationError
from chalicelib.services import h5_login
from chalicelib.services.h5_login import AuthError
from chalicelib.services.ports import WeChatSendError

KEY = b"s" * 32
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWx1234"
APPID = "wx00000000test0001"


class FakeOneTimeCodes:
    def __init__(self) -> None:
        self.claimed: dict[str, datetime] = {}

    def claim(self, code_hash: str, at: datetime) -> bool:
        if code_hash in self.claimed:
            return False
        self.claimed[code_hash] = at
        return True


class FakeOAuth:
    def __init__(self, openid: str = OPENID, error: WeChatSendError | None = None) -> None:
        self.openid, self.error, self.codes = openid, error, []

    def openid_for_code(self, code: str) -> str:
        self.codes.append(code)
        if self.error:
            raise self.error
        return self.openid


class FakeTickets:
    def __init__(self, error: WeChatSendError | None = None) -> None:
        self.error = error

    def ticket(self) -> str:
        if self.error:
            raise self.error
        return "ticket-1"


def _start(next_path="/departments.html", now=T0, nonce="0123456789abcdef0123456789abcdef"):
    return h5_login.start_login(next_path, now, KEY, appid=APPID, open_base_url="https://open.weixin.qq.com",
                                h5_base_url="https://h5.example.cn", make_nonce=lambda: nonce)


def _state(started):
    return parse_qs(urlsplit(started.authorize_url).query)["state"][0]


def _finish(started, code="CODE123", state=None, cookie=None, now=T0 + timedelta(minutes=1), codes=None, oauth=None):
    return h5_login.finish_login(code, _state(started) if state is None else state,
                                 started.oauth_cookie if cookie is None else cookie, now,
                                 codes or FakeOneTimeCodes(), oauth or FakeOAuth(), KEY)


def _refusal(call) -> AuthError:
    with pytest.raises(AuthError) as info:
        call()
    return info.value


# ---- start ------------------------------------------------------------------------------------------
def test_start_login_redirects_to_wechats_authorize_page():
    started = _start()
    parts = urlsplit(started.authorize_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://open.weixin.qq.com/connect/oauth2/authorize"
    assert parts.fragment == "wechat_redirect"
    assert "redirect_uri=https%3A%2F%2Fh5.example.cn%2Fapi%2Fauth%2Fcallback" in parts.query
    query = parse_qs(parts.query)
    assert query["appid"] == [APPID] and query["response_type"] == ["code"] and query["scope"] == ["snsapi_base"]
    assert list(query) == ["appid", "redirect_uri", "response_type", "scope", "state"]  # WeChat checks the order
    state = query["state"][0]
    assert state.isalnum() and len(state) <= 128  # WeChat: [a-zA-Z0-9], at most 128 bytes
    assert started.max_age == 600
    assert started.oauth_cookie and "/departments.html" not in started.authorize_url


def test_each_login_gets_its_own_nonce_by_default():
    a = h5_login.start_login(None, T0, KEY, appid=APPID, open_base_url="https://o", h5_base_url="https://h")
    b = h5_login.start_login(None, T0, KEY, appid=APPID, open_base_url="https://o", h5_base_url="https://h")
    assert _state(a) != _state(b) and a.oauth_cookie != b.oauth_cookie


# ---- finish -----------------------------------------------------------------------------------------
def test_happy_path_claims_the_code_once_and_opens_a_session():
    codes, oauth = FakeOneTimeCodes(), FakeOAuth()
    started = _start()
    done = _finish(started, codes=codes, oauth=oauth)
    assert done.next_path == "/departments.html"
    assert done.session.openid == OPENID and done.session.openid_tail == "1234"
    assert done.session.expires_at == T0 + timedelta(minutes=1, hours=12)
    assert done.max_age == 12 * 3600
    assert oauth.codes == ["CODE123"]
    assert list(codes.claimed) == [h5_login.code_hash("CODE123")] and "CODE123" not in next(iter(codes.claimed))
    assert h5_login.session_from_cookie(done.session_cookie, T0 + timedelta(hours=1), KEY) == done.session


def test_a_replayed_code_is_refused_and_never_exchanged_twice():
    codes, oauth = FakeOneTimeCodes(), FakeOAuth()
    started = _start()
    _finish(started, codes=codes, oauth=oauth)
    err = _refusal(lambda: _finish(started, codes=codes, oauth=oauth))
    assert (err.code, err.status) == ("CODE_USED", 400) and "重新打开" in err.message
    assert oauth.codes == ["CODE123"]


def test_an_expired_state_is_refused_with_the_expired_message():
    started = _start()
    err = _refusal(lambda: _finish(started, now=T0 + timedelta(minutes=10)))
    assert (err.code, err.status, err.message) == ("LOGIN_EXPIRED", 400, "链接已过期，请重新打开页面")


def test_a_missing_oauth_cookie_means_the_login_expired_or_was_opened_elsewhere():
    started = _start()
    codes, oauth = FakeOneTimeCodes(), FakeOAuth()
    for cookie in (None, ""):
        err = _refusal(lambda c=cookie: h5_login.finish_login("CODE123", _state(started), c, T0, codes, oauth, KEY))
        assert (err.code, err.message) == ("LOGIN_EXPIRED", "链接已过期，请重新打开页面")
    assert codes.claimed == {} and oauth.codes == []


def test_a_tampered_state_is_refused_before_the_code_is_touched():
    codes, oauth = FakeOneTimeCodes(), FakeOAuth()
    started = _start()
    state = _state(started)
    tampered = ("1" if state[0] != "1" else "2") + state[1:]
    for bad in (tampered, "", "garbage", state + "x"):
        err = _refusal(lambda b=bad: _finish(started, state=b, codes=codes, oauth=oauth))
        assert err.code == "LOGIN_INVALID" and err.status == 400
    assert codes.claimed == {} and oauth.codes == []


def test_a_tampered_oauth_cookie_is_refused():
    started = _start()
    body, mac = started.oauth_cookie.split(".")
    err = _refusal(lambda: _finish(started, cookie=body + "." + mac[::-1]))
    assert err.code == "LOGIN_INVALID"


def test_a_state_from_another_browser_does_not_match_this_browsers_cookie():
    """Login CSRF: an attacker's own (valid) state and code, delivered to a victim's browser."""
    attacker = _start(nonce="a" * 32)
    victim = _start(nonce="b" * 32)
    codes, oauth = FakeOneTimeCodes(), FakeOAuth()
    err = _refusal(lambda: _finish(victim, state=_state(attacker), codes=codes, oauth=oauth))
    assert err.code == "LOGIN_MISMATCH" and err.status == 400 and "重新打开" in err.message
    assert codes.claimed == {} and oauth.codes == []


def test_a_state_is_not_a_session_and_a_session_is_not_a_state():
    started = _start()
    assert h5_login.session_from_cookie(started.oauth_cookie, T0, KEY) is None
    done = _finish(started)
    err = _refusal(lambda: _finish(_start(), cookie=done.session_cookie))
    assert err.code == "LOGIN_INVALID"


@pytest.mark.parametrize("code", [None, "", "a" * 129, "code with space", "c\u00f6de"])
def test_missing_or_odd_codes_are_refused(code):
    err = _refusal(lambda: _finish(_start(), code=code))
    assert err.code == "LOGIN_INVALID" and err.status == 400


@pytest.mark.parametrize(("errcode", "code", "status"), [
    (40029, "WECHAT_REFUSED", 400), (40163, "WECHAT_REFUSED", 400),
    (None, "WECHAT_UNAVAILABLE", 503), (-1, "WECHAT_UNAVAILABLE", 503),
])
def test_wechat_refusals_become_patient_messages(errcode, code, status):
    err = _refusal(lambda: _finish(_start(), oauth=FakeOAuth(error=WeChatSendError(errcode, "x"))))
    assert (err.code, err.status) == (code, status)
    assert err.message  # Chinese, for the patient


def test_an_implausible_openid_is_not_trusted():
    err = _refusal(lambda: _finish(_start(), oauth=FakeOAuth(openid="")))
    assert err.status == 503


# ---- next (open redirects) --------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    None, "", "//evil.com", "//evil.com/index.html", "/\\evil.com", "\\\\evil.com", "http://evil.com",
    "https:evil.com", "javascript:alert(1)", "evil.com", "/\t/evil.com", "/\n/evil.com", "/ok\\..\\x",
    "/api/auth/login", "/api/me", "/" + "a" * 600, " /index.html", "/index.html\n",
])
def test_only_same_site_page_paths_are_followed(raw):
    assert h5_login.safe_next(raw) == "/index.html"


@pytest.mark.parametrize("raw", ["/", "/departments.html", "/department.html?id=D0301&campus_id=C01",
                                 "/doctor.html?id=DR10023", "/search.html?q=%E5%BF%83"])
def test_same_site_pages_are_kept(raw):
    assert h5_login.safe_next(raw) == raw


def test_an_unsafe_next_ends_on_the_home_page_after_login():
    for raw in ("//evil.com", "https://evil.com/x"):
        assert _finish(_start(next_path=raw)).next_path == "/index.html"


def test_login_url_carries_a_safe_next():
    assert h5_login.login_url("/department.html?id=D0301") == "/api/auth/login?next=/department.html%3Fid%3DD0301"
    assert h5_login.login_url("//evil.com") == "/api/auth/login?next=/index.html"


# ---- session ----------------------------------------------------------------------------------------
def test_sessions_expire_and_refuse_tampering_and_old_versions():
    session = h5_login.WebSession(OPENID, T0, T0 + timedelta(hours=12))
    cookie = h5_login.session_cookie(session, KEY)
    assert h5_login.session_from_cookie(cookie, T0 + timedelta(hours=11, minutes=59), KEY) == session
    assert h5_login.session_from_cookie(cookie, T0 + timedelta(hours=12), KEY) is None
    assert h5_login.session_from_cookie(cookie, T0, b"t" * 32) is None
    assert h5_login.session_from_cookie(cookie[:-2], T0, KEY) is None
    assert h5_login.session_from_cookie(None, T0, KEY) is None
    assert h5_login.session_from_cookie("", T0, KEY) is None
    old = h5_login.session_cookie(h5_login.WebSession(OPENID, T0, T0 + timedelta(hours=12), version=0), KEY)
    assert h5_login.session_from_cookie(old, T0, KEY) is None


def test_signing_key_refuses_a_missing_or_weak_secret_outside_local():
    for secret in ("", "short"):
        with pytest.raises(ConfigurationError, match="H5_SESSION_SECRET"):
            h5_login.signing_key("prod", secret)
    assert h5_login.signing_key("prod", "x" * 32) == b"x" * 32
    assert h5_login.signing_key("local", "configured") == b"configured"
    local = h5_login.signing_key("local", "")
    assert len(local) == 32 and h5_login.signing_key("local", "") == local  # stable within the process


# ---- JS-SDK -----------------------------------------------------------------------------------------
def test_jssdk_config_signs_our_pages():
    config = h5_login.jssdk_config("https://h5.example.cn/index.html#x", FakeTickets(), T0, "nonce1", APPID,
                                   "https://h5.example.cn")
    assert config["appId"] == APPID and config["timestamp"] == int(T0.timestamp()) and config["nonceStr"] == "nonce1"
    from chalicelib.domain import jssdk

    assert config["signature"] == jssdk.signature(jsapi_ticket="ticket-1", noncestr="nonce1",
                                                  timestamp=int(T0.timestamp()), url="https://h5.example.cn/index.html")
    assert "openLocation" in config["jsApiList"]


@pytest.mark.parametrize("url", [None, "", "https://evil.com/", "https://h5.example.cn.evil.com/"])
def test_jssdk_config_refuses_other_urls(url):
    err = _refusal(lambda: h5_login.jssdk_config(url, FakeTickets(), T0, "n", APPID, "https://h5.example.cn"))
    assert (err.code, err.status) == ("BAD_REQUEST", 400)


def test_jssdk_config_when_wechat_is_busy():
    tickets = FakeTickets(error=WeChatSendError(None, "timeout"))
    err = _refusal(lambda: h5_login.jssdk_config("https://h5.example.cn/", tickets, T0, "n", APPID,
                                                 "https://h5.example.cn"))
    assert err.status == 503
