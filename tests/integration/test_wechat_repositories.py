"""The WeChat DynamoDB adapters (inbox ledger, users, deliveries) and the deferred queue against
resources provisioned from infra/resources.yaml on moto server."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import bootstrap
from chalicelib.domain.wechat import (
    Channel,
    Delivery,
    DeliveryState,
    InboundMessage,
    LastLocation,
    UserTag,
    text,
)
from chalicelib.services.ports import InboxState

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
OPENID = "oIntegrationUser000000000001"


def test_emulator_rejects_a_racing_conditional_write_canary(app_settings):
    """Before trusting the concurrency test below: of N racing claims exactly one wins, every round."""
    ledger = bootstrap.container().inbox_ledger
    for round_ in range(5):
        wins: list[InboxState] = []
        barrier = threading.Barrier(8)

        def claim(key: str, barrier: threading.Barrier, wins: list[InboxState]) -> None:
            barrier.wait()
            wins.append(ledger.claim(key, T0).state)

        threads = [threading.Thread(target=claim, args=(f"race-{round_}", barrier, wins)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wins.count(InboxState.NEW) == 1, wins


def test_inbox_ledger_lifecycle(app_settings):
    ledger = bootstrap.container().inbox_ledger
    assert ledger.peek("k1") is None
    assert ledger.claim("k1", T0).state is InboxState.NEW
    assert ledger.claim("k1", T0 + timedelta(seconds=1)).state is InboxState.PROCESSING
    ledger.answered("k1", text("您好"), T0)
    again = ledger.claim("k1", T0 + timedelta(seconds=5))
    assert again.state is InboxState.ANSWERED and again.reply == text("您好")
    assert ledger.deferred("k1", T0) is False  # an answered message is never deferred afterwards
    # A failed attempt releases its claim; a processing claim left by a dead attempt goes stale.
    assert ledger.claim("k2", T0).state is InboxState.NEW
    ledger.release("k2")
    assert ledger.claim("k2", T0).state is InboxState.NEW
    assert ledger.claim("k2", T0 + timedelta(seconds=3)).state is InboxState.PROCESSING
    assert ledger.claim("k2", T0 + timedelta(seconds=30)).state is InboxState.NEW
    assert ledger.deferred("k2", T0) is True
    assert ledger.claim("k2", T0 + timedelta(minutes=5)).state is InboxState.DEFERRED
    ledger.release("k2")  # releasing a deferred claim does nothing
    assert ledger.peek("k2").state is InboxState.DEFERRED


def test_users(app_settings):
    users = bootstrap.container().wechat_users
    assert users.get(OPENID) is None
    users.touch(OPENID, T0)
    assert users.get(OPENID).subscribed and users.get(OPENID).last_interaction_at == T0
    users.subscribe(OPENID, T0, "dept:D0301")
    users.save_location(OPENID, LastLocation(30.27, 120.15, T0))
    users.set_tags(OPENID, frozenset({UserTag.ELDERLY, UserTag.CHRONIC}))
    users.subscribe(OPENID, T0 + timedelta(days=1), "")  # a later plain follow keeps the scene
    user = users.get(OPENID)
    assert user.scene == "dept:D0301" and user.location == LastLocation(30.27, 120.15, T0)
    assert user.tags == {UserTag.ELDERLY, UserTag.CHRONIC}
    assert user.in_service_window(T0 + timedelta(days=2)) and not user.in_service_window(T0 + timedelta(days=3, hours=1))
    users.unsubscribe(OPENID, T0 + timedelta(days=2))
    assert not users.get(OPENID).subscribed
    assert not users.get(OPENID).in_service_window(T0 + timedelta(days=2))
    users.set_tags(OPENID, frozenset())
    assert users.get(OPENID).tags == frozenset()


def test_deliveries_and_template_reports(app_settings):
    log = bootstrap.container().deliveries
    sent = Delivery("report_ready:R1", OPENID, "report_ready", Channel.TEMPLATE, DeliveryState.SENT, T0, "20016")
    log.record(sent)
    log.record(Delivery("refund:P1", OPENID, "refund", Channel.CUSTOMER_SERVICE, DeliveryState.SENT,
                        T0 + timedelta(minutes=1)))
    assert log.get("report_ready:R1") == sent
    assert log.template_finished("20016", DeliveryState.DELIVERED, T0 + timedelta(seconds=3))
    assert log.get("report_ready:R1").state is DeliveryState.DELIVERED
    assert not log.template_finished("unknown", DeliveryState.DELIVERED, T0)
    assert [d.delivery_id for d in log.of_user(OPENID)] == ["refund:P1", "report_ready:R1"]
    assert log.of_user(OPENID)[1].state is DeliveryState.DELIVERED


def test_deferred_inbox_puts_the_message_on_the_queue(app_settings, aws):
    import boto3

    message = InboundMessage("text", OPENID, "gh_x", T0, int(T0.timestamp()), msg_id="1", content="你好")
    bootstrap.container().deferred_inbox.send(message)
    sqs = boto3.client("sqs", region_name=app_settings.region, endpoint_url=app_settings.aws_endpoint_url)
    url = sqs.get_queue_url(QueueName=app_settings.wechat_async_queue)["QueueUrl"]
    [received] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert InboundMessage.from_dict(json.loads(received["Body"])) == message
