"""Telling a patient something: booking success, visit reminder, report ready, queue approaching,
payment success, refund, follow-up. And reaching groups of patients through WeChat user tags.

Channel rule: a customer-service message while the patient is inside WeChat's 48-hour window (it reads
like a chat message and costs no template quota), else the template message configured for the kind.
Nothing is sent to a patient who unfollowed. Every attempt is recorded as a ``Delivery``; one notice id
is delivered at most once, so a redelivered queue message does not notify twice.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.domain.wechat import Channel, Delivery, DeliveryState, Notice, UserTag, text
from chalicelib.observability import get_logger
from chalicelib.services.ports import Clock, DeliveryLog, WeChatMessenger, WeChatSendError, WeChatUserRepository

log = get_logger("wechat.notices")
OUT_OF_WINDOW = 45015


def notify(notice: Notice, notice_id: str, users: WeChatUserRepository, messenger: WeChatMessenger,
           deliveries: DeliveryLog, template_id: Callable[[str], str], clock: Clock) -> Delivery:
    """Send ``notice`` once (``notice_id`` is its natural key, e.g. ``report_ready:R123``)."""
    done = deliveries.get(notice_id)
    if done is not None and done.state is not DeliveryState.FAILED:
        return done
    now = clock()
    user = users.get(notice.openid)

    def record(channel: Channel, state: DeliveryState, msgid: str = "", detail: str = "") -> Delivery:
        delivery = Delivery(notice_id, notice.openid, notice.kind.value, channel, state, now, msgid, detail)
        deliveries.record(delivery)
        return delivery

    if user is None or not user.subscribed:
        return record(Channel.TEMPLATE, DeliveryState.SKIPPED, detail="not following the account")
    if user.in_service_window(now):
        body = f"{notice.text}\n{notice.url}" if notice.url else notice.text
        try:
            messenger.send_custom(notice.openid, text(body))
            return record(Channel.CUSTOMER_SERVICE, DeliveryState.SENT)
        except WeChatSendError as exc:
            if exc.errcode != OUT_OF_WINDOW:
                return _failed(exc, record, Channel.CUSTOMER_SERVICE)
    template = template_id(notice.kind.value)
    if not template:
        log.warning("no template configured for this notice kind", extra={"kind": notice.kind.value})
        return record(Channel.TEMPLATE, DeliveryState.SKIPPED, detail="no template configured")
    try:
        msgid = messenger.send_template(notice.openid, template, notice.fields, notice.url)
    except WeChatSendError as exc:
        return _failed(exc, record, Channel.TEMPLATE)
    return record(Channel.TEMPLATE, DeliveryState.SENT, msgid=msgid)


def _failed(exc: WeChatSendError, record: Callable[..., Delivery], channel: Channel) -> Delivery:
    if exc.errcode is None:
        raise exc  # transport failure: the caller's queue retries
    log.warning("WeChat refused a notice", extra={"errcode": exc.errcode})
    return record(channel, DeliveryState.FAILED, detail=f"errcode {exc.errcode}")


def tag_user(openid: str, tag: UserTag, users: WeChatUserRepository, messenger: WeChatMessenger) -> None:
    """Put a patient in a group (elderly, maternity, ...) both here and in WeChat."""
    user = users.get(openid)
    tags = (user.tags if user else frozenset()) | {tag}
    messenger.tag_users(messenger.ensure_tag(tag.label), [openid])
    users.set_tags(openid, frozenset(tags))


def untag_user(openid: str, tag: UserTag, users: WeChatUserRepository, messenger: WeChatMessenger) -> None:
    user = users.get(openid)
    messenger.untag_users(messenger.ensure_tag(tag.label), [openid])
    users.set_tags(openid, (user.tags if user else frozenset()) - {tag})


def send_to_group(tag: UserTag, content: str, messenger: WeChatMessenger, deliveries: DeliveryLog,
                  clock: Clock) -> str:
    """A mass send to everyone WeChat has under the tag; returns WeChat's msg_id. Recorded as a delivery
    to ``tag:<tag>``; MASSSENDJOBFINISH later records how it went."""
    if not content.strip():
        raise ValueError("the message is empty")
    msg_id = messenger.mass_send_text(messenger.ensure_tag(tag.label), content.strip())
    deliveries.record(Delivery(f"mass:{msg_id}", f"tag:{tag.value}", "mass", Channel.MASS, DeliveryState.SENT,
                               clock(), wechat_msgid=msg_id))
    return msg_id
