"""Posting to the official account's server (the app's ``/wechat`` webhook) as WeChat does, and reading what it
answers. Every delivery is recorded (``GET /_fake/pushes``)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from .state import FakeState
from .wxml import ReplyError, envelope, open_reply, reply_entry

log = logging.getLogger(__name__)
HEADERS = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"}


@dataclass
class Delivery:
    kind: str
    openid: str
    mode: str
    status: int | None = None
    body: str = ""
    reply: dict[str, Any] | None = None
    error: str | None = None
    elapsed_ms: int = 0
    request: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def deliver(state: FakeState, message_xml: str, openid: str, kind: str) -> Delivery:
    """POST ``message_xml`` (signed, encrypted in AES mode) and open the passive reply. Never raises: what went
    wrong is in ``error`` (Chinese, with the HTTP status and body when there is one)."""
    config = state.config
    mode = config.encrypt_mode
    result = Delivery(kind, openid, mode)
    if not config.webhook_url:
        result.error = "未配置公众号服务器地址（webhook_url）"
        return _recorded(state, result)
    signed = envelope(config, message_xml, openid, mode, int(state.now()))
    result.request = {"url": config.webhook_url, "params": signed.params, "body": signed.body, "xml": message_xml}
    started = time.monotonic()
    try:
        response = requests.post(config.webhook_url, params=signed.params, data=signed.body.encode("utf-8"),
                                 headers=HEADERS, timeout=config.webhook_timeout_seconds)
    except requests.Timeout:
        result.error = f"公众号服务器 {config.webhook_timeout_seconds:g} 秒内未响应（微信会重试 3 次后放弃）"
        return _recorded(state, result, started)
    except requests.RequestException as exc:
        result.error = f"无法连接公众号服务器 {config.webhook_url}：{type(exc).__name__}"
        return _recorded(state, result, started)
    result.status = response.status_code
    result.body = response.content.decode("utf-8", "replace")[:4000]
    if response.status_code != 200:
        result.error = f"公众号服务器返回 HTTP {response.status_code}"
        return _recorded(state, result, started)
    try:
        doc = open_reply(config, result.body, mode)
        result.reply = reply_entry(doc, openid, config.account_id) if doc is not None else None
    except ReplyError as exc:
        result.error = f"该公众号暂时无法提供服务：{exc}"
    return _recorded(state, result, started)


def _recorded(state: FakeState, result: Delivery, started: float | None = None) -> Delivery:
    if started is not None:
        result.elapsed_ms = int((time.monotonic() - started) * 1000)
    state.record_push({"at": state.now(), **result.to_json()})
    return result


def push_in_background(state: FakeState, message_xml: str, openid: str, kind: str) -> threading.Thread | None:
    """Best effort, like WeChat's job-finished events: a daemon thread; the reply is ignored."""
    if not state.config.webhook_url:
        return None

    def run() -> None:
        result = deliver(state, message_xml, openid, kind)
        if result.error:
            log.info("push %s to %s: %s", kind, state.config.webhook_url, result.error)

    thread = threading.Thread(target=run, name=f"wechat-fake-push-{kind}", daemon=True)
    thread.start()
    return thread
