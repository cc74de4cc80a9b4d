"""The webhook through ``chalice.test.Client`` with real WeChat XML (plain and AES-encrypted by
wechatpy as WeChat would), fakes behind every port."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import load_settings
from chalicelib.domain.menu import MenuKey, menu_keys
from chalicelib.domain.wechat import Channel, Delivery, DeliveryState, InboundMessage
from chalicelib.services.ports import InboxState
from tests.fakes import FakeDeferredInbox, FakeDeliveryLog, FakeFaq, FakeInboxLedger, FakeMessenger, FakeWeChatUsers
from tests.wechat_wire import ACCOUNT, AES_KEY, APPID, TOKEN, WeChatWire

OPENID = "oTestPatient000000000000001"
XML = {"Content-Type": "text/xml"}


class World:
    def __init__(self, reference_repo: Any) -> None:
        from chalicelib.services.wechat_handlers import WeChatContext

        self.settings = load_settings({
            "STAGE": "test", "WECHAT_TOKEN": TOKEN, "WECHAT_AES_KEY": AES_KEY, "WECHAT_APPID": APPID,
            "H5_BASE_URL": "https://h5.example.org", "WECHAT_REPLY_DEADLINE_SECONDS": "0.5",
            "HOSPITAL_NAME": "示例医院", "HOSPITAL_PHONE": "0000-0000000",
        })
        self.users, self.ledger, self.deliveries = FakeWeChatUsers(), FakeInboxLedger(), FakeDeliveryLog()
        self.deferred, self.messenger, self.faq = FakeDeferredInbox(), FakeMessenger(), FakeFaq()
        self.faq_calls = 0
        self.wire = WeChatWire()

        def answer(question: str) -> str | None:
            self.faq_calls += 1
            return self.faq.answer(question)

        self.context = WeChatContext(
            users=self.users, reference=reference_repo, deliveries=self.deliveries, clock=self.settings_clock,
            page_url=self.settings.h5_url, answer_question=answer, faq_topics=self.faq.topics,
            hospital_name="示例医院", hospital_phone="0000-0000000",
        )

    @staticmethod
    def settings_clock() -> Any:
        from datetime import UTC, datetime

        return datetime.now(UTC)


@pytest.fixture
def world(reference_repo: Any) -> Any:
    from app import app
    from chalicelib import bootstrap

    w = World(reference_repo)
    bootstrap.use_settings(w.settings)
    bootstrap.override(reference_repository=reference_repo, wechat_users=w.users, inbox_ledger=w.ledger,
                       deliveries=w.deliveries, deferred_inbox=w.deferred, wechat_messenger=w.messenger,
                       wechat_context=w.context)
    with Client(app, stage_name="local") as client:
        w.client = client
        yield w


def post(w: World, xml: str, encrypted: bool = True, **kw: Any) -> Any:
    path, body = w.wire.request(xml, encrypted=encrypted, **kw)
    return w.client.http.post(path, headers=XML, body=body)


def reply(w: World, xml: str, encrypted: bool = True) -> dict[str, Any]:
    response = post(w, xml, encrypted)
    assert response.status_code == 200, response.body
    return w.wire.read_reply(response.body.decode(), encrypted)


# ---- verification and refusals ---------------------------------------------------------------------
def test_get_echoes_echostr_when_signed_by_our_token(world: World) -> None:
    path, _ = world.wire.request("<xml/>", encrypted=False)
    assert world.client.http.get(path + "&echostr=hello123").body == b"hello123"
    bad = path.replace("signature=", "signature=0")
    assert world.client.http.get(bad + "&echostr=hello123").status_code == 403


@pytest.mark.parametrize("encrypted", [False, True])
def test_bad_signature_is_refused_and_nothing_is_processed(world: World, encrypted: bool) -> None:
    path, body = world.wire.request(world.wire.text(OPENID, "门诊时间"), encrypted=encrypted)
    forged = path.replace("signature=", "signature=f", 1)
    response = world.client.http.post(forged, headers=XML, body=body)
    assert response.status_code == 403
    assert world.ledger.items == {} and world.users.users == {} and world.faq_calls == 0


def test_bad_msg_signature_is_refused(world: World) -> None:
    path, body = world.wire.request(world.wire.text(OPENID, "门诊时间"))
    forged = path.replace("msg_signature=", "msg_signature=0")
    assert world.client.http.post(forged, headers=XML, body=body).status_code == 403
    assert world.faq_calls == 0


def test_requests_outside_the_time_window_are_refused(world: World) -> None:
    old = int(time.time()) - world.settings.wechat_max_message_age_seconds - 5
    response = post(world, world.wire.text(OPENID, "门诊时间"), now=old)
    assert response.status_code == 403
    assert json.loads(response.body)["code"] == "WECHAT_REQUEST_REFUSED"
    assert world.faq_calls == 0


def test_envelope_for_another_appid_is_refused(world: World) -> None:
    response = post(world, world.wire.text(OPENID, "门诊时间"), appid="wx99999999other0001")
    assert response.status_code == 403
    assert world.faq_calls == 0


XXE = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&x;</Content><MsgId>1</MsgId></xml>"""
LAUGHS = ("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
          + "".join(f"<!ENTITY lol{i} \"{('&lol' + (str(i - 1) if i > 1 else '') + ';') * 10}\">" for i in range(1, 9))
          + "]><xml><Content>&lol8;</Content></xml>")


@pytest.mark.parametrize("body", [
    "this is not xml", "<xml><ToUserName>a</ToUserName>", "<note>hi</note>", XXE, LAUGHS,
    "<xml><ToUserName>a</ToUserName></xml>",
], ids=["garbage", "truncated", "wrong-root", "xxe", "billion-laughs", "missing-fields"])
@pytest.mark.parametrize("encrypted", [False, True])
def test_malformed_or_hostile_xml_is_a_400_never_a_500(world: World, body: str, encrypted: bool) -> None:
    response = post(world, body, encrypted=encrypted)
    assert response.status_code == 400, response.body
    assert world.faq_calls == 0 and world.users.users == {}


def test_oversized_and_empty_bodies(world: World) -> None:
    big = world.wire.text(OPENID, "门" * 40_000)
    assert post(world, big, encrypted=False).status_code == 413
    path, _ = world.wire.request("", encrypted=False)
    assert world.client.http.post(path, headers=XML, body="").status_code == 400


# ---- message types -------------------------------------------------------------------------------------
@pytest.mark.parametrize("encrypted", [False, True])
def test_text_is_answered_from_the_faq(world: World, encrypted: bool) -> None:
    answer = reply(world, world.wire.text(OPENID, "请问门诊时间是几点"), encrypted)
    assert answer["MsgType"] == "text" and "8:00" in answer["Content"]
    assert answer["ToUserName"] == OPENID and answer["FromUserName"] == ACCOUNT
    assert world.users.get(OPENID).last_interaction_at is not None


def test_compatible_mode_plain_fields_alongside_encrypt(world: World) -> None:
    xml = world.wire.text(OPENID, "门诊时间")
    path, envelope = world.wire.request(xml, encrypted=True)
    compatible = xml.replace("</xml>", "") + envelope[len("<xml>"):]
    response = world.client.http.post(path, headers=XML, body=compatible)
    assert "8:00" in world.wire.read_reply(response.body.decode())["Content"]


def test_unmatched_text_suggests_topics_and_consultation(world: World) -> None:
    content = reply(world, world.wire.text(OPENID, "我的猫不吃饭"))["Content"]
    assert "门诊时间" in content and "咨询医生" in content


def test_greeting(world: World) -> None:
    assert "示例医院" in reply(world, world.wire.text(OPENID, "你好！"))["Content"]


@pytest.mark.parametrize("kind", ["image", "voice", "video", "shortvideo"])
def test_media_guides_to_consultation(world: World, kind: str) -> None:
    assert "咨询医生" in reply(world, world.wire.media(OPENID, kind))["Content"]


def test_follow_gets_the_welcome_news(world: World) -> None:
    answer = reply(world, world.wire.event(OPENID, "subscribe"))
    assert answer["MsgType"] == "news" and int(answer["ArticleCount"]) == 3
    items = answer["Articles"]["item"]
    assert "欢迎关注示例医院" in items[0]["Title"] and items[0]["Url"] == "https://h5.example.org/index.html"
    assert world.users.get(OPENID).subscribed


def test_follow_through_a_department_code_opens_that_department_first(world: World) -> None:
    answer = reply(world, world.wire.event(OPENID, "subscribe", "qrscene_dept:D0301", Ticket="t-1"))
    first = answer["Articles"]["item"][0]
    assert first["Title"] == "心血管内科" and first["Url"].endswith("department.html?id=D0301")
    assert world.users.get(OPENID).scene == "dept:D0301"


def test_scan_codes(world: World) -> None:
    dept = reply(world, world.wire.event(OPENID, "SCAN", "dept:D0601", Ticket="t"))
    assert dept["Articles"]["item"]["Url"].endswith("department.html?id=D0601")
    assert "签到" in reply(world, world.wire.event(OPENID, "SCAN", "checkin:C01-3F-305", Ticket="t"))["Content"]
    assert "失效" in reply(world, world.wire.event(OPENID, "SCAN", "dept:NOPE", Ticket="t"))["Content"]
    assert "不是本院" in reply(world, world.wire.event(OPENID, "SCAN", "something-else", Ticket="t"))["Content"]
    assert "C02" in reply(world, world.wire.event(OPENID, "SCAN", "campus:C02", Ticket="t"))["Articles"]["item"]["Url"]


def test_unfollow_stops_pushes(world: World) -> None:
    reply(world, world.wire.event(OPENID, "subscribe"))
    assert reply(world, world.wire.event(OPENID, "unsubscribe")) == {}
    assert world.users.get(OPENID).subscribed is False


@pytest.mark.parametrize("key", menu_keys(), ids=str)
def test_every_menu_key_has_an_answer(world: World, key: MenuKey) -> None:
    answer = reply(world, world.wire.event(OPENID, "CLICK", key.value))
    assert answer.get("Content") or answer.get("Articles")


def test_view_is_recorded_without_a_reply(world: World) -> None:
    assert reply(world, world.wire.event(OPENID, "VIEW", "https://h5.example.org/index.html")) == {}
    assert world.users.get(OPENID).last_interaction_at is not None


def test_location_message_gets_the_nearest_campus(world: World) -> None:
    content = reply(world, world.wire.location(OPENID, 30.2990, 120.2080))["Content"]
    assert content.startswith("离您最近的是东院区") and ("公里" in content or "米" in content)
    assert "campuses.html#campus-C02" in content
    assert world.users.get(OPENID).location.latitude == pytest.approx(30.299)


def test_location_event_is_remembered_and_answered_once_an_hour(world: World) -> None:
    event = world.wire.event(OPENID, "LOCATION", Latitude=30.2745, Longitude=120.1550, Precision=30)
    assert "本部院区" in reply(world, event)["Content"]
    again = world.wire.event(OPENID, "LOCATION", int(time.time()) + 1, Latitude=30.2745, Longitude=120.155, Precision=30)
    assert reply(world, again) == {}
    # ... and "就近院区" uses the remembered position.
    assert "本部院区" in reply(world, world.wire.event(OPENID, "CLICK", MenuKey.NEAREST_CAMPUS.value))["Content"]


def test_nearest_campus_without_a_location_asks_for_one(world: World) -> None:
    assert "位置" in reply(world, world.wire.event(OPENID, "CLICK", MenuKey.NEAREST_CAMPUS.value))["Content"]


def test_template_delivery_report_is_recorded(world: World) -> None:
    from datetime import UTC, datetime

    world.deliveries.record(Delivery("report_ready:R1", OPENID, "report_ready", Channel.TEMPLATE, DeliveryState.SENT,
                                     datetime.now(UTC), wechat_msgid="200163836"))
    event = world.wire.event(OPENID, "TEMPLATESENDJOBFINISH", MsgID="200163836", Status="failed:user block")
    assert reply(world, event) == {}
    assert world.deliveries.get("report_ready:R1").state is DeliveryState.USER_BLOCKED


def test_unknown_types_get_success(world: World) -> None:
    assert post(world, world.wire.event(OPENID, "merchant_order")).body == b"success"
    assert post(world, world.wire.xml(OPENID, "miniprogrampage", MsgId=5)).body == b"success"


# ---- retries and the 5-second rule -----------------------------------------------------------------------
def test_a_retried_message_gets_the_same_reply_and_no_second_action(world: World) -> None:
    xml = world.wire.text(OPENID, "门诊时间", msg_id=777)
    first, second = reply(world, xml), reply(world, xml)
    assert first["Content"] == second["Content"]
    assert world.faq_calls == 1


def test_concurrent_retries_process_once(world: World) -> None:
    xml = world.wire.text(OPENID, "门诊时间", msg_id=778)
    requests = [world.wire.request(xml) for _ in range(3)]
    results: list[int] = []

    def deliver(path: str, body: str) -> None:
        results.append(world.client.http.post(path, headers=XML, body=body).status_code)

    threads = [threading.Thread(target=deliver, args=r) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200, 200]
    assert len(world.ledger.items) == 1
    assert world.faq_calls == 1


def test_a_slow_handler_is_answered_in_time_and_the_reply_follows_as_a_customer_service_message(world: World) -> None:
    from chalicelib.services import wechat_handlers as handlers

    release, finished = threading.Event(), threading.Event()

    def slow(message: InboundMessage, ctx: Any) -> Any:
        release.wait(10)  # past the deadline, until the webhook has answered
        finished.set()
        return handlers.text("稍后送达的回答")

    original = handlers.MENU._handlers[MenuKey.FAQ.value]
    handlers.MENU._handlers[MenuKey.FAQ.value] = slow
    try:
        response = post(world, world.wire.event(OPENID, "CLICK", MenuKey.FAQ.value))
        answered_while_the_handler_ran = not finished.is_set()
        release.set()
        assert answered_while_the_handler_ran
        assert response.status_code == 200 and response.body == b"success"
        [deferred] = world.deferred.sent
        assert world.ledger.peek(deferred.dedup_key).state is InboxState.DEFERRED
        event = world.client.events.generate_sqs_event(message_bodies=[json.dumps(deferred.to_dict())],
                                                      queue_name="yiwei-wechat-async")
        result = world.client.lambda_.invoke("on_wechat_deferred", event)
        assert result.payload == {"batchItemFailures": []}
    finally:
        handlers.MENU._handlers[MenuKey.FAQ.value] = original
    [(method, (openid, sent))] = world.messenger.calls
    assert (method, openid, sent.text) == ("send_custom", OPENID, "稍后送达的回答")
    assert world.ledger.peek(deferred.dedup_key).state is InboxState.ANSWERED


def test_a_failing_handler_releases_its_claim_so_the_retry_works(world: World) -> None:
    from chalicelib.services import wechat_handlers as handlers

    calls = []

    def flaky(message: InboundMessage, ctx: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return handlers.text("好了")

    original = handlers.MENU._handlers[MenuKey.CONTACT.value]
    handlers.MENU._handlers[MenuKey.CONTACT.value] = flaky
    try:
        xml = world.wire.event(OPENID, "CLICK", MenuKey.CONTACT.value)
        assert post(world, xml).status_code == 503
        assert reply(world, xml)["Content"] == "好了"
    finally:
        handlers.MENU._handlers[MenuKey.CONTACT.value] = original


def test_group_send_report_is_recorded(world: World) -> None:
    from datetime import UTC, datetime

    world.deliveries.record(Delivery("mass:1000001", "tag:elderly", "mass", Channel.MASS, DeliveryState.SENT,
                                     datetime.now(UTC), wechat_msgid="1000001"))
    event = world.wire.event("oWeChatSystem000000000000001", "MASSSENDJOBFINISH", MsgID="1000001",
                             Status="send success", TotalCount=3, SentCount=3, ErrorCount=0)
    assert reply(world, event) == {}
    assert world.deliveries.get("mass:1000001").state is DeliveryState.DELIVERED
