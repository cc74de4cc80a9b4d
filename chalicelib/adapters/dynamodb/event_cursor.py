"""``EventCursor`` on DynamoDB (table ``his``, see ``models.HisItem``): where the events-pull poller continues.

* the cursor ..... pk = "events_pull", sk = "cursor"; ``value`` the middleware's ``next_cursor``,
                   ``at_ms`` when it was stored (no TTL: the middleware keeps cursors valid 7 days)

Moving it is a compare-and-set on the cursor the poll started from, so of two overlapping polls only the
first result moves it and a slow one cannot move it back.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.his_event_ledger import conditional_failed
from chalicelib.adapters.dynamodb.models import HisItem

PK, SK = "events_pull", "cursor"


class DynamoEventCursor:
    def __init__(self, model: type[HisItem]) -> None:
        self._model = model

    def get(self) -> str | None:
        try:
            return self._model.get(PK, SK, consistent_read=True).value or None
        except self._model.DoesNotExist:
            return None

    def advance(self, expected: str | None, cursor: str, at: datetime) -> bool:
        m = self._model
        condition = m.pk.does_not_exist() if expected is None else m.value == expected
        try:
            m(PK, SK, value=cursor, at_ms=int(at.timestamp() * 1000)).save(condition=condition)
        except PutError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True
