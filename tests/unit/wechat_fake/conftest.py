"""Fixtures: a fresh fake per test behind Flask's test client, a WeChat API caller that fetches its own token, and a
stand-in for the app's webhook (``requests.post`` replaced) that decrypts with wechatpy and answers as told."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from devstack.wechat_fake import webhook
from devstack.wechat_fake.config import FakeConfig
from devstack.wechat_fake.server import create_app
from devstack.wechat_fake.state import FakeState

APPID = "wxunit0000000001"
SECRET = "unit-secret"
TOKEN = "unittoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_unit"
ZHANG = "o-sim-zhangayi-0000000000001"  # seeded: not following
LI = "o-sim-lixiansheng-0000000002"  # seeded: following, last interaction 72 h ago
CHEN = "o-sim-chennvshi-000000000003"  # seeded: following, interacted at start


@pytest.fixture
def state() -> FakeState:
    return FakeState(FakeConfig(appid=APPID, secret=SECRET, token=TOKEN, aes_key=AES_KEY, account_id=ACCOUNT))


@pytest.fixture
def client(state: FakeState) -> FlaskClient:
    return create_app(state).test_client()


class WeChatApi:
    """Calls the fake's WeChat API like the app would: JSON in, JSON out, with a current access token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._token: str | None = None

    def token(self, refresh: bool = False) -> str:
        if self._token is None or refresh:
            query = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
            self._token = self.client.get("/cgi-bin/token", query_string=query).json["access_token"]
        return self._token

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        response = self.client.get(path, query_string={"access_token": self.token(), **query})
        assert response.status_code == 200, response.data
        return dict(response.json)

    def post(self, path: str, body: Any, **query: Any) -> dict[str, Any]:
        response = self.client.post(path, query_string={"access_token": self.token(), **query}, json=body)
        assert response.status_code == 200, response.data
        return dict(response.json)


@pytest.fixture
def wx(client: FlaskClient) -> WeChatApi:
    return WeChatApi(client)


Answer = Callable[[Any, bool], tuple[int, str]]


class AppDouble:
    """Replaces ``requests.post`` in the webhook module. Every post is checked with wechatpy (query signature; in AES
    mode msg_signature and decryption) and kept in ``posts``; ``answer(message, aes)`` gives (status, body)."""

    def __init__(self) -> None:
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
        self.posts: list[dict[str, Any]] = []
        self.answer: Answer = self.echo

    def encrypt(self, xml: str, params: dict[str, str]) -> str:
        return str(self.crypto.encrypt_message(xml, params["nonce"], params["timestamp"]))

    def echo(self, message: Any, aes: bool) -> tuple[int, str]:
        if message.type != "text":
            return 200, "success"
        xml = TextReply(content=f"收到：{message.content}", message=message).render()
        return 200, self.encrypt(xml, self.posts[-1]["params"]) if aes else xml

    def __call__(self, url: str, *, params: dict[str, str], data: bytes, headers: dict[str, str],
                 timeout: float) -> requests.Response:
        check_signature(TOKEN, params["signature"], params["timestamp"], params["nonce"])
        body = data.decode("utf-8")
        aes = params.get("encrypt_type") == "aes"
        xml = self.crypto.decrypt_message(body, params["msg_signature"], params["timestamp"], params["nonce"]) if aes \
            else body
        message = parse_message(xml)
        self.posts.append({"url": url, "params": params, "body": body, "xml": xml, "message": message,
                           "headers": headers})
        status, text = self.answer(message, aes)
        response = requests.Response()
        response.status_code = status
        response._content = text.encode("utf-8")
        return response


@pytest.fixture
def app_double(state: FakeState, monkeypatch: pytest.MonkeyPatch) -> AppDouble:
    double = AppDouble()
    state.config.webhook_url = "http://app.test/wechat"
    state._initial_config.webhook_url = state.config.webhook_url
    monkeypatch.setattr(webhook.requests, "post", double)
    return double
