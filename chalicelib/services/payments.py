"""Payments through WeChat Pay: registration fees and outpatient charges, notifications, settlement, refunds.

* ``start_registration``: the amount comes from the booking record (``registration_payable``); the order's
  id is the booking's ``order_id``. ``start_charges``: the amount comes from the HIS's live charge list,
  then the HIS pre-settles (``prepareSettlement``, through the bridge); its result makes the prepay.
* ``handle_payment_notification``: verified and decrypted by the ``PaymentNotifications`` port, checked
  against our order (appid, mchid, out_trade_no, amount), then applied once (``apply_payment``): the
  order moves to ``paid`` by a conditional write, and only the caller that made that move records the
  payment and runs the paid handler of the order's kind (``@paid_handler``). Refused notifications are
  security events.
* Charges: the paid handler queues ``confirmSettlement``; its result settles the order (the e-receipt and
  guidance are kept) or, when the HIS refuses, owes a full refund (a ``RefundObligation``), executes it
  and tells the patient.
* ``sweep`` (scheduled): closes unpaid orders past ``time_expire`` (asking WeChat Pay first: a payment
  that did happen is taken), re-runs paid handlers that did not finish, executes pending refunds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.his_messages import OUTCOME_ERROR, OUTCOME_OK, HisRequest, HisResult, end_user_pseudonym
from chalicelib.domain.patients import PatientBinding, addressed
from chalicelib.domain.payments import (
    ORDER_ID_PATTERN,
    REQUEST_KEY_PATTERN,
    AmountError,
    Order,
    OrderKind,
    OrderState,
    PaymentProof,
    RefundLine,
    RefundResult,
    Refusal,
    SecurityEvent,
    SelectionError,
    Transaction,
    amount_fen,
    charges_order_id,
    check_transaction,
    full_refund_no,
    pay_deadline,
    select_charges,
    yuan_text,
)
from chalicelib.domain.reconciliation import OurRecord, RecordKind
from chalicelib.domain.refunds import BusinessType, RefundObligation, RefundSource, RefundState
from chalicelib.domain.refusals import RefusalError
from chalicelib.domain.wechat import Notice, NoticeKind
from chalicelib.observability import get_logger
from chalicelib.services.live_reads import HisRefusedError, LiveReadUnavailableError, live_read
from chalicelib.services.ports import (
    BlobStore,
    Clock,
    HisLiveReader,
    HisRequestQueue,
    IdFactory,
    LiveCopies,
    PatientBindings,
    PaymentNotifications,
    PaymentOrders,
    PaymentRecords,
    RefundObligations,
    SecurityEvents,
    WeChatPay,
    WeChatPayError,
    WeChatPayUnavailableError,
)

log = get_logger("payments")
_SHANGHAI = ZoneInfo("Asia/Shanghai")

PURPOSE = "payments"
PAY_UNAVAILABLE = "微信支付暂时无法使用，请稍后再试"
ORDER_NOT_FOUND = "未找到该订单"
# HIS refusals of a confirmation after which the payment is refunded in full (spec §7.8.1, §10.3).
REFUND_ON = frozenset({"LOCK_EXPIRED", "AMOUNT_MISMATCH", "CHARGE_NOT_PAYABLE", "INVALID_STATE", "RESOURCE_NOT_FOUND",
                       "VALIDATION_ERROR", "SLOT_TAKEN", "SCHEDULE_STOPPED", "PATIENT_NOT_LINKED"})


# ---- context, errors, the paid-handler registry ---------------------------------------------------------
@dataclass(frozen=True)
class PaymentsContext:
    orders: PaymentOrders
    wechatpay: WeChatPay
    notifications: PaymentNotifications
    security: SecurityEvents
    records: PaymentRecords
    refunds: RefundObligations
    queue: HisRequestQueue
    bindings: PatientBindings
    reader: HisLiveReader
    copies: LiveCopies
    blobs: BlobStore
    clock: Clock
    new_id: IdFactory
    end_user_key: bytes
    order_key: bytes  # names charge orders from (openid, request_key)
    notify_url: str
    refund_notify_url: str
    send_notice: Callable[[Notice, str], object]
    page_url: Callable[[str], str]
    # (openid, appointment_id) -> booking.PayableRegistration (appointment_id, order_id, patient_id,
    # amount_fen, description, pay_by); raises the booking's refusal when it is not payable.
    registration_payable: Callable[[str, str], Any]
    # The context handed to the paid handler of a kind (booking's own for "registration").
    handler_context: Callable[[str], Any]


class PaymentsError(RefusalError):
    """A payments refusal the page shows (see ``RefusalError``)."""


PaidHandler = Callable[[Any, str, PaymentProof], object]
PAID_HANDLERS: dict[str, PaidHandler] = {}


def paid_handler(kind: str) -> Callable[[PaidHandler], PaidHandler]:
    """Register what runs once WeChat Pay confirmed a payment of an order of ``kind``: called with the
    kind's context, the order's subject (appointment_id / settlement_id) and the ``PaymentProof``.
    It must be idempotent (it runs again if it did not finish)."""

    def register(fn: PaidHandler) -> PaidHandler:
        if kind in PAID_HANDLERS and PAID_HANDLERS[kind] is not fn:
            raise ValueError(f"a paid handler for {kind!r} is already registered")
        PAID_HANDLERS[kind] = fn
        return fn

    return register


@dataclass(frozen=True)
class NotifyAnswer:
    """What the notification endpoint answers WeChat Pay (a failure makes it resend)."""

    ok: bool
    status: int
    message: str = ""


# ---- helpers ---------------------------------------------------------------------------------------------
def _security(ctx: PaymentsContext, channel: str, reason: Refusal, serial: str = "", out_trade_no: str = "",
              detail: str = "") -> None:
    event = SecurityEvent(ctx.new_id(), ctx.clock(), channel, reason, serial, out_trade_no, detail)
    log.warning("payment message refused", extra={"channel": channel, "reason": reason.value})
    try:
        ctx.security.record(event)
    except Exception:  # the refusal stands even if it cannot be recorded
        log.exception("could not record the security event")


def _update(ctx: PaymentsContext, order_id: str, change: Callable[[Order], Order | None]) -> Order | None:
    """Apply ``change`` to the stored order with optimistic concurrency; returns the order as stored after."""
    return _apply_change(ctx, order_id, change)[0]


def _apply_change(ctx: PaymentsContext, order_id: str, change: Callable[[Order], Order | None],
                  ) -> tuple[Order | None, bool]:
    """(the order as stored after, whether this call wrote it)."""
    for _ in range(8):
        held = ctx.orders.get(order_id)
        if held is None:
            return None, False
        new = change(held)
        if new is None or new == held:
            return held, False
        if ctx.orders.replace(new, held):
            return new, True
    raise RuntimeError("the order kept changing under us")


def _owned(ctx: PaymentsContext, openid: str, order_id: str) -> Order:
    order = ctx.orders.get(order_id) if ORDER_ID_PATTERN.match(order_id or "") else None
    if order is None or not hmac.compare_digest(order.openid, openid):
        raise PaymentsError(404, "NOT_FOUND", ORDER_NOT_FOUND)
    return order


def _binding(ctx: PaymentsContext, openid: str, patient_id: str) -> PatientBinding:
    found = next((b for b in ctx.bindings.patients_of(openid) if b.patient_id == patient_id), None)
    if found is None:
        raise PaymentsError(404, "PATIENT_NOT_FOUND", "未找到该就诊人")
    return found


def _tell(ctx: PaymentsContext, order: Order, kind: NoticeKind, text: str, fields: Mapping[str, str], page: str,
          notice_id: str) -> None:
    binding = next((b for b in ctx.bindings.patients_of(order.openid) if b.patient_id == order.patient_id), None)
    try:
        ctx.send_notice(Notice(kind, order.openid, addressed(text, binding), dict(fields), ctx.page_url(page)),
                        notice_id)
    except Exception:  # a notice must never undo a payment step
        log.exception("could not send the payment notice", extra={"kind": kind.value})


def _prepay(ctx: PaymentsContext, order: Order, **changes: Any) -> Order:
    """Get the prepay_id and move the order to ``paying``."""
    candidate = order.changed(order.updated_at or order.created_at, **changes)
    prepay_id = ctx.wechatpay.jsapi_prepay(order.order_id, order.description, amount_fen(order.amount_fen),
                                           order.openid, candidate.expires_at, ctx.notify_url)
    now = ctx.clock()

    def move(held: Order) -> Order | None:
        if held.state is not OrderState.CREATED:
            return None
        return held.moved(OrderState.PAYING, now, prepay_id=prepay_id, message="", **changes)

    stored = _update(ctx, order.order_id, move)
    assert stored is not None
    return stored


def jsapi(ctx: PaymentsContext, order: Order) -> dict[str, str] | None:
    """The parameters of getBrandWCPayRequest while the order can be paid."""
    if order.state is not OrderState.PAYING or not order.prepay_id or order.expires_at <= ctx.clock():
        return None
    return ctx.wechatpay.jsapi_params(order.prepay_id)


# ---- registration fees (booking) ------------------------------------------------------------------------
def start_registration(ctx: PaymentsContext, openid: str, appointment_id: str) -> Order:
    if not isinstance(appointment_id, str) or not 0 < len(appointment_id) <= 64:
        raise PaymentsError(400, "BAD_REQUEST", "请求参数有误")
    try:
        payable = ctx.registration_payable(openid, appointment_id)
    except PaymentsError:
        raise
    except LookupError as exc:
        raise PaymentsError(404, "NOT_FOUND", "未找到该预约") from exc
    except Exception as exc:
        status, code, message = (getattr(exc, n, None) for n in ("status", "code", "message"))
        if isinstance(status, int) and isinstance(code, str) and isinstance(message, str):
            raise PaymentsError(status, code, message) from exc
        raise
    try:
        amount = amount_fen(payable.amount_fen)
    except AmountError as exc:
        log.error("registration fee not payable online", extra={"error": str(exc)})
        raise PaymentsError(409, "AMOUNT_NOT_PAYABLE", "该号源费用暂不支持线上支付，请到窗口缴费") from exc
    now = ctx.clock()
    deadline = pay_deadline(now, None, payable.pay_by)
    if deadline <= now:
        raise PaymentsError(409, "PAY_EXPIRED", "已超过支付时限，请重新预约")
    order = Order(order_id=str(payable.order_id), kind=OrderKind.REGISTRATION, openid=openid,
                  patient_id=str(payable.patient_id), subject_id=str(payable.appointment_id), amount_fen=amount,
                  description=str(payable.description or "挂号费")[:100], state=OrderState.CREATED, created_at=now,
                  expires_at=deadline, updated_at=now)
    ctx.orders.create(order)
    held = _owned(ctx, openid, order.order_id)
    if held.state is OrderState.CREATED:
        try:
            held = _prepay(ctx, held)
        except (WeChatPayUnavailableError, WeChatPayError) as exc:
            log.error("prepay failed", extra={"error": str(exc)})
            raise PaymentsError(503, "PAY_UNAVAILABLE", PAY_UNAVAILABLE) from exc
    return held


# ---- outpatient charges ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChargesView:
    patient: PatientBinding
    charges: list[dict[str, Any]]
    as_of: datetime
    live: bool


def _charges_request(ctx: PaymentsContext, openid: str, patient_id: str) -> HisRequest:
    return HisRequest(request_id=ctx.new_id(), operation="listCharges", requested_at=ctx.clock(),
                      path_params={"patient_id": patient_id}, query={"status": "unpaid"},
                      end_user=end_user_pseudonym(openid, ctx.end_user_key), context={"purpose": "live_read"})


def list_charges(ctx: PaymentsContext, openid: str, patient_id: str) -> ChargesView:
    patient = _binding(ctx, openid, patient_id)
    try:
        view = live_read(f"charges#{patient_id}", _charges_request(ctx, openid, patient_id), ctx.reader, ctx.copies,
                         ctx.clock, ctx.blobs)
    except HisRefusedError as exc:
        log.warning("the HIS refused the charge list", extra={"his_code": exc.code})
        raise PaymentsError(409, "PATIENT_NOT_LINKED", "该就诊人的绑定需要更新，请重新绑定后再缴费") from exc
    except LiveReadUnavailableError as exc:
        raise PaymentsError(503, exc.code, exc.message) from exc
    items = view.body.get("items") if isinstance(view.body, dict) else None
    charges = [c for c in items or [] if isinstance(c, dict) and c.get("status") == "unpaid"]
    return ChargesView(patient, charges, view.as_of, view.live)


def _compact_charge(c: Mapping[str, Any]) -> dict[str, Any]:
    return {"charge_id": c.get("charge_id"), "type": c.get("type"), "title": c.get("title"),
            "doctor_name": c.get("doctor_name"), "total_fen": c.get("total_fen"),
            "items": [{"name": i.get("name"), "specification": i.get("specification"), "quantity": i.get("quantity"),
                       "unit": i.get("unit"), "amount_fen": i.get("amount_fen"), "item_id": i.get("item_id")}
                      for i in c.get("items") or [] if isinstance(i, dict)]}


def start_charges(ctx: PaymentsContext, openid: str, patient_id: Any, charge_ids: Any, request_key: Any) -> Order:
    """Pre-settle the chosen charges at the HIS (through the bridge); the page then waits for ``paying``."""
    if not isinstance(request_key, str) or not REQUEST_KEY_PATTERN.match(request_key) \
            or not isinstance(patient_id, str):
        raise PaymentsError(400, "BAD_REQUEST", "请求参数有误，请刷新页面后重试")
    order_id = charges_order_id(openid, request_key, ctx.order_key)
    held = ctx.orders.get(order_id)
    if held is not None:  # the same attempt again (double tap, retry)
        return _owned(ctx, openid, order_id)
    view = list_charges(ctx, openid, patient_id)
    if not view.live:
        raise PaymentsError(503, "HIS_UNAVAILABLE", "医院系统暂时无法访问，请稍后再缴费")
    try:
        selection = select_charges(charge_ids, view.charges)
    except SelectionError as exc:
        raise PaymentsError(400 if exc.code == "BAD_REQUEST" else 409, exc.code, exc.message) from exc
    now = ctx.clock()
    titles = "、".join(str(c.get("title") or "") for c in selection.charges)
    order = Order(order_id=order_id, kind=OrderKind.CHARGES, openid=openid, patient_id=patient_id, subject_id="",
                  amount_fen=selection.total_fen, description=f"门诊缴费-{titles}"[:100], state=OrderState.CREATED,
                  created_at=now, expires_at=pay_deadline(now, None), updated_at=now,
                  items=tuple(_compact_charge(c) for c in selection.charges), message="正在向医院确认缴费金额")
    if ctx.orders.create(order):
        ctx.queue.send(HisRequest(
            request_id=ctx.new_id(), operation="prepareSettlement", requested_at=now,
            body={"settlement_request_no": order_id, "patient_id": patient_id,
                  "charge_ids": list(selection.charge_ids), "expected_total_fen": selection.total_fen},
            idempotency_key=f"{order_id}:prepare", end_user=end_user_pseudonym(openid, ctx.end_user_key),
            context={"purpose": PURPOSE, "step": "prepare", "order_id": order_id},
        ))
        log.info("pre-settlement requested", extra={"order_id": order_id, "charges": len(selection.charge_ids)})
    return _owned(ctx, openid, order_id)


def _his_time(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return at if at is not None and at.tzinfo is not None else None


def _cancel_settlement(ctx: PaymentsContext, order: Order, settlement_id: str) -> None:
    ctx.queue.send(HisRequest(
        request_id=ctx.new_id(), operation="cancelSettlement", requested_at=ctx.clock(),
        path_params={"settlement_id": settlement_id}, body={"settlement_request_no": order.order_id},
        idempotency_key=f"{order.order_id}:cancel", end_user=end_user_pseudonym(order.openid, ctx.end_user_key),
        context={"purpose": PURPOSE, "step": "cancel", "order_id": order.order_id},
    ))


def _close(ctx: PaymentsContext, order_id: str, message: str) -> Order | None:
    now = ctx.clock()
    return _update(ctx, order_id, lambda held: held.moved(OrderState.CLOSED, now, message=message)
                   if held.state in (OrderState.CREATED, OrderState.PAYING) else None)


PREPARE_REFUSALS = {
    "AMOUNT_MISMATCH": "缴费项目已变化，请刷新后重新选择",
    "CHARGE_NOT_PAYABLE": "所选项目已缴费或暂不能线上缴费，请刷新后重试",
}


def _apply_prepare(ctx: PaymentsContext, order: Order, result: HisResult) -> Order | None:
    if result.outcome == OUTCOME_ERROR:
        code = result.error.code if result.error else ""
        log.info("pre-settlement refused", extra={"order_id": order.order_id, "his_code": code})
        return _close(ctx, order.order_id, PREPARE_REFUSALS.get(code, "医院暂时无法办理线上缴费，请稍后再试"))
    body = result.body if isinstance(result.body, dict) else {}
    settlement_id = str(body.get("settlement_id") or "")
    lock_expires = _his_time(body.get("expires_at"))
    if order.state is not OrderState.CREATED:
        if order.state is OrderState.CLOSED and settlement_id:
            _cancel_settlement(ctx, order, settlement_id)  # we gave up before it came back: release the charges
        return order
    now = ctx.clock()
    if not settlement_id or body.get("total_fen") != order.amount_fen or body.get("status") != "pending":
        log.error("pre-settlement does not match the order", extra={"order_id": order.order_id})
        if settlement_id:
            _cancel_settlement(ctx, order, settlement_id)
        return _close(ctx, order.order_id, "缴费金额有变化，请刷新后重新选择")
    deadline = pay_deadline(now, lock_expires)
    if deadline <= now + timedelta(seconds=30):
        _cancel_settlement(ctx, order, settlement_id)
        return _close(ctx, order.order_id, "支付时间不足，请重新缴费")
    return _prepay(ctx, order, subject_id=settlement_id, expires_at=deadline)


@paid_handler(OrderKind.CHARGES.value)
def charges_paid(ctx: PaymentsContext, settlement_id: str, proof: PaymentProof) -> object:
    """Settle at the HIS with the WeChat Pay reference (idempotent under ``{ref}:confirm``)."""
    order = ctx.orders.get(proof.out_trade_no)
    assert order is not None
    ctx.queue.send(HisRequest(
        request_id=ctx.new_id(), operation="confirmSettlement", requested_at=ctx.clock(),
        path_params={"settlement_id": settlement_id},
        body={"settlement_request_no": proof.out_trade_no, "payment": {
            "channel": "wechat_pay", "mch_id": proof.mch_id, "transaction_id": proof.transaction_id,
            "out_trade_no": proof.out_trade_no, "amount_fen": proof.amount_fen,
            "paid_at": proof.paid_at.astimezone(_SHANGHAI).isoformat(timespec="seconds")}},
        idempotency_key=f"{proof.out_trade_no}:confirm", end_user=end_user_pseudonym(order.openid, ctx.end_user_key),
        context={"purpose": PURPOSE, "step": "confirm", "order_id": proof.out_trade_no},
    ))
    return True


def _settlement_view(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: body.get(k) for k in ("settlement_id", "status", "total_fen", "settled_at", "late_confirm",
                                     "e_receipt", "guidance")}


def _apply_confirm(ctx: PaymentsContext, order: Order, result: HisResult) -> Order | None:
    now = ctx.clock()
    if result.outcome == OUTCOME_OK and isinstance(result.body, dict):
        settlement = _settlement_view(result.body)
        stored, won = _apply_change(ctx, order.order_id, lambda held: held.moved(
            OrderState.SETTLED, now, settlement=settlement, message="缴费成功") if held.state is OrderState.PAID
            else None)
        if won and stored is not None:
            _tell(ctx, stored, NoticeKind.PAYMENT_SUCCESS,
                  f"您已成功缴费{yuan_text(stored.amount_fen)}元（{stored.description}）。请查看电子凭条，按指引取药或检查。",
                  {"keyword1": stored.description, "keyword2": f"{yuan_text(stored.amount_fen)}元",
                   "keyword3": (stored.paid_at or now).astimezone(_SHANGHAI).strftime("%Y-%m-%d %H:%M")},
                  f"receipt.html?id={stored.order_id}", f"payment_success:{stored.order_id}")
        return stored
    code = result.error.code if result.error else ""
    if code in REFUND_ON:
        log.warning("the HIS refused the settlement after payment: refunding", extra={
            "order_id": order.order_id, "his_code": code})
        return refund_in_full(ctx, order.order_id, f"his_refused:{code}",
                              "医院未能完成结算（缴费项目已变化或已超时），您支付的费用将全额原路退回。")
    # Not definite (still unavailable after the bridge's retries, or unexpected): run the handler again later.
    log.error("settlement not confirmed; will try again", extra={"order_id": order.order_id, "his_code": code})
    return _update(ctx, order.order_id, lambda held: held.changed(now, handled=False)
                   if held.state is OrderState.PAID else None)


def apply_his_result(ctx: PaymentsContext, result: HisResult) -> Order | None:
    """A result of a request payments sent through the bridge (``context.purpose`` = "payments")."""
    order_id = result.context.get("order_id", "")
    order = ctx.orders.get(order_id) if ORDER_ID_PATTERN.match(order_id) else None
    if order is None:
        log.warning("payments result for an unknown order", extra={"request_id": result.request_id})
        return None
    step = result.context.get("step")
    if step == "prepare":
        return _apply_prepare(ctx, order, result)
    if step == "confirm":
        return _apply_confirm(ctx, order, result)
    if step == "item_refund":
        return _apply_item_refund(ctx, order, result)
    if step == "cancel" and result.outcome == OUTCOME_ERROR:
        log.info("settlement not cancelled", extra={"order_id": order_id,
                                                     "his_code": result.error.code if result.error else ""})
    return order


# ---- payments: notifications and queries ---------------------------------------------------------------------
def handle_payment_notification(ctx: PaymentsContext, headers: Mapping[str, str], body: bytes) -> NotifyAnswer:
    opened = ctx.notifications.open(headers, body, ctx.clock())
    serial = {k.lower(): v for k, v in headers.items()}.get("wechatpay-serial", "")
    if isinstance(opened, Refusal):
        _security(ctx, "payment_notify", opened, serial)
        return NotifyAnswer(False, 401, "signature verification failed")
    if opened.event_type != "TRANSACTION.SUCCESS":
        return NotifyAnswer(True, 204)
    tx = Transaction.from_json(opened.resource)
    refusal = apply_transaction(ctx, tx, "payment_notify", serial)
    if refusal is not None:
        return NotifyAnswer(False, 400, "the notification does not match the order")
    return NotifyAnswer(True, 204)


def apply_transaction(ctx: PaymentsContext, tx: Transaction, channel: str, serial: str = "") -> Refusal | None:
    """Check a successful transaction against our order and apply it once (None: applied or already so)."""
    order = ctx.orders.get(tx.out_trade_no) if ORDER_ID_PATTERN.match(tx.out_trade_no) else None
    refusal = check_transaction(tx, order, ctx.wechatpay.appid, ctx.wechatpay.mchid)
    if refusal is not None or order is None:
        _security(ctx, channel, refusal or Refusal.UNKNOWN_ORDER, serial, tx.out_trade_no)
        return refusal or Refusal.UNKNOWN_ORDER
    assert tx.success_time is not None
    proof = PaymentProof(tx.transaction_id, tx.out_trade_no, order.amount_fen, tx.success_time, tx.mchid)
    now = ctx.clock()

    def move(held: Order) -> Order | None:
        if held.transaction_id:
            return None  # already paid (by this transaction: check_transaction refused another one)
        return held.moved(OrderState.PAID, now, transaction_id=tx.transaction_id, paid_at=tx.success_time,
                          message="已支付，正在确认")

    stored, won = _apply_change(ctx, order.order_id, move)
    if stored is None:
        return Refusal.UNKNOWN_ORDER
    if stored.transaction_id != tx.transaction_id:
        _security(ctx, channel, Refusal.OTHER_TRANSACTION, serial, tx.out_trade_no)
        return Refusal.OTHER_TRANSACTION
    if won:
        log.info("payment applied", extra={"order_id": order.order_id, "kind": order.kind.value})
        _record_payment(ctx, stored, proof)
        run_paid_handler(ctx, stored)
    return None


def _record_payment(ctx: PaymentsContext, order: Order, proof: PaymentProof) -> None:
    ctx.records.record(OurRecord(RecordKind.PAYMENT, BusinessType(order.business_type), order.order_id,
                                 proof.transaction_id, proof.out_trade_no, None, proof.amount_fen, proof.paid_at,
                                 order.patient_id))


def run_paid_handler(ctx: PaymentsContext, order: Order) -> Order | None:
    """Hand a paid order to its kind's handler once it has not been; mark it handled."""
    if order.state is not OrderState.PAID or order.handled or not order.transaction_id or order.paid_at is None:
        return order
    handler = PAID_HANDLERS.get(order.kind.value)
    if handler is None:
        log.error("no paid handler for this kind", extra={"kind": order.kind.value})
        return order
    proof = PaymentProof(order.transaction_id, order.order_id, order.amount_fen, order.paid_at, ctx.wechatpay.mchid)
    context = ctx if order.kind is OrderKind.CHARGES else ctx.handler_context(order.kind.value)
    handler(context, order.subject_id, proof)
    now = ctx.clock()
    message = "挂号费已支付" if order.kind is OrderKind.REGISTRATION else order.message
    return _update(ctx, order.order_id, lambda held: held.changed(now, handled=True, message=message)
                   if held.state is OrderState.PAID and not held.handled else None)


def resume(ctx: PaymentsContext, order_id: str) -> bool:
    """The reconciliation found this paid order unaccounted at the HIS: run its paid handler again (each
    handler is idempotent: the settlement's confirmation goes again under the same key). True if run."""
    order = ctx.orders.get(order_id)
    if order is None or order.state is not OrderState.PAID or not order.transaction_id or order.paid_at is None:
        return False
    handler = PAID_HANDLERS.get(order.kind.value)
    if handler is None:
        return False
    proof = PaymentProof(order.transaction_id, order.order_id, order.amount_fen, order.paid_at, ctx.wechatpay.mchid)
    handler(ctx if order.kind is OrderKind.CHARGES else ctx.handler_context(order.kind.value), order.subject_id, proof)
    return True


def check_order(ctx: PaymentsContext, openid: str, order_id: str) -> Order:
    """The page is back from paying, or the outcome is unknown: ask WeChat Pay instead of waiting."""
    order = _owned(ctx, openid, order_id)
    if order.state in (OrderState.CREATED, OrderState.PAYING) and order.prepay_id:
        try:
            tx = ctx.wechatpay.query(order.order_id)
        except (WeChatPayUnavailableError, WeChatPayError) as exc:
            log.warning("order query failed", extra={"error": str(exc)})
            return order
        if tx is not None and tx.trade_state == "SUCCESS":
            apply_transaction(ctx, tx, "query")
        return _owned(ctx, openid, order_id)
    return order


# ---- refunds ------------------------------------------------------------------------------------------------
def refund_in_full(ctx: PaymentsContext, order_id: str, reason: str, text: str) -> Order | None:
    """Owe the patient the whole payment back (once), move the order to ``refunding``, execute the refund."""
    order = ctx.orders.get(order_id)
    if order is None or order.transaction_id is None:
        return order
    now = ctx.clock()
    obligation = RefundObligation(
        out_refund_no=full_refund_no(order.order_id), business_type=BusinessType(order.business_type),
        his_trade_id=order.subject_id or order.order_id, caller_ref=order.order_id, amount_fen=order.amount_fen,
        patient_id=order.patient_id, source=RefundSource.CALLER, reason=reason, created_at=now,
    )
    if ctx.refunds.record(obligation):
        _tell(ctx, order, NoticeKind.REFUND, text,
              {"keyword1": order.description, "keyword2": f"{yuan_text(order.amount_fen)}元", "keyword3": "原路退回"},
              "payments.html", f"refund:{obligation.out_refund_no}")
    _update(ctx, order.order_id, lambda held: held.moved(OrderState.REFUNDING, now, message=text)
            if held.state in (OrderState.PAID, OrderState.SETTLED) else None)
    held = ctx.refunds.get(obligation.out_refund_no)
    if held is not None:
        execute_refund(ctx, held)
    return ctx.orders.get(order.order_id)


def execute_refund(ctx: PaymentsContext, obligation: RefundObligation) -> bool:
    """Ask WeChat Pay to refund a pending obligation (idempotent under ``out_refund_no``); True once accepted."""
    if obligation.state is RefundState.EXECUTED:
        return True
    order = ctx.orders.get(obligation.caller_ref) if obligation.caller_ref else None
    if order is None or order.transaction_id is None:
        log.warning("refund owed for an order that is not ours or not paid", extra={
            "out_refund_no": obligation.out_refund_no})
        return False
    others = sum(r.amount_fen for r in order.refunds
                 if r.out_refund_no != obligation.out_refund_no and r.state in ("accepted", "success"))
    if obligation.amount_fen + others > order.amount_fen:
        log.error("refund would exceed the payment; left for staff", extra={"out_refund_no": obligation.out_refund_no})
        return False
    try:
        result = ctx.wechatpay.query_refund(obligation.out_refund_no)
        if result is None:
            result = ctx.wechatpay.refund(obligation.out_refund_no, order.order_id, obligation.amount_fen,
                                          order.amount_fen, _refund_reason(obligation.reason), ctx.refund_notify_url)
    except (WeChatPayUnavailableError, WeChatPayError) as exc:
        log.warning("refund not accepted yet", extra={"out_refund_no": obligation.out_refund_no, "error": str(exc)})
        return False
    if result.status not in ("SUCCESS", "PROCESSING"):
        log.error("refund not accepted by WeChat Pay", extra={"out_refund_no": obligation.out_refund_no,
                                                              "status": result.status})
        return False
    _refund_accepted(ctx, obligation, order, result)
    return True


def _refund_reason(reason: str) -> str:
    if reason.startswith("his_refused"):
        return "医院未能完成结算，全额退款"
    return {"patient_request": "患者申请退费", "counter_cancelled": "窗口退号", "schedule_stopped": "医生停诊"}.get(
        reason, "退款")


def _refund_accepted(ctx: PaymentsContext, obligation: RefundObligation, order: Order, result: RefundResult) -> None:
    now = ctx.clock()
    success = result.status == "SUCCESS"
    at = result.success_time or now
    ctx.refunds.mark_executed(obligation.out_refund_no, now)
    ctx.records.record(OurRecord(RecordKind.REFUND, obligation.business_type, order.order_id, order.transaction_id,
                                 order.order_id, obligation.out_refund_no, obligation.amount_fen, at, order.patient_id))

    def change(held: Order) -> Order | None:
        known = next((r for r in held.refunds if r.out_refund_no == obligation.out_refund_no), None)
        if known is not None and (known.state == "success" or not success):
            return None
        new = held.with_refund(RefundLine(obligation.out_refund_no, obligation.amount_fen, obligation.reason,
                                          "success" if success else "accepted", at), now)
        if new.refunded_fen >= new.amount_fen and new.state in (OrderState.PAID, OrderState.SETTLED):
            new = new.moved(OrderState.REFUNDING, now, message="退款中，费用将原路退回")
        if success and new.state is OrderState.REFUNDING and all(r.state == "success" for r in new.refunds) \
                and new.refunded_fen >= new.amount_fen:
            new = new.moved(OrderState.REFUNDED, now, message="已全额退款")
        return new

    _update(ctx, order.order_id, change)


def handle_refund_notification(ctx: PaymentsContext, headers: Mapping[str, str], body: bytes) -> NotifyAnswer:
    opened = ctx.notifications.open(headers, body, ctx.clock())
    serial = {k.lower(): v for k, v in headers.items()}.get("wechatpay-serial", "")
    if isinstance(opened, Refusal):
        _security(ctx, "refund_notify", opened, serial)
        return NotifyAnswer(False, 401, "signature verification failed")
    result = RefundResult.from_json(opened.resource)
    obligation = ctx.refunds.get(result.out_refund_no) if ORDER_ID_PATTERN.match(result.out_refund_no) else None
    if not hmac.compare_digest(result.mchid, ctx.wechatpay.mchid):
        _security(ctx, "refund_notify", Refusal.WRONG_MCHID, serial, result.out_trade_no)
        return NotifyAnswer(False, 400, "mchid mismatch")
    if obligation is None or obligation.caller_ref != result.out_trade_no:
        _security(ctx, "refund_notify", Refusal.UNKNOWN_ORDER, serial, result.out_trade_no)
        return NotifyAnswer(False, 400, "unknown refund")
    if result.refund_fen != obligation.amount_fen:
        _security(ctx, "refund_notify", Refusal.WRONG_AMOUNT, serial, result.out_trade_no)
        return NotifyAnswer(False, 400, "amount mismatch")
    order = ctx.orders.get(result.out_trade_no)
    if order is None:
        return NotifyAnswer(False, 400, "unknown order")
    if opened.event_type == "REFUND.SUCCESS" and result.status == "SUCCESS":
        _refund_accepted(ctx, obligation, order, result)
    else:
        log.error("refund did not succeed at WeChat Pay", extra={"out_refund_no": result.out_refund_no,
                                                                   "status": result.status})
    return NotifyAnswer(True, 204)


def execute_pending_refunds(ctx: PaymentsContext, limit: int = 50) -> int:
    done = 0
    for obligation in ctx.refunds.pending(limit):
        try:
            done += execute_refund(ctx, obligation)
        except Exception:
            log.exception("refund execution failed", extra={"out_refund_no": obligation.out_refund_no})
    return done


# ---- refunds of unexecuted items (退费) -----------------------------------------------------------------------
def request_item_refund(ctx: PaymentsContext, openid: str, order_id: str, items: Any) -> Order:
    """Ask the HIS to refund whole unexecuted lines of a settled order; the approval becomes an obligation."""
    order = _owned(ctx, openid, order_id)
    if order.kind is not OrderKind.CHARGES or order.state is not OrderState.SETTLED or not order.subject_id:
        raise PaymentsError(409, "NOT_REFUNDABLE", "该订单不能申请退费")
    known = {(str(c.get("charge_id")), str(i.get("item_id"))) for c in order.items for i in c.get("items") or []}
    if not isinstance(items, list) or not items or not all(
            isinstance(i, dict) and (str(i.get("charge_id")), str(i.get("item_id"))) in known for i in items):
        raise PaymentsError(400, "BAD_REQUEST", "请选择要退费的项目")
    lines = sorted({(str(i["charge_id"]), str(i["item_id"])) for i in items})
    digest = hashlib.sha256(repr((order_id, lines)).encode()).hexdigest()
    refund_request_no = f"RFI{digest[:29]}"
    ctx.queue.send(HisRequest(
        request_id=ctx.new_id(), operation="refundSettlementItems", requested_at=ctx.clock(),
        path_params={"settlement_id": order.subject_id},
        body={"refund_request_no": refund_request_no, "reason_code": "patient_request",
              "items": [{"charge_id": c, "item_id": i} for c, i in lines]},
        idempotency_key=f"{refund_request_no}:refund", end_user=end_user_pseudonym(openid, ctx.end_user_key),
        context={"purpose": PURPOSE, "step": "item_refund", "order_id": order_id},
    ))
    now = ctx.clock()
    stored = _update(ctx, order_id, lambda held: held.changed(now, message="退费申请已提交，请稍候"))
    assert stored is not None
    return stored


def _apply_item_refund(ctx: PaymentsContext, order: Order, result: HisResult) -> Order | None:
    now = ctx.clock()
    if result.outcome != OUTCOME_OK or not isinstance(result.body, dict):
        code = result.error.code if result.error else ""
        text = "项目已执行，请到收费窗口办理退费" if code == "ITEM_ALREADY_EXECUTED" else "退费申请未通过，请到收费窗口咨询"
        return _update(ctx, order.order_id, lambda held: held.changed(now, message=text))
    body = result.body
    no, fen = str(body.get("refund_request_no") or ""), body.get("refund_amount_fen")
    if not ORDER_ID_PATTERN.match(no) or isinstance(fen, bool) or not isinstance(fen, int) or fen <= 0:
        log.error("unusable refund approval", extra={"order_id": order.order_id})
        return order
    obligation = RefundObligation(no, BusinessType.OUTPATIENT, order.subject_id, order.order_id, fen,
                                  order.patient_id, RefundSource.CALLER, "patient_request", now,
                                  his_refund_id=str(body.get("his_refund_id") or "") or None)
    if ctx.refunds.record(obligation):
        _tell(ctx, order, NoticeKind.REFUND, f"您的退费申请已通过，{yuan_text(fen)}元将原路退回。",
              {"keyword1": order.description, "keyword2": f"{yuan_text(fen)}元", "keyword3": "原路退回"},
              "payments.html", f"refund:{no}")
    held = ctx.refunds.get(no)
    if held is not None:
        execute_refund(ctx, held)
    return ctx.orders.get(order.order_id)


# ---- the sweep ----------------------------------------------------------------------------------------------
def sweep(ctx: PaymentsContext, limit: int = 100) -> dict[str, int]:
    """Close expired unpaid orders (taking a payment that did happen), re-run unfinished paid handlers,
    execute pending refunds."""
    now = ctx.clock()
    closed = handled = 0
    for order in ctx.orders.unfinished(now, limit):
        try:
            if order.state is OrderState.PAID:
                run_paid_handler(ctx, order)
                handled += 1
            elif order.expires_at <= now:
                closed += _expire(ctx, order)
        except Exception:
            log.exception("sweep step failed", extra={"order_id": order.order_id})
    refunds = execute_pending_refunds(ctx)
    return {"closed": closed, "handled": handled, "refunds": refunds}


def _expire(ctx: PaymentsContext, order: Order) -> int:
    if order.prepay_id:
        tx = ctx.wechatpay.query(order.order_id)
        if tx is not None and tx.trade_state == "SUCCESS":
            apply_transaction(ctx, tx, "query")  # it was paid after all: take it (then settle or refund)
            return 0
        try:
            ctx.wechatpay.close(order.order_id)
        except WeChatPayError as exc:
            if exc.code in ("ORDER_PAID", "ORDERPAID"):  # the code as documented and as some answers spell it
                tx = ctx.wechatpay.query(order.order_id)
                if tx is not None:
                    apply_transaction(ctx, tx, "query")
                return 0
            if exc.status != 404:
                raise
    stored = _close(ctx, order.order_id, "超时未支付，订单已关闭")
    if stored is not None and stored.state is OrderState.CLOSED and order.kind is OrderKind.CHARGES and order.subject_id:
        _cancel_settlement(ctx, stored, order.subject_id)
    return 1 if stored is not None and stored.state is OrderState.CLOSED else 0


# ---- what the pages show ----------------------------------------------------------------------------------
def order_of(ctx: PaymentsContext, openid: str, order_id: str) -> Order:
    return _owned(ctx, openid, order_id)


def history(ctx: PaymentsContext, openid: str) -> list[Order]:
    return ctx.orders.of_user(openid, 50)


_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def verification_text(order: Order, key: bytes) -> str:
    """What the receipt's QR code carries: the settlement, the amount and a MAC staff scanners check."""
    settlement = _SAFE.sub("", order.subject_id)[:40]
    mac = hmac.new(key, f"{order.order_id}|{settlement}|{order.amount_fen}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"YWRCPT:{order.order_id}:{settlement}:{order.amount_fen}:{mac}"

