"""Signed values: round trips, expiry, tampering, purpose separation, malformed input."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.signed_values import (
    Reason,
    SignedValueError,
    sign,
    sign_compact,
    verify,
    verify_compact,
)

KEY = b"k" * 32
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=10)


def _reason(call) -> Reason:
    with pytest.raises(SignedValueError) as info:
        call()
    return info.value.reason


def test_round_trip_returns_the_claims_with_their_expiry():
    token = sign({"sub": "o-abc", "v": 1}, key=KEY, purpose="session", expires_at=LATER)
    assert verify(token, key=KEY, purpose="session", now=T0) == {"sub": "o-abc", "v": 1, "exp": int(LATER.timestamp())}
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_expires_at_the_expiry_instant():
    token = sign({"sub": "x"}, key=KEY, purpose="session", expires_at=LATER)
    assert verify(token, key=KEY, purpose="session", now=LATER - timedelta(seconds=1))
    assert _reason(lambda: verify(token, key=KEY, purpose="session", now=LATER)) is Reason.EXPIRED


def test_another_key_or_purpose_is_a_bad_signature():
    token = sign({"sub": "x"}, key=KEY, purpose="session", expires_at=LATER)
    assert _reason(lambda: verify(token, key=b"j" * 32, purpose="session", now=T0)) is Reason.BAD_SIGNATURE
    assert _reason(lambda: verify(token, key=KEY, purpose="oauth-cookie", now=T0)) is Reason.BAD_SIGNATURE


def test_a_changed_payload_is_a_bad_signature_even_with_a_later_expiry():
    token = sign({"sub": "victim"}, key=KEY, purpose="session", expires_at=LATER)
    body, mac = token.split(".")
    forged = json.dumps({"sub": "attacker", "exp": int(LATER.timestamp()) + 9999}).encode()
    forged_body = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    assert _reason(lambda: verify(f"{forged_body}.{mac}", key=KEY, purpose="session", now=T0)) is Reason.BAD_SIGNATURE
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    assert _reason(lambda: verify(f"{body}.{flipped}", key=KEY, purpose="session", now=T0)) is Reason.BAD_SIGNATURE


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a b.c", "é.x", "abc.", ".abc", "ab=.cd", "x" * 5000 + ".y"])
def test_malformed_values(token):
    assert _reason(lambda: verify(token, key=KEY, purpose="session", now=T0)) is Reason.MALFORMED


def test_a_validly_signed_value_without_an_integer_expiry_is_malformed():
    # Only we can sign, but the parser still refuses what sign() never makes.
    import hashlib
    import hmac

    for payload in (b"[1,2]", b'{"exp":"soon"}', b'{"exp":true}', b"not json"):
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        mac = hmac.new(KEY, b"session\x00" + body.encode(), hashlib.sha256).digest()
        token = f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        assert _reason(lambda t=token: verify(t, key=KEY, purpose="session", now=T0)) is Reason.MALFORMED


def test_signing_refuses_an_empty_key_naive_times_and_a_preset_expiry():
    with pytest.raises(ValueError, match="empty"):
        sign({"a": 1}, key=b"", purpose="session", expires_at=LATER)
    with pytest.raises(ValueError, match="aware"):
        sign({"a": 1}, key=KEY, purpose="session", expires_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="exp"):
        sign({"exp": 1}, key=KEY, purpose="session", expires_at=LATER)


def test_compact_values_are_letters_and_digits_within_wechats_state_limit():
    token = sign_compact("a" * 64, key=KEY, purpose="oauth-state", expires_at=LATER)
    assert token.isalnum() and token.isascii() and len(token) <= 128
    assert verify_compact(token, key=KEY, purpose="oauth-state", now=T0) == "a" * 64
    short = sign_compact("0123abcd", key=KEY, purpose="oauth-state", expires_at=LATER)
    assert verify_compact(short, key=KEY, purpose="oauth-state", now=T0) == "0123abcd"


def test_compact_expiry_tampering_and_purpose():
    token = sign_compact("n0nce", key=KEY, purpose="oauth-state", expires_at=LATER)
    assert _reason(lambda: verify_compact(token, key=KEY, purpose="oauth-state", now=LATER)) is Reason.EXPIRED
    assert _reason(lambda: verify_compact(token, key=KEY, purpose="session", now=T0)) is Reason.BAD_SIGNATURE
    assert _reason(lambda: verify_compact(token, key=b"j" * 32, purpose="oauth-state", now=T0)) is Reason.BAD_SIGNATURE
    # Pushing the expiry out (the digits just before the MAC) breaks the signature.
    value_and_exp, mac = token[:-32], token[-32:]
    later = value_and_exp[:-10] + str(int(value_and_exp[-10:]) + 3600).zfill(10)
    assert _reason(lambda: verify_compact(later + mac, key=KEY, purpose="oauth-state", now=T0)) is Reason.BAD_SIGNATURE
    other = "m" + token[1:]
    assert _reason(lambda: verify_compact(other, key=KEY, purpose="oauth-state", now=T0)) is Reason.BAD_SIGNATURE


@pytest.mark.parametrize("token", ["", "short", "a-b" * 20, "x" * 107, "ä" * 50])
def test_compact_malformed(token):
    assert _reason(lambda: verify_compact(token, key=KEY, purpose="oauth-state", now=T0)) is Reason.MALFORMED


@pytest.mark.parametrize("value", ["", "has-dash", "a" * 65, "中文"])
def test_compact_refuses_values_it_cannot_carry(value):
    with pytest.raises(ValueError):
        sign_compact(value, key=KEY, purpose="oauth-state", expires_at=LATER)
