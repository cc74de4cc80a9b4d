"""The local SMS outbox sender over HTTP, against the fake WeChat platform's ``/_fake/sms`` (in a thread)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.sms.outbox import HttpOutboxSmsSender
from chalicelib.services.ports import SmsSendError

pytestmark = pytest.mark.integration


@pytest.fixture
def outbox() -> Any:
    from devstack.wechat_fake.server import start_in_thread

    server, _thread, base_url = start_in_thread("127.0.0.1", 0, webhook_url="http://127.0.0.1:9/wechat",
                                                appid="wxunit", secret="s", token="t",
                                                aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    yield server, base_url
    server.shutdown()


def test_the_outbox_sender_posts_to_the_fake(outbox):
    server, base_url = outbox
    HttpOutboxSmsSender(base_url + "/_fake/sms").send("13800000004", "验证码是123456")
    assert [(m["phone"], m["text"]) for m in server.state.sms] == [("13800000004", "验证码是123456")]


def test_the_outbox_sender_reports_refusals_and_an_absent_outbox(outbox):
    _server, base_url = outbox
    with pytest.raises(SmsSendError, match="HTTP 400"):
        HttpOutboxSmsSender(base_url + "/_fake/sms").send("123", "x")
    with pytest.raises(SmsSendError, match="not reachable"):
        HttpOutboxSmsSender("http://127.0.0.1:9/_fake/sms", timeout=1).send("13800000004", "x")
    with pytest.raises(ValueError):
        HttpOutboxSmsSender("file:///etc/passwd")
