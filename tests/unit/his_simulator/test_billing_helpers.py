"""Shared setup of the billing and reconciliation tests (no tests here): a simulator frozen on Monday 2025-06-16
09:00 with 张三 linked, the billing blueprints registered (unless the app already has them), and request helpers.

Seeded charges of 张三's visit the day before (all unpaid, valid 72 h from their creation on 2025-06-15):
prescription 8220 fen (two lines), lab 7300 fen (two lines), treatment 15000 fen (insurance required).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from devstack.his_simulator.routes.admin_billing import bp as admin_billing_bp
from devstack.his_simulator.routes.billing import bp as billing_bp
from devstack.his_simulator.server import create_app
from devstack.his_simulator.simulator import Simulator

from .conftest import MONDAY_9AM, ZHANG_IDENTITY, SignedClient, frozen_simulator

ZHANG = "P000123456"
PRESCRIPTION = "CH20250615001201"  # 3700 + 4520 = 8220
LAB = "CH20250615001202"  # 6800 + 500 = 7300
TREATMENT = "CH20250615001203"  # 15000, not payable online (insurance_required)
VISIT = "V2025061500877"
TXN = "4200000000202506161122334455"


class BillingEnv:
    def __init__(self, sim: Simulator, api: SignedClient, admin: FlaskClient) -> None:
        self.sim = sim
        self.api = api
        self.admin = admin

    def prepare(self, request_no: str = "STL20250616090000001", charge_ids: list[str] | None = None,
                expected: int | None = None, key: str | None = None, patient_id: str = ZHANG) -> TestResponse:
        ids = charge_ids if charge_ids is not None else [PRESCRIPTION, LAB]
        if expected is None:
            expected = sum(self.sim.state.charges[c].total_fen for c in ids if c in self.sim.state.charges)
        body = {"settlement_request_no": request_no, "patient_id": patient_id, "charge_ids": ids,
                "expected_total_fen": expected}
        return self.api.post("/v1/settlements", body, idempotency_key=key or f"{request_no}:prepare")

    def confirm(self, settlement: dict[str, Any], amount: int | None = None, transaction_id: str = TXN,
                key: str | None = None) -> TestResponse:
        request_no = settlement["settlement_request_no"]
        body = {"settlement_request_no": request_no,
                "payment": {"channel": "wechat_pay", "transaction_id": transaction_id, "out_trade_no": request_no,
                            "amount_fen": settlement["total_fen"] if amount is None else amount,
                            "paid_at": "2025-06-16T09:01:00+08:00"}}
        return self.api.post(f"/v1/settlements/{settlement['settlement_id']}/confirm", body,
                             idempotency_key=key or f"{request_no}:confirm")

    def cancel(self, settlement: dict[str, Any], key: str | None = None) -> TestResponse:
        request_no = settlement["settlement_request_no"]
        return self.api.post(f"/v1/settlements/{settlement['settlement_id']}/cancel",
                             {"settlement_request_no": request_no}, idempotency_key=key or f"{request_no}:cancel")

    def refund(self, settlement_id: str, lines: list[tuple[str, str]], refund_no: str = "RFS20250616100000001",
               key: str | None = None) -> TestResponse:
        body = {"refund_request_no": refund_no, "reason_code": "patient_request",
                "items": [{"charge_id": c, "item_id": i} for c, i in lines]}
        return self.api.post(f"/v1/settlements/{settlement_id}/refunds", body, idempotency_key=key or f"{refund_no}:refund")

    def paid(self, request_no: str = "STL20250616090000001", charge_ids: list[str] | None = None,
             transaction_id: str = TXN) -> dict[str, Any]:
        prepared = self.prepare(request_no, charge_ids)
        assert prepared.status_code == 201, prepared.get_json()
        confirmed = self.confirm(prepared.get_json(), transaction_id=transaction_id)
        assert confirmed.status_code == 200, confirmed.get_json()
        body: dict[str, Any] = confirmed.get_json()
        return body

    def charges(self, **query: Any) -> dict[str, Any]:
        response = self.api.get(f"/v1/patients/{ZHANG}/charges", query)
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body


@contextmanager
def billing_env(at: datetime = MONDAY_9AM) -> Iterator[BillingEnv]:
    sim = frozen_simulator(at)
    app = create_app(sim)
    for blueprint, prefix in ((billing_bp, "/v1"), (admin_billing_bp, "/_sim")):
        if blueprint.name not in app.blueprints:
            app.register_blueprint(blueprint, url_prefix=prefix)
    with app.test_client() as client:
        api = SignedClient(client, sim)
        assert api.post("/v1/patients/lookup", ZHANG_IDENTITY).status_code == 200
        yield BillingEnv(sim, api, client)
