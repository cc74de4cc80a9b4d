"""The fake WeChat platform over real HTTP: wechatpy's own ``WeChatClient`` talks to it (its host rewritten by a
transport adapter), and the simulator posts to a tiny official-account server that checks everything with
wechatpy (``check_signature``, ``WeChatCrypto``) and answers with encrypted replies."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask, request
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException, WeChatClientException
from wechatpy.replies import ArticlesReply, TextReply
from wechatpy.utils import check_signature
from werkzeug.serving import make_server

from devstack.wechat_fake.server import start_in_thread

pytestmark = pytest.mark.integration

APPID = "wx00000000test0001"
SECRET = "test-wechat-secret"
TOKEN = "testtoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_test_account"
ZHANG = "o-sim-zhangayi-0000000000001"  # not following yet
LI = "o-sim-lixiansheng-0000000002"  # following, last interaction 3 days ago
CHEN = "o-sim-chennvshi-000000000003"  # following, interacted just now


class EchoWebhook:
    """The official account's server in miniature. Verifies WeChat's query signature, decrypts in AES mode,
    answers: subscribe → welcome text; text → "收到：…" (or HTTP 500 for "boom"); CLICK → a news card;
    anything else → ``success``. Replies are encrypted when the request was."""

    def __init__(self, token: str = TOKEN, aes_key: str = AES_KEY, appid: str = APPID) -> None:
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, appid)
        self.received: list[dict[str, Any]] = []
        self.failures: list[str] = []
        app = Flask(__name__)
        app.add_url_rule("/wechat", "wechat", self._handle, methods=["POST"])
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/wechat"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handle(self) -> tuple[str, int] | str:
        args = request.args
        raw = request.get_data(as_text=True)
        try:
            check_signature(self.token, args["signature"], args["timestamp"], args["nonce"])
            aes = args.get("encrypt_type") == "aes"
            xml = self.crypto.decrypt_message(raw, args["msg_signature"], args["timestamp"], args["nonce"]) if aes else raw
        except (InvalidSignatureException, KeyError) as exc:
            self.failures.append(f"{type(exc).__name__}: {dict(args)}")
            return "bad signature", 403
        message = parse_message(xml)
        self.received.append({"args": dict(args), "body": raw, "xml": xml, "message": message})
        reply: Any = None
        if message.type == "event" and message.event in ("subscribe", "subscribe_scan"):
            reply = TextReply(content="欢迎关注示例市第一人民医院！", message=message)
        elif message.type == "text":
            if message.content == "boom":
                return "Internal Server Error: boom", 500
            reply = TextReply(content=f"收到：{message.content}", message=message)
        elif message.type == "event" and message.event == "click":
            reply = ArticlesReply(message=message)
            reply.add_article({"title": "科室介绍", "description": f"按键 {message.key}",
                               "image": "", "url": "http://127.0.0.1:9/h5/departments"})
        if reply is None:
            return "success"
        if not aes:
            return str(reply.render())
        return str(self.crypto.encrypt_message(reply.render(), args["nonce"], args["timestamp"]))

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in list(self.received):
                if predicate(item):
                    return item
            time.sleep(0.02)
        raise AssertionError(f"nothing matching arrived; received {[r['message'] for r in self.received]}")

    def stop(self) -> None:
        self.server.shutdown()


class RedirectHost(HTTPAdapter):
    """Sends what wechatpy addresses to https://api.weixin.qq.com to the fake instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        request.url = str(request.url).replace("https://api.weixin.qq.com", self.base_url, 1)
        return super().send(request, **kwargs)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[EchoWebhook, Any, str]]:
    hook = EchoWebhook()
    server, _thread, base_url = start_in_thread("127.0.0.1", 0, webhook_url=hook.url, appid=APPID, secret=SECRET,
                                                token=TOKEN, aes_key=AES_KEY, account_id=ACCOUNT)
    yield hook, server.state, base_url
    server.shutdown()
    hook.stop()


@pytest.fixture
def webhook(servers: tuple[EchoWebhook, Any, str]) -> EchoWebhook:
    servers[0].received.clear()
    servers[0].failures.clear()
    return servers[0]


@pytest.fixture
def fake(servers: tuple[EchoWebhook, Any, str], webhook: EchoWebhook) -> tuple[Any, str]:
    """The fake's state and base URL, reset (users, tokens, calls, switches) for each test."""
    assert requests.post(f"{servers[2]}/_fake/reset", timeout=5).json() == {"ok": True}
    return servers[1], servers[2]


@pytest.fixture
def client(fake: tuple[Any, str]) -> WeChatClient:
    wechat = WeChatClient(APPID, SECRET)
    wechat._http.mount("https://api.weixin.qq.com/", RedirectHost(fake[1]))
    return wechat


def calls(base_url: str, **query: str) -> list[dict[str, Any]]:
    return list(requests.get(f"{base_url}/_fake/calls", params=query, timeout=5).json()["calls"])


def sim_send(base_url: str, **body: Any) -> dict[str, Any]:
    response = requests.post(f"{base_url}/_sim/api/send", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


# ---------------------------------------------------------------- wechatpy against the fake
def test_wechatpy_sends_a_template_message_and_the_fake_pushes_the_job_finished_event(client, fake, webhook):
    _state, base = fake
    result = client.message.send_template(CHEN, "TPL-visit-reminder", {"thing1": {"value": "心血管内科"},
                                                                       "time2": {"value": "2025-06-23 08:30"}},
                                          url="http://127.0.0.1:8080/visits")
    assert result["errcode"] == 0 and isinstance(result["msgid"], int)

    recorded = calls(base, path="/cgi-bin/message/template/send", openid=CHEN)
    assert len(recorded) == 1
    assert recorded[0]["body"]["data"]["thing1"] == {"value": "心血管内科"}
    assert recorded[0]["response"]["msgid"] == result["msgid"]
    assert calls(base, path="/cgi-bin/token")[0]["query"]["secret"] == "***"

    pushed = webhook.wait_for(lambda r: r["message"].type == "event" and r["message"].event == "templatesendjobfinish")
    assert pushed["message"].id == result["msgid"] and pushed["message"].status == "success"
    assert pushed["args"]["openid"] == CHEN and pushed["args"]["encrypt_type"] == "aes"

    timeline = requests.get(f"{base}/_sim/api/timeline", params={"openid": CHEN}, timeout=5).json()["entries"]
    assert [(e["kind"], e["data"]["thing1"]) for e in timeline] == [("template", "心血管内科")]


def test_wechatpy_custom_message_honours_the_48_hour_window(client, fake):
    _state, base = fake
    assert client.message.send_text(CHEN, "您的报告已出，请查看。")["errcode"] == 0
    with pytest.raises(WeChatClientException) as refused:
        client.message.send_text(LI, "三天前才互动过的用户收不到")
    assert refused.value.errcode == 45015
    assert [c["errcode"] for c in calls(base, path="/cgi-bin/message/custom/send")] == [0, 45015]
    assert calls(base, path="/cgi-bin/message/custom/send", openid=LI)[0]["body"]["text"]["content"].startswith("三天前")


def test_wechatpy_creates_the_menu_and_reads_it_back(client, fake):
    _state, base = fake
    menu = {"button": [
        {"type": "click", "name": "科室介绍", "key": "DEPTS"},
        {"name": "就医服务", "sub_button": [{"type": "view", "name": "预约挂号", "url": "http://127.0.0.1:8080/book"}]},
    ]}
    assert client.menu.create(menu)["errcode"] == 0
    assert client.menu.get()["menu"]["button"][1]["sub_button"][0]["url"] == "http://127.0.0.1:8080/book"
    with pytest.raises(WeChatClientException) as too_many:
        client.menu.create({"button": [{"type": "click", "name": f"按钮{i}", "key": f"K{i}"} for i in range(4)]})
    assert too_many.value.errcode == 40016
    assert [b["name"] for b in requests.get(f"{base}/_sim/api/state", timeout=5).json()["menu"]] == ["科室介绍", "就医服务"]


def test_wechatpy_refreshes_an_expired_token_and_retries(client, fake):
    _state, base = fake
    client.menu.delete()
    assert requests.post(f"{base}/_fake/tokens/expire", timeout=5).json() == {"expired": True}
    client.menu.delete()
    assert [c["errcode"] for c in calls(base, path="/cgi-bin/menu/delete")] == [0, 42001, 0]
    assert len(calls(base, path="/cgi-bin/token")) == 2


# ---------------------------------------------------------------- the simulator posting to a webhook
def test_simulator_posts_signed_encrypted_xml_and_shows_the_decrypted_reply(fake, webhook):
    _state, base = fake
    sent = sim_send(base, openid=ZHANG, action="subscribe", scene="dept:D0301")
    assert not webhook.failures
    arrived = webhook.received[0]
    assert set(arrived["args"]) == {"signature", "timestamp", "nonce", "openid", "encrypt_type", "msg_signature"}
    assert arrived["args"]["openid"] == ZHANG
    assert arrived["body"].startswith(f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[")
    message = arrived["message"]
    assert (message.type, message.event, message.source, message.target) == ("event", "subscribe_scan", ZHANG, ACCOUNT)
    assert message.scene_id == "dept:D0301" and message.ticket
    assert sent["entries"][-1]["content"] == "欢迎关注示例市第一人民医院！"

    sim_send(base, openid=ZHANG, action="text", content="明天心内科有号吗")
    assert webhook.received[-1]["message"].content == "明天心内科有号吗"
    timeline = requests.get(f"{base}/_sim/api/timeline", params={"openid": ZHANG}, timeout=5).json()
    assert timeline["user"]["subscribed"] is True
    assert [(e["direction"], e["kind"], e.get("content")) for e in timeline["entries"]] == [
        ("in", "event", "扫码关注公众号（场景 dept:D0301）"),
        ("out", "text", "欢迎关注示例市第一人民医院！"),
        ("in", "text", "明天心内科有号吗"),
        ("out", "text", "收到：明天心内科有号吗"),
    ]


def test_simulator_in_plain_mode_and_a_menu_click_with_a_news_reply(fake, webhook):
    _state, base = fake
    assert requests.post(f"{base}/_fake/config", json={"encrypt_mode": "plain"}, timeout=5).status_code == 200
    sent = sim_send(base, openid=CHEN, action="click", key="DEPTS")
    assert "encrypt_type" not in webhook.received[-1]["args"]
    assert webhook.received[-1]["message"].key == "DEPTS"
    reply = sent["entries"][-1]
    assert reply["kind"] == "news" and reply["articles"][0]["title"] == "科室介绍"


def test_simulator_shows_webhook_errors_plainly(fake, webhook):
    _state, base = fake
    sent = sim_send(base, openid=CHEN, action="text", content="boom")
    error = sent["entries"][-1]
    assert (error["kind"], error["status"]) == ("error", 500)
    assert "HTTP 500" in error["content"] and error["body"] == "Internal Server Error: boom"


def test_oauth_over_http_as_the_simulated_user(fake, webhook):
    _state, base = fake
    session = requests.Session()
    authorize = (f"{base}/connect/oauth2/authorize?appid={APPID}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fh5%2F"
                 "&response_type=code&scope=snsapi_base&state=home#wechat_redirect")
    opened = session.get(f"{base}/_sim/open", params={"openid": CHEN, "url": authorize}, allow_redirects=False, timeout=5)
    assert opened.status_code == 302
    landed = session.get(opened.headers["Location"], allow_redirects=False, timeout=5)
    assert landed.headers["Location"].startswith("http://127.0.0.1:9/h5/?code=")
    code = landed.headers["Location"].split("code=")[1].split("&")[0]
    query = {"appid": APPID, "secret": SECRET, "code": code, "grant_type": "authorization_code"}
    first = requests.get(f"{base}/sns/oauth2/access_token", params=query, timeout=5).json()
    assert (first["openid"], first["scope"]) == (CHEN, "snsapi_base")
    assert requests.get(f"{base}/sns/oauth2/access_token", params=query, timeout=5).json()["errcode"] == 40163
