"""``WeChatPayBill`` from WeChat Pay's trade bill API (``GET /v3/bill/tradebill``, then its download).

WeChat Pay makes a day's bill (Shanghai day) available from about 10:00 the next day; a day whose bill
is not there yet makes the whole answer None (the reconciliation then judges by our records), except
days that have not ended yet, which are simply skipped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.adapters.wechatpay.client import HttpWeChatPay
from chalicelib.domain.payments import parse_trade_bill
from chalicelib.domain.reconciliation import SHANGHAI, BillEntry, RecordKind, shanghai_day
from chalicelib.observability import get_logger
from chalicelib.services.ports import WeChatPayError, WeChatPayUnavailableError

log = get_logger("wechatpay_bill")


class HttpWeChatPayBill:
    def __init__(self, client: HttpWeChatPay) -> None:
        self._client = client

    def entries_between(self, start: datetime, end: datetime) -> list[BillEntry] | None:
        today = shanghai_day(datetime.now(SHANGHAI))
        day, last = shanghai_day(start), shanghai_day(end - timedelta(microseconds=1))
        found: list[BillEntry] = []
        while day <= last:
            if day >= today:
                break
            try:
                text = self._client.trade_bill(day.isoformat())
            except (WeChatPayError, WeChatPayUnavailableError) as exc:
                log.warning("WeChat Pay bill not readable now", extra={"date": day.isoformat(), "error": str(exc)[:200]})
                return None
            if text is None:
                log.info("no WeChat Pay bill yet", extra={"date": day.isoformat()})
                return None
            lines, problems = parse_trade_bill(text, SHANGHAI)
            if problems:
                log.error("unreadable WeChat Pay bill lines", extra={"date": day.isoformat(), "lines": problems[:20]})
            for line in lines:
                if start <= line.at < end:
                    found.append(BillEntry(RecordKind(line.kind), line.transaction_id, line.out_trade_no,
                                           line.out_refund_no, line.amount_fen, line.at))
            day += timedelta(days=1)
        return found
