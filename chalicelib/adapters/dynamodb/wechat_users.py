"""``WeChatUserRepository`` on DynamoDB (see ``models.WeChatUserItem``): pk = "user#<openid>", sk = "profile".

Each change is one ``UpdateItem`` (an upsert) on just the fields it touches, so concurrent events (a
location while a follow is recorded) never overwrite each other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.dynamodb.models import WeChatUserItem
from chalicelib.domain.wechat import LastLocation, UserTag, WeChatUser

SK = "profile"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _dt(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


class DynamoWeChatUserRepository:
    def __init__(self, model: type[WeChatUserItem]) -> None:
        self._model = model

    def _update(self, openid: str, **fields: Any) -> None:
        m = self._model
        actions: list[Any] = [
            getattr(m, name).set(value) if value not in (None, set()) else getattr(m, name).remove()
            for name, value in fields.items()
        ]
        m(f"user#{openid}", SK).update(actions=actions)

    def get(self, openid: str) -> WeChatUser | None:
        try:
            i = self._model.get(f"user#{openid}", SK)
        except self._model.DoesNotExist:
            return None
        located = _dt(i.located_at)
        return WeChatUser(
            openid=openid,
            subscribed=bool(i.subscribed),
            subscribed_at=_dt(i.subscribed_at),
            unsubscribed_at=_dt(i.unsubscribed_at),
            last_interaction_at=_dt(i.last_interaction_at),
            location=LastLocation(float(i.latitude), float(i.longitude), located)
            if i.latitude is not None and i.longitude is not None and located else None,
            tags=frozenset(UserTag(t) for t in (i.tags or set()) if t in UserTag._value2member_map_),
            scene=i.scene or "",
        )

    def touch(self, openid: str, at: datetime) -> None:
        # WeChat delivers nothing but the follow itself from non-followers, so an interaction also
        # means "follows us" (this heals a missed subscribe event).
        self._update(openid, last_interaction_at=_iso(at), subscribed=True)

    def subscribe(self, openid: str, at: datetime, scene: str) -> None:
        fields: dict[str, Any] = {"subscribed": True, "subscribed_at": _iso(at), "last_interaction_at": _iso(at)}
        if scene:
            fields["scene"] = scene
        self._update(openid, **fields)

    def unsubscribe(self, openid: str, at: datetime) -> None:
        self._update(openid, subscribed=False, unsubscribed_at=_iso(at))

    def save_location(self, openid: str, location: LastLocation) -> None:
        self._update(openid, latitude=location.latitude, longitude=location.longitude, located_at=_iso(location.at))

    def set_tags(self, openid: str, tags: frozenset[UserTag]) -> None:
        self._update(openid, tags={t.value for t in tags})
