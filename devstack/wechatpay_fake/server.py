"""The fake WeChat Pay APIv3 as one Flask app (``WECHATPAY_API_BASE_URL``).

WeChat Pay's side: ``POST /v3/pay/transactions/jsapi``, ``GET /v3/pay/transactions/out-trade-no/{no}``,
``POST …/{no}/close``, ``POST /v3/refund/domestic/refunds``, ``GET /v3/refund/domestic/refunds/{no}``,
``GET /v3/bill/tradebill`` and its download. Every request must carry a valid merchant signature (the
merchant's TEST public key); every answer is signed with the fake's TEST platform key (serial
``FAKEPLATFORMSERIAL0001``), as the real one signs with its platform key.

Admin (unsigned, ``/_fake``): ``POST /_fake/pay`` with the JSAPI parameters (what the WeChat simulator's
getBrandWCPayRequest shim sends: the paySign is verified) or ``{"prepay_id"}`` completes the payment and
sends the signed, encrypted notification (resent after 2, 5, 15 s while not acknowledged; ``{"copies": n}``
sends n copies at once, ``{"resends": n}`` n more later); ``GET /_fake/orders``, ``GET /_fake/calls``,
``GET /_fake/deliveries``, ``POST /_fake/faults`` ``{"path", "status", "code", "times"}``, ``POST /_fake/reset``,
``POST /_fake/refunds/auto`` ``{"success": bool}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import requests
from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.serving import BaseWSGIServer, make_server

from chalicelib.adapters.wechatpay.crypto import (
    load_private_key,
    load_public_key,
    parse_authorization,
    rsa_sign,
    rsa_verify,
    signed_message,
)
from chalicelib.domain.payments import jsapi_message

from . import notify
from .state import FakeOrder, FakePayConfig, FakePayState, FakeRefund, later

log = logging.getLogger(__name__)
OUT_NO = re.compile(r"^[A-Za-z0-9_*|-]{6,32}$")


class PayError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


def create_app(state: FakePayState) -> Flask:  # noqa: PLR0915 - one closure per WeChat Pay endpoint
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    CORS(app, resources={r"/_fake/*": {"origins": "*"}})
    cfg = state.config
    platform_key = load_private_key(cfg.platform_private_pem)
    merchant_key = load_public_key(cfg.merchant_public_pem)

    def signed(body: Any, status: int = 200) -> Response:
        text = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        ts, nonce = str(int(datetime.now().timestamp())), secrets.token_hex(16)
        response = Response(text, status=status, mimetype="application/json")
        response.headers.update({"Wechatpay-Serial": cfg.platform_serial, "Wechatpay-Timestamp": ts,
                                 "Wechatpay-Nonce": nonce, "Request-ID": secrets.token_hex(8),
                                 "Wechatpay-Signature": rsa_sign(platform_key, signed_message(ts, nonce, text))})
        return response

    @app.errorhandler(PayError)
    def pay_error(exc: PayError) -> Response:
        return signed({"code": exc.code, "message": exc.message}, exc.status)

    @app.before_request
    def check() -> Response | None:
        if not request.path.startswith("/v3/"):
            return None
        state.expire()
        fault = state.take_fault(request.path)
        if fault is not None:
            return signed({"code": fault.get("code", "SYSTEM_ERROR"), "message": "injected"}, int(fault["status"]))
        if request.path.startswith("/v3/billdownload/"):
            return None  # the download is authorised by its token
        fields = parse_authorization(request.headers.get("Authorization", ""))
        path_q = request.full_path.rstrip("?") if request.query_string else request.path
        body = request.get_data(as_text=True)
        message = signed_message(request.method, path_q, fields.get("timestamp", ""), fields.get("nonce_str", ""), body)
        if fields.get("mchid") != cfg.mchid or fields.get("serial_no") != cfg.merchant_serial \
                or not rsa_verify(merchant_key, message, fields.get("signature", "")):
            raise PayError(401, "SIGN_ERROR", "签名错误")
        return None

    @app.after_request
    def record(response: Response) -> Response:
        if request.path.startswith("/v3/"):
            with state.lock:
                state.calls.append({"at": state.now().isoformat(), "method": request.method, "path": request.path,
                                    "body": request.get_json(silent=True), "status": response.status_code})
        return response

    def body_json() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise PayError(400, "PARAM_ERROR", "请求体不是JSON对象")
        return data

    # ---- payments ------------------------------------------------------------------------------
    @app.post("/v3/pay/transactions/jsapi")
    def jsapi() -> Response:
        b = body_json()
        amount = b.get("amount") or {}
        total = amount.get("total") if isinstance(amount, dict) else None
        problems = []
        if b.get("appid") != cfg.appid:
            problems.append("appid")
        if b.get("mchid") != cfg.mchid:
            raise PayError(400, "MCH_NOT_EXISTS", "商户号不存在")
        if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
            problems.append("amount.total")
        no = b.get("out_trade_no")
        if not isinstance(no, str) or not OUT_NO.match(no):
            problems.append("out_trade_no")
        openid = (b.get("payer") or {}).get("openid") if isinstance(b.get("payer"), dict) else None
        if not openid or not str(b.get("notify_url") or "").startswith(("http://", "https://")) \
                or not b.get("description"):
            problems.append("payer/notify_url/description")
        try:
            expire = datetime.fromisoformat(str(b.get("time_expire")))
        except ValueError:
            problems.append("time_expire")
            expire = state.now()
        if problems or not isinstance(no, str) or not isinstance(total, int):
            raise PayError(400, "PARAM_ERROR", "参数错误: " + ", ".join(problems))
        with state.lock:
            held = state.orders.get(no)
            if held is not None:
                if held.trade_state == "SUCCESS":
                    raise PayError(400, "ORDERPAID", "该订单已支付")
                if (held.total, held.payer_openid, held.appid) != (total, openid, b["appid"]):
                    raise PayError(400, "INVALID_REQUEST", "201 商户订单号重复")
                return signed({"prepay_id": held.prepay_id})
            order = FakeOrder(no, "wx" + secrets.token_hex(15), b["appid"], b["mchid"], str(b["description"]), total,
                              str(openid), str(b["notify_url"]), expire, state.now())
            state.orders[no] = order
            state.by_prepay[order.prepay_id] = no
        return signed({"prepay_id": order.prepay_id})

    def order_of(no: str) -> FakeOrder:
        order = state.orders.get(no)
        if order is None:
            raise PayError(404, "ORDER_NOT_EXIST", "订单不存在")
        return order

    @app.get("/v3/pay/transactions/out-trade-no/<no>")
    def query(no: str) -> Response:
        if request.args.get("mchid") != cfg.mchid:
            raise PayError(400, "PARAM_ERROR", "mchid")
        return signed(order_of(no).to_json())

    @app.post("/v3/pay/transactions/out-trade-no/<no>/close")
    def close(no: str) -> Response:
        with state.lock:
            order = order_of(no)
            if order.trade_state in ("SUCCESS", "REFUND"):
                raise PayError(400, "ORDER_PAID", "订单已支付")
            order.trade_state = "CLOSED"
        return signed(None, 204)

    # ---- refunds -------------------------------------------------------------------------------
    @app.post("/v3/refund/domestic/refunds")
    def refund() -> Response:
        b = body_json()
        amount: dict[str, Any] = b["amount"] if isinstance(b.get("amount"), dict) else {}
        no, trade_no = b.get("out_refund_no"), b.get("out_trade_no")
        fen, total = amount.get("refund"), amount.get("total")
        if not isinstance(no, str) or not OUT_NO.match(no) or not isinstance(fen, int) or isinstance(fen, bool) \
                or fen <= 0 or not isinstance(total, int):
            raise PayError(400, "PARAM_ERROR", "参数错误")
        with state.lock:
            held = state.refunds.get(no)
            if held is not None:
                return signed(held.to_json(cfg.mchid))
            order = order_of(str(trade_no))
            if order.trade_state not in ("SUCCESS", "REFUND"):
                raise PayError(400, "TRADE_STATE_ERROR", "订单状态错误")
            if total != order.total:
                raise PayError(400, "PARAM_ERROR", "订单金额不一致")
            refunded = sum(r.refund for r in state.refunds.values() if r.out_trade_no == order.out_trade_no)
            if refunded + fen > order.total:
                raise PayError(403, "NOT_ENOUGH", "退款金额超过可退金额")
            item = FakeRefund(no, "50" + secrets.token_hex(14), order.out_trade_no, order.transaction_id, fen, total,
                              str(b.get("reason") or ""), str(b.get("notify_url") or order.notify_url), state.now())
            state.refunds[no] = item
            order.trade_state = "REFUND"
        if state.refund_auto_success:
            later(0.5, complete_refund, no)
        return signed(item.to_json(cfg.mchid))

    @app.get("/v3/refund/domestic/refunds/<no>")
    def refund_query(no: str) -> Response:
        item = state.refunds.get(no)
        if item is None:
            raise PayError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return signed(item.to_json(cfg.mchid))

    def complete_refund(no: str) -> None:
        with state.lock:
            item = state.refunds[no]
            if item.status != "PROCESSING":
                return
            item.status, item.success_time = "SUCCESS", state.now()
            resource = item.to_json(cfg.mchid)
        deliver(item.notify_url, resource, "REFUND.SUCCESS")

    # ---- bill ------------------------------------------------------------------------------------
    def yuan(fen: int) -> str:
        return f"{fen // 100}.{fen % 100:02d}"

    def bill_csv(day: str) -> bytes:
        head = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
                "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
                "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
        rows = [head]
        for line in state.bill_lines(day):
            o, r = line["order"], line["refund"]
            fields = [line["at"].strftime("%Y-%m-%d %H:%M:%S"), o.appid, o.mchid, "0", "", o.transaction_id,
                      o.out_trade_no, o.payer_openid, "JSAPI", "REFUND" if r else "SUCCESS", "OTHERS", "CNY",
                      "0.00" if r else yuan(o.total), "0.00", r.refund_id if r else "0", r.out_refund_no if r else "0",
                      yuan(r.refund) if r else "0.00", "0.00", "ORIGINAL" if r else "", "SUCCESS" if r else "",
                      o.description, "", "0.00", "0.60%", yuan(o.total), yuan(r.refund) if r else "0.00", ""]
            rows.append(",".join("`" + f for f in fields))
        rows.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
        rows.append(f"`{len(rows) - 2},`0.00,`0.00,`0.00,`0.00,`0.00,`0.00")
        return ("\n".join(rows) + "\n").encode("utf-8")

    @app.get("/v3/bill/tradebill")
    def tradebill() -> Response:
        day = request.args.get("bill_date", "")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            raise PayError(400, "PARAM_ERROR", "bill_date")
        if day >= state.now().date().isoformat():
            raise PayError(400, "NO_STATEMENT_EXIST", "账单不存在")
        data = bill_csv(day)
        return signed({"hash_type": "SHA1", "hash_value": hashlib.sha1(data).hexdigest(),  # noqa: S324
                       "download_url": f"{request.host_url.rstrip('/')}/v3/billdownload/file?token={day}"})

    @app.get("/v3/billdownload/file")
    def bill_download() -> Response:
        return Response(bill_csv(request.args.get("token", "")), mimetype="application/octet-stream")

    # ---- notifications -------------------------------------------------------------------------------
    def post(url: str, headers: dict[str, str], body: bytes) -> int:
        try:
            return requests.post(url, data=body, headers=headers, timeout=5).status_code
        except requests.RequestException:
            return 0

    def deliver(url: str, resource: dict[str, Any], event_type: str, copies: int = 1, resends: int = 0,
                attempt: int = 0) -> list[int]:
        def one() -> int:
            headers, body = notify.build(resource, event_type, cfg.apiv3_key, cfg.platform_private_pem,
                                         cfg.platform_serial)
            return post(url, headers, body)

        if copies > 1:
            with ThreadPoolExecutor(max_workers=min(copies, 50)) as pool:
                statuses = list(pool.map(lambda _: one(), range(copies)))
        else:
            statuses = [one()]
        with state.lock:
            state.deliveries.append({"at": state.now().isoformat(), "event_type": event_type, "url": url,
                                     "statuses": statuses, "attempt": attempt,
                                     "out_trade_no": resource.get("out_trade_no")})
        acknowledged = any(200 <= s < 300 for s in statuses)
        if resends > 0:
            later(0.2, deliver, url, resource, event_type, 1, resends - 1, attempt + 1)
        elif not acknowledged and attempt < len(cfg.resend_delays):
            later(cfg.resend_delays[attempt], deliver, url, resource, event_type, 1, 0, attempt + 1)
        return statuses

    # ---- admin -------------------------------------------------------------------------------------
    @app.post("/_fake/pay")
    def admin_pay() -> Response:
        b = request.get_json(silent=True) or {}
        prepay_id = str(b.get("prepay_id") or str(b.get("package") or "").removeprefix("prepay_id="))
        if "paySign" in b:  # what getBrandWCPayRequest receives: the merchant's signature must hold
            message = jsapi_message(str(b.get("appId")), str(b.get("timeStamp")), str(b.get("nonceStr")), prepay_id)
            if b.get("appId") != cfg.appid or b.get("signType") != "RSA" \
                    or not rsa_verify(merchant_key, message, str(b["paySign"])):
                return Response(json.dumps({"err_msg": "get_brand_wcpay_request:fail", "reason": "paySign"}),
                                status=400, mimetype="application/json")
        with state.lock:
            no = state.by_prepay.get(prepay_id)
            order = state.orders.get(no or "")
            if order is None:
                return Response(json.dumps({"err_msg": "get_brand_wcpay_request:fail", "reason": "prepay_id"}),
                                status=404, mimetype="application/json")
            state.expire()
            if order.trade_state == "CLOSED":
                return Response(json.dumps({"err_msg": "get_brand_wcpay_request:fail", "reason": "closed"}),
                                status=409, mimetype="application/json")
            if order.trade_state == "NOTPAY":
                order.trade_state, order.transaction_id, order.success_time = \
                    "SUCCESS", state.new_transaction_id(), state.now()
            resource = order.to_json()
        copies, resends = int(b.get("copies") or 1), int(b.get("resends") or 0)
        if b.get("background", True) and copies == 1 and not resends:
            later(0.05, deliver, order.notify_url, resource, "TRANSACTION.SUCCESS")
            statuses: list[int] = []
        else:
            statuses = deliver(order.notify_url, resource, "TRANSACTION.SUCCESS", copies, resends)
        return Response(json.dumps({"err_msg": "get_brand_wcpay_request:ok", "out_trade_no": order.out_trade_no,
                                    "transaction_id": order.transaction_id, "statuses": statuses}),
                        mimetype="application/json")

    def listing(items: Any) -> Response:
        return Response(json.dumps(items, ensure_ascii=False, default=str), mimetype="application/json")

    @app.get("/_fake/orders")
    def admin_orders() -> Response:
        with state.lock:
            return listing({"orders": [o.to_json() | {"prepay_id": o.prepay_id} for o in state.orders.values()],
                            "refunds": [r.to_json(cfg.mchid) for r in state.refunds.values()]})

    @app.get("/_fake/calls")
    def admin_calls() -> Response:
        with state.lock:
            return listing({"calls": list(state.calls)})

    @app.get("/_fake/deliveries")
    def admin_deliveries() -> Response:
        with state.lock:
            return listing({"deliveries": list(state.deliveries)})

    @app.post("/_fake/faults")
    def admin_faults() -> Response:
        b = request.get_json(silent=True) or {}
        with state.lock:
            state.faults.append({"path": str(b.get("path") or "/v3/"), "status": int(b.get("status") or 500),
                                 "code": str(b.get("code") or "SYSTEM_ERROR"), "times": int(b.get("times") or 1)})
        return listing({"faults": state.faults})

    @app.post("/_fake/refunds/auto")
    def admin_refund_auto() -> Response:
        state.refund_auto_success = bool((request.get_json(silent=True) or {}).get("success", True))
        return listing({"success": state.refund_auto_success})

    @app.post("/_fake/reset")
    def admin_reset() -> Response:
        with state.lock:
            for attr in ("orders", "by_prepay", "refunds"):
                getattr(state, attr).clear()
            state.calls.clear()
            state.deliveries.clear()
            state.faults.clear()
        return listing({"reset": True})

    return app


def start_in_thread(host: str = "127.0.0.1", port: int = 0, *, appid: str, mchid: str, merchant_serial: str,
                    apiv3_key: str, resend_delays: tuple[float, ...] = (2.0, 5.0, 15.0),
                    ) -> tuple[BaseWSGIServer, threading.Thread, str]:
    """Serve in a daemon thread; (server, thread, base_url = WECHATPAY_API_BASE_URL). ``server.state`` is the
    ``FakePayState``; ``port=0`` picks a free port."""
    state = FakePayState(FakePayConfig(appid, mchid, merchant_serial, apiv3_key.encode("utf-8"),
                                       resend_delays=resend_delays))
    server = make_server(host, port, create_app(state), threaded=True)
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name=f"wechatpay-fake-{server.server_port}", daemon=True)
    thread.start()
    return server, thread, f"http://{host}:{server.server_port}"



