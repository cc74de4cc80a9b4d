"""Receiving a WeChat message: once per delivery, within WeChat's 5 seconds.

* WeChat retries a message it got no answer for (three times, ~5 s apart). Every delivery is claimed in
  the ``InboxLedger`` under its natural key; a retry of an answered message gets the same reply and
  causes no second action, a retry of one in progress gets ``success``.
* The handler runs against a deadline (~4 s). When it overruns, WeChat is answered ``success`` in
  time, the message goes to the deferred queue, and the worker answers it as a customer-service
  message. The overrunning attempt's reply is dropped (handlers are safe to run twice).
* A handler that fails releases its claim, so WeChat's retry processes the message again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from threading import Lock

from chalicelib.domain.wechat import NO_REPLY, InboundMessage, Reply
from chalicelib.observability import get_logger
from chalicelib.services.ports import (
    Clock,
    DeferredInbox,
    InboxLedger,
    InboxState,
    WeChatMessenger,
    WeChatSendError,
)

log = get_logger("wechat.inbox")
Run = Callable[[InboundMessage], Reply]

_pool: ThreadPoolExecutor | None = None
_pool_lock = Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one small pool per Lambda container
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="wechat-handler")
        return _pool


def receive(message: InboundMessage, run: Run, ledger: InboxLedger, deferred: DeferredInbox, clock: Clock,
            deadline_seconds: float) -> Reply:
    """The passive reply to ``message`` (``NO_REPLY`` means answer ``success``)."""
    key = message.dedup_key
    claim = ledger.claim(key, clock())
    if claim.state is InboxState.ANSWERED:
        log.info("repeated delivery answered again", extra={"kind": message.handler_key})
        return claim.reply or NO_REPLY
    if claim.state is not InboxState.NEW:
        log.info("repeated delivery while in progress", extra={"kind": message.handler_key, "state": claim.state})
        return NO_REPLY
    future = _executor().submit(run, message)
    try:
        reply = future.result(timeout=deadline_seconds)
    except FutureTimeout:
        deferred.send(message)
        ledger.deferred(key, clock())
        log.warning("handler overran its deadline; answering asynchronously", extra={"kind": message.handler_key})
        return NO_REPLY
    except Exception:
        ledger.release(key)
        raise
    ledger.answered(key, reply, clock())
    return reply


def answer_deferred(message: InboundMessage, run: Run, ledger: InboxLedger, messenger: WeChatMessenger,
                    clock: Clock) -> Reply:
    """The worker's side: handle the message without WeChat's deadline and send the reply as a
    customer-service message. A redelivered message that was already answered is not sent twice."""
    key = message.dedup_key
    held = ledger.peek(key)
    if held is not None and held.state is InboxState.ANSWERED:
        return held.reply or NO_REPLY
    reply = run(message)
    if not reply.empty:
        try:
            messenger.send_custom(message.openid, reply)
        except WeChatSendError as exc:
            if exc.errcode is None:
                raise  # transport failure: let the queue redeliver
            # 45015 (outside the 48 h window), 43004 (unfollowed) ...: WeChat will not take it, ever.
            log.warning("deferred reply refused by WeChat", extra={"errcode": exc.errcode})
    ledger.answered(key, reply, clock())
    return reply
