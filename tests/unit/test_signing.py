import json

import pytest

from his_bridge import signing
from tests.conftest import SPEC_DIR

VECTORS = json.loads((SPEC_DIR / "examples" / "00-signing-test-vectors.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("v", VECTORS["vectors"], ids=lambda v: f"{v['method']} {v['path']}")
def test_spec_vectors(v):
    body = v["body"].encode("utf-8")
    assert signing.canonical_query(v["raw_query"]) == v["canonical_query"]
    assert signing.string_to_sign(v["method"], v["path"], v["raw_query"], v["timestamp"], v["nonce"], body) == v[
        "string_to_sign"
    ]
    assert signing.sign(VECTORS["app_secret"], v["method"], v["path"], v["raw_query"], v["timestamp"], v["nonce"],
                        body) == v["signature"]


def _headers(v, signature=None, ts=None):
    return {
        signing.HEADER_APP_ID: VECTORS["app_id"],
        signing.HEADER_TIMESTAMP: ts or v["timestamp"],
        signing.HEADER_NONCE: v["nonce"],
        signing.HEADER_SIGNATURE: signature or v["signature"],
    }


def test_verify_accepts_vector_and_previous_secret():
    v = VECTORS["vectors"][0]
    now = int(v["timestamp"]) + 10
    body = v["body"].encode()
    assert signing.verify(_headers(v), [VECTORS["app_secret"]], v["method"], v["path"], "", body, now).ok
    # During a rotation either secret is good (§4.1).
    assert signing.verify(_headers(v), ["new-secret", VECTORS["app_secret"]], v["method"], v["path"], "", body, now).ok


def test_verify_refuses_tampering_skew_and_garbage():
    v = VECTORS["vectors"][0]
    body = v["body"].encode()
    now = int(v["timestamp"])
    bad = signing.verify(_headers(v), [VECTORS["app_secret"]], v["method"], v["path"], "", body + b" ", now)
    assert (bad.ok, bad.code) == (False, "SIGNATURE_INVALID")
    skew = signing.verify(_headers(v), [VECTORS["app_secret"]], v["method"], v["path"], "", body, now + 301)
    assert (skew.ok, skew.code) == (False, "TIMESTAMP_SKEW")
    garbage = signing.verify(_headers(v, signature="zz"), [VECTORS["app_secret"]], v["method"], v["path"], "", body, now)
    assert (garbage.ok, garbage.code) == (False, "SIGNATURE_INVALID")
    assert not signing.verify(_headers(v), ["", "wrong"], v["method"], v["path"], "", body, now).ok


def test_plus_in_query_stays_a_literal_plus_and_encoded_plus_is_kept():
    assert signing.canonical_query("since=2025-06-23T08:00:00%2B08:00") == "since=2025-06-23T08%3A00%3A00%2B08%3A00"
    assert signing.canonical_query("q=a+b") == "q=a%2Bb"
    assert signing.canonical_query("") == ""
    assert signing.canonical_query("b=2&a=1&a=0") == "a=0&a=1&b=2"


def test_signed_headers_are_fresh_per_attempt():
    first = signing.signed_headers("app", "secret", "GET", "/v1/campuses", "", b"", 1_750_000_000)
    second = signing.signed_headers("app", "secret", "GET", "/v1/campuses", "", b"", 1_750_000_000)
    assert first[signing.HEADER_NONCE] != second[signing.HEADER_NONCE]
    assert first[signing.HEADER_SIGNATURE] != second[signing.HEADER_SIGNATURE]
    assert signing.NONCE_PATTERN.match(first[signing.HEADER_NONCE])
