"""``PaymentOrders`` and ``SecurityEvents`` on DynamoDB, table ``payments`` (see ``models.PaymentItem``).

* an order ............ pk = "order#<order_id>", sk = "order"; ``state``, ``version``, ``data`` (the order)
* a user's orders ..... pk = "user#<openid>", sk = "<created_at UTC ISO>#<order_id>", ``value`` = order_id
* the work list ....... pk = "open", sk = "<expires_at UTC ISO>#<order_id>": orders not yet paid, or paid
                        and not yet handed to their paid handler; removed in the same transaction as the
                        write that finishes them (the sweep closes expired ones, re-runs handlers)
* security events ..... pk = "security#<UTC date>", sk = "<at ISO>#<event_id>" (TTL 180 days; no personal data)

Every change of an order is conditional on the state *and* version it was read at, so of 50 racing
notifications exactly one moves ``paying`` to ``paid``; the others read the result and do nothing.
Orders are kept without expiry: they are the evidence of money taken and given back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.models import PaymentItem
from chalicelib.adapters.dynamodb.patient_bindings import connection_of
from chalicelib.domain.payments import Order, OrderState, Refusal, SecurityEvent

ORDER_SK = "order"
OPEN = "open"
SECURITY_TTL = timedelta(days=180)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _needs_work(order: Order) -> bool:
    return order.state in (OrderState.CREATED, OrderState.PAYING) or (order.state is OrderState.PAID
                                                                          and not order.handled)


def _conditional_failed(exc: TransactWriteError) -> bool:
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or [])


class DynamoPaymentOrders:
    def __init__(self, model: type[PaymentItem]) -> None:
        self._model = model

    def create(self, order: Order) -> bool:
        m = self._model
        try:
            with TransactWrite(connection=connection_of(m)) as tx:
                tx.save(m(f"order#{order.order_id}", ORDER_SK, state=order.state.value, version=order.version,
                          data=order.to_dict(), at_ms=int(order.created_at.timestamp() * 1000)),
                        condition=m.pk.does_not_exist())
                tx.save(m(f"user#{order.openid}", f"{_iso(order.created_at)}#{order.order_id}", value=order.order_id))
                tx.save(m(OPEN, f"{_iso(order.expires_at)}#{order.order_id}", value=order.order_id))
        except TransactWriteError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def get(self, order_id: str) -> Order | None:
        try:
            item = self._model.get(f"order#{order_id}", ORDER_SK, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return Order.from_dict(item.data)

    def replace(self, order: Order, expected: Order) -> bool:
        m = self._model
        condition = (m.state == expected.state.value) & (m.version == expected.version)
        try:
            with TransactWrite(connection=connection_of(m)) as tx:
                tx.save(m(f"order#{order.order_id}", ORDER_SK, state=order.state.value, version=order.version,
                          data=order.to_dict(), at_ms=int(order.created_at.timestamp() * 1000)), condition=condition)
                if _needs_work(expected) and not _needs_work(order):
                    tx.delete(m(OPEN, f"{_iso(expected.expires_at)}#{order.order_id}"))
                elif not _needs_work(expected) and _needs_work(order):
                    tx.save(m(OPEN, f"{_iso(order.expires_at)}#{order.order_id}", value=order.order_id))
                elif _needs_work(order) and expected.expires_at != order.expires_at:
                    tx.delete(m(OPEN, f"{_iso(expected.expires_at)}#{order.order_id}"))
                    tx.save(m(OPEN, f"{_iso(order.expires_at)}#{order.order_id}", value=order.order_id))
        except TransactWriteError as exc:
            if _conditional_failed(exc):
                # A resent write meeting its own success (botocore retries after a lost answer) finds exactly
                # the order it wrote; another writer's order differs (its own time and version).
                return self.get(order.order_id) == order
            raise
        return True

    def of_user(self, openid: str, limit: int = 50) -> list[Order]:
        found = []
        for pointer in self._model.query(f"user#{openid}", scan_index_forward=False, limit=limit):
            order = self.get(pointer.value or "")
            if order is not None:
                found.append(order)
        return found

    def unfinished(self, before: datetime, limit: int = 100) -> list[Order]:
        found = []
        for pointer in self._model.query(OPEN, self._model.sk < _iso(before), consistent_read=True, limit=limit):
            order = self.get(pointer.value or "")
            if order is not None and _needs_work(order):
                found.append(order)
        return found


class DynamoSecurityEvents:
    def __init__(self, model: type[PaymentItem]) -> None:
        self._model = model

    def record(self, event: SecurityEvent) -> None:
        at = event.at.astimezone(UTC)
        try:
            self._model(f"security#{at.date().isoformat()}", f"{at.isoformat()}#{event.event_id}",
                        state=event.reason.value, data=event.to_dict(),
                        expires_at=int((at + SECURITY_TTL).timestamp())).save()
        except PutError:
            raise

    def recent(self, limit: int = 100) -> list[SecurityEvent]:
        today = datetime.now(UTC).date()
        found: list[SecurityEvent] = []
        for day in (today, today - timedelta(days=1)):
            for item in self._model.query(f"security#{day.isoformat()}", scan_index_forward=False, limit=limit):
                d = item.data
                found.append(SecurityEvent(d["event_id"], datetime.fromisoformat(d["at"]), d["channel"],
                                           Refusal(d["reason"]), d.get("serial", ""), d.get("out_trade_no", ""),
                                           d.get("detail", "")))
        return found[:limit]
