"""``InboxLedger`` on DynamoDB (see ``models.WeChatItem``): one item per WeChat delivery key.

The claim is a conditional put, so of any number of concurrent deliveries of one message exactly one
processes it. A claim left ``processing`` by an attempt that died (Lambda timeout) can be taken over
after ``stale_after``, so WeChat's later retry is not lost.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.adapters.dynamodb.models import WeChatItem
from chalicelib.domain.wechat import Reply
from chalicelib.services.ports import InboxClaim, InboxState

SK = "inbox"
KEEP = timedelta(days=1)  # WeChat retries within ~15 s; a day covers any redelivery


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _conditional_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


class DynamoInboxLedger:
    def __init__(self, model: type[WeChatItem], stale_after: timedelta = timedelta(seconds=8)) -> None:
        self._model = model
        self._stale_after = stale_after

    def _key(self, key: str) -> str:
        return f"inbox#{key}"

    def claim(self, key: str, at: datetime) -> InboxClaim:
        m = self._model
        item = m(self._key(key), SK, state=InboxState.PROCESSING.value, at_ms=_ms(at),
                 expires_at=int((at + KEEP).timestamp()))
        stale = _ms(at - self._stale_after)
        try:
            item.save(condition=m.pk.does_not_exist() | ((m.state == InboxState.PROCESSING.value) & (m.at_ms < stale)))
            return InboxClaim(InboxState.NEW)
        except PutError as exc:
            if not _conditional_failed(exc):
                raise
        held = self.peek(key)
        return held if held is not None else InboxClaim(InboxState.PROCESSING)

    def peek(self, key: str) -> InboxClaim | None:
        try:
            item = self._model.get(self._key(key), SK, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        state = InboxState(item.state or InboxState.PROCESSING.value)
        reply = Reply.from_dict(item.data) if state is InboxState.ANSWERED and item.data else None
        return InboxClaim(state, reply)

    def answered(self, key: str, reply: Reply, at: datetime) -> None:
        m = self._model
        m(self._key(key), SK).update(actions=[
            m.state.set(InboxState.ANSWERED.value), m.data.set(reply.to_dict()), m.at_ms.set(_ms(at)),
            m.expires_at.set(int((at + KEEP).timestamp())),
        ])

    def deferred(self, key: str, at: datetime) -> bool:
        m = self._model
        try:
            m(self._key(key), SK).update(
                actions=[m.state.set(InboxState.DEFERRED.value), m.at_ms.set(_ms(at))],
                condition=m.state != InboxState.ANSWERED.value,
            )
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def release(self, key: str) -> None:
        m = self._model
        try:
            m(self._key(key), SK).delete(condition=m.state == InboxState.PROCESSING.value)
        except DeleteError as exc:  # already answered, deferred or gone: nothing to release
            if not _conditional_failed(exc):
                raise
