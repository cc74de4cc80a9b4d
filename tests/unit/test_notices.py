"""Notices: the 48-hour rule picks the channel, unfollowers get nothing, one notice id is sent once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.wechat import Channel, DeliveryState, Notice, NoticeKind, UserTag
from chalicelib.services import notices
from chalicelib.services.ports import WeChatSendError
from tests.fakes import FakeDeliveryLog, FakeMessenger, FakeWeChatUsers

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
OPENID = "oNotice0000000000000000001"
NOTICE = Notice(NoticeKind.REPORT_READY, OPENID, "您的检验报告已出。", {"keyword1": "血常规", "keyword2": "2026-11-26"},
                "https://h5.example.org/reports.html")
TEMPLATES = {"report_ready": "tpl-report"}


@pytest.fixture
def world():
    users, messenger, log = FakeWeChatUsers(), FakeMessenger(), FakeDeliveryLog()

    def send(notice=NOTICE, notice_id="report_ready:R1"):
        return notices.notify(notice, notice_id, users, messenger, log, lambda k: TEMPLATES.get(k, ""), lambda: NOW)

    return users, messenger, log, send


def test_inside_the_window_a_customer_service_message(world):
    users, messenger, _log, send = world
    users.touch(OPENID, NOW - timedelta(hours=3))
    delivery = send()
    assert (delivery.channel, delivery.state) == (Channel.CUSTOMER_SERVICE, DeliveryState.SENT)
    [(method, (openid, reply))] = messenger.calls
    assert method == "send_custom" and openid == OPENID and reply.text.endswith("reports.html")


def test_outside_the_window_the_template(world):
    users, messenger, _log, send = world
    users.touch(OPENID, NOW - timedelta(hours=49))
    delivery = send()
    assert (delivery.channel, delivery.state, delivery.wechat_msgid) == (Channel.TEMPLATE, DeliveryState.SENT, "msg-1")
    [(method, args)] = messenger.calls
    assert method == "send_template" and args == (OPENID, "tpl-report", dict(NOTICE.fields), NOTICE.url)


def test_refused_customer_service_falls_back_to_the_template(world):
    users, messenger, _log, send = world
    users.touch(OPENID, NOW - timedelta(hours=1))
    messenger.refuse["send_custom"] = WeChatSendError(45015, "response out of time limit")
    assert send().channel is Channel.TEMPLATE
    assert [m for m, _ in messenger.calls] == ["send_custom", "send_template"]


def test_unfollowed_and_unknown_users_get_nothing(world):
    users, messenger, _log, send = world
    assert send(notice_id="a").state is DeliveryState.SKIPPED
    users.subscribe(OPENID, NOW - timedelta(days=9), "")
    users.unsubscribe(OPENID, NOW - timedelta(days=1))
    assert send(notice_id="b").state is DeliveryState.SKIPPED
    assert messenger.calls == []


def test_once_per_notice_id_and_failed_ones_are_retried(world):
    users, messenger, _log, send = world
    users.subscribe(OPENID, NOW - timedelta(days=9), "")
    messenger.refuse["send_template"] = WeChatSendError(43004, "require subscribe")
    assert send().state is DeliveryState.FAILED
    del messenger.refuse["send_template"]
    assert send().state is DeliveryState.SENT
    assert send().state is DeliveryState.SENT
    assert [m for m, _ in messenger.calls] == ["send_template", "send_template"]


def test_transport_failures_raise_for_the_queue_to_retry(world):
    users, messenger, log, send = world
    users.subscribe(OPENID, NOW - timedelta(days=9), "")
    messenger.refuse["send_template"] = WeChatSendError(None, "connection reset")
    with pytest.raises(WeChatSendError):
        send()
    assert log.get("report_ready:R1") is None


def test_no_template_configured_is_recorded_not_sent(world):
    users, messenger, _log, send = world
    users.subscribe(OPENID, NOW - timedelta(days=9), "")
    follow_up = Notice(NoticeKind.FOLLOW_UP, OPENID, "请填写随访问卷", {})
    assert send(follow_up, "follow_up:V1").detail == "no template configured"
    assert messenger.calls == []


def test_tags_and_group_sends(world):
    users, messenger, log, _ = world
    clock = lambda: NOW  # noqa: E731
    notices.tag_user(OPENID, UserTag.ELDERLY, users, messenger)
    assert users.get(OPENID).tags == {UserTag.ELDERLY}
    assert messenger.calls == [("tag_users", (100, [OPENID]))]
    assert notices.send_to_group(UserTag.ELDERLY, " 冬季防跌倒 ", messenger, log, clock) == "mass-1"
    assert messenger.calls[-1] == ("mass_send_text", (100, "冬季防跌倒"))
    assert log.get("mass:mass-1").openid == "tag:elderly" and log.get("mass:mass-1").channel is Channel.MASS
    notices.untag_user(OPENID, UserTag.ELDERLY, users, messenger)
    assert users.get(OPENID).tags == frozenset()
    with pytest.raises(ValueError, match="empty"):
        notices.send_to_group(UserTag.ELDERLY, "  ", messenger, log, clock)
