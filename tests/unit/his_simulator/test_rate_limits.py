"""§5.4 rate limits (``ratelimit.py``): per-app token bucket, lookups per app, queue status per visit, reconciliation
files per minute; ``429 HIS_BUSY`` with ``details.reason: rate_limit`` and ``Retry-After``; off by default."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from devstack.his_simulator.config import RateLimits
from devstack.his_simulator.ratelimit import RateLimiter
from devstack.his_simulator.simulator import Simulator

from .conftest import ZHANG_IDENTITY, SignedClient
from .contract import assert_conforms


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_then_sustained_rate() -> None:
    clock = FakeTime()
    limiter = RateLimiter(RateLimits(app_per_second=2, app_burst=4), clock)
    assert [limiter.check("app", "listCampuses") for _ in range(4)] == [None] * 4
    refusal = limiter.check("app", "listCampuses")
    assert refusal is not None and refusal.scope == "app" and refusal.retry_after == 1
    assert limiter.check("other-app", "listCampuses") is None  # per app
    clock.now += 0.5  # one token back at 2/s
    assert limiter.check("app", "listCampuses") is None
    assert limiter.check("app", "listCampuses") is not None
    clock.now += 100  # refills up to the burst, not beyond
    assert [limiter.check("app", "getDoctor") is None for _ in range(5)] == [True] * 4 + [False]


def test_slow_bucket_tells_how_long_to_wait() -> None:
    clock = FakeTime()
    limiter = RateLimiter(RateLimits(app_per_second=0.25, app_burst=1), clock)
    assert limiter.check("app", "listCampuses") is None
    refusal = limiter.check("app", "listCampuses")
    assert refusal is not None and refusal.retry_after == 4
    clock.now += 1
    refusal = limiter.check("app", "listCampuses")
    assert refusal is not None and refusal.retry_after == 3  # a refused request consumed nothing


def test_lookups_have_their_own_bucket_per_app() -> None:
    clock = FakeTime()
    limiter = RateLimiter(RateLimits(lookup_per_second=1, lookup_burst=2), clock)
    assert limiter.check("app", "lookupPatient") is None
    assert limiter.check("app", "lookupPatient") is None
    refusal = limiter.check("app", "lookupPatient")
    assert refusal is not None and refusal.scope == "lookupPatient"
    assert limiter.check("app", "getPatient") is None  # other operations only use the app bucket


def test_queue_status_once_per_interval_per_visit() -> None:
    clock = FakeTime()
    limiter = RateLimiter(RateLimits(), clock)
    assert limiter.check("app", "getQueueStatus", {"visit_id": "V1"}) is None
    refusal = limiter.check("app", "getQueueStatus", {"visit_id": "V1"})
    assert refusal is not None and refusal.scope == "getQueueStatus" and refusal.retry_after == 15
    assert limiter.check("app", "getQueueStatus", {"visit_id": "V2"}) is None
    clock.now += 10.2
    refusal = limiter.check("app", "getQueueStatus", {"visit_id": "V1"})
    assert refusal is not None and refusal.retry_after == 5
    clock.now += 4.8
    assert limiter.check("app", "getQueueStatus", {"visit_id": "V1"}) is None


def test_reconciliation_files_per_minute() -> None:
    clock = FakeTime()
    limiter = RateLimiter(RateLimits(reconciliation_files_per_minute=3), clock)
    for second in range(3):
        clock.now += second
        assert limiter.check("app", "getReconciliationFile", {"raw_date": "2025-06-15"}) is None
    refusal = limiter.check("app", "getReconciliationFile", {"raw_date": "2025-06-14"})
    assert refusal is not None and refusal.scope == "getReconciliationFile" and refusal.retry_after == 57
    clock.now += 57
    assert limiter.check("app", "getReconciliationFile") is None


def test_limits_are_off_by_default(api: SignedClient) -> None:
    assert {api.get("/v1/campuses").status_code for _ in range(120)} == {200}


def test_app_bucket_over_http(api: SignedClient, sim: Simulator) -> None:
    assert api.client.post("/_sim/config", json={"enforce_rate_limits": True,
                                                 "rate_limits": {"app_per_second": 1, "app_burst": 3}}).status_code == 200
    assert [api.get("/v1/campuses").status_code for _ in range(3)] == [200] * 3
    refused = api.get("/v1/doctors")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    body = refused.get_json()
    assert body["code"] == "HIS_BUSY" and body["retryable"] is True
    assert body["details"] == {"reason": "rate_limit", "scope": "app"}
    assert_conforms("/doctors", "get", 429, body)
    assert api.client.get("/v1/health").status_code == 200  # unsigned health is not counted
    assert [e["code"] for e in sim.requests()][-2:] == ["HIS_BUSY", None]
    sim.advance(2)
    assert api.get("/v1/doctors").status_code == 200


def test_queue_status_over_http(api: SignedClient, sim: Simulator) -> None:
    sim.config.enforce_rate_limits = True
    first = api.get("/v1/visits/V2025061600001/queue")
    assert first.status_code != 429  # whatever the visit, the first request is let through
    again = api.get("/v1/visits/V2025061600001/queue")
    assert again.status_code == 429 and again.get_json()["details"]["scope"] == "getQueueStatus"
    assert 1 <= int(again.headers["Retry-After"]) <= 15
    assert api.get("/v1/visits/V2025061600002/queue").status_code != 429
    sim.advance(15)
    assert api.get("/v1/visits/V2025061600001/queue").status_code != 429


def test_reconciliation_file_over_http(api: SignedClient, sim: Simulator) -> None:
    sim.config.enforce_rate_limits = True
    sim.configure_rate_limits(reconciliation_files_per_minute=2)
    assert [api.get("/v1/reconciliation/2025-06-15/file").status_code != 429 for _ in range(2)] == [True, True]
    refused = api.get("/v1/reconciliation/2025-06-14/file")
    assert refused.status_code == 429 and refused.get_json()["details"]["scope"] == "getReconciliationFile"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert api.get("/v1/reconciliation/2025-06-15").status_code != 429  # the summary is not limited


def test_lookup_limit_over_http(api: SignedClient, sim: Simulator) -> None:
    sim.config.enforce_rate_limits = True
    sim.configure_rate_limits(lookup_per_second=0.5, lookup_burst=2)
    assert [api.post("/v1/patients/lookup", ZHANG_IDENTITY).status_code for _ in range(2)] == [200, 200]
    refused = api.post("/v1/patients/lookup", ZHANG_IDENTITY)
    assert refused.status_code == 429 and refused.get_json()["details"]["scope"] == "lookupPatient"
    assert refused.headers["Retry-After"] == "2"
    assert api.get("/v1/patients/P000123456").status_code == 200


def test_reset_forgets_counts_but_keeps_limits(api: SignedClient, sim: Simulator) -> None:
    sim.config.enforce_rate_limits = True
    sim.configure_rate_limits(app_per_second=0.1, app_burst=1)
    assert api.get("/v1/campuses").status_code == 200
    assert api.get("/v1/campuses").status_code == 429
    sim.reset()
    assert api.get("/v1/campuses").status_code == 200
    assert sim.config.rate_limits.app_burst == 1 and sim.config.enforce_rate_limits


def test_config_api_validates_limits(client: FlaskClient, sim: Simulator) -> None:
    current = client.get("/_sim/config").get_json()
    assert current["enforce_rate_limits"] is False and current["rate_limits"]["app_burst"] == 100
    bad: dict[str, Any]
    for bad in ({"rate_limits": {"app_burst": 0}}, {"rate_limits": {"app_burst": 2.5}},
                {"rate_limits": {"per_hour": 3}}, {"rate_limits": []}, {"rate_limits": {"app_per_second": True}}):
        response = client.post("/_sim/config", json=bad)
        assert response.status_code == 400, bad
    assert sim.config.rate_limits == RateLimits()
    changed = client.post("/_sim/config", json={"rate_limits": {"queue_interval_seconds": 2.5}}).get_json()
    assert changed["rate_limits"]["queue_interval_seconds"] == 2.5
