"""``BindRequests`` on DynamoDB (table ``patients``, see ``models.PatientItem``): pending card bindings.

* a bind request ...... pk = "bindreq#<request_id>", sk = "request"; ``state``, ``version`` (compare-and-set),
                        ``data`` = ``domain.cards.request_to_json`` (the openid, the masked label, and while a
                        code may still be sent the full phone and, for 建档, the form; both are removed by the
                        state changes that no longer need them), TTL ``expires_at`` = created + 15 minutes
                        (+ 1 hour for a request still with the HIS), after which ``get`` treats it as gone.

Every change is a put conditional on the stored ``version``, so of racing writers (a redelivered HIS result,
two code entries, a double tap) exactly one wins; the new request is a put conditional on the key not existing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.his_event_ledger import conditional_failed
from chalicelib.adapters.dynamodb.models import PatientItem
from chalicelib.domain.cards import REQUEST_TTL, BindRequest, BindState, request_from_json, request_to_json
from chalicelib.services.ports import Clock

SK = "request"
STILL_WITH_HIS = timedelta(hours=1)  # a 建档 whose result is still coming keeps its request a little longer


def _expires(request: BindRequest) -> datetime:
    extra = STILL_WITH_HIS if request.state is BindState.CREATING else timedelta(0)
    return request.created_at + REQUEST_TTL + extra


class DynamoBindRequests:
    def __init__(self, model: type[PatientItem], clock: Clock) -> None:
        self._model = model
        self._clock = clock

    def _item(self, request: BindRequest) -> PatientItem:
        return self._model(f"bindreq#{request.request_id}", SK, state=request.state.value, version=request.version,
                           data=request_to_json(request), at_ms=int(request.updated_at.timestamp() * 1000),
                           expires_at=int(_expires(request).timestamp()))

    def add(self, request: BindRequest) -> None:
        self._item(request).save(condition=self._model.pk.does_not_exist())

    def get(self, request_id: str) -> BindRequest | None:
        try:
            item = self._model.get(f"bindreq#{request_id}", SK, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        # TTL deletion is lazy: past its storage lifetime the request is gone, whatever is still stored.
        if item.expires_at is not None and self._clock().timestamp() >= item.expires_at:
            return None
        return request_from_json(item.data or {})

    def replace(self, request: BindRequest, expected_version: int) -> bool:
        try:
            self._item(request).save(condition=self._model.version == expected_version)
        except PutError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True
