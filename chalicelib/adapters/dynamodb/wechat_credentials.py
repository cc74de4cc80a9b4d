"""WeChat credentials (access_token, jsapi_ticket) shared by every Lambda, on the ``wechat`` table.

``DynamoCredentialStore`` is a wechatpy ``SessionStorage`` (``get`` / ``set`` / ``delete``) plus a lease,
so that only one caller at a time fetches a new credential: WeChat invalidates the previous access_token
on every fetch, so two refreshers would keep invalidating each other's token.

Items (see ``models.WeChatItem``):
  * pk = "cred#<name>", sk = "value": ``value`` (a string; other JSON values go to ``data``) and
    ``expires_at`` (epoch seconds, the table's TTL attribute), already shortened by a safety margin;
  * pk = "cred#<name>", sk = "lease": ``value`` = the holder, ``at_ms`` = when the lease lapses.

DynamoDB deletes expired items lazily (up to days later), so ``get`` checks ``expires_at`` itself.
Reads are strongly consistent: a caller waiting for another's refresh must see its write.
"""

from __future__ import annotations

import math
from typing import Any

from pynamodb.exceptions import DeleteError, PutError

from chalicelib.adapters.dynamodb.models import WeChatItem
from chalicelib.services.ports import Clock

PK_PREFIX = "cred#"
VALUE_SK = "value"
LEASE_SK = "lease"
# Treat a credential as expired this long before WeChat does (never more than half its lifetime).
DEFAULT_MARGIN_SECONDS = 300


def _conditional_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


class DynamoCredentialStore:
    """wechatpy session storage with expiry and refresh leases (see the module docstring)."""

    def __init__(self, model: type[WeChatItem], clock: Clock, margin_seconds: int = DEFAULT_MARGIN_SECONDS) -> None:
        self._model = model
        self._clock = clock
        self._margin = margin_seconds

    def _now(self) -> float:
        return self._clock().timestamp()

    # ---- wechatpy SessionStorage ----------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        try:
            item = self._model.get(PK_PREFIX + key, VALUE_SK, consistent_read=True)
        except self._model.DoesNotExist:
            return default
        if item.expires_at is not None and self._now() >= item.expires_at:
            return default
        if item.value is not None:
            return item.value
        return item.data if item.data is not None else default

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Store ``value``; with ``ttl`` (WeChat's ``expires_in``), ``get`` stops returning it
        ``margin_seconds`` early (at most half of ``ttl`` early)."""
        expires_at = None
        if ttl is not None:
            usable = max(int(ttl) - self._margin, int(ttl) // 2)
            expires_at = int(self._now()) + usable
        is_text = isinstance(value, str)
        self._model(
            PK_PREFIX + key,
            VALUE_SK,
            value=value if is_text else None,
            data=None if is_text else value,
            at_ms=int(self._now() * 1000),
            expires_at=expires_at,
        ).save()

    def delete(self, key: str) -> None:
        self._model(PK_PREFIX + key, VALUE_SK).delete()

    # ---- leases ---------------------------------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take the refresh lease on ``name`` if nobody holds it (or the holder's lease lapsed)."""
        now = self._now()
        now_ms = int(now * 1000)
        item = self._model(
            PK_PREFIX + name,
            LEASE_SK,
            value=holder,
            at_ms=now_ms + int(seconds * 1000),
            expires_at=math.ceil(now + seconds) + 60,  # TTL clean-up only; ``at_ms`` decides
        )
        try:
            item.save(condition=self._model.pk.does_not_exist() | (self._model.at_ms < now_ms))
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease back; a no-op if it lapsed and someone else holds it now."""
        try:
            self._model(PK_PREFIX + name, LEASE_SK).delete(condition=self._model.value == holder)
        except DeleteError as exc:
            if not _conditional_failed(exc):
                raise
