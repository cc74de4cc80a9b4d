"""The conversation's pure parts: keys, scenes, replies, the menu, distances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.menu import MENU, MenuKey, menu_document, menu_keys, menu_pages
from chalicelib.domain.reference import Campus, GeoPoint, format_distance, nearest_campuses
from chalicelib.domain.wechat import (
    Article,
    DeliveryState,
    InboundMessage,
    Reply,
    SceneKind,
    WeChatUser,
    news,
    parse_scene,
    template_finish_state,
)
from tests.conftest import ROOT

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def _msg(**kw):
    base = {"msg_type": "text", "openid": "o1", "account": "gh", "created_at": T0, "create_time": 1764144000}
    return InboundMessage(**{**base, **kw})


def test_dedup_keys_follow_wechats_retry_identity():
    assert _msg(msg_id="42").dedup_key == "msg:42:o1:1764144000"
    click = _msg(msg_type="event", event="click", event_key="FAQ")
    assert click.dedup_key == "evt:o1:1764144000:click:FAQ"
    assert click.dedup_key != _msg(msg_type="event", event="click", event_key="CONTACT").dedup_key
    assert click.handler_key == "event.click" and _msg().handler_key == "text"


def test_inbound_round_trips_through_the_queue_format():
    m = _msg(msg_type="location", latitude=30.1, longitude=120.2, label="x", msg_id="7")
    assert InboundMessage.from_dict(m.to_dict()) == m


@pytest.mark.parametrize(("raw", "kind", "value"), [
    ("dept:D0301", SceneKind.DEPARTMENT, "D0301"),
    ("qrscene_dept:D0301", SceneKind.DEPARTMENT, "D0301"),
    ("checkin:C01-3F-305", SceneKind.CHECK_IN, "C01-3F-305"),
    ("campus:C02", SceneKind.CAMPUS, "C02"),
    ("123", SceneKind.UNKNOWN, "123"),
    ("dept:", SceneKind.UNKNOWN, "dept:"),
    ("dept:<script>", SceneKind.UNKNOWN, "dept:<script>"),
])
def test_parse_scene(raw, kind, value):
    scene = parse_scene(raw)
    assert (scene.kind, scene.value) == (kind, value)


def test_no_scene():
    assert parse_scene("") is None and parse_scene("qrscene_") is None


def test_reply_serialisation_and_news_limit():
    r = news(*(Article(f"t{i}", url=f"https://x/{i}") for i in range(10)))
    assert len(r.articles) == 8
    assert Reply.from_dict(r.to_dict()) == r
    assert Reply().empty and not Reply(text="x").empty


def test_template_finish_states():
    assert template_finish_state("success") is DeliveryState.DELIVERED
    assert template_finish_state("failed:user block") is DeliveryState.USER_BLOCKED
    assert template_finish_state("failed: system failed") is DeliveryState.FAILED


def test_service_window_is_48_hours_from_the_last_interaction_and_needs_a_follower():
    user = WeChatUser("o1", subscribed=True, last_interaction_at=T0)
    assert user.in_service_window(T0 + timedelta(hours=47, minutes=59))
    assert not user.in_service_window(T0 + timedelta(hours=48))
    assert not WeChatUser("o1", subscribed=False, last_interaction_at=T0).in_service_window(T0)
    assert not WeChatUser("o1", subscribed=True).in_service_window(T0)


def test_menu_fits_wechats_limits_and_every_page_exists():
    doc = menu_document(lambda page: f"https://h5.example.org/{page}")
    assert len(doc["button"]) <= 3
    for top in doc["button"]:
        assert len(top["name"].encode()) <= 16 and 1 <= len(top["sub_button"]) <= 5
        for sub in top["sub_button"]:
            assert len(sub["name"].encode()) <= 60
            assert (sub["type"], bool(sub.get("key")) or bool(sub.get("url"))) in {("click", True), ("view", True)}
    assert len(set(menu_keys())) == len(menu_keys()) == len([k for k in MenuKey])
    for page in menu_pages():
        assert (ROOT / "h5_static" / page).is_file(), page
    assert MENU[0].name == "诊前" and MENU[1].name == "诊中" and MENU[2].name == "诊后"


def test_nearest_campus_ranking_and_distance_text():
    here = GeoPoint(30.2741, 120.1551)
    campuses = [Campus("A", "本部", "x", GeoPoint(30.2741, 120.1551)), Campus("B", "东院", "y", GeoPoint(30.3, 120.21)),
                Campus("C", "旧院", "z", GeoPoint(30.27, 120.15), status="inactive"),
                Campus("D", "无坐标", "w", GeoPoint(0, 0))]
    ranked = nearest_campuses(here, campuses)
    assert [c.campus_id for c, _ in ranked] == ["A", "B"]
    assert ranked[0][1] == pytest.approx(0, abs=1) and 5_000 < ranked[1][1] < 7_000
    assert format_distance(ranked[1][1]) == "6.0 公里"  # 2.9 km north, 5.3 km east
    assert format_distance(3) == "10 米" and format_distance(846) == "850 米" and format_distance(250_400) == "250 公里"
