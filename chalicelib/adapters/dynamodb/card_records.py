"""``CardQuota`` and ``CardInfos`` on DynamoDB (table ``patients``, see ``models.PatientItem``).

* binding attempts of a user on a day ... pk = "cardquota#<openid>", sk = "day#<YYYY-MM-DD>" (Shanghai day);
                                          ``version`` = the count, raised by an update conditional on
                                          ``version < limit`` (atomic: racing attempts cannot pass the cap);
                                          TTL ``expires_at`` two days later
* card details of a bound patient ....... pk = "wxuser#<openid>", sk = "cardinfo#<patient_id>" (next to the
                                          user's ``binding#`` items of ``patient_bindings``); ``data`` =
                                          ``domain.cards.info_to_json``: masked card numbers, card kinds and
                                          states, the document's last four characters, the masked phone
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamodb.his_event_ledger import conditional_failed
from chalicelib.adapters.dynamodb.models import PatientItem
from chalicelib.domain.cards import CardInfo, info_from_json, info_to_json

QUOTA_KEEP = timedelta(days=2)
INFO_PREFIX = "cardinfo#"


class DynamoCardQuota:
    def __init__(self, model: type[PatientItem]) -> None:
        self._model = model

    def take(self, openid: str, day: str, limit: int, at: datetime) -> bool:
        m = self._model
        try:
            m(f"cardquota#{openid}", f"day#{day}").update(
                actions=[m.version.add(1), m.at_ms.set(int(at.timestamp() * 1000)),
                         m.expires_at.set(int((at + QUOTA_KEEP).timestamp()))],
                condition=m.version.does_not_exist() | (m.version < limit),
            )
        except UpdateError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

    def used(self, openid: str, day: str) -> int:
        try:
            item = self._model.get(f"cardquota#{openid}", f"day#{day}", consistent_read=True)
        except self._model.DoesNotExist:
            return 0
        return int(item.version or 0)


class DynamoCardInfos:
    def __init__(self, model: type[PatientItem]) -> None:
        self._model = model

    def put(self, openid: str, info: CardInfo) -> None:
        self._model(f"wxuser#{openid}", f"{INFO_PREFIX}{info.patient_id}", data=info_to_json(info),
                    at_ms=int(info.updated_at.timestamp() * 1000)).save()

    def of_user(self, openid: str) -> dict[str, CardInfo]:
        m = self._model
        infos = [info_from_json(item.data or {}) for item in m.query(f"wxuser#{openid}", m.sk.startswith(INFO_PREFIX))]
        return {i.patient_id: i for i in infos}

    def delete(self, openid: str, patient_id: str) -> None:
        self._model(f"wxuser#{openid}", f"{INFO_PREFIX}{patient_id}").delete()
