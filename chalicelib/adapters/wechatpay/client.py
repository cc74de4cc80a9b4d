"""WeChat Pay APIv3 over HTTPS (``requests``), at ``WECHATPAY_API_BASE_URL``.

Every request is signed with the merchant key; every 2xx answer must carry a valid platform signature
from a serial on our allowlist (and a fresh timestamp), or it is treated as if nothing had come back.
Notifications are opened by ``WeChatPayNotifications``: allowlisted serial, ±300 s, signature, then
AES-256-GCM with the APIv3 key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from chalicelib.adapters.wechatpay.crypto import (
    MerchantSigner,
    PlatformVerifier,
    aes_gcm_decrypt,
    nonce_str,
)
from chalicelib.domain.payments import (
    RefundResult,
    Refusal,
    Transaction,
    amount_fen,
    jsapi_message,
    timestamp_fresh,
)
from chalicelib.observability import get_logger
from chalicelib.services.ports import OpenedNotification, WeChatPayError, WeChatPayUnavailableError

log = get_logger("wechatpay")
TIMEOUT = (2.0, 5.0)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


class WeChatPayNotifications:
    def __init__(self, verifier: PlatformVerifier, apiv3_key: bytes) -> None:
        self._verifier = verifier
        self._key = apiv3_key

    def open(self, headers: Mapping[str, str], body: bytes, now: datetime) -> OpenedNotification | Refusal:
        h = _lower(headers)
        serial, ts = h.get("wechatpay-serial", ""), h.get("wechatpay-timestamp", "")
        nonce, signature = h.get("wechatpay-nonce", ""), h.get("wechatpay-signature", "")
        if not (serial and ts and nonce and signature):
            return Refusal.MISSING_HEADERS
        if not self._verifier.known(serial):
            return Refusal.UNKNOWN_SERIAL
        if not timestamp_fresh(ts, now):
            return Refusal.STALE_TIMESTAMP
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return Refusal.MALFORMED
        if not self._verifier.verify(serial, ts, nonce, text, signature):
            return Refusal.BAD_SIGNATURE
        try:
            envelope = json.loads(text)
            resource = envelope["resource"]
            if resource.get("algorithm") != "AEAD_AES_256_GCM":
                return Refusal.MALFORMED
            plain = aes_gcm_decrypt(self._key, str(resource["nonce"]), str(resource.get("associated_data") or ""),
                                    str(resource["ciphertext"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return Refusal.DECRYPT_FAILED if "decrypt" in str(exc) else Refusal.MALFORMED
        try:
            data = json.loads(plain)
        except ValueError:
            return Refusal.MALFORMED
        if not isinstance(data, dict):
            return Refusal.MALFORMED
        return OpenedNotification(str(envelope.get("id") or ""), str(envelope.get("event_type") or ""), data)


class HttpWeChatPay:
    """The merchant's side of the APIv3 calls we make."""

    def __init__(self, base_url: str, appid: str, signer: MerchantSigner, verifier: PlatformVerifier,
                 session: Any = None) -> None:
        self._base = base_url.rstrip("/")
        self.appid = appid
        self.mchid = signer.mchid
        self._signer = signer
        self._verifier = verifier
        self._session = session

    def _http(self) -> Any:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              query: Mapping[str, str] | None = None, raw: bool = False) -> tuple[int, Any]:
        path_q = path + (("?" + urlencode(query)) if query else "")
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body is not None else ""
        ts, nonce = str(int(time.time())), nonce_str()
        headers = {"Authorization": self._signer.authorization(method, path_q, text, ts, nonce),
                   "Accept": "application/json", "User-Agent": "yiwei-wechatpay/1"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        import requests

        try:
            response = self._http().request(method, self._base + path_q, data=text.encode("utf-8") if body else None,
                                            headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise WeChatPayUnavailableError(f"{method} {path}: {exc.__class__.__name__}") from exc
        if response.status_code >= 500:
            raise WeChatPayUnavailableError(f"{method} {path}: HTTP {response.status_code}")
        if 200 <= response.status_code < 300:
            if not raw and not self._signed(response):
                log.error("wechatpay answer without a valid platform signature", extra={"path": path})
                raise WeChatPayUnavailableError(f"{method} {path}: unsigned answer")
            if raw:
                return response.status_code, response.content
            return response.status_code, response.json() if response.content else None
        try:
            err = response.json()
        except ValueError:
            err = {}
        raise WeChatPayError(response.status_code, str(err.get("code") or ""), str(err.get("message") or ""))

    def _signed(self, response: Any) -> bool:
        h = _lower(response.headers)
        ts = h.get("wechatpay-timestamp", "")
        if not timestamp_fresh(ts, datetime.fromtimestamp(time.time()).astimezone()):
            return False
        return self._verifier.verify(h.get("wechatpay-serial", ""), ts, h.get("wechatpay-nonce", ""),
                                     response.content, h.get("wechatpay-signature", ""))

    # ---- the calls ------------------------------------------------------------------------------------
    def jsapi_prepay(self, out_trade_no: str, description: str, total_fen: int, payer_openid: str,
                     time_expire: datetime, notify_url: str) -> str:
        body = {"appid": self.appid, "mchid": self.mchid, "description": description[:127],
                "out_trade_no": out_trade_no, "time_expire": time_expire.isoformat(timespec="seconds"),
                "notify_url": notify_url, "amount": {"total": amount_fen(total_fen), "currency": "CNY"},
                "payer": {"openid": payer_openid}}
        _, answer = self._call("POST", "/v3/pay/transactions/jsapi", body)
        prepay_id = answer.get("prepay_id") if isinstance(answer, dict) else None
        if not prepay_id:
            raise WeChatPayUnavailableError("no prepay_id in the answer")
        return str(prepay_id)

    def query(self, out_trade_no: str) -> Transaction | None:
        try:
            _, answer = self._call("GET", f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}",
                                   query={"mchid": self.mchid})
        except WeChatPayError as exc:
            if exc.status == 404:
                return None
            raise
        return Transaction.from_json(answer or {})

    def close(self, out_trade_no: str) -> None:
        self._call("POST", f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}/close", {"mchid": self.mchid})

    def refund(self, out_refund_no: str, out_trade_no: str, refund_fen: int, total_fen: int, reason: str,
               notify_url: str) -> RefundResult:
        body = {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no, "reason": reason[:80],
                "notify_url": notify_url,
                "amount": {"refund": amount_fen(refund_fen), "total": amount_fen(total_fen), "currency": "CNY"}}
        _, answer = self._call("POST", "/v3/refund/domestic/refunds", body)
        return RefundResult.from_json(answer or {})

    def query_refund(self, out_refund_no: str) -> RefundResult | None:
        try:
            _, answer = self._call("GET", f"/v3/refund/domestic/refunds/{quote(out_refund_no)}")
        except WeChatPayError as exc:
            if exc.status == 404:
                return None
            raise
        return RefundResult.from_json(answer or {})

    def trade_bill(self, bill_date: str) -> str | None:
        """The day's trade bill (ALL) as text; None when WeChat Pay has none (yet)."""
        try:
            _, answer = self._call("GET", "/v3/bill/tradebill", query={"bill_date": bill_date, "bill_type": "ALL"})
        except WeChatPayError as exc:
            if exc.code in ("NO_STATEMENT_EXIST", "STATEMENT_CREATING") or exc.status == 404:
                return None
            raise
        url = str((answer or {}).get("download_url") or "")
        if not url.startswith(self._base + "/"):
            raise WeChatPayUnavailableError("the bill's download_url is not on the WeChat Pay host")
        _, data = self._call("GET", url[len(self._base):], raw=True)
        # The download itself is not signed: its SHA-1 is given in the signed answer above.
        import hashlib
        import hmac

        expected = str((answer or {}).get("hash_value") or "").lower()
        if not hmac.compare_digest(hashlib.sha1(bytes(data)).hexdigest(), expected):  # noqa: S324 - WeChat Pay's choice
            raise WeChatPayUnavailableError("the bill does not match its hash_value")
        return bytes(data).decode("utf-8-sig")

    def jsapi_params(self, prepay_id: str) -> dict[str, str]:
        ts, nonce = str(int(time.time())), nonce_str()
        return {"appId": self.appid, "timeStamp": ts, "nonceStr": nonce, "package": f"prepay_id={prepay_id}",
                "signType": "RSA", "paySign": self._signer.sign(jsapi_message(self.appid, ts, nonce, prepay_id))}
