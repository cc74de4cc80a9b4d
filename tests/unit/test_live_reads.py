"""``live_read``: the HIS's answer now, the kept copy when it cannot answer, a definite refusal as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.his_messages import HisError, HisRequest, HisResult
from chalicelib.services.live_reads import (
    HisRefusedError,
    LiveReadUnavailableError,
    live_read,
)
from chalicelib.services.ports import LiveCopy
from tests.fakes import FakeBlobStore
from tests.fakes_live_reads import FakeLiveCopies

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
KEY = "reports#P1#all#180"


class ScriptedReader:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[HisRequest] = []

    def read(self, request: HisRequest) -> HisResult | None:
        self.requests.append(request)
        answer = self.answers.pop(0)
        return answer(request) if callable(answer) else answer


def request() -> HisRequest:
    return HisRequest("req-1", "listReports", T0, path_params={"patient_id": "P1"})


def ok(body: Any, at: datetime = T0, body_ref: dict[str, str] | None = None) -> Any:
    return lambda r: HisResult(r.request_id, r.operation, "ok", at, status=200, body=body, body_ref=body_ref)


def error(status: int, code: str, retryable: bool, **details: Any) -> Any:
    return lambda r: HisResult(r.request_id, r.operation, "error", T0, status=status,
                               error=HisError(code, "msg", retryable, details))


def clock(at: datetime = T0) -> Any:
    return lambda: at


def test_a_live_answer_is_shown_and_kept():
    copies = FakeLiveCopies()
    view = live_read(KEY, request(), ScriptedReader(ok({"items": [1]})), copies, clock())
    assert (view.body, view.as_of, view.live) == ({"items": [1]}, T0, True)
    assert copies.items[KEY] == LiveCopy({"items": [1]}, T0)


def test_silence_shows_the_kept_copy_with_its_time():
    copies = FakeLiveCopies()
    earlier = T0 - timedelta(hours=5)
    copies.put(KEY, {"items": ["old"]}, earlier)
    view = live_read(KEY, request(), ScriptedReader(None), copies, clock())
    assert (view.body, view.as_of, view.live) == ({"items": ["old"]}, earlier, False)


@pytest.mark.parametrize(("status", "code"), [(503, "HIS_UNAVAILABLE"), (503, "HIS_MAINTENANCE"), (429, "HIS_BUSY"),
                                              (500, "INTERNAL_ERROR")])
def test_a_retryable_his_error_shows_the_kept_copy(status, code):
    copies = FakeLiveCopies()
    copies.put(KEY, {"items": ["old"]}, T0 - timedelta(days=1))
    view = live_read(KEY, request(), ScriptedReader(error(status, code, True)), copies, clock())
    assert view.live is False and view.body == {"items": ["old"]}


def test_a_definite_refusal_is_not_masked_by_a_copy():
    copies = FakeLiveCopies()
    copies.put(KEY, {"report": "old"}, T0 - timedelta(hours=1))
    reader = ScriptedReader(error(409, "REPORT_NOT_VIEWABLE", False, reason="release_delay",
                                  release_at="2026-11-27T10:00:00+08:00"))
    with pytest.raises(HisRefusedError) as caught:
        live_read(KEY, request(), reader, copies, clock())
    assert caught.value.status == 409 and caught.value.code == "REPORT_NOT_VIEWABLE"
    assert caught.value.details == {"reason": "release_delay", "release_at": "2026-11-27T10:00:00+08:00"}
    assert copies.items[KEY].body == {"report": "old"}  # kept, but not shown


def test_nothing_live_and_nothing_kept_is_a_clear_unavailable():
    with pytest.raises(LiveReadUnavailableError) as caught:
        live_read(KEY, request(), ScriptedReader(None), FakeLiveCopies(), clock())
    assert caught.value.message == "医院系统暂时无法访问，请稍后再试"
    with pytest.raises(LiveReadUnavailableError) as caught:
        live_read(KEY, request(), ScriptedReader(error(503, "HIS_MAINTENANCE", True)), FakeLiveCopies(), clock())
    assert "维护" in caught.value.message and caught.value.code == "HIS_MAINTENANCE"


def test_a_copy_older_than_seven_days_is_not_shown():
    copies = FakeLiveCopies()
    copies.put(KEY, {"items": ["ancient"]}, T0 - timedelta(days=7, minutes=1))
    with pytest.raises(LiveReadUnavailableError):
        live_read(KEY, request(), ScriptedReader(None), copies, clock())
    copies.put(KEY, {"items": ["recent"]}, T0 - timedelta(days=6, hours=23))
    assert live_read(KEY, request(), ScriptedReader(None), copies, clock()).body == {"items": ["recent"]}


def test_an_older_live_answer_never_replaces_a_newer_copy():
    copies = FakeLiveCopies()
    live_read(KEY, request(), ScriptedReader(ok({"v": 2}, T0)), copies, clock())
    live_read(KEY, request(), ScriptedReader(ok({"v": 1}, T0 - timedelta(seconds=1))), copies, clock())
    assert copies.items[KEY].body == {"v": 2}


def test_a_body_parked_in_s3_is_read_from_there():
    ref = {"bucket": "b", "key": "his-results/req-1.json", "content_type": "application/json"}
    blobs = FakeBlobStore({("b", "his-results/req-1.json"): {"items": ["big"]}})
    view = live_read(KEY, request(), ScriptedReader(ok(None, body_ref=ref)), FakeLiveCopies(), clock(), blobs)
    assert view.body == {"items": ["big"]} and view.live


def test_a_failing_copy_store_does_not_cost_the_live_answer():
    class BrokenCopies(FakeLiveCopies):
        def put(self, key: str, body: Any, as_of: datetime) -> None:
            raise RuntimeError("table unavailable")

    view = live_read(KEY, request(), ScriptedReader(ok({"items": []})), BrokenCopies(), clock())
    assert view.live and view.body == {"items": []}


def test_the_bridge_is_asked_exactly_once_per_read():
    reader = ScriptedReader(None)
    copies = FakeLiveCopies()
    copies.put(KEY, {}, T0)
    live_read(KEY, request(), reader, copies, clock())
    assert [r.request_id for r in reader.requests] == ["req-1"]
