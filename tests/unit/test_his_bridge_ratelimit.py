"""The client-side limits of §5.4: token buckets shared by the process, split between bridge instances,
bounded waits, and the 15 s queue-status cache."""

import threading

import pytest

from his_bridge.ratelimit import QueueStatusCache, RateLimitedError, RateLimiter, TokenBucket


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_bucket_allows_the_burst_then_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=10, capacity=3, clock=clock)
    assert [bucket.reserve(0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(0) is None  # nothing taken when the wait is too long
    assert bucket.reserve(0.1) == pytest.approx(0.1)
    assert bucket.reserve(0.1) is None  # the next one is already 0.2 s away
    clock.now += 0.2
    assert bucket.reserve(0) == 0.0
    clock.now += 100
    assert [bucket.reserve(0) for _ in range(4)] == [0.0, 0.0, 0.0, None]  # never more than the burst


def test_the_app_budget_is_divided_between_instances():
    clock = Clock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)  # 10/s, burst 20 per instance
    for _ in range(20):
        assert limiter.acquire("listDoctors", 0) == 0.0
    with pytest.raises(RateLimitedError) as raised:
        limiter.acquire("listDoctors", 0.05)
    assert raised.value.wait == pytest.approx(0.1)
    assert limiter.acquire("listDoctors", 0.2) == pytest.approx(0.1) and clock.sleeps == [pytest.approx(0.1)]


def test_lookups_and_reconciliation_files_have_their_own_limits():
    clock = Clock()
    limiter = RateLimiter(1, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        limiter.acquire("lookupPatient", 0)
    with pytest.raises(RateLimitedError):
        limiter.acquire("lookupPatient", 0.05)
    limiter.acquire("getPatient", 0)  # the app bucket still has tokens: a refused lookup gave its one back
    for _ in range(10):
        limiter.acquire("getReconciliationFile", 0)
    with pytest.raises(RateLimitedError) as raised:
        limiter.acquire("getReconciliationFile", 2.0)
    assert raised.value.wait == pytest.approx(6.0)  # 10 per minute
    clock.now += 6.0
    limiter.acquire("getReconciliationFile", 0)


def test_waiting_is_bounded_and_never_spins():
    clock = Clock()
    limiter = RateLimiter(50, clock=clock, sleep=clock.sleep)  # 1/s, burst 2
    limiter.acquire("x", 0)
    limiter.acquire("x", 0)
    assert limiter.acquire("x", 1.0) == pytest.approx(1.0)
    with pytest.raises(RateLimitedError) as raised:
        limiter.acquire("x", 0.5)  # the next token is a second away again
    assert raised.value.wait == pytest.approx(1.0) and len(clock.sleeps) == 1


def test_the_bucket_is_shared_safely_by_threads():
    clock = Clock()
    bucket = TokenBucket(rate=1, capacity=100, clock=clock)
    granted = []

    def take():
        for _ in range(30):
            if bucket.reserve(0) == 0.0:
                granted.append(1)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 100


def test_queue_status_cache_serves_15_seconds_per_visit():
    clock = Clock()
    cache = QueueStatusCache(clock, max_entries=2)
    cache.put("V1", "a")
    clock.now += 14.9
    assert cache.get("V1") == "a" and cache.get("V2") is None
    clock.now += 0.1
    assert cache.get("V1") is None
    cache.put("V2", "b")
    cache.put("V3", "c")
    cache.put("V4", "d")  # bounded: the oldest goes
    assert cache.get("V4") == "d" and len(cache._entries) <= 2
