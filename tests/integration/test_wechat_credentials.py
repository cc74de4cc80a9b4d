"""The shared WeChat credentials on the ``wechat`` table (moto server): leases, expiry, and twenty
clients - as twenty Lambdas would hold - against a counting WeChat token server over real HTTP."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.adapters.dynamodb.models import wechat_model
from chalicelib.adapters.dynamodb.wechat_credentials import DynamoCredentialStore
from chalicelib.adapters.wechat.client import SharedTokenWeChatClient
from chalicelib.adapters.wechat.messenger import WeChatApiMessenger
from chalicelib.adapters.wechat.oauth import WeChatApiJsapi
from chalicelib.domain.wechat import Reply
from tests.integration.conftest import REGION

pytestmark = pytest.mark.integration

APPID = "wxintegration0001"
SECRET = "integration-secret-NOT-REAL-0001"
OPENID = "oIntegration0123456789abcdef"
CALLERS = 20
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


# ---- a counting WeChat ---------------------------------------------------------------------------------
class CountingWeChat:
    """/cgi-bin/token (each fetch invalidates the previous token, like WeChat), /cgi-bin/ticket/getticket,
    and /cgi-bin/message/custom/send, which answers 40001 to any token that is not the current one."""

    def __init__(self, fetch_delay: float = 0.2) -> None:
        self.lock = threading.Lock()
        self.fetch_delay = fetch_delay
        self.current: str | None = None
        self.token_fetches = 0
        self.ticket_fetches = 0
        self.sends = 0
        self.rejections = 0
        self.issued: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def invalidate(self) -> None:
        with self.lock:
            self.current = None

    def _answer(self, method: str, path: str, query: dict[str, str]) -> dict[str, Any]:
        if method == "GET" and path == "/cgi-bin/token":
            if query.get("appid") != APPID or query.get("secret") != SECRET:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            time.sleep(self.fetch_delay)  # a slow WeChat widens the race
            with self.lock:
                self.token_fetches += 1
                self.current = f"tok{self.token_fetches:03d}-" + "A" * 100
                self.issued.append(self.current)
                return {"access_token": self.current, "expires_in": 7200}
        with self.lock:
            if self.current is None or query.get("access_token") != self.current:
                self.rejections += 1
                return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            if method == "GET" and path == "/cgi-bin/ticket/getticket":
                self.ticket_fetches += 1
                self.issued.append(f"ticket{self.ticket_fetches}-" + "B" * 60)
                return {"errcode": 0, "errmsg": "ok", "ticket": self.issued[-1], "expires_in": 7200}
            if method == "POST" and path == "/cgi-bin/message/custom/send":
                self.sends += 1
                return {"errcode": 0, "errmsg": "ok"}
        return {"errcode": 404, "errmsg": "no such endpoint"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        wechat = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                body = json.dumps(wechat._answer(self.command, parts.path, query)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def wechat_server() -> Iterator[CountingWeChat]:
    wechat = CountingWeChat()
    thread = threading.Thread(target=wechat.server.serve_forever, daemon=True)
    thread.start()
    yield wechat
    wechat.server.shutdown()
    wechat.server.server_close()


@pytest.fixture
def model(aws: Any, moto_endpoint: str) -> Any:
    return wechat_model(aws.table("wechat"), REGION, moto_endpoint)


def real_now() -> datetime:
    return datetime.now(UTC)


def run_together(calls: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results.append(call())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, errors


# ---- the emulator first --------------------------------------------------------------------------------------
def test_canary_the_emulator_rejects_a_racing_conditional_write(model):
    """Concurrency results below mean nothing unless moto refuses the loser of a conditional put."""
    for round_ in range(25):
        stores = [DynamoCredentialStore(model, real_now) for _ in range(2)]
        results, errors = run_together([lambda s=s, h=h, r=round_: s.acquire_lease(f"canary{r}", f"holder{h}", 10)
                                        for h, s in enumerate(stores)])
        assert errors == []
        assert sorted(results) == [False, True], f"round {round_}: {results}"


# ---- the store -------------------------------------------------------------------------------------------
class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_values_expire_a_safety_margin_before_wechat_says(model):
    clock = Clock(T0)
    store = DynamoCredentialStore(model, clock)
    store.set("wx_access_token", "the-token", 7200)
    store.set("wx_short", "short-lived", 60)
    store.set("wx_forever", "no-ttl")
    store.set("wx_number", 1764144000)

    assert store.get("wx_access_token") == "the-token"
    assert store.get("wx_number") == 1764144000
    clock.at = T0 + timedelta(seconds=7200 - 300 - 1)
    assert store.get("wx_access_token") == "the-token"
    clock.at = T0 + timedelta(seconds=7200 - 300)  # past expires_at: absent, though DynamoDB still has it
    assert store.get("wx_access_token") is None
    assert store.get("wx_access_token", "default") == "default"
    assert store.get("wx_short") is None  # at most half its life is cut off: gone after 30 s
    assert store.get("wx_forever") == "no-ttl"
    item = model.get("cred#wx_access_token", "value")
    assert item.expires_at == int(T0.timestamp()) + 6900

    store.delete("wx_forever")
    assert store.get("wx_forever") is None
    assert store.get("never-set") is None


def test_a_lease_is_exclusive_until_released_or_lapsed(model):
    clock = Clock(T0)
    store = DynamoCredentialStore(model, clock)
    assert store.acquire_lease("wx_access_token", "a", 10)
    assert not store.acquire_lease("wx_access_token", "b", 10)
    store.release_lease("wx_access_token", "b")  # not b's: a still holds it
    assert not store.acquire_lease("wx_access_token", "b", 10)
    store.release_lease("wx_access_token", "a")
    assert store.acquire_lease("wx_access_token", "b", 10)

    clock.at = T0 + timedelta(seconds=11)  # b crashed: its lease lapses
    assert store.acquire_lease("wx_access_token", "c", 10)
    store.release_lease("wx_access_token", "b")  # b's late release must not free c's lease
    assert not store.acquire_lease("wx_access_token", "d", 10)


# ---- twenty Lambdas, one refresher -----------------------------------------------------------------------------
def test_twenty_lambdas_share_one_token_and_one_refresh(model, wechat_server, caplog):
    for name in ("yiwei", "urllib3", "wechatpy"):
        caplog.set_level(logging.DEBUG, logger=name)
    logging.getLogger("yiwei").addHandler(caplog.handler)  # "yiwei" may not propagate
    try:
        # Twenty threads of one process share a GIL and an in-process moto: allow the waiters more
        # than the production 3 s (the bound itself is a unit test), so the counts are what is tested.
        clients = [SharedTokenWeChatClient(APPID, SECRET, DynamoCredentialStore(model, real_now), wechat_server.url,
                                           wait_seconds=15.0)
                   for _ in range(CALLERS)]
        messengers = [WeChatApiMessenger(c) for c in clients]

        def send_all(text: str) -> list[BaseException]:
            return run_together([lambda m=m: m.send_custom(OPENID, Reply(text=text)) for m in messengers])[1]

        assert send_all("no token yet") == []
        assert wechat_server.token_fetches == 1
        assert wechat_server.sends == CALLERS

        wechat_server.invalidate()  # WeChat drops the token (e.g. a fetch from the console)
        assert send_all("token invalidated") == []
        assert wechat_server.token_fetches == 2
        assert wechat_server.sends == 2 * CALLERS

        tickets, errors = run_together([lambda c=c: WeChatApiJsapi(c).ticket() for c in clients])
        assert errors == []
        assert set(tickets) == {wechat_server.issued[-1]}
        assert wechat_server.ticket_fetches == 1
        assert wechat_server.token_fetches == 2
    finally:
        logging.getLogger("yiwei").removeHandler(caplog.handler)

    logged = caplog.text
    assert "refreshed" in logged and "/cgi-bin/token" in logged  # our lines and urllib3's are captured
    for secret in [SECRET, OPENID, *wechat_server.issued]:
        assert secret not in logged
