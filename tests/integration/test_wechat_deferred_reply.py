"""The 5-second rule across real wires: a handler that overruns its deadline is answered ``success`` in
time, the message goes through the real SQS queue (moto server), and the worker's reply arrives at the
fake WeChat server as a customer-service message, sent with an access token fetched from it and shared
through DynamoDB. Also: a notice outside the 48-hour window goes out as a template message."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
import requests
from chalice.test import Client

from chalicelib import bootstrap
from chalicelib.domain.menu import MenuKey
from chalicelib.domain.wechat import DeliveryState, Notice, NoticeKind, text
from chalicelib.services import notices
from chalicelib.services import wechat_handlers as handlers
from tests.wechat_wire import WeChatWire

pytestmark = pytest.mark.integration
OPENID = "o-int-deferred-00000000000001"


@pytest.fixture
def fake_wechat(app_settings: Any) -> Iterator[tuple[str, WeChatWire]]:
    from devstack.wechat_fake.server import start_in_thread

    s = app_settings
    server, _thread, base_url = start_in_thread("127.0.0.1", 0, webhook_url="http://127.0.0.1:9/unused",
                                                appid=s.wechat_appid, secret=s.wechat_secret, token=s.wechat_token,
                                                aes_key=s.wechat_aes_key, account_id="gh_yiwei_local")
    requests.post(f"{base_url}/_fake/config", json={"push_template_events": False}, timeout=5).raise_for_status()
    bootstrap.use_settings(replace(s, wechat_api_base_url=base_url, wechat_reply_deadline_seconds=0.5))
    wire = WeChatWire(token=s.wechat_token, aes_key=s.wechat_aes_key, appid=s.wechat_appid, account="gh_yiwei_local")
    yield base_url, wire
    server.shutdown()


def _calls(base_url: str, path: str) -> list[dict[str, Any]]:
    return list(requests.get(f"{base_url}/_fake/calls", params={"path": path}, timeout=5).json()["calls"])


def test_an_overrunning_handler_is_answered_in_time_and_its_reply_arrives_at_wechat(
        fake_wechat: tuple[str, WeChatWire], app_settings: Any) -> None:
    from app import app

    base_url, wire = fake_wechat
    requests.post(f"{base_url}/_fake/users", json={"openid": OPENID, "subscribed": True,
                                                   "last_interaction_seconds_ago": 5}, timeout=5).raise_for_status()

    release, finished = threading.Event(), threading.Event()

    def slow(message: Any, ctx: Any) -> Any:
        release.wait(10)  # runs past the 0.5 s deadline until the test has the webhook's answer
        finished.set()
        return text("这是稍后送达的回答")

    original = handlers.MENU._handlers[MenuKey.FAQ.value]
    handlers.MENU._handlers[MenuKey.FAQ.value] = slow
    try:
        with Client(app, stage_name="local") as client:
            path, body = wire.request(wire.event(OPENID, "CLICK", MenuKey.FAQ.value))
            response = client.http.post(path, headers={"Content-Type": "text/xml"}, body=body)
            answered_while_the_handler_ran = not finished.is_set()
            release.set()
            assert answered_while_the_handler_ran
            assert (response.status_code, response.body) == (200, b"success")

            sqs = boto3.client("sqs", region_name=app_settings.region, endpoint_url=app_settings.aws_endpoint_url)
            url = sqs.get_queue_url(QueueName=app_settings.wechat_async_queue)["QueueUrl"]
            messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, MaxNumberOfMessages=10)["Messages"]
            assert len(messages) == 1
            event = client.events.generate_sqs_event(message_bodies=[messages[0]["Body"]],
                                                    queue_name=app_settings.wechat_async_queue)
            assert client.lambda_.invoke("on_wechat_deferred", event).payload == {"batchItemFailures": []}
            # A redelivery of the same message sends nothing more.
            assert client.lambda_.invoke("on_wechat_deferred", event).payload == {"batchItemFailures": []}
    finally:
        handlers.MENU._handlers[MenuKey.FAQ.value] = original

    sent = _calls(base_url, "/cgi-bin/message/custom/send")
    assert [(c["body"]["touser"], c["body"]["text"]["content"], c["response"]["errcode"]) for c in sent] == [
        (OPENID, "这是稍后送达的回答", 0)]
    assert len(_calls(base_url, "/cgi-bin/token")) == 1


def test_a_notice_outside_the_window_goes_as_a_template_and_is_recorded(fake_wechat: tuple[str, WeChatWire]) -> None:
    base_url, _wire = fake_wechat
    requests.post(f"{base_url}/_fake/users", json={"openid": OPENID, "subscribed": True,
                                                   "last_interaction_seconds_ago": 72 * 3600}, timeout=5)
    c = bootstrap.container()
    c.wechat_users.subscribe(OPENID, c.clock(), "")
    notice = Notice(NoticeKind.REPORT_READY, OPENID, "您的检验报告已出。", {"keyword1": "血常规"},
                    "http://127.0.0.1:8080/index.html")
    # Our record says the patient spoke recently, WeChat says otherwise (45015): the template takes over.
    delivery = notices.notify(notice, "report_ready:R-int-1", c.wechat_users, c.wechat_messenger, c.deliveries,
                              c.settings.template_id, c.clock)
    assert delivery.state is DeliveryState.SENT and delivery.wechat_msgid
    assert [x["response"]["errcode"] for x in _calls(base_url, "/cgi-bin/message/custom/send")] == [45015]
    [template] = _calls(base_url, "/cgi-bin/message/template/send")
    assert template["body"]["template_id"] == "tpl-local-report-ready"
    assert json.dumps(template["body"]["data"], ensure_ascii=False) == '{"keyword1": {"value": "血常规"}}'
    assert c.deliveries.get("report_ready:R-int-1").wechat_msgid == delivery.wechat_msgid
