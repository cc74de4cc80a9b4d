"""``PaymentRecords`` on DynamoDB, in the ``his`` table (see ``models.HisItem``).

* a record by natural key ... pk = "payrec#<PAYMENT#transaction_id | REFUND#out_refund_no>", sk = "record"
  (conditional put: the first write of a key wins, so retries and redeliveries record it once)
* records of a day .......... pk = "payday#<Shanghai date of at>", sk = <natural key>
  (Query per day; the reconciliation reads a day and its neighbours)
Kept without expiry: they are the evidence of money taken and given back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.models import HisItem
from chalicelib.domain.reconciliation import OurRecord, shanghai_day

RECORD_SK = "record"


class DynamoPaymentRecords:
    def __init__(self, model: type[HisItem]) -> None:
        self._model = model

    def _day_item(self, entry: OurRecord) -> HisItem:
        return self._model(f"payday#{shanghai_day(entry.at).isoformat()}", entry.key, state=entry.kind.value,
                           data=entry.to_dict(), at_ms=int(entry.at.timestamp() * 1000))

    def record(self, entry: OurRecord) -> bool:
        m = self._model
        try:
            m(f"payrec#{entry.key}", RECORD_SK, state=entry.kind.value, data=entry.to_dict(),
              at_ms=int(entry.at.timestamp() * 1000)).save(condition=m.pk.does_not_exist())
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
            # Known already. Re-put its day item from what was stored first, in case that write was lost.
            held = m.get(f"payrec#{entry.key}", RECORD_SK, consistent_read=True)
            self._day_item(OurRecord.from_dict(held.data)).save()
            return False
        self._day_item(entry).save()
        return True

    def between(self, start: datetime, end: datetime) -> list[OurRecord]:
        if end <= start:
            return []
        start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        day, last = shanghai_day(start), shanghai_day(end - timedelta(microseconds=1))
        found: list[OurRecord] = []
        while day <= last:
            for item in self._model.query(f"payday#{day.isoformat()}", consistent_read=True):
                if start_ms <= int(item.at_ms or 0) < end_ms:
                    found.append(OurRecord.from_dict(item.data))
            day += timedelta(days=1)
        return sorted(found, key=lambda r: (r.at, r.key))
