"""Refunds we owe through WeChat Pay.

The HIS approves a refund (a cancelled registration, refunded outpatient items, a stopped schedule)
and the integrator executes it at WeChat Pay with ``out_refund_no`` = ``refund_request_no`` (ours) or
``his_refund_id`` (hospital-initiated, spec §7.5.5), retrying until it succeeds (§10.4). A
``RefundObligation`` records that debt the moment we learn of it; the payments side executes it and
marks it done. Keyed by ``out_refund_no``, so learning of it twice (event, query, reconciliation)
records it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class BusinessType(StrEnum):
    REGISTRATION = "REGISTRATION"  # 挂号
    OUTPATIENT = "OUTPATIENT"  # 门诊缴费


class RefundSource(StrEnum):
    CALLER = "caller"  # we asked for it (cancel, refund request)
    HOSPITAL = "hospital"  # counter cancellation, schedule stop
    RECONCILIATION = "reconciliation"  # found missing by the daily reconciliation


class RefundState(StrEnum):
    PENDING = "pending"  # owed, not yet accepted by WeChat Pay
    EXECUTED = "executed"  # WeChat Pay accepted/completed it


@dataclass(frozen=True)
class RefundObligation:
    out_refund_no: str
    business_type: BusinessType
    his_trade_id: str  # appointment_id or settlement_id
    caller_ref: str | None  # order_id or settlement_request_no (None: not our order)
    amount_fen: int
    patient_id: str
    source: RefundSource
    reason: str  # e.g. "schedule_stopped", "counter_cancelled"
    created_at: datetime
    his_refund_id: str | None = None
    state: RefundState = RefundState.PENDING

    def __post_init__(self) -> None:
        if not isinstance(self.amount_fen, int) or isinstance(self.amount_fen, bool) or self.amount_fen <= 0:
            raise ValueError("amount_fen must be a positive integer number of fen")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
