import pytest

from chalicelib.domain.his_messages import HisResult, MessageFormatError


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"request_id": "a", "operation": "x", "outcome": "maybe", "fetched_at": "2026-11-26T08:00:00+08:00"},
        {"request_id": "a", "operation": "x", "outcome": "ok", "fetched_at": "yesterday"},
        {"request_id": "a", "operation": "x", "outcome": "ok", "fetched_at": "2026-11-26T08:00:00"},
        {"request_id": "a", "operation": "x", "outcome": "ok", "fetched_at": "2026-11-26T08:00:00+08:00",
         "body_ref": {"bucket": "b"}},
    ],
)
def test_malformed_results_are_refused(data):
    with pytest.raises(MessageFormatError):
        HisResult.from_json(data)


def test_result_round_trip_fields():
    r = HisResult.from_json({"request_id": "a", "operation": "listCampuses", "outcome": "error", "status": 429,
                             "fetched_at": "2026-11-26T08:00:00+08:00",
                             "error": {"code": "HIS_BUSY", "message": "m", "retryable": True},
                             "context": {"dataset": "campuses"}})
    assert r.error is not None and r.error.code == "HIS_BUSY" and r.error.retryable
    assert r.fetched_at.utcoffset().total_seconds() == 8 * 3600
