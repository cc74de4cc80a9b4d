"""Fixtures: a fresh simulator per test, Flask's test client, and a client that signs like the bridge does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from devstack.his_simulator.clock import SHANGHAI, SimClock
from devstack.his_simulator.config import TEST_APP_ID, TEST_APP_SECRET
from devstack.his_simulator.server import create_app
from devstack.his_simulator.simulator import Simulator
from his_bridge.signing import signed_headers


class SignedClient:
    """Signs every request with the test app's secret at the simulator's current time."""

    def __init__(self, client: FlaskClient, sim: Simulator) -> None:
        self.client = client
        self.sim = sim

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | str | None = None,
        body: Any = None,
        *,
        raw_body: bytes | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        nonce: str | None = None,
        secret: str = TEST_APP_SECRET,
        app_id: str = TEST_APP_ID,
    ) -> TestResponse:
        raw_query = query if isinstance(query, str) else urlencode(query or {}, quote_via=quote)
        data = raw_body if raw_body is not None else b""
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        all_headers = signed_headers(
            app_id, secret, method, path, raw_query, data, timestamp or self.sim.clock.epoch(), nonce
        )
        if idempotency_key is not None:
            all_headers["Idempotency-Key"] = idempotency_key
        if data:
            all_headers["Content-Type"] = "application/json; charset=utf-8"
        all_headers.update(headers or {})
        url = path + ("?" + raw_query if raw_query else "")
        return self.client.open(url, method=method, data=data, headers=all_headers)

    def get(self, path: str, query: dict[str, Any] | str | None = None, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, query, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, body=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


@pytest.fixture
def client(sim: Simulator) -> Iterator[FlaskClient]:
    with create_app(sim).test_client() as test_client:
        yield test_client


@pytest.fixture
def api(client: FlaskClient, sim: Simulator) -> SignedClient:
    return SignedClient(client, sim)


ZHANG_IDENTITY = {
    "method": "identity",
    "id_type": "resident_id",
    "id_number": "110101199003070011",
    "name": "张三",
    "phone": "13800000001",
}


@pytest.fixture
def linked_zhang(api: SignedClient) -> str:
    """张三 (P000123456) looked up, hence linked to the test app."""
    response = api.post("/v1/patients/lookup", ZHANG_IDENTITY)
    assert response.status_code == 200
    return "P000123456"


def frozen_simulator(at: datetime) -> Simulator:
    """A simulator whose clock stands still at ``at`` (``advance`` still moves it) and whose seed is for that day."""
    sim = Simulator(clock=SimClock(real=lambda: at))
    sim.reset()
    return sim


MONDAY_9AM = datetime(2025, 6, 16, 9, 0, tzinfo=SHANGHAI)


@contextmanager
def signed_client(sim: Simulator) -> Iterator[SignedClient]:
    with create_app(sim).test_client() as test_client:
        yield SignedClient(test_client, sim)


@pytest.fixture
def booking() -> Iterator[tuple[Simulator, SignedClient]]:
    """Monday 2025-06-16 09:00 (frozen), 张三 linked: S20250623D0301DR10023AM has just been released."""
    sim = frozen_simulator(MONDAY_9AM)
    with signed_client(sim) as api:
        assert api.post("/v1/patients/lookup", ZHANG_IDENTITY).status_code == 200
        yield sim, api
