"""``ResourceVersions`` on DynamoDB (table ``his``, see ``models.HisItem``): the newest version of each
resource seen in HIS events, so older events arriving late are discarded (spec §8.1, §8.2.4).

* a resource ..... pk = "version#<resource>" (e.g. "version#appointment:A2025…"), sk = "version";
                   ``version``, ``value`` = the event id that wrote it, ``data`` = its state (e.g. the
                   appointment's latest status); TTL ``expires_at`` 30 days after the last change
                   (late events come at most 8 days after the fact)

The write is conditional ("newer only", or the same event again: its retry), so two events racing for
one resource cannot both win, and an older one cannot overwrite a newer one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.his_event_ledger import conditional_failed
from chalicelib.adapters.dynamodb.models import HisItem
from chalicelib.services.ports import HeldVersion

SK = "version"
KEEP = timedelta(days=30)


class DynamoResourceVersions:
    def __init__(self, model: type[HisItem]) -> None:
        self._model = model

    @staticmethod
    def _pk(resource: str) -> str:
        return f"version#{resource}"

    def advance(self, resource: str, version: int, event_id: str, at: datetime,
                state: Mapping[str, Any] | None = None) -> bool:
        m = self._model
        item = m(self._pk(resource), SK, version=version, value=event_id, data=dict(state or {}),
                 at_ms=int(at.timestamp() * 1000), expires_at=int((at + KEEP).timestamp()))
        try:
            item.save(condition=m.pk.does_not_exist() | (m.version < version)
                      | ((m.version == version) & (m.value == event_id)))
        except PutError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

    def get(self, resource: str) -> HeldVersion | None:
        try:
            item = self._model.get(self._pk(resource), SK, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return HeldVersion(int(item.version or 0), item.value or "", dict(item.data or {}))
