"""``DynamoLiveCopies`` against moto server, on the ``his`` table provisioned from the template."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.dynamodb.live_copies import DynamoLiveCopies
from chalicelib.adapters.dynamodb.models import his_model
from chalicelib.services.ports import LiveCopy

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
BODY = {"items": [{"report_id": "R-LIS-1", "title": "血常规", "abnormal_count": 2}], "next_cursor": None}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(app_settings: Any) -> Any:
    s = app_settings
    model = his_model(s.table_name("his"), s.region, s.aws_endpoint_url)
    clock = Clock()
    return DynamoLiveCopies(model, clock), model, clock


def test_a_copy_comes_back_with_its_time(world):
    copies, _, _ = world
    assert copies.get("reports#P1#all#180") is None
    copies.put("reports#P1#all#180", BODY, T0)
    assert copies.get("reports#P1#all#180") == LiveCopy(BODY, T0)
    assert copies.get("reports#P2#all#180") is None


def test_the_item_is_keyed_and_expires_after_seven_days(world):
    copies, model, clock = world
    copies.put("report#P1#R1", {"title": "血常规"}, T0)
    item = model.get("live#report#P1#R1", "copy")
    assert item.expires_at == int((T0 + timedelta(days=7)).timestamp()) and item.at_ms == int(T0.timestamp() * 1000)
    clock.now = T0 + timedelta(days=7, seconds=1)  # TTL deletes lazily: the reader checks itself
    assert copies.get("report#P1#R1") is None


def test_an_older_answer_never_replaces_a_newer_copy(world):
    copies, _, _ = world
    copies.put("k", {"v": 2}, T0)
    copies.put("k", {"v": 1}, T0 - timedelta(seconds=1))
    assert copies.get("k") == LiveCopy({"v": 2}, T0)
    copies.put("k", {"v": 3}, T0 + timedelta(seconds=1))
    assert copies.get("k") == LiveCopy({"v": 3}, T0 + timedelta(seconds=1))


def test_a_body_too_large_for_an_item_is_not_kept(world):
    copies, _, _ = world
    copies.put("big", {"blob": "x" * 400_000}, T0)
    assert copies.get("big") is None
