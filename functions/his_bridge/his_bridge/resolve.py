"""Unknown outcomes of writes (interface spec §5.2), resolved by querying the business key, never by a
fresh write.

For each write operation: how to find its effect. Found means the write took effect; the resource found
becomes the result body (``resolved_by: "query"``). Not found is meaningful only once the middleware has
committed or abandoned the write (within ``COMMIT_WINDOW_SECONDS`` of receiving it): then the same request
(same key, same body) may be sent again. ``lookupPatient``, ``createPatient`` and ``unlinkPatient`` are
idempotent on their own and are simply retried by the client (``client.RESEND_SAFE``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from his_bridge.client import HisResponse, HisUnavailableError

COMMIT_WINDOW_SECONDS = 10.0

CONFIRMED_OR_LATER = frozenset({"confirmed", "checked_in", "completed", "no_show"})
SETTLED_OR_LATER = frozenset({"settled", "partially_refunded", "refunded"})


class Caller(Protocol):
    def call(
        self,
        operation: str,
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        if_none_match: str | None = None,
        idempotency_key: str | None = None,
        end_user: str | None = None,
        deadline: float | None = None,
    ) -> HisResponse: ...


@dataclass(frozen=True)
class Effect:
    """What a query found: the resource standing for the write's result, and the write's success status."""

    status: int
    body: Any


def _read(client: Caller, operation: str, deadline: float | None, **kwargs: Any) -> Any | None:
    """The body of a read, None for 404; anything else indefinite raises (the message is redelivered)."""
    resp = client.call(operation, deadline=deadline, **kwargs)
    if resp.ok and isinstance(resp.body, dict):
        return resp.body
    if resp.status == 404:
        return None
    code = resp.error["code"] if resp.error else f"HTTP_{resp.status}"
    raise HisUnavailableError(f"{operation}: cannot resolve an unknown outcome ({code})", code=code)


def _text(mapping: Mapping[str, Any] | None, name: str) -> str:
    value = (mapping or {}).get(name)
    return value if isinstance(value, str) else ""


def _lock(client: Caller, path: Mapping[str, Any], body: Mapping[str, Any], deadline: float | None) -> Effect | None:
    order_id = _text(body, "order_id")
    found = _read(client, "queryAppointments", deadline, query={"order_id": order_id}) if order_id else None
    for item in (found or {}).get("items") or []:
        if isinstance(item, dict) and item.get("order_id") == order_id:
            return Effect(201, item)
    return None


def _appointment(client: Caller, path: Mapping[str, Any], deadline: float | None) -> dict[str, Any] | None:
    appointment_id = str(path.get("appointment_id") or "")
    if not appointment_id:
        return None
    found = _read(client, "getAppointment", deadline, path_params={"appointment_id": appointment_id})
    return found if isinstance(found, dict) else None


def _confirm(client: Caller, path: Mapping[str, Any], body: Mapping[str, Any], deadline: float | None) -> Effect | None:
    appt = _appointment(client, path, deadline)
    if appt is None:
        return None
    if appt.get("status") in CONFIRMED_OR_LATER:
        return Effect(200, appt)
    # Confirmed and then cancelled (e.g. by the hospital): our payment is recorded on it.
    sent = _text(body.get("payment") if isinstance(body.get("payment"), dict) else None, "transaction_id")
    recorded = _text(appt.get("payment") if isinstance(appt.get("payment"), dict) else None, "transaction_id")
    if appt.get("status") == "cancelled" and sent and sent == recorded:
        return Effect(200, appt)
    return None


def _cancel(client: Caller, path: Mapping[str, Any], body: Mapping[str, Any], deadline: float | None) -> Effect | None:
    appt = _appointment(client, path, deadline)
    return Effect(200, appt) if appt is not None and appt.get("status") == "cancelled" else None


def _check_in(client: Caller, path: Mapping[str, Any], body: Mapping[str, Any], deadline: float | None) -> Effect | None:
    appt = _appointment(client, path, deadline)
    if appt is not None and appt.get("status") in ("checked_in", "completed") and appt.get("visit_id"):
        return Effect(200, appt)
    return None


def _prepare(client: Caller, path: Mapping[str, Any], body: Mapping[str, Any], deadline: float | None) -> Effect | None:
    request_no = _text(body, "settlement_request_no")
    if not request_no:
        return None
    found = _read(client, "querySettlements", deadline, query={"settlement_request_no": request_no})
    for item in (found or {}).get("items") or []:
        if isinstance(item, dict) and item.get("settlement_request_no") == request_no:
            return Effect(201, item)
    return None


def _settlement(client: Caller, path: Mapping[str, Any], deadline: float | None) -> dict[str, Any] | None:
    settlement_id = str(path.get("settlement_id") or "")
    if not settlement_id:
        return None
    found = _read(client, "getSettlement", deadline, path_params={"settlement_id": settlement_id})
    return found if isinstance(found, dict) else None


def _confirm_settlement(
    client: Caller, path: Mapping[str, Any], body: Mapping[str, Any], deadline: float | None
) -> Effect | None:
    settlement = _settlement(client, path, deadline)
    return Effect(200, settlement) if settlement is not None and settlement.get("status") in SETTLED_OR_LATER else None


def _cancel_settlement(
    client: Caller, path: Mapping[str, Any], body: Mapping[str, Any], deadline: float | None
) -> Effect | None:
    settlement = _settlement(client, path, deadline)
    return Effect(200, settlement) if settlement is not None and settlement.get("status") == "cancelled" else None


def _refund(client: Caller, path: Mapping[str, Any], body: Mapping[str, Any], deadline: float | None) -> Effect | None:
    request_no = _text(body, "refund_request_no")
    settlement = _settlement(client, path, deadline) if request_no else None
    for refund in (settlement or {}).get("refunds") or []:
        if isinstance(refund, dict) and refund.get("refund_request_no") == request_no:
            return Effect(201, refund)
    return None


Resolver = Callable[[Caller, Mapping[str, Any], Mapping[str, Any], "float | None"], "Effect | None"]

RESOLVERS: dict[str, Resolver] = {
    "lockAppointment": _lock,
    "confirmAppointment": _confirm,
    "cancelAppointment": _cancel,
    "checkInAppointment": _check_in,
    "prepareSettlement": _prepare,
    "confirmSettlement": _confirm_settlement,
    "cancelSettlement": _cancel_settlement,
    "refundSettlementItems": _refund,
}


def find_effect(
    client: Caller, operation: str, path_params: Mapping[str, Any], body: Any, deadline: float | None = None
) -> Effect | None:
    """The effect of ``operation`` if the middleware shows it; None if it does not (or cannot be queried)."""
    resolver = RESOLVERS.get(operation)
    if resolver is None:
        return None
    return resolver(client, path_params, body if isinstance(body, Mapping) else {}, deadline)
