"""The official account's conversation, in our own words: what a patient sent, what we answer, what we
push. Pure: the wire format (XML, AES, signatures) lives in ``chalicelib.adapters.wechat``.

WeChat references:
  * receiving messages / events: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
  * passive replies: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

# WeChat lets us send customer-service messages only within 48 hours of the user's last interaction.
CUSTOMER_SERVICE_WINDOW = timedelta(hours=48)
SUBSCRIBE_SCENE_PREFIX = "qrscene_"


@dataclass(frozen=True)
class InboundMessage:
    """One message or event WeChat delivered to the webhook."""

    msg_type: str  # text, image, voice, video, shortvideo, location, link, event
    openid: str  # FromUserName: the patient, pseudonymous per official account
    account: str  # ToUserName: our account's original id (gh_...)
    created_at: datetime
    create_time: int  # CreateTime as sent (epoch seconds), part of the dedup key
    msg_id: str = ""
    event: str = ""  # lower case: subscribe, unsubscribe, scan, click, view, location, templatesendjobfinish
    event_key: str = ""
    content: str = ""
    media_id: str = ""
    latitude: float | None = None
    longitude: float | None = None
    label: str = ""
    status: str = ""  # TEMPLATESENDJOBFINISH
    ticket: str = ""

    @property
    def handler_key(self) -> str:
        """Registry key: the message type, or ``event.<event>`` for events."""
        return f"event.{self.event}" if self.msg_type == "event" else self.msg_type

    @property
    def dedup_key(self) -> str:
        """Natural key of this delivery: WeChat's retries of it carry the same values."""
        if self.msg_type != "event" and self.msg_id:
            return f"msg:{self.msg_id}:{self.openid}:{self.create_time}"
        return f"evt:{self.openid}:{self.create_time}:{self.event}:{self.event_key}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in _FIELDS if k != "created_at"}
        out["created_at"] = self.created_at.isoformat()
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> InboundMessage:
        values = {k: raw[k] for k in _FIELDS if k in raw and k != "created_at"}
        return cls(created_at=datetime.fromisoformat(str(raw["created_at"])), **values)


_FIELDS = tuple(InboundMessage.__dataclass_fields__)


# ---- replies ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Article:
    title: str
    description: str = ""
    url: str = ""
    image: str = ""


@dataclass(frozen=True)
class Reply:
    """A passive reply. ``text`` alone is a text reply; ``articles`` make a news (图文) reply; neither
    means "no reply" (WeChat gets ``success``)."""

    text: str = ""
    articles: tuple[Article, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.text and not self.articles

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "articles": [a.__dict__ for a in self.articles]}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Reply:
        return cls(text=str(raw.get("text", "")),
                   articles=tuple(Article(**a) for a in raw.get("articles", [])))


NO_REPLY = Reply()


def text(content: str) -> Reply:
    return Reply(text=content)


def news(*articles: Article) -> Reply:
    # WeChat shows at most 8 articles (1 since 2018 for passive replies, but 8 are accepted).
    return Reply(articles=tuple(articles[:8]))


# ---- scenes (parametric QR codes) ---------------------------------------------------------------------
class SceneKind(StrEnum):
    DEPARTMENT = "dept"  # a department's door code: open its page (navigation, queue)
    CHECK_IN = "checkin"  # a check-in code at a clinic: check in for today's visit
    CAMPUS = "campus"  # a campus entrance code
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Scene:
    kind: SceneKind
    value: str
    raw: str


def parse_scene(event_key: str) -> Scene | None:
    """``dept:D1001`` / ``qrscene_dept:D1001`` (first follow through a code) → ``Scene``."""
    raw = event_key.strip()
    if raw.startswith(SUBSCRIBE_SCENE_PREFIX):
        raw = raw[len(SUBSCRIBE_SCENE_PREFIX):]
    if not raw:
        return None
    kind, _, value = raw.partition(":")
    try:
        scene_kind = SceneKind(kind)
    except ValueError:
        return Scene(SceneKind.UNKNOWN, raw, raw)
    if not value or len(value) > 60 or not all(c.isalnum() or c in "-_.:" for c in value):
        return Scene(SceneKind.UNKNOWN, raw, raw)
    return Scene(scene_kind, value, raw)


# ---- users ---------------------------------------------------------------------------------------------
class UserTag(StrEnum):
    """Groups we target health articles at (WeChat user tags)."""

    ELDERLY = "elderly"
    MATERNITY = "maternity"
    CHRONIC = "chronic"
    PARENTS = "parents"

    @property
    def label(self) -> str:
        return _TAG_LABELS[self]


_TAG_LABELS = {UserTag.ELDERLY: "老年人", UserTag.MATERNITY: "孕产妇", UserTag.CHRONIC: "慢病患者",
               UserTag.PARENTS: "儿童家长"}


@dataclass(frozen=True)
class LastLocation:
    latitude: float
    longitude: float
    at: datetime


@dataclass(frozen=True)
class WeChatUser:
    openid: str
    subscribed: bool = False
    subscribed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    last_interaction_at: datetime | None = None
    location: LastLocation | None = None
    tags: frozenset[UserTag] = field(default_factory=frozenset)
    scene: str = ""  # the scene of the first follow, if any

    def in_service_window(self, now: datetime) -> bool:
        """May we send a customer-service message now?"""
        return (self.subscribed and self.last_interaction_at is not None
                and now - self.last_interaction_at < CUSTOMER_SERVICE_WINDOW)


# ---- outbound notices ------------------------------------------------------------------------------------
class NoticeKind(StrEnum):
    """Template message kinds; each has a template id per account in the settings."""

    BOOKING_SUCCESS = "booking_success"
    VISIT_REMINDER = "visit_reminder"
    REPORT_READY = "report_ready"
    QUEUE_APPROACHING = "queue_approaching"
    PAYMENT_SUCCESS = "payment_success"
    REFUND = "refund"
    FOLLOW_UP = "follow_up"
    QUEUE_CALLED = "queue_called"
    APPOINTMENT_CANCELLED = "appointment_cancelled"  # by the hospital: schedule stopped, counter cancellation
    APPOINTMENT_MISSED = "appointment_missed"  # no-show (爽约)
    SCHEDULE_CHANGED = "schedule_changed"  # substitute doctor, time, room or fee changed
    UNPAID_CHARGES = "unpaid_charges"
    WAITLIST_OFFER = "waitlist_offer"  # a freed slot kept for the first patient on the waitlist


class Channel(StrEnum):
    CUSTOMER_SERVICE = "custom"
    TEMPLATE = "template"
    MASS = "mass"


class DeliveryState(StrEnum):
    SENT = "sent"  # WeChat accepted it
    DELIVERED = "delivered"  # TEMPLATESENDJOBFINISH success
    USER_BLOCKED = "user_blocked"  # TEMPLATESENDJOBFINISH failed:user block
    FAILED = "failed"  # refused by WeChat, or TEMPLATESENDJOBFINISH failed:system failed
    SKIPPED = "skipped"  # not sent: unsubscribed, no template configured


@dataclass(frozen=True)
class Notice:
    """Something we tell one patient. ``fields`` are the template's keyword fields (keyword1…, or the
    names the template defines); ``text`` is the customer-service version of the same notice."""

    kind: NoticeKind
    openid: str
    text: str
    fields: Mapping[str, str]
    url: str = ""


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    openid: str
    kind: str
    channel: Channel
    state: DeliveryState
    at: datetime
    wechat_msgid: str = ""
    detail: str = ""


def template_finish_state(status: str) -> DeliveryState:
    """Map TEMPLATESENDJOBFINISH's / MASSSENDJOBFINISH's ``Status`` to our delivery state."""
    if status in ("success", "send success"):
        return DeliveryState.DELIVERED
    if "block" in status:
        return DeliveryState.USER_BLOCKED
    return DeliveryState.FAILED
