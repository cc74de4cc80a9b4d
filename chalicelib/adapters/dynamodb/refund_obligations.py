"""``RefundObligations`` on DynamoDB (table ``his``, see ``models.HisItem``): the refunds we owe.

* an obligation ...... pk = "refund#<out_refund_no>", sk = "obligation"; ``state`` pending | executed,
                       ``data`` the obligation (amount in fen, ids; no personal data beyond patient id)
* pending ones ....... pk = "refunds_pending", sk = "<created_at UTC ISO>#<out_refund_no>"; ``value`` the
                       out_refund_no: the work list of the payments side, oldest first
Recording writes both in one transaction conditional on the obligation being new, so learning of a
refund twice (event, query, reconciliation) stores it once and it can never be owed but unlisted.
Executing deletes the pending entry in the same transaction as the state change. No TTL: debts stay.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.models import HisItem
from chalicelib.adapters.dynamodb.patient_bindings import connection_of
from chalicelib.domain.refunds import BusinessType, RefundObligation, RefundSource, RefundState

SK = "obligation"
PENDING = "refunds_pending"


def _data(o: RefundObligation) -> dict[str, Any]:
    return {"out_refund_no": o.out_refund_no, "business_type": o.business_type.value, "his_trade_id": o.his_trade_id,
            "caller_ref": o.caller_ref, "amount_fen": o.amount_fen, "patient_id": o.patient_id,
            "source": o.source.value, "reason": o.reason, "created_at": o.created_at.isoformat(),
            "his_refund_id": o.his_refund_id}


def _obligation(raw: dict[str, Any], state: str | None) -> RefundObligation:
    return RefundObligation(
        out_refund_no=str(raw["out_refund_no"]), business_type=BusinessType(raw["business_type"]),
        his_trade_id=str(raw["his_trade_id"]), caller_ref=raw.get("caller_ref"), amount_fen=int(raw["amount_fen"]),
        patient_id=str(raw["patient_id"]), source=RefundSource(raw["source"]), reason=str(raw["reason"]),
        created_at=datetime.fromisoformat(str(raw["created_at"])), his_refund_id=raw.get("his_refund_id"),
        state=RefundState(state or RefundState.PENDING.value),
    )


def _pending_sk(created_at: datetime, out_refund_no: str) -> str:
    return f"{created_at.astimezone(UTC).isoformat()}#{out_refund_no}"


class DynamoRefundObligations:
    def __init__(self, model: type[HisItem]) -> None:
        self._model = model

    def record(self, obligation: RefundObligation) -> bool:
        m = self._model
        try:
            with TransactWrite(connection=connection_of(m)) as tx:
                tx.save(m(f"refund#{obligation.out_refund_no}", SK, state=RefundState.PENDING.value,
                          data=_data(obligation)), condition=m.pk.does_not_exist())
                tx.save(m(PENDING, _pending_sk(obligation.created_at, obligation.out_refund_no),
                          value=obligation.out_refund_no))
        except TransactWriteError as exc:
            if any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or []):
                return False
            raise
        return True

    def get(self, out_refund_no: str) -> RefundObligation | None:
        try:
            item = self._model.get(f"refund#{out_refund_no}", SK, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return _obligation(item.data, item.state)

    def pending(self, limit: int = 100) -> list[RefundObligation]:
        found = []
        for pointer in self._model.query(PENDING, consistent_read=True, limit=limit):
            obligation = self.get(pointer.value or "")
            if obligation is not None and obligation.state is RefundState.PENDING:
                found.append(obligation)
        return found

    def mark_executed(self, out_refund_no: str, at: datetime) -> None:
        m = self._model
        held = self.get(out_refund_no)
        if held is None or held.state is RefundState.EXECUTED:
            return
        with TransactWrite(connection=connection_of(m)) as tx:
            tx.update(m(f"refund#{out_refund_no}", SK),
                      actions=[m.state.set(RefundState.EXECUTED.value), m.at_ms.set(int(at.timestamp() * 1000))])
            tx.delete(m(PENDING, _pending_sk(held.created_at, out_refund_no)))
