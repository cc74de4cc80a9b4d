"""``ReferenceRepository`` on DynamoDB (see ``models.ReferenceItem`` for the layout)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamodb.models import ReferenceItem
from chalicelib.domain.his_reference import parse_campus, parse_department, parse_doctor, parse_fee
from chalicelib.domain.reference import (
    Campus,
    Dataset,
    Department,
    Doctor,
    FeeEntry,
    ReferenceSnapshot,
    SyncState,
)

SYNC_STATE_PK = "sync_state"
DEPT_DOCTORS_PREFIX = "department_doctors#"
T = TypeVar("T")
Key = tuple[str, str]


def to_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _digest(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _conditional_failed(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


def _records(snapshot: ReferenceSnapshot) -> dict[str, dict[str, Any]]:
    """The snapshot's items as sk → stored data (field names as in the HIS contract)."""
    if snapshot.dataset is Dataset.CAMPUSES:
        return {c.campus_id: dataclasses.asdict(c) for c in snapshot.campuses}
    if snapshot.dataset is Dataset.DEPARTMENTS:
        return {d.department_id: dataclasses.asdict(d) for d in snapshot.departments}
    if snapshot.dataset is Dataset.DOCTORS:
        return {d.doctor_id: dataclasses.asdict(d) for d in snapshot.doctors}
    fees = {}
    for fee in snapshot.fees:
        sk = "#".join([fee.reg_type, fee.title_code or "-", fee.campus_id or "-", fee.effective_from])
        fees[sk] = dataclasses.asdict(fee)
    return fees


def _department_ids(data: Mapping[str, Any]) -> set[str]:
    return {d for d in data.get("department_ids") or () if isinstance(d, str)}


class DynamoReferenceRepository:
    def __init__(self, model: type[ReferenceItem]) -> None:
        self._model = model

    # ---- reads -------------------------------------------------------------------------------
    def _query(self, pk: str) -> list[ReferenceItem]:
        return list(self._model.query(pk))

    def _read_all(self, dataset: Dataset, parse: Callable[[Mapping[str, Any]], T]) -> list[T]:
        return [parse(item.data) for item in self._query(dataset.value) if item.data]

    def _read_one(self, dataset: Dataset, sk: str, parse: Callable[[Mapping[str, Any]], T]) -> T | None:
        try:
            item = self._model.get(dataset.value, sk)
        except self._model.DoesNotExist:
            return None
        return parse(item.data) if item.data else None

    def sync_states(self) -> dict[Dataset, SyncState]:
        states = {}
        for item in self._query(SYNC_STATE_PK):
            try:
                dataset = Dataset(item.sk)
            except ValueError:
                continue
            states[dataset] = SyncState(dataset, item.etag, from_ms(int(item.fetched_ms)), int(item.item_count or 0))
        return states

    def campuses(self) -> list[Campus]:
        return self._read_all(Dataset.CAMPUSES, parse_campus)

    def departments(self) -> list[Department]:
        return self._read_all(Dataset.DEPARTMENTS, parse_department)

    def department(self, department_id: str) -> Department | None:
        return self._read_one(Dataset.DEPARTMENTS, department_id, parse_department)

    def doctors(self) -> list[Doctor]:
        return self._read_all(Dataset.DOCTORS, parse_doctor)

    def doctors_of_department(self, department_id: str) -> list[Doctor]:
        return [parse_doctor(i.data) for i in self._query(DEPT_DOCTORS_PREFIX + department_id) if i.data]

    def doctor(self, doctor_id: str) -> Doctor | None:
        return self._read_one(Dataset.DOCTORS, doctor_id, parse_doctor)

    def fees(self) -> list[FeeEntry]:
        return self._read_all(Dataset.FEE_SCHEDULE, parse_fee)

    # ---- writes ------------------------------------------------------------------------------
    def _put(self, pk: str, sk: str, data: Mapping[str, Any], digest: str, fetched_ms: int) -> None:
        item = self._model(pk, sk, data=dict(data), digest=digest, fetched_ms=fetched_ms)
        try:
            item.save(condition=self._model.pk.does_not_exist() | (self._model.fetched_ms <= fetched_ms))
        except PutError as exc:
            if not _conditional_failed(exc):
                raise  # a newer snapshot already wrote this item otherwise

    def _delete(self, pk: str, sk: str, fetched_ms: int) -> None:
        try:
            self._model(pk, sk).delete(condition=self._model.fetched_ms <= fetched_ms)
        except DeleteError as exc:
            if not _conditional_failed(exc):
                raise

    def apply_snapshot(self, snapshot: ReferenceSnapshot) -> bool:
        dataset = snapshot.dataset
        fetched_ms = to_ms(snapshot.fetched_at)
        held = self.sync_states().get(dataset)
        if held is not None and not held.accepts(from_ms(fetched_ms)):
            return False
        existing = {item.sk: item for item in self._query(dataset.value)}
        wanted = _records(snapshot)
        for sk, data in wanted.items():
            digest = _digest(data)
            old = existing.get(sk)
            if old is not None and old.digest == digest:
                continue
            if dataset is Dataset.DOCTORS:
                # Index rows first, stale index rows next, the doctor last: a crash in between is
                # repaired by the redelivery, which sees the doctor's old digest and redoes all three.
                self._reindex(sk, _department_ids(old.data or {}) if old else set(), data, digest, fetched_ms)
            self._put(dataset.value, sk, data, digest, fetched_ms)
        for sk in existing.keys() - wanted.keys():
            if dataset is Dataset.DOCTORS:
                for dept in _department_ids(existing[sk].data or {}):
                    self._delete(DEPT_DOCTORS_PREFIX + dept, sk, fetched_ms)
            self._delete(dataset.value, sk, fetched_ms)
        self._save_state(dataset, fetched_ms, snapshot.etag, len(wanted))
        return True

    def _reindex(self, doctor_id: str, old_depts: Iterable[str], data: Mapping[str, Any], digest: str, ms: int) -> None:
        new_depts = _department_ids(data)
        for dept in new_depts:
            self._put(DEPT_DOCTORS_PREFIX + dept, doctor_id, data, digest, ms)
        for dept in set(old_depts) - new_depts:
            self._delete(DEPT_DOCTORS_PREFIX + dept, doctor_id, ms)

    def _save_state(self, dataset: Dataset, fetched_ms: int, etag: str | None, count: int) -> None:
        item = self._model(SYNC_STATE_PK, dataset.value, fetched_ms=fetched_ms, etag=etag, item_count=count)
        try:
            item.save(condition=self._model.pk.does_not_exist() | (self._model.fetched_ms <= fetched_ms))
        except PutError as exc:
            if not _conditional_failed(exc):
                raise

    def mark_unchanged(self, dataset: Dataset, fetched_at: datetime, etag: str | None) -> bool:
        fetched_ms = to_ms(fetched_at)
        actions: list[Action] = [self._model.fetched_ms.set(fetched_ms)]
        if etag:
            actions.append(self._model.etag.set(etag))
        try:
            self._model(SYNC_STATE_PK, dataset.value).update(
                actions=actions,
                condition=self._model.pk.exists() & (self._model.fetched_ms <= fetched_ms),
            )
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True
