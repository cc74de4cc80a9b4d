"""The cards DynamoDB adapters on moto server (the ``patients`` table provisioned from infra/resources.yaml):
bind requests with compare-and-set (racing code entries: exactly one wins), the daily cap as a conditional
counter (racing attempts cannot pass it), card details next to the bindings, and the whole flow wired by
``bootstrap`` with the real adapters."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from chalicelib import bootstrap
from chalicelib.domain import cards as d
from chalicelib.domain.cards import BindState, CardInfo, MaskedCard
from chalicelib.domain.patients import PatientBinding, Relation
from chalicelib.services import cards as service
from tests.fakes import FakeHisRequestQueue
from tests.fakes_cards import WANG, Clock, FakeHis, FakeSms, identity_form

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
KEY = b"k"


def _race(n: int, attempt: Callable[[int], object]) -> list[object]:
    barrier, results = threading.Barrier(n), []

    def run(i: int) -> None:
        barrier.wait()
        results.append(attempt(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _code_sent(request_id: str, at: datetime = T0) -> d.BindRequest:
    form = d.parse_identity_form(identity_form(), date(2026, 11, 26))
    req = d.new_lookup(request_id, "oIntegrationUser0000000000001", form, "his-" + request_id, at)
    patient = d.patient_from_his(WANG.body())
    return d.found(req, patient, d.code_digest(KEY, request_id, "123456"), at)


def test_bind_requests_round_trip_and_compare_and_set(app_settings):
    requests = bootstrap.container().card_bind_requests
    form = d.parse_identity_form(identity_form(), date(2026, 11, 26))
    pending = d.new_lookup("reqIntegration01", "oIntegrationUser0000000000001", form, "his1",
                           datetime.now(UTC))
    requests.add(pending)
    assert requests.get("reqIntegration01") == pending
    assert requests.get("reqUnknown000001") is None
    with pytest.raises(Exception):  # noqa: B017 - the put is conditional on a new key
        requests.add(pending)
    sent = d.found(pending, d.patient_from_his(WANG.body()), "digest", datetime.now(UTC))
    assert requests.replace(sent, pending.version)
    assert not requests.replace(replace(sent, version=sent.version + 1), pending.version)  # stale writer
    assert requests.get("reqIntegration01") == sent


def test_a_request_past_its_lifetime_is_gone_before_ttl_removes_it(app_settings):
    requests = bootstrap.container().card_bind_requests
    old = _code_sent("reqIntegration02")  # created at T0, long ago
    requests.add(old)
    assert requests.get("reqIntegration02") is None


def test_racing_entries_of_the_right_code_bind_exactly_once(app_settings):
    requests = bootstrap.container().card_bind_requests
    for round_ in range(4):
        request_id = f"reqRace{round_:09d}"
        req = _code_sent(request_id, datetime.now(UTC))
        requests.add(req)
        digest = d.code_digest(KEY, request_id, "123456")

        def enter(_i: int, req: d.BindRequest = req, digest: str = digest) -> bool:
            check = d.check_code(req, digest, req.updated_at)
            assert check.outcome is d.CodeOutcome.OK
            return requests.replace(d.bound(check.request, req.patient, req.updated_at), req.version)  # type: ignore[arg-type]

        wins = _race(8, enter)
        assert wins.count(True) == 1, wins
        stored = requests.get(request_id)
        assert stored is not None and stored.state is BindState.DONE and stored.code_digest is None


def test_racing_attempts_cannot_pass_the_daily_cap(app_settings):
    quota = bootstrap.container().card_quota
    wins = _race(10, lambda _i: quota.take("oIntegrationUser0000000000001", "2026-11-26", 5, T0))
    assert wins.count(True) == 5
    assert quota.used("oIntegrationUser0000000000001", "2026-11-26") == 5
    assert quota.used("oIntegrationUser0000000000001", "2026-11-27") == 0
    assert quota.take("oIntegrationUser0000000000001", "2026-11-27", 5, T0)


def test_card_infos_sit_next_to_the_bindings_without_disturbing_them(app_settings):
    c = bootstrap.container()
    openid = "oIntegrationUser0000000000001"
    c.patient_bindings.bind(PatientBinding(openid, "P000987654", Relation.PARENT, "王*", T0))
    info = CardInfo("P000987654", (MaskedCard("E202******7654", "e_card", "active"),), "1265", "138****0004", T0)
    c.card_infos.put(openid, info)
    assert c.card_infos.of_user(openid) == {"P000987654": info}
    assert [b.patient_id for b in c.patient_bindings.patients_of(openid)] == ["P000987654"]
    c.card_infos.delete(openid, "P000987654")
    assert c.card_infos.of_user(openid) == {}


def test_the_whole_flow_on_the_real_adapters(app_settings):
    clock = Clock(datetime.now(UTC).replace(hour=2))  # 10:00 in Shanghai, outside the maintenance window
    queue, sms = FakeHisRequestQueue(), FakeSms()
    bootstrap.override(clock=clock, his_request_queue=queue, sms_sender=sms)
    c = bootstrap.container()
    ctx = c.cards_context
    openid = "oIntegrationUser0000000000002"
    req = service.start(openid, identity_form(), ctx)
    his = FakeHis(WANG)
    [lookup] = queue.sent
    assert service.apply_his_result(his.answer(lookup, clock()), ctx) == "code_sent"
    assert service.apply_his_result(his.answer(lookup, clock()), ctx) == "ignored"  # redelivered
    clock.advance(seconds=5)
    done = service.verify(openid, req.request_id, sms.last_code(), None, ctx)
    assert done.state is BindState.DONE
    members = service.family(openid, ctx).members
    assert [(m.binding.label, m.info.cards[0].card_no_masked if m.info else None) for m in members] == [
        ("王*", "E202******7654")]
    assert service.family(openid, ctx).binds_left_today == c.settings.card_binds_per_day - 1
    stored = c.card_bind_requests.get(req.request_id)
    assert stored is not None and stored.phone == "" and stored.code_digest is None
    service.unbind(openid, WANG.patient_id, ctx)
    assert [r.operation for r in queue.sent] == ["lookupPatient", "unlinkPatient"]
    assert c.patient_bindings.patients_of(openid) == [] and c.card_infos.of_user(openid) == {}
    clock.advance(minutes=20)
    assert c.card_bind_requests.get(req.request_id) is None  # past its lifetime: gone before TTL deletes it
