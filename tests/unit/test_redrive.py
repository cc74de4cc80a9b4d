"""Moving dead letters back: same body and attributes, delete only after the send, counts."""

import pytest

from chalicelib.services.redrive import redrive
from tests.fakes_reconciliation import FakeDeadLetterQueues

ATTRS = {"operation": {"DataType": "String", "StringValue": "listCampuses"}}


def _dead(n):
    return FakeDeadLetterQueues([(f'{{"n": {i}}}', ATTRS if i % 2 else {}) for i in range(n)])


def test_moves_everything_in_batches_with_the_same_body_and_attributes():
    q = _dead(23)
    outcome = redrive("yiwei-his-results", q)
    assert (outcome.waiting, outcome.moved, outcome.failed, outcome.not_deleted) == (23, 23, 0, 0)
    assert q.dlq == [] and len(q.queue) == 23
    assert q.queue[1] == ('{"n": 1}', ATTRS) and q.queue[0] == ('{"n": 0}', {})
    assert all(n <= 10 for n in q.receives)


def test_max_limits_how_many_move():
    q = _dead(15)
    outcome = redrive("q", q, max_messages=12)
    assert outcome.moved == 12 and len(q.dlq) == 3 and q.receives[:2] == [10, 2]


def test_dry_run_only_counts():
    q = _dead(4)
    outcome = redrive("q", q, dry_run=True)
    assert outcome.dry_run and outcome.waiting == 4 and outcome.moved == 0
    assert len(q.dlq) == 4 and q.queue == [] and q.receives == []


def test_a_failed_send_is_not_deleted_and_the_run_still_ends():
    q = _dead(3)
    q.refuse_send = {"m1"}
    outcome = redrive("q", q)
    assert (outcome.moved, outcome.failed) == (2, 1)
    assert [m.message_id for m in q.dlq] == ["m1"] and len(q.queue) == 2
    # Even if the failed one comes straight back (visibility over), it is not retried in a loop.
    q.hidden.clear()
    q.refuse_send = {"m1"}
    again = redrive("q", q)
    assert (again.moved, again.failed) == (0, 1) and len(q.receives) < 10


def test_a_failed_delete_after_the_send_is_counted_not_lost():
    q = _dead(2)
    q.refuse_delete = {"m0"}
    outcome = redrive("q", q)
    assert (outcome.moved, outcome.not_deleted) == (1, 1)
    assert len(q.queue) == 2 and [m.message_id for m in q.dlq] == ["m0"]


def test_max_must_be_positive():
    with pytest.raises(ValueError):
        redrive("q", _dead(1), max_messages=0)
