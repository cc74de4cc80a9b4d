"""Booking helpers shared by the appointment, event and admin tests (frozen on Monday 2025-06-16, 09:00)."""

from __future__ import annotations

from typing import Any

from .conftest import SignedClient

LI_SI = "S20250623D0301DR10023AM"  # released at 08:00 today, 24 free slots, cancel deadline 2025-06-22 18:00


def lock_body(order_id: str = "WXO20250616090000001", schedule_id: str = LI_SI, **extra: Any) -> dict[str, Any]:
    return {"order_id": order_id, "schedule_id": schedule_id, "patient_id": "P000123456"} | extra


def payment(order_id: str, amount: int, transaction_id: str = "4200000000202506161234567890") -> dict[str, Any]:
    return {"channel": "wechat_pay", "transaction_id": transaction_id, "out_trade_no": order_id,
            "amount_fen": amount, "paid_at": "2025-06-16T09:01:00+08:00"}


def lock(api: SignedClient, body: dict[str, Any], key: str | None = None) -> Any:
    return api.post("/v1/appointments", body, idempotency_key=key or f"{body['order_id']}:lock")


def confirm(api: SignedClient, appt: dict[str, Any], amount: int | None = None, key_suffix: str = "confirm",
            transaction_id: str = "4200000000202506161234567890") -> Any:
    body = {"order_id": appt["order_id"], "payment": payment(appt["order_id"], amount or appt["fee_fen"],
                                                             transaction_id)}
    return api.post(f"/v1/appointments/{appt['appointment_id']}/confirm", body,
                    idempotency_key=f"{appt['order_id']}:{key_suffix}")


def cancel(api: SignedClient, appt: dict[str, Any], refund_no: str | None = "RFO20250616100000001",
           key_suffix: str = "cancel") -> Any:
    body = {"order_id": appt["order_id"], "reason_code": "patient_request", "refund_request_no": refund_no}
    return api.post(f"/v1/appointments/{appt['appointment_id']}/cancel", body,
                    idempotency_key=f"{appt['order_id']}:{key_suffix}")
