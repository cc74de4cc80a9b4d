"""In-memory fakes of the ports, for unit and functional tests (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.domain.his_messages import HisRequest
from chalicelib.domain.jobs import Job, JobState
from chalicelib.domain.patients import PatientBinding
from chalicelib.domain.reference import (
    Campus,
    Dataset,
    Department,
    Doctor,
    FeeEntry,
    ReferenceSnapshot,
    SyncState,
)
from chalicelib.domain.refunds import RefundObligation, RefundState


class FakeReferenceRepository:
    def __init__(self) -> None:
        self.states: dict[Dataset, SyncState] = {}
        self.snapshots: dict[Dataset, ReferenceSnapshot] = {}

    def sync_states(self) -> dict[Dataset, SyncState]:
        return dict(self.states)

    def apply_snapshot(self, snapshot: ReferenceSnapshot) -> bool:
        held = self.states.get(snapshot.dataset)
        if held is not None and not held.accepts(snapshot.fetched_at):
            return False
        self.snapshots[snapshot.dataset] = snapshot
        self.states[snapshot.dataset] = SyncState(snapshot.dataset, snapshot.etag, snapshot.fetched_at,
                                                  snapshot.item_count)
        return True

    def mark_unchanged(self, dataset: Dataset, fetched_at: datetime, etag: str | None) -> bool:
        held = self.states.get(dataset)
        if held is None or not held.accepts(fetched_at):
            return False
        self.states[dataset] = replace(held, fetched_at=fetched_at, etag=etag or held.etag)
        return True

    def _snap(self, dataset: Dataset) -> ReferenceSnapshot | None:
        return self.snapshots.get(dataset)

    def campuses(self) -> list[Campus]:
        s = self._snap(Dataset.CAMPUSES)
        return list(s.campuses) if s else []

    def departments(self) -> list[Department]:
        s = self._snap(Dataset.DEPARTMENTS)
        return list(s.departments) if s else []

    def department(self, department_id: str) -> Department | None:
        return next((d for d in self.departments() if d.department_id == department_id), None)

    def doctors(self) -> list[Doctor]:
        s = self._snap(Dataset.DOCTORS)
        return list(s.doctors) if s else []

    def doctors_of_department(self, department_id: str) -> list[Doctor]:
        return [d for d in self.doctors() if department_id in d.department_ids]

    def doctor(self, doctor_id: str) -> Doctor | None:
        return next((d for d in self.doctors() if d.doctor_id == doctor_id), None)

    def fees(self) -> list[FeeEntry]:
        s = self._snap(Dataset.FEE_SCHEDULE)
        return list(s.fees) if s else []


class FakeHisRequestQueue:
    def __init__(self) -> None:
        self.sent: list[HisRequest] = []

    def send(self, request: HisRequest) -> None:
        self.sent.append(request)


class FakeBlobStore:
    def __init__(self, blobs: dict[tuple[str, str], Any] | None = None) -> None:
        self.blobs = blobs or {}

    def get_json(self, bucket: str, key: str) -> Any:
        return self.blobs[(bucket, key)]

    def get_bytes(self, bucket: str, key: str) -> bytes:
        value = self.blobs[(bucket, key)]
        return value if isinstance(value, bytes) else str(value).encode()

    def presigned_url(self, bucket: str, key: str, expires_in: int, filename: str | None = None) -> str:
        return f"https://blobs.example/{bucket}/{key}?expires={expires_in}" + (f"&filename={filename}" if filename else "")


class FakePatientBindings:
    def __init__(self, *bindings: PatientBinding) -> None:
        self.items: dict[tuple[str, str], PatientBinding] = {}
        for b in bindings:
            self.bind(b)

    def bind(self, binding: PatientBinding) -> None:
        self.items[(binding.openid, binding.patient_id)] = binding

    def unbind(self, openid: str, patient_id: str) -> None:
        self.items.pop((openid, patient_id), None)

    def patients_of(self, openid: str) -> list[PatientBinding]:
        return sorted((b for (o, _), b in self.items.items() if o == openid), key=lambda b: b.bound_at)

    def openids_of(self, patient_id: str) -> list[str]:
        return sorted(o for (o, p) in self.items if p == patient_id)


class FakeJobRepository:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    def add(self, job: Job) -> None:
        self.jobs[job.job_id] = job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def finish(self, job_id: str, state: JobState, at: datetime, detail: str = "") -> None:
        job = self.jobs.get(job_id)
        if job is not None and job.state is JobState.REQUESTED:
            self.jobs[job_id] = job.finish(state, at, detail)


# ---- WeChat ------------------------------------------------------------------------------------------
class FakeInboxLedger:
    def __init__(self) -> None:
        from threading import Lock

        self.items: dict[str, Any] = {}
        self._lock = Lock()

    def claim(self, key: str, at: datetime) -> Any:
        from chalicelib.services.ports import InboxClaim, InboxState

        with self._lock:
            held = self.items.get(key)
            if held is None:
                self.items[key] = InboxClaim(InboxState.PROCESSING)
                return InboxClaim(InboxState.NEW)
            return held

    def peek(self, key: str) -> Any:
        return self.items.get(key)

    def answered(self, key: str, reply: Any, at: datetime) -> None:
        from chalicelib.services.ports import InboxClaim, InboxState

        self.items[key] = InboxClaim(InboxState.ANSWERED, reply)

    def deferred(self, key: str, at: datetime) -> bool:
        from chalicelib.services.ports import InboxClaim, InboxState

        with self._lock:
            held = self.items.get(key)
            if held is not None and held.state is InboxState.ANSWERED:
                return False
            self.items[key] = InboxClaim(InboxState.DEFERRED)
            return True

    def release(self, key: str) -> None:
        from chalicelib.services.ports import InboxState

        if key in self.items and self.items[key].state is InboxState.PROCESSING:
            del self.items[key]


class FakeWeChatUsers:
    def __init__(self) -> None:
        from chalicelib.domain.wechat import WeChatUser

        self.users: dict[str, WeChatUser] = {}

    def _get(self, openid: str) -> Any:
        from chalicelib.domain.wechat import WeChatUser

        return self.users.get(openid) or WeChatUser(openid)

    def get(self, openid: str) -> Any:
        return self.users.get(openid)

    def touch(self, openid: str, at: datetime) -> None:
        self.users[openid] = replace(self._get(openid), last_interaction_at=at, subscribed=True)

    def subscribe(self, openid: str, at: datetime, scene: str) -> Any:
        user = self._get(openid)
        self.users[openid] = replace(user, subscribed=True, subscribed_at=at, last_interaction_at=at,
                                     scene=scene or user.scene)

    def unsubscribe(self, openid: str, at: datetime) -> None:
        self.users[openid] = replace(self._get(openid), subscribed=False, unsubscribed_at=at)

    def save_location(self, openid: str, location: Any) -> None:
        self.users[openid] = replace(self._get(openid), location=location)

    def set_tags(self, openid: str, tags: Any) -> None:
        self.users[openid] = replace(self._get(openid), tags=frozenset(tags))


class FakeDeliveryLog:
    def __init__(self) -> None:
        self.deliveries: dict[str, Any] = {}
        self.finished: list[tuple[str, Any]] = []

    def get(self, delivery_id: str) -> Any:
        return self.deliveries.get(delivery_id)

    def record(self, delivery: Any) -> None:
        self.deliveries[delivery.delivery_id] = delivery

    def template_finished(self, wechat_msgid: str, state: Any, at: datetime) -> bool:
        for d in self.deliveries.values():
            if d.wechat_msgid == wechat_msgid:
                self.deliveries[d.delivery_id] = replace(d, state=state)
                self.finished.append((wechat_msgid, state))
                return True
        return False

    def of_user(self, openid: str, limit: int = 20) -> list[Any]:
        return [d for d in self.deliveries.values() if d.openid == openid][:limit]


class FakeDeferredInbox:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        self.sent.append(message)


class FakeMessenger:
    """Records outbound calls; ``refuse[method] = WeChatSendError(...)`` makes a call fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.refuse: dict[str, Exception] = {}
        self.tags: dict[str, int] = {}

    def _call(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        if method in self.refuse:
            raise self.refuse[method]

    def send_custom(self, openid: str, reply: Any) -> None:
        self._call("send_custom", openid, reply)

    def send_template(self, openid: str, template_id: str, fields: Any, url: str) -> str:
        self._call("send_template", openid, template_id, dict(fields), url)
        return f"msg-{len(self.calls)}"

    def ensure_tag(self, name: str) -> int:
        return self.tags.setdefault(name, 100 + len(self.tags))

    def tag_users(self, tag_id: int, openids: list[str]) -> None:
        self._call("tag_users", tag_id, list(openids))

    def untag_users(self, tag_id: int, openids: list[str]) -> None:
        self._call("untag_users", tag_id, list(openids))

    def mass_send_text(self, tag_id: int, content: str) -> str:
        self._call("mass_send_text", tag_id, content)
        return "mass-1"

    def publish_menu(self, document: Any) -> None:
        self._call("publish_menu", document)


class FakeFaq:
    """Stands in for the FAQ knowledge base in handler tests."""

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.answers = answers or {"门诊时间": "门诊时间：周一至周日 8:00-12:00，13:30-17:00。"}

    def answer(self, question: str) -> str | None:
        return next((a for q, a in self.answers.items() if q in question), None)

    def topics(self) -> list[str]:
        return list(self.answers)


class FakeRefundObligations:
    def __init__(self) -> None:
        self.items: dict[str, RefundObligation] = {}

    def record(self, obligation: RefundObligation) -> bool:
        if obligation.out_refund_no in self.items:
            return False
        self.items[obligation.out_refund_no] = obligation
        return True

    def get(self, out_refund_no: str) -> RefundObligation | None:
        return self.items.get(out_refund_no)

    def pending(self, limit: int = 100) -> list[RefundObligation]:
        return [o for o in self.items.values() if o.state is RefundState.PENDING][:limit]

    def mark_executed(self, out_refund_no: str, at: datetime) -> None:
        if out_refund_no in self.items:
            self.items[out_refund_no] = replace(self.items[out_refund_no], state=RefundState.EXECUTED)
