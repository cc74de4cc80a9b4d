"""Build WeChat Pay APIv3 notifications the way WeChat Pay does (the fake sends them; tests forge variants).

A notification is a JSON envelope whose ``resource`` is the transaction (or refund) encrypted with
AEAD_AES_256_GCM under the merchant's APIv3 key, and whose headers carry the platform's RSA-SHA256
signature over ``timestamp\\nnonce\\nbody\\n`` and the platform serial.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from chalicelib.adapters.wechatpay.crypto import aes_gcm_encrypt, load_private_key, rsa_sign, signed_message

SUMMARIES = {"TRANSACTION.SUCCESS": "支付成功", "REFUND.SUCCESS": "退款成功", "REFUND.ABNORMAL": "退款异常",
             "REFUND.CLOSED": "退款关闭"}


def build(resource: dict[str, Any], event_type: str, apiv3_key: bytes, platform_private_pem: str, serial: str,
          timestamp: int | None = None, break_tag: bool = False) -> tuple[dict[str, str], bytes]:
    """(headers, body) of one notification."""
    nonce = secrets.token_hex(16)
    resource_nonce = secrets.token_hex(6)
    associated = "transaction" if event_type.startswith("TRANSACTION") else "refund"
    ciphertext = aes_gcm_encrypt(apiv3_key, resource_nonce, associated,
                                 json.dumps(resource, ensure_ascii=False).encode("utf-8"))
    if break_tag:  # flip a bit of the GCM tag (the last 16 bytes)
        import base64

        raw = bytearray(base64.b64decode(ciphertext))
        raw[-1] ^= 0x01
        ciphertext = base64.b64encode(bytes(raw)).decode("ascii")
    envelope = {"id": secrets.token_hex(16), "create_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                "resource_type": "encrypt-resource", "event_type": event_type,
                "summary": SUMMARIES.get(event_type, ""),
                "resource": {"original_type": associated, "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext,
                             "associated_data": associated, "nonce": resource_nonce}}
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = rsa_sign(load_private_key(platform_private_pem), signed_message(ts, nonce, body.decode("utf-8")))
    headers = {"Content-Type": "application/json", "Wechatpay-Serial": serial, "Wechatpay-Timestamp": ts,
               "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
               "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}
    return headers, body
