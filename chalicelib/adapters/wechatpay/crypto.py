"""The APIv3 cryptography through ``cryptography``'s primitives (no hand-rolled crypto): RSA-SHA256
(PKCS#1 v1.5) signatures with the merchant key, verification with the platform's public keys (an
allowlist by serial), and AEAD_AES_256_GCM for notification resources.

Why not ``wechatpayv3``: its client fixes the gateway to ``https://api.mch.weixin.qq.com`` (a private
attribute), downloads platform certificates when it meets an unknown serial (a forged notification would
make us call out), does not check the ±300 s timestamp, and answers a refused callback with ``None``
without saying why — we need the reason for the security events and an allowlist we configure.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = "WECHATPAY2-SHA256-RSA2048"


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the merchant key must be an RSA private key")
    return key


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """A public key PEM, or the public key of a certificate PEM (the platform certificate)."""
    data = pem.encode("ascii")
    if b"CERTIFICATE" in data:
        from cryptography import x509

        key: Any = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the platform key must be an RSA public key")
    return key


def rsa_sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def rsa_verify(key: rsa.RSAPublicKey, message: str | bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        return False
    data = message.encode("utf-8") if isinstance(message, str) else message
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def aes_gcm_decrypt(apiv3_key: bytes, nonce: str, associated_data: str, ciphertext_b64: str) -> bytes:
    """Raises ``ValueError`` when the tag does not verify or the input is malformed."""
    try:
        data = base64.b64decode(ciphertext_b64, validate=True)
        return AESGCM(apiv3_key).decrypt(nonce.encode("utf-8"), data, associated_data.encode("utf-8"))
    except (InvalidTag, ValueError) as exc:
        raise ValueError("the resource does not decrypt") from exc


def aes_gcm_encrypt(apiv3_key: bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    """What WeChat Pay does to a resource (the fake server and tests use it)."""
    return base64.b64encode(AESGCM(apiv3_key).encrypt(nonce.encode("utf-8"), plaintext,
                                                      associated_data.encode("utf-8"))).decode("ascii")


def nonce_str(length: int = 32) -> str:
    return secrets.token_hex(length // 2)


def signed_message(*parts: str) -> str:
    """APIv3 signature strings are lines each ending in ``\\n``."""
    return "".join(f"{p}\n" for p in parts)


def parse_authorization(header: str) -> dict[str, str]:
    """``WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",…`` -> its fields ({} when another schema)."""
    schema, _, rest = header.partition(" ")
    if schema != SCHEMA:
        return {}
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value.strip('"')
    return fields


@dataclass(frozen=True)
class MerchantSigner:
    """Signs our requests (``Authorization``) and JSAPI payment parameters with the merchant key."""

    mchid: str
    serial: str
    private_key_pem: str

    @cached_property
    def _key(self) -> rsa.RSAPrivateKey:
        return load_private_key(self.private_key_pem)

    def authorization(self, method: str, path_and_query: str, body: str, timestamp: str, nonce: str) -> str:
        signature = rsa_sign(self._key, signed_message(method, path_and_query, timestamp, nonce, body))
        return (f'{SCHEMA} mchid="{self.mchid}",nonce_str="{nonce}",signature="{signature}",'
                f'timestamp="{timestamp}",serial_no="{self.serial}"')

    def sign(self, message: str) -> str:
        return rsa_sign(self._key, message)


class PlatformVerifier:
    """Verifies what WeChat Pay signed (answers and notifications) with an allowlist of platform keys."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._pems = dict(keys)
        self._loaded: dict[str, rsa.RSAPublicKey] = {}

    def known(self, serial: str) -> bool:
        return any(hmac.compare_digest(serial, s) for s in self._pems)

    def verify(self, serial: str, timestamp: str, nonce: str, body: str | bytes, signature: str) -> bool:
        if not self.known(serial):
            return False
        key = self._loaded.get(serial)
        if key is None:
            key = self._loaded[serial] = load_public_key(self._pems[serial])
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return rsa_verify(key, signed_message(timestamp, nonce, text), signature)
