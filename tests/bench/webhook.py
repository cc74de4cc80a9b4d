"""Webhook benchmark: ``make bench`` (not a timed test; figures are printed, targets are ratios).

* Throughput and p50/p99 per message kind, plain and safe (AES) mode, through the app's Lambda
  entry point (``app(event, context)``: Chalice routing, middleware, protocol, dedup ledger, the
  registered handler, reply rendering) with in-memory stores — and, in the same run, a bare wechatpy
  handler (verify, parse, reply, nothing else) as the baseline. Target: full ≥ 1.0× bare, p99 ≤ 50 ms.
* Cold import of the webhook's Lambda module (``app``) against a bare ``chalice`` + ``boto3`` import,
  each in fresh interpreters, medians. Target ≤ 1.3×.

The machine is shared and noisy: kinds are interleaved and repeated, and only same-run ratios count.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parents[2]
OPENID = "oBenchPatient0000000000000001"


def _bare_handler(token: str, aes_key: str, appid: str) -> Callable[[dict[str, str], str], str]:
    """The reference: what any wechatpy webhook does at the least."""
    from wechatpy import create_reply, parse_message
    from wechatpy.crypto import WeChatCrypto
    from wechatpy.utils import check_signature

    crypto = WeChatCrypto(token, aes_key, appid)

    def handle(query: dict[str, str], body: str) -> str:
        check_signature(token, query["signature"], query["timestamp"], query["nonce"])
        encrypted = query.get("encrypt_type") == "aes"
        xml = crypto.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"]) if encrypted else body
        message = parse_message(xml)
        reply = create_reply("您好", message).render()
        return crypto.encrypt_message(reply, query["nonce"], query["timestamp"]) if encrypted else reply

    return handle


def _api_event(path_qs: str, body: str) -> dict[str, Any]:
    parts = urlsplit(path_qs)
    query = dict(parse_qsl(parts.query))
    return {
        "resource": "/wechat", "path": "/wechat", "httpMethod": "POST",
        "headers": {"Content-Type": "text/xml", "Host": "bench"}, "multiValueHeaders": {},
        "queryStringParameters": query, "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "pathParameters": None, "stageVariables": None, "body": body, "isBase64Encoded": False,
        "requestContext": {"resourcePath": "/wechat", "httpMethod": "POST", "stage": "v1", "requestId": "bench",
                           "identity": {"sourceIp": "127.0.0.1"}},
    }


class _Context:
    function_name = "yiwei-bench-APIHandler"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _full_path(reference: Any) -> Callable[[str, str], int]:
    from app import app
    from chalicelib import bootstrap
    from chalicelib.config import load_settings
    from chalicelib.services.wechat_handlers import WeChatContext
    from tests.fakes import FakeDeferredInbox, FakeDeliveryLog, FakeInboxLedger, FakeMessenger, FakeWeChatUsers
    from tests.wechat_wire import AES_KEY, APPID, TOKEN

    settings = load_settings({"STAGE": "bench", "WECHAT_TOKEN": TOKEN, "WECHAT_AES_KEY": AES_KEY, "WECHAT_APPID": APPID,
                              "H5_BASE_URL": "https://h5.example.org", "LOG_LEVEL": "WARNING"})
    bootstrap.use_settings(settings)
    users, deliveries = FakeWeChatUsers(), FakeDeliveryLog()
    faq = _faq()
    context = WeChatContext(users=users, reference=reference, deliveries=deliveries, clock=bootstrap.container().clock,
                            page_url=settings.h5_url, answer_question=faq[0], faq_topics=faq[1],
                            hospital_name=settings.hospital_name, hospital_phone="0000-0000000")
    bootstrap.override(reference_repository=reference, wechat_users=users, deliveries=deliveries,
                       inbox_ledger=FakeInboxLedger(), deferred_inbox=FakeDeferredInbox(),
                       wechat_messenger=FakeMessenger(), wechat_context=context)
    ctx = _Context()

    def call(path_qs: str, body: str) -> int:
        response = app(_api_event(path_qs, body), ctx)
        if response["statusCode"] != 200:  # a benchmark of refusals would measure nothing
            raise RuntimeError(f"webhook answered {response['statusCode']}: {response['body'][:200]}")
        return int(response["statusCode"])

    return call


def _faq() -> tuple[Callable[[str], str | None], Callable[[], list[str]]]:
    """The real knowledge base (the seed entries), held in memory as the repository's cache holds it."""
    from datetime import UTC, datetime

    from chalicelib.services.faq import reply_for, seed_entries

    entries = seed_entries(datetime.now(UTC))

    def answer(question: str) -> str | None:
        found = reply_for(question, entries, "https://h5.example.org")
        return found.text if found else None

    return answer, lambda: [e.question for e in entries[:6]]


def _reference() -> Any:
    from chalicelib.domain.his_reference import snapshot_from_payload
    from chalicelib.domain.reference import Dataset
    from tests.conftest import load_fixture
    from tests.fakes import FakeReferenceRepository

    repo = FakeReferenceRepository()
    from datetime import UTC, datetime

    for dataset in Dataset:
        snap, _ = snapshot_from_payload(dataset, load_fixture(f"his/reference_{dataset.value}.json"),
                                        datetime.now(UTC), None)
        repo.apply_snapshot(snap)
    return repo


def _messages(wire: Any, n: int) -> dict[str, list[str]]:
    from chalicelib.domain.menu import MenuKey

    now = int(time.time())
    return {
        "text": [wire.text(OPENID, "请问门诊几点上班", msg_id=10_000 + i) for i in range(n)],
        "subscribe": [wire.event(f"{OPENID[:-4]}{i:04d}", "subscribe", created=now) for i in range(n)],
        "click": [wire.event(OPENID, "CLICK", MenuKey.CONTACT.value, created=now - i) for i in range(n)],
        "location": [wire.location(OPENID, 30.29, 120.2, msg_id=20_000 + i) for i in range(n)],
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _run(call: Callable[[str, str], Any], requests: list[tuple[str, str]]) -> list[float]:
    took = []
    for path_qs, body in requests:
        started = time.perf_counter()
        call(path_qs, body)
        took.append(time.perf_counter() - started)
    return took


def throughput(n: int = 400, rounds: int = 3) -> list[dict[str, Any]]:
    from tests.wechat_wire import AES_KEY, APPID, TOKEN, WeChatWire

    wire = WeChatWire()
    full = _full_path(_reference())
    bare_handler = _bare_handler(TOKEN, AES_KEY, APPID)

    def bare(path_qs: str, body: str) -> str:
        return bare_handler(dict(parse_qsl(urlsplit(path_qs).query)), body)

    rows = []
    for encrypted in (False, True):
        for kind, xmls in _messages(wire, n * rounds).items():
            full_t: list[float] = []
            bare_t: list[float] = []
            for r in range(rounds):  # interleave so noise hits both alike
                batch = [wire.request(x, encrypted=encrypted) for x in xmls[r * n:(r + 1) * n]]
                bare_t += _run(bare, batch)
                full_t += _run(full, batch)
            rows.append({
                "kind": kind, "mode": "safe" if encrypted else "plain",
                "full_per_s": len(full_t) / sum(full_t), "bare_per_s": len(bare_t) / sum(bare_t),
                "full_p50_ms": _percentile(full_t, 0.5) * 1000, "full_p99_ms": _percentile(full_t, 0.99) * 1000,
                "bare_p50_ms": _percentile(bare_t, 0.5) * 1000, "bare_p99_ms": _percentile(bare_t, 0.99) * 1000,
            })
    return rows


def _import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def cold_import(runs: int = 9) -> dict[str, float]:
    bare, app = [], []
    for _ in range(runs):  # interleaved
        bare.append(_import_seconds("import chalice.app, boto3"))
        app.append(_import_seconds("import app"))
    return {"bare_ms": statistics.median(bare) * 1000, "app_ms": statistics.median(app) * 1000}


def main() -> int:
    rows = throughput()
    print("\nWebhook throughput (sequential, one process; full = app(event, context) with in-memory stores)")
    print(f"{'kind':<10}{'mode':<7}{'full/s':>9}{'bare/s':>9}{'ratio':>7}{'p50 ms':>9}{'p99 ms':>9}{'bare p99':>10}")
    ok = True
    for r in rows:
        ratio = r["full_per_s"] / r["bare_per_s"]
        print(f"{r['kind']:<10}{r['mode']:<7}{r['full_per_s']:>9.0f}{r['bare_per_s']:>9.0f}{ratio:>6.2f}x"
              f"{r['full_p50_ms']:>9.2f}{r['full_p99_ms']:>9.2f}{r['bare_p99_ms']:>10.2f}")
        ok &= r["full_p99_ms"] <= 50
    total_full = sum(r["full_per_s"] for r in rows) / len(rows)
    total_bare = sum(r["bare_per_s"] for r in rows) / len(rows)
    print(f"mean throughput ratio full/bare: {total_full / total_bare:.2f}x (target >= 1.0x); "
          f"p99 target <= 50 ms: {'met' if ok else 'MISSED'}")
    cold = cold_import()
    ratio = cold["app_ms"] / cold["bare_ms"]
    print(f"\nCold import: app {cold['app_ms']:.0f} ms, bare chalice+boto3 {cold['bare_ms']:.0f} ms, "
          f"ratio {ratio:.2f}x (target <= 1.3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
