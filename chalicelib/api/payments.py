"""H5 API and WeChat Pay endpoints of payments: unpaid charges, paying them, registration fees, orders, the
e-receipt (电子凭条), the history, refunds; the payment and refund notifications; the results of the HIS
requests payments sends (``context.purpose`` = "payments"); the sweep schedule.

Every H5 answer is personal: ``Cache-Control: no-store``. The client never sends a price.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Rate, Response

from chalicelib import bootstrap
from chalicelib.api.auth import require_login
from chalicelib.api.errors import JSON, NO_STORE, refusal
from chalicelib.api.his_results import result_handler
from chalicelib.api.views import local_time
from chalicelib.domain.his_messages import HisResult
from chalicelib.domain.patients import RELATION_NAMES, PatientBinding
from chalicelib.domain.payments import STATE_TEXT, Order, OrderKind, OrderState, yuan_text
from chalicelib.services import payments as service
from chalicelib.services.payments import PaymentsError

bp = Blueprint(__name__)

ACTION_NAMES = {"collect_medicine": "取药", "exam": "检查", "lab_sample": "采血/留样", "treatment": "治疗"}
CHARGE_TYPE_NAMES = {"prescription": "处方", "lab": "检验", "exam": "检查", "treatment": "治疗", "material": "材料",
                     "other": "其他"}
REFUND_STATE_TEXT = {"accepted": "退款处理中", "success": "已退款"}
NOT_PAYABLE_TEXT = {"insurance_required": "医保结算请到收费窗口", "counter_only": "请到收费窗口缴费", "expired": "已过期"}


def _ctx() -> Any:
    return bootstrap.container().payments_context


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers={**JSON, **NO_STORE})


def _body() -> dict[str, Any]:
    try:
        body = bp.current_request.json_body
    except Exception:  # Chalice raises BadRequestError on malformed JSON
        body = None
    if not isinstance(body, dict):
        raise PaymentsError(400, "BAD_REQUEST", "请求参数有误")
    return body


# ---- JSON shapes ------------------------------------------------------------------------------------
def patient_view(b: PatientBinding) -> dict[str, Any]:
    return {"patient_id": b.patient_id, "label": b.label, "relation": b.relation.value,
            "relation_name": RELATION_NAMES.get(b.relation, "")}


def charge_view(c: dict[str, Any]) -> dict[str, Any]:
    raw_total = c.get("total_fen")
    total = raw_total if isinstance(raw_total, int) and not isinstance(raw_total, bool) else 0
    reason = c.get("not_payable_reason")
    return {
        "charge_id": str(c.get("charge_id") or ""), "type": c.get("type"),
        "type_name": CHARGE_TYPE_NAMES.get(str(c.get("type")), "其他"), "title": c.get("title") or "",
        "doctor_name": c.get("doctor_name"), "total_fen": total, "total_text": yuan_text(total),
        "payable_online": bool(c.get("payable_online")),
        "not_payable_text": NOT_PAYABLE_TEXT.get(str(reason), "请到收费窗口缴费") if not c.get("payable_online") else None,
        "expires_at": c.get("expires_at"),
        "items": [{"item_id": i.get("item_id"), "name": i.get("name"), "specification": i.get("specification"),
                   "quantity": i.get("quantity"),
                   "unit": i.get("unit"), "amount_fen": i.get("amount_fen"),
                   "amount_text": yuan_text(i["amount_fen"]) if isinstance(i.get("amount_fen"), int) else ""}
                  for i in c.get("items") or [] if isinstance(i, dict)],
    }


def _final(o: Order) -> bool:
    return o.state in (OrderState.SETTLED, OrderState.REFUNDED, OrderState.CLOSED) or (
        o.state is OrderState.PAID and o.kind is OrderKind.REGISTRATION and o.handled)


def order_view(o: Order) -> dict[str, Any]:
    state_text = "已支付" if o.state is OrderState.PAID and o.kind is OrderKind.REGISTRATION else STATE_TEXT[o.state]
    kind_name = "挂号费" if o.kind is OrderKind.REGISTRATION else "门诊缴费"
    return {
        "order_id": o.order_id, "kind": o.kind.value, "kind_name": kind_name,
        "state": o.state.value, "state_text": state_text, "final": _final(o), "amount_fen": o.amount_fen,
        "amount_text": yuan_text(o.amount_fen), "description": o.description, "patient_id": o.patient_id,
        "appointment_id": o.subject_id if o.kind is OrderKind.REGISTRATION else None,
        "created_at": local_time(o.created_at), "expires_at": local_time(o.expires_at),
        "paid_at": local_time(o.paid_at), "message": o.message,
        "charges": [charge_view(dict(c)) for c in o.items],
        "refunds": [{"out_refund_no": r.out_refund_no, "amount_fen": r.amount_fen, "amount_text": yuan_text(r.amount_fen),
                     "state": r.state, "state_text": REFUND_STATE_TEXT.get(r.state, "退款异常，请联系医院"),
                     "at": local_time(r.at)} for r in o.refunds],
        "receipt_available": o.kind is OrderKind.CHARGES and o.settlement is not None,
    }


def _location_text(loc: Any) -> str:
    if not isinstance(loc, dict):
        return ""
    parts = [loc.get("campus_name"), loc.get("building"), loc.get("floor"), loc.get("room")]
    text = " ".join(str(p) for p in parts if p)
    return f"{text}（{loc['description']}）" if loc.get("description") else text


def receipt_view(o: Order, verification: str) -> dict[str, Any]:
    import segno

    s = dict(o.settlement or {})
    receipt = s.get("e_receipt") if isinstance(s.get("e_receipt"), dict) else None
    guidance = [{
        "charge_id": g.get("charge_id"), "action": g.get("action"),
        "action_name": ACTION_NAMES.get(str(g.get("action")), "前往"), "location_text": _location_text(g.get("location")),
        "window": g.get("window"), "ticket_no": g.get("ticket_no"), "instructions": g.get("instructions"),
        "needs_booking": bool(g.get("needs_booking")),
        "charge_title": next((c.get("title") for c in o.items if c.get("charge_id") == g.get("charge_id")), None),
    } for g in s.get("guidance") or [] if isinstance(g, dict)]
    return {
        **order_view(o), "settlement_id": s.get("settlement_id"), "settled_at": s.get("settled_at"),
        "transaction_id": o.transaction_id,
        "e_receipt": {k: receipt.get(k) for k in ("status", "receipt_code", "receipt_no", "verification_code",
                                                  "issued_at", "view_url")} if receipt else None,
        "guidance": guidance, "verification": verification,
        "qr_svg": segno.make(verification, error="m").svg_data_uri(scale=4, border=2),
    }


def _pay_answer(o: Order) -> dict[str, Any]:
    answer: dict[str, Any] = {"order": order_view(o), "jsapi": service.jsapi(_ctx(), o)}
    settings = bootstrap.container().settings
    if settings.stage == "local" and answer["jsapi"] is not None:
        # Only the local stack: outside WeChat, the page's WeChat Pay stand-in asks the fake to pay.
        answer["simulator"] = {"pay_url": settings.wechatpay_api_base_url + "/_fake/pay"}
    return answer


# ---- H5 routes ---------------------------------------------------------------------------------------
@bp.route("/api/payments/charges", methods=["GET"])
def charges() -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    params: Any = bp.current_request.query_params or {}
    try:
        found = service.list_charges(_ctx(), openid, params.get("patient_id") or "")
    except PaymentsError as exc:
        return refusal(exc)
    return _json({"patient": patient_view(found.patient), "items": [charge_view(c) for c in found.charges],
                  "as_of": local_time(found.as_of), "live": found.live})


@bp.route("/api/payments/charges", methods=["POST"])
def pay_charges() -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        body = _body()
        order = service.start_charges(_ctx(), openid, body.get("patient_id"), body.get("charge_ids"),
                                      body.get("request_key"))
    except PaymentsError as exc:
        return refusal(exc)
    return _json(_pay_answer(order), 202)


@bp.route("/api/payments/registration", methods=["POST"])
def pay_registration() -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        order = service.start_registration(_ctx(), openid, _body().get("appointment_id"))  # type: ignore[arg-type]
    except PaymentsError as exc:
        return refusal(exc)
    return _json(_pay_answer(order))


@bp.route("/api/payments/orders", methods=["GET"])
def orders() -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    return _json({"items": [order_view(o) for o in service.history(_ctx(), openid)]})


@bp.route("/api/payments/orders/{order_id}", methods=["GET"])
def order(order_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        found = service.order_of(_ctx(), openid, order_id)
    except PaymentsError as exc:
        return refusal(exc)
    return _json(_pay_answer(found))


@bp.route("/api/payments/orders/{order_id}/check", methods=["POST"])
def check(order_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        found = service.check_order(_ctx(), openid, order_id)
    except PaymentsError as exc:
        return refusal(exc)
    return _json(_pay_answer(found))


@bp.route("/api/payments/orders/{order_id}/receipt", methods=["GET"])
def receipt(order_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        found = service.order_of(_ctx(), openid, order_id)
    except PaymentsError as exc:
        return refusal(exc)
    if found.kind is not OrderKind.CHARGES or found.settlement is None:
        return _json({"code": "NO_RECEIPT", "message": "缴费尚未完成，暂无电子凭条"}, 409)
    key = ("receipt:" + bootstrap.container().settings.session_secret).encode("utf-8")
    return _json({"receipt": receipt_view(found, service.verification_text(found, key))})


@bp.route("/api/payments/orders/{order_id}/refunds", methods=["POST"])
def refund_items(order_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        found = service.request_item_refund(_ctx(), openid, order_id, _body().get("items"))
    except PaymentsError as exc:
        return refusal(exc)
    return _json({"order": order_view(found)}, 202)


# ---- WeChat Pay notifications --------------------------------------------------------------------------
def _notify_answer(answer: service.NotifyAnswer) -> Response:
    if answer.ok:
        return Response(body="", status_code=204)
    return Response(body={"code": "FAIL", "message": answer.message}, status_code=answer.status, headers=dict(JSON))


def _raw(request: Any) -> bytes:
    raw = request.raw_body or b""
    return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)


@bp.route("/api/payments/notify", methods=["POST"], content_types=["application/json", "text/plain"])
def notify() -> Response:
    request = bp.current_request
    return _notify_answer(service.handle_payment_notification(_ctx(), dict(request.headers), _raw(request)))


@bp.route("/api/payments/refund-notify", methods=["POST"], content_types=["application/json", "text/plain"])
def refund_notify() -> Response:
    request = bp.current_request
    return _notify_answer(service.handle_refund_notification(_ctx(), dict(request.headers), _raw(request)))


# ---- HIS results, schedule ------------------------------------------------------------------------------
@result_handler(service.PURPOSE)
def _apply_payments(result: HisResult, c: bootstrap.Container) -> object:
    return service.apply_his_result(c.payments_context, result)


@bp.schedule(Rate(2, unit=Rate.MINUTES))
def payments_sweep(event: Any) -> dict[str, Any]:
    return service.sweep(bootstrap.container().payments_context)
