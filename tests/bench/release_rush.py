"""Release-rush benchmark: ``make bench`` (not a timed test; figures are printed, targets are checks and ratios).

The 08:00 release on the real local stack (``python -m devstack`` on free ports: moto server, the HIS simulator,
the pump and bridge, ``chalice local`` behind the CDN-like H5 origin): one department-pool session with 100 slots
released a few seconds ahead, and 2,000 bookers, each a WeChat user bound to their own patient, who all press
"预约" at the release time, through a pool of client connections (``--connections``, default 50: see
``CONNECTIONS``), and retry after ``retry_after`` on 429/503 as the page does.

Printed: requests, answers by status and code, holds (202 answers), holds/s over the rush window, time to sell
out, p50/p99 latency of every answer; and, as the same-run baseline, a trivial endpoint (``GET /api/hospital``)
through the same origin at the same concurrency, before and after the rush (the machine is shared and noisy:
only same-run ratios count).

Checked (exit 1 otherwise): exactly 100 holds; zero oversell in the booking table (100 held slot items, each
held by a distinct appointment, every appointment of the session holding its slot); every request answered (no
exception, no timeout, nothing but 202 / 409 SCHEDULE_FULL as a booker's last answer).

The bookers are fictitious HIS patients made by the simulator (``POST /_sim/patients``), so the HIS lock that
follows each hold over SQS succeeds: a lock refused for an unknown patient would fail the appointment and put
its slot back in the pool during the rush, and a later booker would hold it again (correct behaviour, but then
"holds" would no longer measure the rush).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests

from tests.e2e.stack import RunningStack, running_stack

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = timezone(timedelta(hours=8))
BOOKERS = 2000
CAPACITY = 100
# Bounded: the local stack is one Python process (moto server, simulator, pump, chalice local). With 200 client
# connections the app's DynamoDB reads time out against moto server, and even GET /api/hospital answers 503
# (seen on a 2-CPU machine); 50 connections are served. 2,000 bookers go through this many connections.
CONNECTIONS = 50
DEPARTMENT = "D0301"  # 心血管内科: no gender or age restriction
LEAD_SECONDS = 20.0  # release this long after the schedule is published (warm-up happens in between)
REQUEST_TIMEOUT = 60.0
FINAL_CODES = {(202, None), (409, "SCHEDULE_FULL")}
MAX_TRIES = 30


# ---- the stack: ``tests.e2e.stack.running_stack`` (what the browser tests use) ----------------------------------
# ---- setup: the app's tables, users, cookies --------------------------------------------------------------
def _settings(moto_url: str) -> Any:
    from chalicelib.config import load_settings, stage_environment

    env = stage_environment("local", ROOT) | {"AWS_ENDPOINT_URL": moto_url}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        os.environ[key] = env[key]  # botocore (under pynamodb) reads the credentials from the environment
    return load_settings(env)


@dataclass(frozen=True)
class Booker:
    openid: str
    patient_id: str
    cookie: str


def _bookers(settings: Any, patient_ids: list[str]) -> list[Booker]:
    """One fictitious WeChat user per patient, bound with the app's own adapter, with a session cookie signed
    by the app's own code (what the OAuth login would have set)."""
    from chalicelib.adapters.dynamodb.models import patients_model
    from chalicelib.adapters.dynamodb.patient_bindings import DynamoPatientBindings
    from chalicelib.domain.patients import Relation
    from chalicelib.services.h5_login import SESSION_TTL, WebSession, session_cookie, signing_key

    bindings = DynamoPatientBindings(patients_model(settings.table_name("patients"), settings.region,
                                                    settings.aws_endpoint_url))
    key = signing_key(settings.stage, settings.session_secret)
    now = datetime.now(UTC)
    run = secrets.token_hex(3)
    bookers = [Booker(f"o-bench-{run}-{i:05d}", pid,
                      session_cookie(WebSession(f"o-bench-{run}-{i:05d}", now, now + SESSION_TTL), key))
               for i, pid in enumerate(patient_ids)]
    # The adapter's own items (both directions of each binding), written in batches: its ``bind`` is one
    # transaction per binding, and moto server answers 500 to concurrent TransactWriteItems (seen here).
    model = bindings._model
    with model.batch_write() as batch:
        for b in bookers:
            for item in bindings._pair(b.openid, b.patient_id, {
                    "openid": b.openid, "patient_id": b.patient_id, "relation": Relation.SELF.value, "label": "测*",
                    "bound_at": now.isoformat()}):
                batch.save(item)
    probe = bindings.patients_of(bookers[-1].openid)
    if [p.patient_id for p in probe] != [bookers[-1].patient_id]:
        raise RuntimeError("the bindings were not written as the adapter reads them")
    return bookers


# ---- HTTP -------------------------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    code: str | None
    started: float  # perf_counter
    seconds: float
    retry_after: float | None = None


@dataclass
class Outcome:
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # no answer: network errors, timeouts
    unfinished: list[str] = field(default_factory=list)  # bookers whose last answer was neither 202 nor full


_local = threading.local()


def _session() -> requests.Session:
    """One keep-alive connection per client thread (a patient's phone keeps its own)."""
    s = getattr(_local, "session", None)
    if s is None:
        s = _local.session = requests.Session()
    return s


def _call(method: str, url: str, cookie: str, body: dict[str, Any] | None = None) -> Answer:
    started = time.perf_counter()
    r = _session().request(method, url, json=body, timeout=REQUEST_TIMEOUT, headers={"Cookie": f"yw_session={cookie}"})
    took = time.perf_counter() - started
    payload = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}
    code = payload.get("code") if isinstance(payload, dict) else None
    if r.status_code == 202 and isinstance(payload, dict):
        code = str((payload.get("appointment") or {}).get("appointment_id"))  # a hold: which appointment
    retry = payload.get("retry_after") if isinstance(payload, dict) else None
    return Answer(r.status_code, code, started, took, float(retry) if isinstance(retry, int | float) else None)


def _book_until_final(url: str, b: Booker, schedule_id: str, out: Outcome, lock: threading.Lock) -> None:
    """One booker, as the page behaves: one request key per attempt, sent again after ``retry_after`` (or 1 s)
    on 429/503 and after a network error (the key makes that safe: the same key returns the same appointment)."""
    body = {"schedule_id": schedule_id, "patient_id": b.patient_id, "request_key": secrets.token_urlsafe(12)}
    for _ in range(MAX_TRIES):
        try:
            a = _call("POST", url, b.cookie, body)
        except requests.RequestException as exc:
            with lock:
                out.errors.append(f"{type(exc).__name__}: {exc}"[:160])
            time.sleep(1)
            continue
        with lock:
            out.answers.append(a)
        if a.status in (429, 503):
            time.sleep(a.retry_after or 1)
            continue
        if (a.status, a.code if a.status != 202 else None) not in FINAL_CODES:
            with lock:
                out.unfinished.append(f"ended on {a.status} {a.code}")
        return
    with lock:
        out.unfinished.append(f"no final answer after {MAX_TRIES} tries")


def _baseline(url: str, cookie: str, n: int, connections: int) -> list[float]:
    out = Outcome()
    lock = threading.Lock()

    def one(_: int) -> None:
        try:
            a = _call("GET", url, cookie)
        except requests.RequestException as exc:
            with lock:
                out.errors.append(str(exc)[:200])
            return
        with lock:
            out.answers.append(a)

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(one, range(n)))
    bad = [a for a in out.answers if a.status != 200]
    if out.errors or bad:
        raise RuntimeError(f"baseline {url}: {len(out.errors)} errors, {len(bad)} non-200 answers")
    return [a.seconds for a in out.answers]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- the session to book ----------------------------------------------------------------------------------
def _publish_schedule(his_admin: str, release_at: datetime) -> dict[str, Any]:
    """A department-pool evening session two days ahead (the seed has no evening sessions), released at
    ``release_at`` (a real time: the app compares it with its own clock)."""
    today = date.fromisoformat(requests.get(f"{his_admin}/clock", timeout=10).json()["now"][:10])
    for days in range(2, 7):
        r = requests.post(f"{his_admin}/schedules", timeout=10, json={
            "date": (today + timedelta(days=days)).isoformat(), "session": "evening", "department_id": DEPARTMENT,
            "capacity": CAPACITY, "release_at": release_at.astimezone(SHANGHAI).isoformat(timespec="seconds")})
        if r.status_code == 201:
            return dict(r.json())
        if r.json().get("code") != "DUPLICATE_REQUEST":
            raise RuntimeError(f"the simulator refused the schedule: {r.status_code} {r.text[:300]}")
    raise RuntimeError("no free evening pool session to publish")


def _warm(url: str, b: Booker, schedule_id: str) -> Answer:
    """One attempt before the release: makes the slot pool (the snapshot and one item per slot) under the
    lease, as the first page views before 08:00 do; answered 409 NOT_RELEASED."""
    body = {"schedule_id": schedule_id, "patient_id": b.patient_id, "request_key": secrets.token_urlsafe(12)}
    for _ in range(20):
        a = _call("POST", url, b.cookie, body)
        if a.status not in (429, 503):
            return a
        time.sleep(a.retry_after or 1)
    raise RuntimeError("the slot pool could not be prepared")


# ---- checks against the booking table --------------------------------------------------------------------
@dataclass
class TableState:
    held: dict[str, str]  # slot id -> holder (appointment id)
    other_slots: Counter[str]
    appointments: dict[str, tuple[str, str]]  # appointment id -> (slot id, state)


def _table_state(settings: Any, schedule_id: str) -> TableState:
    from chalicelib.adapters.dynamodb.booking_codec import appointment_of
    from chalicelib.adapters.dynamodb.models import BookingItem

    # The app's item class on a connection with patience: a consistent scan of the whole table after the rush
    # takes moto server longer than the app's 5 s read timeout.
    meta = type("Meta", (), {"table_name": settings.table_name("booking"), "region": settings.region,
                             "host": settings.aws_endpoint_url, "read_timeout_seconds": 120, "max_retry_attempts": 1})
    m: Any = type("BenchBookingItem", (BookingItem,), {"Meta": meta})
    held: dict[str, str] = {}
    other: Counter[str] = Counter()
    appointments: dict[str, tuple[str, str]] = {}
    prefix = f"slot#{schedule_id}#"
    for item in m.scan(consistent_read=True):
        if item.pk.startswith(prefix):
            if item.state == "held":
                held[item.pk.removeprefix(prefix)] = item.value or ""
            else:
                other[item.state or "free"] += 1
        elif item.pk.startswith("appt#") and item.sk == "appt":
            a = appointment_of(item.data or {})
            if a.visit.schedule_id == schedule_id:
                appointments[a.appointment_id] = (a.slot.slot_id, a.state.value)
    return TableState(held, other, appointments)


def _oversell_problems(t: TableState) -> list[str]:
    problems = []
    if len(t.held) != CAPACITY:
        problems.append(f"{len(t.held)} held slot items, expected {CAPACITY}")
    holders = list(t.held.values())
    if len(set(holders)) != len(holders):
        problems.append("a holder holds more than one slot")
    orphans = [h for h in holders if h not in t.appointments]
    if orphans:
        problems.append(f"{len(orphans)} slots held by no appointment of the session")
    by_slot = {appt: slot for slot, appt in t.held.items()}
    unheld = [a for a, (slot, _) in t.appointments.items() if by_slot.get(a) != slot]
    if unheld:
        problems.append(f"{len(unheld)} appointments without their slot")
    return problems


# ---- the run ----------------------------------------------------------------------------------------------
def rush(stack: RunningStack, bookers_n: int, connections: int, direct: bool) -> int:
    origin = (stack.api_url.removesuffix("/api/") if direct else stack.h5_url).rstrip("/")
    book_url, base_url = f"{origin}/api/appointments", f"{origin}/api/hospital"
    settings = _settings(stack.moto_url)

    t0 = time.perf_counter()
    made = requests.post(f"{stack.his_admin}/patients", json={"count": bookers_n}, timeout=60)
    made.raise_for_status()
    bookers = _bookers(settings, [p["patient_id"] for p in made.json()["items"]])
    print(f"setup: {bookers_n} HIS patients and bindings in {time.perf_counter() - t0:.1f} s", flush=True)

    baseline_n = min(bookers_n, 2 * connections)  # same concurrency; fewer requests keep the run short
    base_before = _baseline(base_url, bookers[0].cookie, baseline_n, connections)
    release_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD_SECONDS)
    schedule = _publish_schedule(stack.his_admin, release_at)
    schedule_id = schedule["schedule_id"]
    warm = _warm(book_url, bookers[0], schedule_id)
    if (warm.status, warm.code) != (409, "NOT_RELEASED"):
        print(f"FAIL: the warm-up attempt before the release answered {warm.status} {warm.code}")
        return 1
    wait = release_at.timestamp() - time.time()
    print(f"schedule {schedule_id}: capacity {schedule['capacity']}, release {schedule['release_at']}; "
          f"pool warmed ({warm.seconds * 1000:.0f} ms, 409 NOT_RELEASED); rush in {wait:.1f} s", flush=True)
    time.sleep(max(0.0, wait) + 0.05)

    out = Outcome()
    lock = threading.Lock()
    start = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        for b in bookers:
            pool.submit(_book_until_final, book_url, b, schedule_id, out, lock)
    window = time.perf_counter() - start
    base_after = _baseline(base_url, bookers[0].cookie, baseline_n, connections)

    answers = out.answers
    holds = [a for a in answers if a.status == 202]
    last_hold = max((a.started + a.seconds for a in holds), default=start) - start
    latencies = [a.seconds for a in answers]
    baseline = base_before + base_after
    by_code = Counter(f"{a.status} {a.code or ''}".strip() if a.status != 202 else "202" for a in answers)
    held_ids = {a.code for a in holds}
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    b50, b99 = _percentile(baseline, 0.5), _percentile(baseline, 0.99)

    via = "chalice local directly" if direct else "the H5 origin (CDN-like server → chalice local)"
    print(f"\nRelease rush: {bookers_n} bookers, {CAPACITY} slots, {connections} client connections, via {via}")
    print(f"{'':<34}{'value':>12}")
    rows: list[tuple[str, str]] = [
        ("requests sent", f"{len(answers) + len(out.errors)}"),
        ("answered", f"{len(answers)}"),
        *[(f"  {k}", f"{v}") for k, v in sorted(by_code.items())],
        ("unanswered (errors/timeouts)", f"{len(out.errors)}"),
        ("bookers not finished", f"{len(out.unfinished)}"),
        ("holds (distinct appointments)", f"{len(held_ids)}"),
        ("rush window (all bookers done)", f"{window:.2f} s"),
        ("sold out after (last 202)", f"{last_hold:.2f} s"),
        ("holds/s (to the last hold)", f"{len(held_ids) / last_hold:.1f}" if last_hold > 0 else "-"),
        ("answers/s (whole window)", f"{len(answers) / window:.1f}"),
        ("booking p50 / p99", f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms"),
        ("  holds only p50 / p99", f"{_percentile([a.seconds for a in holds], 0.5) * 1000:.0f} / "
                                   f"{_percentile([a.seconds for a in holds], 0.99) * 1000:.0f} ms" if holds else "-"),
        ("baseline /api/hospital p50 / p99", f"{b50 * 1000:.0f} / {b99 * 1000:.0f} ms"),
        ("  before / after rush p50", f"{statistics.median(base_before) * 1000:.0f} / "
                                      f"{statistics.median(base_after) * 1000:.0f} ms"),
        ("ratio booking/baseline p50", f"{p50 / b50:.2f}x"),
        ("ratio booking/baseline p99", f"{p99 / b99:.2f}x"),
    ]
    for name, value in rows:
        print(f"{name:<34}{value:>12}" if len(value) <= 12 else f"{name:<34}{value}", flush=True)
    table = _table_state(settings, schedule_id)
    print(f"{'held slot items in the table':<34}{len(table.held)} (others: {dict(table.other_slots)})")
    print(f"{'appointments of the session':<34}{len(table.appointments):>12}", flush=True)

    problems = []
    if len(held_ids) != CAPACITY:
        problems.append(f"{len(held_ids)} holds (distinct appointments answered 202), expected exactly {CAPACITY}")
    problems += _oversell_problems(table)
    if out.errors:
        problems.append(f"{len(out.errors)} requests unanswered: {Counter(out.errors).most_common(2)}")
    if out.unfinished:
        problems.append(f"{len(out.unfinished)} bookers without a final answer: {Counter(out.unfinished).most_common(3)}")
    if set(table.appointments) != held_ids:
        problems.append(f"{len(table.appointments)} appointments recorded for {len(held_ids)} holds answered")

    settled = _settle(settings, schedule_id)
    print(f"after the HIS locks ({settled[0]:.0f} s): appointment states {dict(settled[1])}; "
          f"held slot items {settled[2]}")
    if settled[2] != CAPACITY:
        problems.append(f"{settled[2]} held slot items after the HIS locks, expected {CAPACITY}")
    for p in problems:
        print(f"FAIL: {p}")
    print("checks: " + ("exactly 100 holds, zero oversell, every request answered: OK" if not problems else "FAILED"))
    return 1 if problems else 0


def _settle(settings: Any, schedule_id: str, timeout: float = 60.0) -> tuple[float, Counter[str], int]:
    """Wait until no appointment of the session is still ``holding`` (the HIS locks came back over SQS)."""
    started = time.monotonic()
    while True:
        t = _table_state(settings, schedule_id)
        states = Counter(state for _, state in t.appointments.values())
        if states.get("holding", 0) == 0 or time.monotonic() - started > timeout:
            return time.monotonic() - started, states, len(t.held)
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.release_rush", description=__doc__.split("\n")[0])
    parser.add_argument("--bookers", type=int, default=BOOKERS)
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="client connections (threads)")
    parser.add_argument("--direct", action="store_true", help="call chalice local, not the H5 origin")
    args = parser.parse_args(argv)
    print("Starting the local stack (python -m devstack on free ports)…", flush=True)
    with running_stack() as stack:
        try:
            return rush(stack, args.bookers, args.connections, args.direct)
        finally:
            log = Path(os.environ.get("TMPDIR", "/tmp")) / "release_rush_stack.log"
            log.write_text("\n".join(stack.output) + "\n", encoding="utf-8")
            print(f"(the stack's output: {log})")


if __name__ == "__main__":
    sys.exit(main())
