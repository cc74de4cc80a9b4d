"""In-memory fakes of the reconciliation ports (payment records, reports, the WeChat Pay bill, DLQs)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from chalicelib.domain.reconciliation import BillEntry, HisSummary, OurRecord, ReconciliationReport
from chalicelib.services.ports import DeadLetter


class FakePaymentRecords:
    def __init__(self, *records: OurRecord) -> None:
        self.items: dict[str, OurRecord] = {}
        for r in records:
            self.record(r)

    def record(self, entry: OurRecord) -> bool:
        if entry.key in self.items:
            return False
        self.items[entry.key] = entry
        return True

    def between(self, start: datetime, end: datetime) -> list[OurRecord]:
        return sorted((r for r in self.items.values() if start <= r.at < end), key=lambda r: (r.at, r.key))


class FakeReconciliationReports:
    def __init__(self) -> None:
        self.summaries: dict[date, HisSummary] = {}
        self.files: dict[date, dict[str, str]] = {}
        self.reports: dict[date, ReconciliationReport] = {}
        self.saves = 0

    def note_summary(self, summary: HisSummary, at: datetime) -> None:
        self.summaries[summary.day] = summary

    def note_file(self, day: date, ref: Mapping[str, str], at: datetime) -> None:
        self.files[day] = dict(ref)

    def inputs(self, day: date) -> tuple[HisSummary | None, dict[str, str] | None]:
        return self.summaries.get(day), self.files.get(day)

    def save(self, report: ReconciliationReport) -> None:
        self.saves += 1
        self.reports[report.day] = ReconciliationReport.from_dict(report.to_dict())  # as stored: round-tripped

    def get(self, day: date) -> ReconciliationReport | None:
        return self.reports.get(day)

    def list(self, limit: int = 30) -> list[ReconciliationReport]:
        return [self.reports[d] for d in sorted(self.reports, reverse=True)][:limit]


class FakeWeChatPayBill:
    def __init__(self, entries: list[BillEntry] | None) -> None:
        self.entries = entries

    def entries_between(self, start: datetime, end: datetime) -> list[BillEntry] | None:
        return None if self.entries is None else [e for e in self.entries if start <= e.at < end]


class FakeDeadLetterQueues:
    """A queue and its DLQ in memory; ``refuse_send`` holds message ids whose send back fails."""

    def __init__(self, dead: list[tuple[str, dict[str, Any]]] | None = None) -> None:
        self.dlq: list[DeadLetter] = [DeadLetter(f"m{n}", f"r{n}", body, attrs)
                                      for n, (body, attrs) in enumerate(dead or [])]
        self.hidden: set[str] = set()
        self.queue: list[tuple[str, dict[str, Any]]] = []
        self.refuse_send: set[str] = set()
        self.refuse_delete: set[str] = set()
        self.receives: list[int] = []

    def count(self, queue: str) -> int:
        return len(self.dlq)

    def receive(self, queue: str, max_messages: int) -> list[DeadLetter]:
        self.receives.append(max_messages)
        batch = [m for m in self.dlq if m.message_id not in self.hidden][:min(10, max_messages)]
        self.hidden.update(m.message_id for m in batch)
        return batch

    def send_back(self, queue: str, letter: DeadLetter) -> None:
        if letter.message_id in self.refuse_send:
            raise RuntimeError("send refused")
        self.queue.append((letter.body, letter.attributes))

    def delete(self, queue: str, letter: DeadLetter) -> None:
        if letter.message_id in self.refuse_delete:
            raise RuntimeError("delete refused")
        self.dlq = [m for m in self.dlq if m.message_id != letter.message_id]
