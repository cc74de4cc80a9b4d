"""``PatientBindings`` on DynamoDB (table ``patients``, see ``models.PatientItem``): which WeChat users are
bound to which HIS patients. Two items per binding, written and deleted together in one transaction, so
both directions are a Query:

* a user's patients ...... pk = "wxuser#<openid>",    sk = "binding#<patient_id>"
* a patient's users ...... pk = "patient#<patient_id>", sk = "binding#<openid>"
``data`` holds relation, the masked label and ``bound_at``; no name, ID number or phone number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.models import PatientItem
from chalicelib.domain.patients import PatientBinding, Relation

SK_PREFIX = "binding#"


def connection_of(model: type[Any]) -> Connection:
    meta = model.Meta
    return Connection(region=meta.region, host=meta.host, connect_timeout_seconds=2, read_timeout_seconds=5,
                      max_retry_attempts=3)


class DynamoPatientBindings:
    def __init__(self, model: type[PatientItem]) -> None:
        self._model = model

    def _pair(self, openid: str, patient_id: str, data: dict[str, Any] | None = None) -> tuple[PatientItem, PatientItem]:
        m = self._model
        return (m(f"wxuser#{openid}", f"{SK_PREFIX}{patient_id}", data=data),
                m(f"patient#{patient_id}", f"{SK_PREFIX}{openid}", data=data))

    def bind(self, binding: PatientBinding) -> None:
        data = {"openid": binding.openid, "patient_id": binding.patient_id, "relation": binding.relation.value,
                "label": binding.label, "bound_at": binding.bound_at.isoformat()}
        with TransactWrite(connection=connection_of(self._model)) as tx:
            for item in self._pair(binding.openid, binding.patient_id, data):
                tx.save(item)

    def unbind(self, openid: str, patient_id: str) -> None:
        with TransactWrite(connection=connection_of(self._model)) as tx:
            for item in self._pair(openid, patient_id):
                tx.delete(item)

    def patients_of(self, openid: str) -> list[PatientBinding]:
        m = self._model
        found = [_binding(item.data) for item in m.query(f"wxuser#{openid}", m.sk.startswith(SK_PREFIX))]
        return sorted(found, key=lambda b: b.bound_at)

    def openids_of(self, patient_id: str) -> list[str]:
        m = self._model
        return sorted(item.sk.removeprefix(SK_PREFIX)
                      for item in m.query(f"patient#{patient_id}", m.sk.startswith(SK_PREFIX), consistent_read=True))


def _binding(raw: dict[str, Any]) -> PatientBinding:
    return PatientBinding(str(raw["openid"]), str(raw["patient_id"]), Relation(raw["relation"]), str(raw["label"]),
                          datetime.fromisoformat(str(raw["bound_at"])))
