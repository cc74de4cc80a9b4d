"""Event push (§8.1): a deliverer that POSTs each recorded event envelope to the integrator's endpoint.

* Signed as §4.4 says: the request algorithm with the **event secret**, method ``POST``, the path and query of the
  endpoint URL, ``X-His-App-Id`` = the app; every attempt signed afresh (new timestamp from the simulated clock, new
  nonce). Plus ``X-His-Event-Id``, ``X-His-Event-Type``, ``X-His-Delivery-Attempt`` (1, 2, ...). The body is the
  envelope of the pull API, compact JSON (byte for byte as in the spec's examples 13-15).
* Any 2xx within ``ack_timeout_seconds`` (5 s) acknowledges; anything else, a redirect, a late answer or no answer
  is a failure, retried after 10 s, 30 s, 1 min, 5 min, 15 min, 30 min, then hourly until 24 h after the first
  attempt; then the event is parked (still available through ``GET /v1/events``).
* Up to ``parallel`` (10) deliveries at once; events are held while the enforced maintenance window lasts.
* Only events recorded while a push URL is configured are delivered (the seed's history and events recorded with
  the push off are left to the pull API).
* Faults: ``duplicate`` (the first delivery of each event is sent N times at once, attempts 1..N), ``reorder``
  (new events are held until ``reorder_batch`` of them are there, then delivered one after another in reverse or
  shuffled order), ``fail_next`` (the next N acknowledgements are treated as failures, forcing retries).

Schedules run on the simulator's fine-grained time (monotonic seconds plus the clock offset), so ``advance`` brings
retries due; ``flush`` delivers everything due now synchronously (tests use it instead of sleeping). With
``background`` off nothing is delivered except by ``flush``.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from . import views
from .auth import signing
from .clock import fmt
from .state import Event

if TYPE_CHECKING:
    from .simulator import Simulator

log = logging.getLogger(__name__)

HEADER_EVENT_ID = "X-His-Event-Id"
HEADER_EVENT_TYPE = "X-His-Event-Type"
HEADER_DELIVERY_ATTEMPT = "X-His-Delivery-Attempt"
REORDER_MODES = ("reverse", "shuffle")


class PushConfigError(ValueError):
    """Invalid push settings; ``problems`` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in sorted(problems.items())))
        self.problems = problems


@dataclass
class PushFaults:
    duplicate: int = 1  # copies of each event's first delivery
    reorder: str | None = None  # None | reverse | shuffle
    reorder_batch: int = 2
    fail_next: int = 0  # acknowledgements still to be ignored


@dataclass
class Delivery:
    """Where one event stands."""

    event: Event
    next_due: float
    rounds: int = 0  # delivery rounds (a round sends ``duplicate`` copies the first time)
    attempts: int = 0  # HTTP requests made
    first_attempt_at: float | None = None
    delivered_at: datetime | None = None
    last_status: str | None = None
    parked: bool = False
    in_flight: bool = False
    held: bool = False  # waiting for its reorder batch

    @property
    def pending(self) -> bool:
        return self.delivered_at is None and not self.parked

    def as_json(self, now: float) -> dict[str, Any]:
        waiting = self.pending and not self.held and not self.in_flight
        return {
            "event_id": self.event.event_id,
            "event_type": self.event.event_type,
            "occurred_at": fmt(self.event.occurred_at),
            "attempts": self.attempts,
            "delivered_at": fmt(self.delivered_at),
            "last_status": self.last_status,
            "parked": self.parked,
            "in_flight": self.in_flight,
            "held_for_reorder": self.held,
            "next_attempt_in_seconds": round(max(self.next_due - now, 0.0), 3) if waiting else None,
        }


@dataclass(frozen=True)
class Attempt:
    """One HTTP request of a delivery and what came of it."""

    event_id: str
    event_type: str
    attempt: int
    status: int | None  # HTTP status, None when there was no answer
    error: str | None  # timeout, connection refused, ...
    acked: bool
    ignored: bool = False  # a 2xx counted as a failure by ``fail_next``

    def describe(self) -> str:
        if self.status is None:
            return self.error or "no answer"
        if self.ignored:
            return f"{self.status} (ignored: fail_next)"
        return str(self.status) if self.error is None else f"{self.status} ({self.error})"

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"result": self.describe()}


def build_delivery(
    envelope: Mapping[str, Any], url: str, app_id: str, secret: str, attempt: int, now_epoch: int, nonce: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery attempt of ``envelope`` to ``url`` (§4.4, §8.1)."""
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    headers.update(signing.signed_headers(app_id, secret, "POST", parts.path or "/", parts.query, body, now_epoch, nonce))
    headers[HEADER_EVENT_ID] = str(envelope["event_id"])
    headers[HEADER_EVENT_TYPE] = str(envelope["event_type"])
    headers[HEADER_DELIVERY_ATTEMPT] = str(attempt)
    return body, headers


Transport = Callable[[str, bytes, Mapping[str, str], float], int]


def http_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST without following redirects; the HTTP status, or TimeoutError / ConnectionError."""
    try:
        response = requests.post(url, data=body, headers=dict(headers), timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        raise TimeoutError("no answer within the acknowledgement timeout") from None
    except requests.RequestException as error:
        raise ConnectionError(type(error).__name__) from None
    return response.status_code


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _url_problem(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return "must be an http(s) URL or null"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http(s) URL or null"
    return None


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "retry_delays": (
        lambda v: isinstance(v, list) and all(_number(d) and 0 <= d <= 86400 for d in v),
        "must be a list of seconds (0-86400)",
    ),
    "repeat_delay_seconds": (lambda v: _number(v) and 0 < v <= 86400, "must be seconds (0-86400]"),
    "give_up_after_seconds": (lambda v: _number(v) and 0 < v <= 7 * 86400, "must be seconds, at most 7 days"),
    "ack_timeout_seconds": (lambda v: _number(v) and 0 < v <= 60, "must be seconds (0-60]"),
    "parallel": (lambda v: _integer(v) and 1 <= v <= 50, "must be an integer 1-50"),
    "background": (lambda v: isinstance(v, bool), "must be a boolean"),
    "poll_seconds": (lambda v: _number(v) and 0.01 <= v <= 60, "must be seconds 0.01-60"),
    "duplicate": (lambda v: _integer(v) and 1 <= v <= 10, "must be an integer 1-10"),
    "reorder": (lambda v: v is None or v in REORDER_MODES, "must be reverse, shuffle or null"),
    "reorder_batch": (lambda v: _integer(v) and 2 <= v <= 100, "must be an integer 2-100"),
    "fail_next": (lambda v: _integer(v) and 0 <= v <= 1000, "must be an integer 0-1000"),
    "event_secret": (lambda v: isinstance(v, str) and 8 <= len(v) <= 256, "must be a string of 8-256 characters"),
}
_SETTINGS = ("retry_delays", "repeat_delay_seconds", "give_up_after_seconds", "ack_timeout_seconds", "parallel",
             "background", "poll_seconds")
_FAULTS = ("duplicate", "reorder", "reorder_batch", "fail_next")
FIELDS = ("url", *_SETTINGS, *_FAULTS, "event_secret")


class Deliverer:
    """Owned by the ``Simulator``; a daemon thread plus a pool of ``parallel`` workers while a URL is configured."""

    def __init__(self, sim: Simulator, time_source: Callable[[], float]) -> None:
        self._sim = sim
        self._time = time_source
        self.transport: Transport = http_post  # replaceable in tests
        self._lock = threading.RLock()  # re-entrant: a done-callback may run in the thread that submitted
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._executor_size = 0
        self._futures: set[Future[list[Attempt]]] = set()
        self._deliveries: dict[str, Delivery] = {}
        self._held: list[Delivery] = []
        self.faults = PushFaults()
        self._random = random.Random(sim.config.seed)  # noqa: S311 - reproducible shuffles, not cryptography
        self._events = sim.state.events
        self._seen = len(self._events)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the background thread (idempotent; never after ``close``)."""
        with self._lock:
            if self._closed.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="his-simulator-push", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Look for new or due events now (called after every request)."""
        self._wake.set()

    def close(self) -> None:
        """Stop the thread and wait for deliveries in flight (each ends within the acknowledgement timeout)."""
        self._closed.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self._sim.config.push.ack_timeout_seconds + 5)
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def reset(self) -> None:
        """Forget deliveries and faults; start from the end of the (new) event log."""
        with self._lock:
            self._deliveries.clear()
            self._held.clear()
            self.faults = PushFaults()
            self._random.seed(self._sim.config.seed)
            self._events = self._sim.state.events
            self._seen = len(self._events)

    # ------------------------------------------------------------ configuration and status

    def configure(self, changes: Mapping[str, Any]) -> None:
        """Apply ``url``, settings, faults and ``event_secret`` (a rotation: the old one becomes previous)."""
        problems = {name: "unknown setting" for name in changes if name not in FIELDS}
        if "url" in changes and (problem := _url_problem(changes["url"])) is not None:
            problems["url"] = problem
        for name, (valid, reason) in _CHECKS.items():
            if name in changes and not valid(changes[name]):
                problems[name] = reason
        if problems:
            raise PushConfigError(problems)
        config = self._sim.config
        with self._lock:
            self._scan()  # events recorded so far are taken up under the URL they were recorded with (or none)
            if "url" in changes:
                config.push_url = changes["url"]
            for name in _SETTINGS:
                if name in changes:
                    setattr(config.push, name, list(changes[name]) if name == "retry_delays" else changes[name])
            for name in _FAULTS:
                if name in changes:
                    setattr(self.faults, name, changes[name])
            if "event_secret" in changes and changes["event_secret"] != config.event_secret:
                config.previous_event_secrets = [config.event_secret, *config.previous_event_secrets][:2]
                config.event_secret = changes["event_secret"]
        if config.push_url:
            self.start()
        self.wake()

    def held_for_maintenance(self) -> bool:
        return self._sim.config.enforce_maintenance and self._sim.maintenance_window()[0]

    def status(self) -> dict[str, Any]:
        config = self._sim.config
        with self._lock:
            self._scan()
            now = self._time()
            deliveries = [d.as_json(now) for d in self._deliveries.values()]
            faults = asdict(self.faults)
        return {
            "url": config.push_url,
            "running": self.running,
            "held_for_maintenance": self.held_for_maintenance(),
            "settings": asdict(config.push),
            "faults": faults,
            "deliveries": deliveries,
        }

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self.status()["deliveries"])

    # ------------------------------------------------------------ delivering

    def flush(self) -> list[dict[str, Any]]:
        """Deliver everything due now (held reorder batches included) and wait for it, and for deliveries already
        in flight; return the attempts made, in the order they finished."""
        with self._lock:
            running = list(self._futures)
        started = self._dispatch(release_all=True)
        futures = running + [f for f in started if f not in running]
        wait_for(futures)
        return [attempt.as_json() for future in futures if not future.cancelled() for attempt in future.result()]

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.clear()
            if self._sim.config.push.background:
                try:
                    self._dispatch(release_all=False)
                except Exception:  # keep delivering whatever happens to one round
                    log.exception("event push round failed")
            self._wake.wait(self._sim.config.push.poll_seconds)

    def _scan(self) -> None:
        """Take up events recorded since the last look (under ``_lock``)."""
        events = self._sim.state.events
        if events is not self._events:  # the state was replaced without reset(): start from its end
            self._events, self._seen = events, len(events)
            return
        fresh = events[self._seen :]
        self._seen += len(fresh)
        config = self._sim.config
        if not config.push_url:
            return
        now = self._time()
        for event in fresh:
            if event.app_id != config.app_id or event.event_id in self._deliveries:
                continue
            delivery = Delivery(event, next_due=now, held=self.faults.reorder is not None)
            self._deliveries[event.event_id] = delivery
            if delivery.held:
                self._held.append(delivery)

    def _release_held(self, release_all: bool) -> list[Delivery]:
        """The held batch in its delivery order, when it is complete (or everything, on flush)."""
        faults = self.faults
        if not self._held or not (release_all or faults.reorder is None or len(self._held) >= faults.reorder_batch):
            return []
        batch, self._held = self._held, []
        if faults.reorder == "reverse":
            batch.reverse()
        elif faults.reorder == "shuffle":
            self._random.shuffle(batch)
        for delivery in batch:
            delivery.held = False
            delivery.in_flight = True
        return batch

    def _dispatch(self, release_all: bool) -> list[Future[list[Attempt]]]:
        with self._lock:
            self._scan()
            if not self._sim.config.push_url or self.held_for_maintenance():
                return []
            now = self._time()
            batch = self._release_held(release_all)
            due = [d for d in self._deliveries.values()
                   if d.pending and not d.held and not d.in_flight and d.next_due <= now]
            for delivery in due:
                delivery.in_flight = True
            pool = self._pool()
            futures = [pool.submit(self._deliver, d) for d in due]
            if batch:
                futures.append(pool.submit(self._deliver_in_order, batch))
            for future in futures:
                self._futures.add(future)
                future.add_done_callback(self._finished)
        return futures

    def _finished(self, future: Future[list[Attempt]]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _pool(self) -> ThreadPoolExecutor:
        size = self._sim.config.push.parallel
        if self._executor is None or self._executor_size != size:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="his-push")
            self._executor_size = size
        return self._executor

    def _deliver_in_order(self, batch: list[Delivery]) -> list[Attempt]:
        return [attempt for delivery in batch for attempt in self._deliver(delivery)]

    def _deliver(self, delivery: Delivery) -> list[Attempt]:
        """One delivery round of one event: send, then record the outcome and the next attempt."""
        config = self._sim.config
        with self._lock:
            copies = self.faults.duplicate if delivery.rounds == 0 else 1
            first = delivery.attempts + 1
            delivery.attempts += copies
            delivery.rounds += 1
            if delivery.first_attempt_at is None:
                delivery.first_attempt_at = self._time()
            url, secret, app_id = config.push_url, config.event_secret, config.app_id
            timeout = config.push.ack_timeout_seconds
        if not url:  # the push was switched off meanwhile
            with self._lock:
                delivery.attempts -= copies
                delivery.rounds -= 1
                delivery.in_flight = False
            return []
        envelope = views.event(delivery.event)
        numbers = range(first, first + copies)
        if copies == 1:
            attempts = [self._post(envelope, url, app_id, secret, first, timeout)]
        else:  # concurrent copies, each signed afresh
            results: dict[int, Attempt] = {}
            threads = [
                threading.Thread(
                    target=lambda n=n: results.__setitem__(n, self._post(envelope, url, app_id, secret, n, timeout)),
                    daemon=True,
                )
                for n in numbers
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            attempts = [results[n] for n in numbers]
        return self._record(delivery, attempts)

    def _record(self, delivery: Delivery, attempts: list[Attempt]) -> list[Attempt]:
        settings = self._sim.config.push
        with self._lock:
            recorded = []
            for sent in attempts:
                if sent.acked and self.faults.fail_next > 0:
                    self.faults.fail_next -= 1
                    sent = replace(sent, acked=False, ignored=True)  # noqa: PLW2901
                recorded.append(sent)
            delivery.last_status = recorded[-1].describe()
            delivery.in_flight = False
            if any(a.acked for a in recorded):
                delivery.delivered_at = self._sim.now()
                delivery.event.delivered_at = delivery.delivered_at
            else:
                index = delivery.rounds - 1
                delay = settings.retry_delays[index] if index < len(settings.retry_delays) else settings.repeat_delay_seconds
                now = self._time()
                first = delivery.first_attempt_at if delivery.first_attempt_at is not None else now
                if now + delay - first > settings.give_up_after_seconds:
                    delivery.parked = True
                else:
                    delivery.next_due = now + delay
            delivery.event.deliveries = delivery.attempts
        self._wake.set()
        return recorded

    def _post(self, envelope: Mapping[str, Any], url: str, app_id: str, secret: str, number: int,
              timeout: float) -> Attempt:
        body, headers = build_delivery(envelope, url, app_id, secret, number, self._sim.clock.epoch())
        event_id, event_type = str(envelope["event_id"]), str(envelope["event_type"])
        started = time.monotonic()
        try:
            status = self.transport(url, body, headers, timeout)
        except TimeoutError:
            return Attempt(event_id, event_type, number, None, "timeout", acked=False)
        except OSError as error:  # ConnectionError and the like
            return Attempt(event_id, event_type, number, None, str(error) or type(error).__name__, acked=False)
        late = time.monotonic() - started > timeout
        log.debug("event %s attempt %d: %d", event_id, number, status)
        acked = 200 <= status < 300 and not late
        return Attempt(event_id, event_type, number, status, "late" if late else None, acked=acked)
