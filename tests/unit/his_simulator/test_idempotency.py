"""§5.3 idempotency store: scoping, fingerprints, in-progress, which outcomes are kept, retention."""

from __future__ import annotations

from datetime import datetime, timedelta

from devstack.his_simulator.clock import SHANGHAI
from devstack.his_simulator.idempotency import KEY_PATTERN, IdempotencyStore, StoredResponse, fingerprint

NOW = datetime(2025, 6, 16, 8, 0, tzinfo=SHANGHAI)
APP = "wxoa-cloud-test"


def test_first_request_proceeds_then_is_in_progress_then_replayed() -> None:
    store = IdempotencyStore()
    fp = fingerprint("/v1/appointments", {"a": 1})
    assert store.begin(APP, "lockAppointment", "key-0001", fp, NOW).proceed
    assert store.begin(APP, "lockAppointment", "key-0001", fp, NOW).in_progress
    store.finish(APP, "lockAppointment", "key-0001", StoredResponse(201, b"{}"))
    replay = store.begin(APP, "lockAppointment", "key-0001", fp, NOW).replay
    assert replay is not None and replay.status == 201


def test_keys_are_scoped_per_app_and_operation() -> None:
    store = IdempotencyStore()
    fp = fingerprint("/v1/appointments", {"a": 1})
    assert store.begin(APP, "lockAppointment", "key-0001", fp, NOW).proceed
    assert store.begin(APP, "createPatient", "key-0001", fp, NOW).proceed
    assert store.begin("other-app", "lockAppointment", "key-0001", fp, NOW).proceed


def test_bodies_compare_as_parsed_json_and_paths_count() -> None:
    assert fingerprint("/p", {"a": 1, "b": [1, 2]}) == fingerprint("/p", {"b": [1, 2], "a": 1})
    assert fingerprint("/p", {"a": 1}) != fingerprint("/p", {"a": 1.5})
    assert fingerprint("/v1/appointments/A1/confirm", {}) != fingerprint("/v1/appointments/A2/confirm", {})
    store = IdempotencyStore()
    store.begin(APP, "op", "key-0001", fingerprint("/p", {"a": 1}), NOW)
    assert store.begin(APP, "op", "key-0001", fingerprint("/p", {"a": 2}), NOW).reused


def test_only_final_outcomes_are_kept() -> None:
    store = IdempotencyStore()
    fp = fingerprint("/p", None)
    for status, kept in ((200, True), (409, True), (422, True), (429, False), (500, False), (503, False),
                         (504, False)):
        key = f"key-{status}-x"
        store.begin(APP, "op", key, fp, NOW)
        store.finish(APP, "op", key, StoredResponse(status, b"{}"))
        assert (store.begin(APP, "op", key, fp, NOW).replay is not None) is kept, status


def test_records_are_kept_72_hours() -> None:
    store = IdempotencyStore(retention_hours=72)
    fp = fingerprint("/p", None)
    store.begin(APP, "op", "key-0001", fp, NOW)
    store.finish(APP, "op", "key-0001", StoredResponse(201, b"{}"))
    assert store.begin(APP, "op", "key-0001", fp, NOW + timedelta(hours=71)).replay is not None
    assert store.begin(APP, "op", "key-0001", fp, NOW + timedelta(hours=73)).proceed


def test_key_pattern() -> None:
    assert KEY_PATTERN.match("WXO20250616080005123:confirm")
    assert KEY_PATTERN.match("newpt-u9c41e0b2-20250616-01")
    assert not KEY_PATTERN.match("short")
    assert not KEY_PATTERN.match("has/slash-in-it")
