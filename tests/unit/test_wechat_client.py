"""The WeChat API client, messenger, OAuth and JS-SDK adapters on a scripted WeChat (no network):
host rewriting, timeouts, one refresher for the shared token, errcode mapping, nothing secret in logs."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from wechatpy.exceptions import WeChatClientException

from chalicelib.adapters.wechat.client import SharedCredential, SharedTokenWeChatClient
from chalicelib.adapters.wechat.messenger import WeChatApiMessenger
from chalicelib.adapters.wechat.oauth import WeChatApiJsapi, WeChatApiOAuth
from chalicelib.domain.wechat import Article, Reply
from chalicelib.services.ports import WeChatSendError

APPID = "wx1234567890abcdef"
SECRET = "s3cr3t-app-secret-NOT-REAL-0001"
BASE = "http://wechat.test:8091"
OPENID = "oUnitTest0123456789abcdefghi"
TOKEN_KEY = f"{APPID}_access_token"


# ---- a scripted WeChat --------------------------------------------------------------------------------
@dataclass
class Sent:
    method: str
    url: str
    path: str
    query: dict[str, str]
    body: Any
    timeout: Any


Handler = Callable[[Sent], tuple[int, Any]]


class ScriptedWeChat(BaseAdapter):
    """Plays the WeChat API as a transport: each token fetch invalidates the previous token, calls with
    a token that is not current get 40001, ``handlers`` script answers per path."""

    def __init__(self, fetch_delay: float = 0.0) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.sent: list[Sent] = []
        self.current: str | None = None
        self.token_fetches = 0
        self.ticket_fetches = 0
        self.fetch_delay = fetch_delay
        self.handlers: dict[str, Handler] = {}

    def issue_token(self) -> str:
        with self.lock:
            self.token_fetches += 1
            self.current = f"TOKEN-{self.token_fetches:04d}-{'x' * 40}"
            return self.current

    def invalidate(self) -> None:
        with self.lock:
            self.current = None

    def calls(self, path: str) -> list[Sent]:
        return [s for s in self.sent if s.path == path]

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        parts = urlsplit(request.url or "")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = json.loads(request.body) if request.body else None
        sent = Sent(str(request.method), str(request.url), parts.path, query, body, timeout)
        with self.lock:
            self.sent.append(sent)
        status, payload = self._answer(sent)
        response = requests.Response()
        response.status_code = status
        response._content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response.headers["Content-Type"] = "application/json"
        response.encoding = "utf-8"
        response.url = str(request.url)
        response.request = request
        return response

    def _answer(self, sent: Sent) -> tuple[int, Any]:
        if sent.path in self.handlers and sent.path in {"/cgi-bin/token", "/sns/oauth2/access_token"}:
            return self.handlers[sent.path](sent)
        if sent.path == "/cgi-bin/token":
            assert sent.query == {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
            time.sleep(self.fetch_delay)
            return 200, {"access_token": self.issue_token(), "expires_in": 7200}
        if sent.path == "/sns/oauth2/access_token":
            return 200, {"access_token": "user-token", "expires_in": 7200, "openid": OPENID, "scope": "snsapi_base"}
        with self.lock:
            valid = sent.query.get("access_token") == self.current and self.current is not None
        if not valid:
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        if sent.path == "/cgi-bin/ticket/getticket":
            with self.lock:
                self.ticket_fetches += 1
            return 200, {"errcode": 0, "errmsg": "ok", "ticket": f"TICKET-{self.ticket_fetches}", "expires_in": 7200}
        if sent.path in self.handlers:
            return self.handlers[sent.path](sent)
        return 200, {"errcode": 0, "errmsg": "ok"}

    def close(self) -> None:
        pass


class FakeCredentialStore:
    """In-memory ``CredentialStore`` (the DynamoDB one is tested in tests/integration)."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.values: dict[str, tuple[Any, datetime | None]] = {}
        self.leases: dict[str, tuple[str, datetime]] = {}
        self.lock = threading.Lock()
        self.sets = 0

    def get(self, key: str, default: Any = None) -> Any:
        with self.lock:
            entry = self.values.get(key)
        if entry is None or (entry[1] is not None and self.clock() >= entry[1]):
            return default
        return entry[0]

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        with self.lock:
            self.sets += 1
            self.values[key] = (value, self.clock() + timedelta(seconds=ttl - 300) if ttl else None)

    def delete(self, key: str) -> None:
        with self.lock:
            self.values.pop(key, None)

    def acquire_lease(self, name: str, holder: str, seconds: float) -> bool:
        with self.lock:
            held = self.leases.get(name)
            if held is not None and held[1] > self.clock():
                return False
            self.leases[name] = (holder, self.clock() + timedelta(seconds=seconds))
            return True

    def release_lease(self, name: str, holder: str) -> None:
        with self.lock:
            if name in self.leases and self.leases[name][0] == holder:
                del self.leases[name]


@pytest.fixture
def wechat() -> ScriptedWeChat:
    return ScriptedWeChat()


@pytest.fixture
def store() -> FakeCredentialStore:
    return FakeCredentialStore()


def make_client(store: Any, wechat: ScriptedWeChat, **kwargs: Any) -> SharedTokenWeChatClient:
    return SharedTokenWeChatClient(APPID, SECRET, store, BASE, transport=wechat, **kwargs)


@pytest.fixture
def client(store: FakeCredentialStore, wechat: ScriptedWeChat) -> SharedTokenWeChatClient:
    return make_client(store, wechat)


@pytest.fixture
def messenger(client: SharedTokenWeChatClient) -> WeChatApiMessenger:
    return WeChatApiMessenger(client)


# ---- every request reaches the base URL, with timeouts ---------------------------------------------------
def test_every_kind_of_url_goes_to_the_configured_host_with_timeouts(client, wechat, messenger):
    wechat.handlers["/datacube/getusersummary"] = lambda sent: (200, {"list": []})
    messenger.send_custom(OPENID, Reply(text="您好"))  # relative to API_BASE_URL, after the token fetch
    client.customservice.get_session(OPENID)  # absolute https://api.weixin.qq.com/customservice/...
    client.datacube.get_user_summary("2026-11-01", "2026-11-02")  # its own API_BASE_URL
    client.get("https://api.weixin.qq.com/cgi-bin/get_api_domain_ip")
    WeChatApiJsapi(client).ticket()
    WeChatApiOAuth(APPID, SECRET, BASE, transport=wechat).openid_for_code("code123")

    assert [s.path for s in wechat.sent] == [
        "/cgi-bin/token",
        "/cgi-bin/message/custom/send",
        "/customservice/kfsession/getsession",
        "/datacube/getusersummary",
        "/cgi-bin/get_api_domain_ip",
        "/cgi-bin/ticket/getticket",
        "/sns/oauth2/access_token",
    ]
    assert all(s.url.startswith(BASE + "/") for s in wechat.sent)
    assert all(s.timeout == (2.0, 4.0) for s in wechat.sent)


def test_the_real_host_is_left_alone(store, wechat):
    real = SharedTokenWeChatClient(APPID, SECRET, store, "https://api.weixin.qq.com", transport=wechat)
    real.message.send_text(OPENID, "hi")
    assert {urlsplit(s.url).netloc for s in wechat.sent} == {"api.weixin.qq.com"}


# ---- the shared token -------------------------------------------------------------------------------------
def test_the_token_is_fetched_once_and_shared_through_the_store(store, wechat):
    first, second = make_client(store, wechat), make_client(store, wechat)
    first.message.send_text(OPENID, "a")
    second.message.send_text(OPENID, "b")
    assert wechat.token_fetches == 1
    assert store.get(TOKEN_KEY) == wechat.current


def test_a_rejected_token_is_replaced_once_and_the_call_retried_once(client, wechat):
    client.message.send_text(OPENID, "a")
    wechat.invalidate()  # e.g. someone fetched a token from the WeChat console

    client.message.send_text(OPENID, "b")

    assert wechat.token_fetches == 2
    sends = wechat.calls("/cgi-bin/message/custom/send")
    assert len(sends) == 3
    assert sends[1].query["access_token"] != sends[2].query["access_token"] == wechat.current


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_a_token_rejected_again_after_the_retry_is_an_error_not_a_loop(client, wechat, messenger, errcode):
    wechat.handlers["/cgi-bin/message/custom/send"] = lambda sent: (200, {"errcode": errcode, "errmsg": "bad token"})

    with pytest.raises(WeChatSendError) as raised:
        messenger.send_custom(OPENID, Reply(text="hi"))

    assert raised.value.errcode == errcode
    assert len(wechat.calls("/cgi-bin/message/custom/send")) == 2
    assert wechat.token_fetches == 2  # the first token, and one forced refresh


def test_no_refresh_when_someone_else_already_replaced_the_rejected_token(client, store, wechat):
    client.message.send_text(OPENID, "warm up")
    stale = wechat.current

    def another_lambda_refreshes_first(sent: Sent) -> tuple[int, Any]:
        if sent.query["access_token"] == stale:
            # Another Lambda got 40001 too, refreshed, and stored the new token before we look.
            store.set(TOKEN_KEY, wechat.issue_token(), 7200)
            return 200, {"errcode": 40001, "errmsg": "invalid credential"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    wechat.handlers["/cgi-bin/message/custom/send"] = another_lambda_refreshes_first
    client.message.send_text(OPENID, "b")

    assert len(wechat.calls("/cgi-bin/token")) == 1  # only the warm-up: our client fetched nothing
    assert wechat.calls("/cgi-bin/message/custom/send")[-1].query["access_token"] == wechat.current


def test_twenty_clients_with_a_missing_token_fetch_it_once(store):
    wechat = ScriptedWeChat(fetch_delay=0.05)
    clients = [make_client(store, wechat, poll_seconds=0.01) for _ in range(20)]
    errors = run_together([lambda c=c: c.message.send_text(OPENID, "hi") for c in clients])
    assert errors == []
    assert wechat.token_fetches == 1

    wechat.invalidate()
    errors = run_together([lambda c=c: c.message.send_text(OPENID, "again") for c in clients])
    assert errors == []
    assert wechat.token_fetches == 2


def run_together(calls: list[Callable[[], Any]]) -> list[BaseException]:
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return errors


# ---- the lease: holder and waiters ------------------------------------------------------------------------
class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], None] = lambda n: None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep(len(self.sleeps))


def never_fetch() -> tuple[str, int]:
    raise AssertionError("a waiter must not fetch")


def test_a_waiter_takes_the_holders_value_without_fetching(store):
    clock = FakeTime()
    assert store.acquire_lease("k", "the-holder", 10)
    clock.on_sleep = lambda n: store.set("k", "fresh", 7200) if n == 3 else None
    credential = SharedCredential(store, "k", never_fetch, sleep=clock.sleep, monotonic=clock.monotonic)

    assert credential.current() == "fresh"
    assert len(clock.sleeps) == 3


def test_a_waiter_gives_up_after_a_bounded_wait_without_fetching(store):
    clock = FakeTime()
    assert store.acquire_lease("k", "a-stuck-holder", 10)
    credential = SharedCredential(store, "k", never_fetch, wait_seconds=3.0, poll_seconds=0.05,
                                  sleep=clock.sleep, monotonic=clock.monotonic)

    with pytest.raises(WeChatSendError) as raised:
        credential.current()

    assert raised.value.errcode is None
    assert sum(clock.sleeps) == pytest.approx(3.0, abs=0.06)


def test_the_holder_releases_the_lease_when_the_fetch_fails(store):
    def failing_fetch() -> tuple[str, int]:
        raise WeChatClientException(40125, "invalid appsecret")

    with pytest.raises(WeChatClientException):
        SharedCredential(store, "k", failing_fetch).current()
    assert store.leases == {}
    assert store.get("k") is None


def test_a_holder_rechecks_the_store_after_taking_the_lease(store):
    """A refresh finished between our read and our lease: use it, do not fetch again."""
    reads = iter([None, None, "fresh"])  # current(), before the lease, after it
    original_get = store.get
    store.get = lambda key, default=None: next(reads, original_get(key, default))  # type: ignore[method-assign]
    assert SharedCredential(store, "k", never_fetch).current() == "fresh"


def test_the_jsapi_ticket_is_shared_and_fetched_once(store, wechat):
    first, second = make_client(store, wechat), make_client(store, wechat)
    assert WeChatApiJsapi(first).ticket() == WeChatApiJsapi(second).ticket() == "TICKET-1"
    assert wechat.ticket_fetches == 1


# ---- errors -----------------------------------------------------------------------------------------------
def test_wechat_refusals_keep_their_errcode(messenger, wechat):
    wechat.handlers["/cgi-bin/message/custom/send"] = lambda sent: (
        200, {"errcode": 45015, "errmsg": "response out of time limit or subscription is canceled rid: 1"})
    with pytest.raises(WeChatSendError) as raised:
        messenger.send_custom(OPENID, Reply(text="hi"))
    assert raised.value.errcode == 45015
    assert raised.value.errmsg.startswith("response out of time limit")


def test_a_token_fetch_refusal_keeps_its_errcode(messenger, wechat):
    wechat.handlers["/cgi-bin/token"] = lambda sent: (200, {"errcode": 40125, "errmsg": "invalid appsecret"})
    with pytest.raises(WeChatSendError) as raised:
        messenger.send_custom(OPENID, Reply(text="hi"))
    assert raised.value.errcode == 40125


@pytest.mark.parametrize("answer", [(502, {"errcode": -1}), (200, b"<html>gateway</html>")])
def test_http_errors_and_garbage_have_no_errcode(messenger, wechat, answer):
    wechat.handlers["/cgi-bin/message/template/send"] = lambda sent: answer
    with pytest.raises(WeChatSendError) as raised:
        messenger.send_template(OPENID, "TPL", {"thing1": "x"}, "")
    assert raised.value.errcode is None


def test_transport_failures_have_no_errcode_and_no_url(messenger, wechat):
    messenger.send_custom(OPENID, Reply(text="warm up"))
    token = wechat.current

    def refuse(sent: Sent) -> tuple[int, Any]:
        raise requests.ConnectionError(f"Max retries exceeded with url: {sent.url}")

    wechat.handlers["/cgi-bin/message/custom/send"] = refuse
    with pytest.raises(WeChatSendError) as raised:
        messenger.send_custom(OPENID, Reply(text="hi"))

    assert raised.value.errcode is None
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert token not in str(raised.value) and OPENID not in str(raised.value)


# ---- nothing secret in the logs -----------------------------------------------------------------------------
@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    app_logger = logging.getLogger("yiwei")  # does not propagate once configure_logging ran
    app_logger.addHandler(caplog.handler)
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="yiwei"):
        yield caplog
    app_logger.removeHandler(caplog.handler)


def test_tokens_secrets_and_openids_stay_out_of_the_logs(all_logs, client, messenger, wechat):
    messenger.send_custom(OPENID, Reply(text="hi"))
    tokens = [wechat.current]
    wechat.invalidate()
    messenger.send_custom(OPENID, Reply(text="again"))  # forced refresh
    tokens.append(wechat.current)
    tokens.append(WeChatApiJsapi(client).ticket())
    wechat.handlers["/cgi-bin/message/custom/send"] = lambda sent: (200, {"errcode": 40001, "errmsg": "bad"})
    with pytest.raises(WeChatSendError):
        messenger.send_custom(OPENID, Reply(text="fails"))
    tokens.append(wechat.current)

    text = all_logs.text + " ".join(str(r.__dict__) for r in all_logs.records)
    assert "refreshed" in text  # the test does see our logs
    for secret in [SECRET, OPENID, *tokens]:
        assert secret not in text


def test_urllib3_debug_lines_lose_the_query_secrets():
    from chalicelib.adapters.wechat.client import _quiet_urllib3

    _quiet_urllib3()
    logger = logging.getLogger("urllib3.connectionpool")
    record = logger.makeRecord(logger.name, logging.DEBUG, __file__, 1, '%s://%s:%s "%s %s %s" %s %s',
                               ("http", "h", 80, "GET", f"/cgi-bin/token?appid=wx&secret={SECRET}&x=1", "HTTP/1.1",
                                200, 10), None)
    assert all(f.filter(record) for f in logger.filters)
    assert SECRET not in record.getMessage()
    assert "appid=wx&secret=***&x=1" in record.getMessage()


# ---- the messenger's requests --------------------------------------------------------------------------------
def test_news_replies_go_out_as_news(messenger, wechat):
    messenger.send_custom(OPENID, Reply(articles=(Article("标题", "说明", "https://h5.test/a", "https://h5.test/a.png"),)))
    body = wechat.calls("/cgi-bin/message/custom/send")[0].body
    assert body == {"touser": OPENID, "msgtype": "news", "news": {"articles": [
        {"title": "标题", "description": "说明", "url": "https://h5.test/a", "picurl": "https://h5.test/a.png"}]}}


def test_an_empty_reply_sends_nothing(messenger, wechat):
    messenger.send_custom(OPENID, Reply())
    assert wechat.sent == []


def test_template_fields_become_values_and_the_msgid_is_returned(messenger, wechat):
    wechat.handlers["/cgi-bin/message/template/send"] = lambda sent: (200, {"errcode": 0, "msgid": 200228332})
    msgid = messenger.send_template(OPENID, "TPL-1", {"thing1": "心内科", "time2": "11月26日"}, "https://h5.test/q")
    assert msgid == "200228332"
    assert wechat.calls("/cgi-bin/message/template/send")[0].body == {
        "touser": OPENID, "template_id": "TPL-1", "url": "https://h5.test/q",
        "data": {"thing1": {"value": "心内科"}, "time2": {"value": "11月26日"}}}


def test_ensure_tag_finds_or_creates_and_caches(messenger, wechat):
    tags = [{"id": 2, "name": "星标组", "count": 0}]

    def create(sent: Sent) -> tuple[int, Any]:
        tags.append({"id": 100, "name": sent.body["tag"]["name"], "count": 0})
        return 200, {"tag": {"id": 100, "name": sent.body["tag"]["name"]}}

    wechat.handlers["/cgi-bin/tags/get"] = lambda sent: (200, {"tags": tags})
    wechat.handlers["/cgi-bin/tags/create"] = create

    assert messenger.ensure_tag("elderly") == 100
    assert messenger.ensure_tag("elderly") == 100
    assert messenger.ensure_tag("星标组") == 2
    assert len(wechat.calls("/cgi-bin/tags/create")) == 1
    assert len(wechat.calls("/cgi-bin/tags/get")) == 2


def test_ensure_tag_survives_a_racing_create(messenger, wechat):
    listings = iter([[], [{"id": 101, "name": "chronic", "count": 0}]])
    wechat.handlers["/cgi-bin/tags/get"] = lambda sent: (200, {"tags": next(listings)})
    wechat.handlers["/cgi-bin/tags/create"] = lambda sent: (200, {"errcode": 45157, "errmsg": "invalid tag name"})
    assert messenger.ensure_tag("chronic") == 101


def test_tagging_goes_in_batches_of_fifty(messenger, wechat):
    openids = [f"o{i:027d}" for i in range(120)]
    messenger.tag_users(7, openids)
    messenger.untag_users(7, openids[:3])
    batches = [s.body["openid_list"] for s in wechat.calls("/cgi-bin/tags/members/batchtagging")]
    assert [len(b) for b in batches] == [50, 50, 20]
    assert [o for batch in batches for o in batch] == openids
    assert wechat.calls("/cgi-bin/tags/members/batchuntagging")[0].body == {"tagid": 7, "openid_list": openids[:3]}


def test_mass_send_targets_the_tag(messenger, wechat):
    wechat.handlers["/cgi-bin/message/mass/sendall"] = lambda sent: (200, {"errcode": 0, "msg_id": 1000000001})
    assert messenger.mass_send_text(7, "秋季流感疫苗开始接种") == "1000000001"
    assert wechat.calls("/cgi-bin/message/mass/sendall")[0].body == {
        "filter": {"is_to_all": False, "tag_id": 7}, "text": {"content": "秋季流感疫苗开始接种"},
        "msgtype": "text", "send_ignore_reprint": 0}


def test_publish_menu_posts_the_document(messenger, wechat):
    menu = {"button": [{"type": "view", "name": "预约挂号", "url": "https://h5.test/book"}]}
    messenger.publish_menu(menu)
    assert wechat.calls("/cgi-bin/menu/create")[0].body == menu


# ---- OAuth ------------------------------------------------------------------------------------------------
def test_oauth_code_exchange(wechat):
    oauth = WeChatApiOAuth(APPID, SECRET, BASE, transport=wechat)
    assert oauth.openid_for_code("code123") == OPENID
    assert wechat.sent[0].query == {"appid": APPID, "secret": SECRET, "code": "code123",
                                    "grant_type": "authorization_code"}


@pytest.mark.parametrize(("answer", "errcode"), [
    ((200, {"errcode": 40163, "errmsg": "code been used"}), 40163),
    ((200, {"errcode": 40029, "errmsg": "invalid code"}), 40029),
    ((500, {}), None),
    ((200, {"errcode": 0}), None),
])
def test_oauth_refusals(wechat, answer, errcode):
    wechat.handlers["/sns/oauth2/access_token"] = lambda sent: answer
    with pytest.raises(WeChatSendError) as raised:
        WeChatApiOAuth(APPID, SECRET, BASE, transport=wechat).openid_for_code("code123")
    assert raised.value.errcode == errcode
    assert "code123" not in str(raised.value)
