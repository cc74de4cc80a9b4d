"""``ReconciliationReports`` on DynamoDB, in the ``his`` table (see ``models.HisItem``).

* the HIS summary of a day ...... pk = "recon#<date>", sk = "summary"  (data = the summary)
* where the day's file is ....... pk = "recon#<date>", sk = "file"     (data = {bucket, key, content_type})
* the report .................... pk = "recon#<date>", sk = "report"   (head: state, ``version`` = number of parts)
                                  pk = "recon#<date>", sk = "report#000", "report#001", … (the JSON in parts,
                                  so a day with many discrepancies stays under DynamoDB's 400 KB item limit)
* days with a report ............ pk = "recon-days", sk = <date>       (Query, newest first)
The summary and the file reference are separate items so that two results arriving at once cannot
overwrite each other. Kept without expiry (finance records).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime

from chalicelib.adapters.dynamodb.models import HisItem
from chalicelib.domain.reconciliation import HisSummary, ReconciliationReport, parse_summary

PART_CHARS = 300_000  # ASCII JSON (ensure_ascii), so characters = bytes
DAYS_PK = "recon-days"


def _pk(day: date) -> str:
    return f"recon#{day.isoformat()}"


class DynamoReconciliationReports:
    def __init__(self, model: type[HisItem]) -> None:
        self._model = model

    def note_summary(self, summary: HisSummary, at: datetime) -> None:
        self._model(_pk(summary.day), "summary", state=summary.status, data=summary.to_dict(),
                    at_ms=int(at.timestamp() * 1000)).save()

    def note_file(self, day: date, ref: Mapping[str, str], at: datetime) -> None:
        self._model(_pk(day), "file", data=dict(ref), at_ms=int(at.timestamp() * 1000)).save()

    def _items(self, day: date) -> dict[str, HisItem]:
        return {item.sk: item for item in self._model.query(_pk(day), consistent_read=True)}

    def inputs(self, day: date) -> tuple[HisSummary | None, dict[str, str] | None]:
        items = self._items(day)
        summary, ref = items.get("summary"), items.get("file")
        return (parse_summary(summary.data) if summary is not None and summary.data else None,
                {str(k): str(v) for k, v in ref.data.items()} if ref is not None and ref.data else None)

    def save(self, report: ReconciliationReport) -> None:
        text = json.dumps(report.to_dict(), ensure_ascii=True, separators=(",", ":"))
        parts = [text[i:i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]
        pk, at_ms = _pk(report.day), int(report.updated_at.timestamp() * 1000)
        with self._model.batch_write() as batch:
            for n, part in enumerate(parts):
                batch.save(self._model(pk, f"report#{n:03d}", value=part, at_ms=at_ms))
        # The head last: readers only look at as many parts as it names.
        self._model(pk, "report", state=report.state.value, version=len(parts), at_ms=at_ms).save()
        self._model(DAYS_PK, report.day.isoformat(), state=report.state.value, at_ms=at_ms).save()

    def get(self, day: date) -> ReconciliationReport | None:
        return self._report(self._items(day))

    @staticmethod
    def _report(items: Mapping[str, HisItem]) -> ReconciliationReport | None:
        head = items.get("report")
        if head is None:
            return None
        parts = [items.get(f"report#{n:03d}") for n in range(int(head.version or 0))]
        if any(p is None for p in parts):
            return None  # being written right now
        return ReconciliationReport.from_dict(json.loads("".join(p.value or "" for p in parts if p is not None)))

    def list(self, limit: int = 30) -> list[ReconciliationReport]:
        days = [date.fromisoformat(i.sk) for i in self._model.query(DAYS_PK, scan_index_forward=False, limit=limit)]
        return [r for r in (self.get(d) for d in days) if r is not None]
