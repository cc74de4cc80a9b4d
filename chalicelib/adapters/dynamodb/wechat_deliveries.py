"""``DeliveryLog`` on DynamoDB (see ``models.WeChatItem``).

* a delivery ........... pk = "delivery#<notice id>", sk = "delivery" (the notice's natural key)
* a user's deliveries .. pk = "user#<openid>", sk = "delivery#<at>#<notice id>" (a copy, for the console)
* template msgid ....... pk = "tplmsg#<msgid>", sk = "tplmsg" -> the notice id
All expire after 90 days.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamodb.models import WeChatItem
from chalicelib.domain.wechat import Channel, Delivery, DeliveryState

KEEP = timedelta(days=90)


def _data(d: Delivery) -> dict[str, Any]:
    return {"delivery_id": d.delivery_id, "openid": d.openid, "kind": d.kind, "channel": d.channel.value,
            "state": d.state.value, "at": d.at.isoformat(), "wechat_msgid": d.wechat_msgid, "detail": d.detail}


def _delivery(raw: dict[str, Any], state: str | None = None) -> Delivery:
    return Delivery(raw["delivery_id"], raw["openid"], raw["kind"], Channel(raw["channel"]),
                    DeliveryState(state or raw["state"]), datetime.fromisoformat(raw["at"]),
                    raw.get("wechat_msgid", ""), raw.get("detail", ""))


class DynamoDeliveryLog:
    def __init__(self, model: type[WeChatItem]) -> None:
        self._model = model

    def get(self, delivery_id: str) -> Delivery | None:
        try:
            item = self._model.get(f"delivery#{delivery_id}", "delivery", consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return _delivery(item.data, item.state)

    def record(self, delivery: Delivery) -> None:
        m = self._model
        expires = int((delivery.at + KEEP).timestamp())
        data = _data(delivery)
        m(f"delivery#{delivery.delivery_id}", "delivery", state=delivery.state.value, data=data,
          at_ms=int(delivery.at.timestamp() * 1000), expires_at=expires).save()
        m(f"user#{delivery.openid}", f"delivery#{delivery.at.isoformat()}#{delivery.delivery_id}",
          state=delivery.state.value, data=data, expires_at=expires).save()
        if delivery.wechat_msgid:
            m(f"tplmsg#{delivery.wechat_msgid}", "tplmsg", value=delivery.delivery_id, expires_at=expires).save()

    def template_finished(self, wechat_msgid: str, state: DeliveryState, at: datetime) -> bool:
        m = self._model
        try:
            pointer = m.get(f"tplmsg#{wechat_msgid}", "tplmsg")
        except m.DoesNotExist:
            return False
        delivery = self.get(pointer.value or "")
        if delivery is None:
            return False
        for pk, sk in ((f"delivery#{delivery.delivery_id}", "delivery"),
                       (f"user#{delivery.openid}", f"delivery#{delivery.at.isoformat()}#{delivery.delivery_id}")):
            try:
                m(pk, sk).update(actions=[m.state.set(state.value), m.at_ms.set(int(at.timestamp() * 1000))],
                                 condition=m.pk.exists())
            except UpdateError as exc:
                if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                    raise
        return True

    def of_user(self, openid: str, limit: int = 20) -> list[Delivery]:
        m = self._model
        items = m.query(f"user#{openid}", m.sk.startswith("delivery#"), scan_index_forward=False, limit=limit)
        return [_delivery(i.data, i.state) for i in items]
