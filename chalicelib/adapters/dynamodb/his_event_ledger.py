"""``HisEventLedger`` on DynamoDB (table ``his``, see ``models.HisItem``): the event ids we have seen.

* an event ....... pk = "event#<event_id>", sk = "ledger"; ``state`` processing | deferred | done,
                   ``value`` the outcome, ``at_ms`` the last change; TTL ``expires_at`` 9 days (spec §8.2.2)

The claim is a conditional put, so of concurrent deliveries of one event exactly one processes it. A
processing claim older than ``stale_after`` (its Lambda died) is taken over by the next delivery.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import DeleteError, PutError

from chalicelib.adapters.dynamodb.models import HisItem
from chalicelib.domain.his_events import LEDGER_KEEP
from chalicelib.services.ports import LedgerState

SK = "ledger"


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def conditional_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


class DynamoHisEventLedger:
    def __init__(self, model: type[HisItem], stale_after: timedelta = timedelta(minutes=2)) -> None:
        self._model = model
        self._stale_after = stale_after

    @staticmethod
    def _pk(event_id: str) -> str:
        return f"event#{event_id}"

    def _put(self, event_id: str, state: LedgerState, at: datetime, outcome: str | None = None) -> HisItem:
        return self._model(self._pk(event_id), SK, state=state.value, value=outcome, at_ms=_ms(at),
                           expires_at=int((at + LEDGER_KEEP).timestamp()))

    def claim(self, event_id: str, at: datetime, take_deferred: bool = False) -> LedgerState:
        m = self._model
        condition = m.pk.does_not_exist() | (
            (m.state == LedgerState.PROCESSING.value) & (m.at_ms < _ms(at - self._stale_after)))
        if take_deferred:
            condition = condition | (m.state == LedgerState.DEFERRED.value)
        try:
            self._put(event_id, LedgerState.PROCESSING, at).save(condition=condition)
            return LedgerState.NEW
        except PutError as exc:
            if not conditional_failed(exc):
                raise
        try:
            held = m.get(self._pk(event_id), SK, consistent_read=True)
        except m.DoesNotExist:  # released in between: the releasing delivery's retry will process it
            return LedgerState.PROCESSING
        return LedgerState(held.state or LedgerState.PROCESSING.value)

    def deferred(self, event_id: str, at: datetime) -> None:
        self._put(event_id, LedgerState.DEFERRED, at).save()

    def done(self, event_id: str, outcome: str, at: datetime) -> None:
        self._put(event_id, LedgerState.DONE, at, outcome).save()

    def release(self, event_id: str) -> None:
        m = self._model
        try:
            m(self._pk(event_id), SK).delete(
                condition=m.state.is_in(LedgerState.PROCESSING.value, LedgerState.DEFERRED.value))
        except DeleteError as exc:  # done or gone: nothing to release
            if not conditional_failed(exc):
                raise
