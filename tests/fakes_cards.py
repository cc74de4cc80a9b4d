"""In-memory fakes of the cards ports, a HIS that answers lookups and 建档 like the middleware (§7.4), and a
``CardsWorld`` that wires them into a ``CardsContext`` with a settable clock."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.cards import BindRequest, CardInfo, request_from_json, request_to_json
from chalicelib.domain.his_messages import HisRequest, HisResult
from chalicelib.domain.patients import PatientBinding
from chalicelib.services.cards import CardsContext
from chalicelib.services.ports import SmsSendError
from tests.fakes import FakeHisRequestQueue, FakePatientBindings

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
OPENID = "oCardsUser00000000000000000001"
OTHER = "oCardsOther0000000000000000002"


class FakeBindRequests:
    """Stores the JSON form (as the adapter does), so what is kept is what a test sees."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.lose_next_race = 0  # make the next replace() calls fail as if another writer had won

    def add(self, request: BindRequest) -> None:
        assert request.request_id not in self.items
        self.items[request.request_id] = json.loads(json.dumps(request_to_json(request)))

    def get(self, request_id: str) -> BindRequest | None:
        raw = self.items.get(request_id)
        return request_from_json(raw) if raw else None

    def replace(self, request: BindRequest, expected_version: int) -> bool:
        raw = self.items.get(request.request_id)
        if raw is None or raw["version"] != expected_version:
            return False
        if self.lose_next_race:
            self.lose_next_race -= 1
            raw["version"] += 1  # someone else's change
            return False
        self.items[request.request_id] = json.loads(json.dumps(request_to_json(request)))
        return True


class FakeCardQuota:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def take(self, openid: str, day: str, limit: int, at: datetime) -> bool:
        if self.counts.get((openid, day), 0) >= limit:
            return False
        self.counts[(openid, day)] = self.counts.get((openid, day), 0) + 1
        return True

    def used(self, openid: str, day: str) -> int:
        return self.counts.get((openid, day), 0)


class FakeCardInfos:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], CardInfo] = {}

    def put(self, openid: str, info: CardInfo) -> None:
        self.items[(openid, info.patient_id)] = info

    def of_user(self, openid: str) -> dict[str, CardInfo]:
        return {p: i for (o, p), i in self.items.items() if o == openid}

    def delete(self, openid: str, patient_id: str) -> None:
        self.items.pop((openid, patient_id), None)


class FakeSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail_next = 0

    def send(self, phone: str, text: str) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise SmsSendError("carrier refused")
        self.sent.append((phone, text))

    def last_code(self) -> str:
        import re

        match = re.search(r"验证码是(\d{6})", self.sent[-1][1])
        assert match, self.sent[-1][1]
        return match.group(1)


class Codes:
    """Predictable codes: 100001, 100002, ..."""

    def __init__(self) -> None:
        self.n = 100000

    def __call__(self) -> str:
        self.n += 1
        return str(self.n)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"req{self.n:08d}"


# ---- the middleware's patients (fictitious; the HIS simulator's seed) -----------------------------------
@dataclass
class HisRecord:
    patient_id: str
    name: str
    id_type: str
    id_number: str
    phone: str
    cards: list[dict[str, str]]

    def body(self, created: bool | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "patient_id": self.patient_id, "name": self.name, "gender": "male", "birth_date": "1990-03-07",
            "id_type": self.id_type, "id_number_masked": self.id_number[:6] + "********" + self.id_number[-4:],
            "phone_masked": self.phone[:3] + "****" + self.phone[-4:], "cards": self.cards,
            "created_at": "2023-11-02T09:15:22+08:00"}
        if created is not None:
            out["created"] = created
        return out


ZHANG = HisRecord("P000123456", "张三", "resident_id", "110101199003070011", "13800000001",
                  [{"card_no": "E2025000123456", "card_type": "e_card", "status": "active"}])
WANG = HisRecord("P000987654", "王芳", "resident_id", "110102197804151265", "13800000004",
                 [{"card_no": "E2021000987654", "card_type": "e_card", "status": "active"},
                  {"card_no": "1100000098765400", "card_type": "insurance_card", "status": "active"}])


class FakeHis:
    """Answers the HisRequests the service queued, as the bridge would publish them."""

    def __init__(self, *records: HisRecord) -> None:
        self.records = {r.patient_id: r for r in records}
        self.created = 0

    def answer(self, request: HisRequest, at: datetime) -> HisResult:
        body = request.body or {}
        if request.operation == "lookupPatient":
            match = next((r for r in self.records.values()
                          if r.id_type == body["id_type"] and r.id_number == body["id_number"]), None)
            if match is None:
                return self.error(request, at, 404, "PATIENT_NOT_FOUND")
            if match.name != body["name"] or match.phone != body["phone"]:
                return self.error(request, at, 422, "IDENTITY_MISMATCH")
            return self.ok(request, at, 200, match.body())
        if request.operation == "createPatient":
            match = next((r for r in self.records.values() if r.id_number == body.get("id_number")), None)
            if match is not None:
                if match.name != body["name"]:
                    return self.error(request, at, 422, "IDENTITY_MISMATCH")
                return self.ok(request, at, 200, match.body(created=False))
            self.created += 1
            record = HisRecord(f"P000{800000 + self.created:06d}", body["name"], body["id_type"],
                               body.get("id_number") or "", body["phone"],
                               [{"card_no": f"E2026{800000 + self.created:09d}", "card_type": "e_card",
                                 "status": "active"}])
            self.records[record.patient_id] = record
            return self.ok(request, at, 201, record.body(created=True))
        if request.operation == "unlinkPatient":
            return self.ok(request, at, 204, None)
        raise AssertionError(request.operation)

    @staticmethod
    def ok(request: HisRequest, at: datetime, status: int, body: Any) -> HisResult:
        return HisResult(request.request_id, request.operation, "ok", at, status=status, body=body,
                         context=dict(request.context))

    @staticmethod
    def error(request: HisRequest, at: datetime, status: int, code: str) -> HisResult:
        from chalicelib.domain.his_messages import HisError

        return HisResult(request.request_id, request.operation, "error", at, status=status,
                         error=HisError(code, code, False), context=dict(request.context))


class CardsWorld:
    def __init__(self, *bindings: PatientBinding, binds_per_day: int = 5) -> None:
        self.clock = Clock()
        self.requests = FakeBindRequests()
        self.quota = FakeCardQuota()
        self.infos = FakeCardInfos()
        self.bindings = FakePatientBindings(*bindings)
        self.queue = FakeHisRequestQueue()
        self.sms = FakeSms()
        self.his = FakeHis(ZHANG, WANG)
        self.ctx = CardsContext(
            requests=self.requests, quota=self.quota, infos=self.infos, bindings=self.bindings, his=self.queue,
            sms=self.sms, clock=self.clock, new_id=Ids(), new_code=Codes(), end_user_key=b"test-end-user-key",
            code_key=b"test-code-key", binds_per_day=binds_per_day, hospital_name="示例市第一人民医院",
        )

    def his_results(self, operation: str | None = None) -> list[HisResult]:
        """The HIS's answers to every request queued so far (of ``operation``), without consuming them."""
        return [self.his.answer(r, self.clock()) for r in self.queue.sent
                if operation is None or r.operation == operation]


def identity_form(record: HisRecord = WANG, relation: str = "parent", **changes: str) -> dict[str, Any]:
    return {"method": "identity", "relation": relation, "name": record.name, "id_type": record.id_type,
            "id_number": record.id_number, "phone": record.phone, **changes}
