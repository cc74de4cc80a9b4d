"""``FaqRepository`` on DynamoDB: the FAQ entries staff edit, in the ``{TABLE_PREFIX}wechat`` table.

Layout: one item per entry, pk = "faq", sk = <entry_id>, ``data`` = the entry in the staff format
(``domain.faq.to_dict``), ``updated_ms`` = its ``updated_at`` in epoch milliseconds. Access patterns
(no Scan): all entries ...... Query pk = "faq"; one entry ...... pk = "faq", sk = <entry_id>.

Every text message is matched against all entries, so ``all()`` is kept in memory for ``ttl_seconds``
(60 by default): a busy Lambda queries once a minute, not once a message, and a staff edit reaches
every container within that time (at once in the process that made it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from functools import cache

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.adapters.dynamodb.models import _bind
from chalicelib.domain.faq import FaqEntry, FaqFormatError, entry_from_dict, to_dict

LOG = logging.getLogger(__name__)

FAQ_PK = "faq"
DEFAULT_TTL_SECONDS = 60.0


class FaqItem(Model):
    """One FAQ entry in the ``wechat`` table (pk = "faq", sk = <entry_id>)."""

    class Meta:
        table_name = "wechat"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = JSONAttribute()
    updated_ms = NumberAttribute()


@cache
def faq_model(table_name: str, region: str, host: str | None) -> type[FaqItem]:
    return _bind(FaqItem, table_name, region, host)  # type: ignore[return-value]


class DynamoFaqRepository:
    def __init__(self, model: type[FaqItem], ttl_seconds: float = DEFAULT_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._model = model
        self._ttl = ttl_seconds
        self._clock = clock
        self._cached: tuple[FaqEntry, ...] | None = None
        self._loaded_at = 0.0

    def all(self) -> list[FaqEntry]:
        """Every entry (disabled ones too), by ``entry_id``; at most ``ttl_seconds`` old."""
        now = self._clock()
        if self._cached is None or now - self._loaded_at >= self._ttl:
            self._cached = tuple(self._load())
            self._loaded_at = now
        return list(self._cached)

    def _load(self) -> list[FaqEntry]:
        entries = []
        for item in self._model.query(FAQ_PK, consistent_read=True):
            try:
                entries.append(entry_from_dict(item.data))
            except FaqFormatError as exc:  # edited by hand in the console; the others still answer
                LOG.warning("skipping FAQ item %s: %s", item.sk, exc)
        return entries

    def put_many(self, entries: Iterable[FaqEntry]) -> None:
        with self._model.batch_write() as batch:
            for entry in entries:
                batch.save(self._item(entry))
        self._cached = None

    def delete(self, entry_id: str) -> None:
        self._model(FAQ_PK, entry_id).delete()
        self._cached = None

    def replace_all(self, entries: Iterable[FaqEntry]) -> None:
        """Make the stored entries exactly ``entries``: upsert them, then delete the others."""
        wanted = {e.entry_id: e for e in entries}
        held = {item.sk for item in self._model.query(FAQ_PK, consistent_read=True, attributes_to_get=["sk"])}
        with self._model.batch_write() as batch:
            for entry in wanted.values():
                batch.save(self._item(entry))
            for entry_id in sorted(held - wanted.keys()):
                batch.delete(self._model(FAQ_PK, entry_id))
        self._cached = None

    def _item(self, entry: FaqEntry) -> FaqItem:
        return self._model(FAQ_PK, entry.entry_id, data=to_dict(entry),
                           updated_ms=int(entry.updated_at.timestamp() * 1000))
