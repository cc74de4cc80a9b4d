import io
import json
import logging

from chalicelib.observability import JsonFormatter, redact, scrub


def test_scrub_masks_id_numbers_phones_and_openids():
    text = "patient 11010119900307001X phone 13800138000 +8613912345678 user oABCDEFGHIJKLMNOPQRSTUVWXYZa1"
    out = scrub(text)
    assert "11010119900307001X" not in out and "13800138000" not in out and "13912345678" not in out
    assert "oABCDEFGHIJKLMNOPQRSTUVWXYZa1" not in out
    assert out.count("[ID]") == 1 and out.count("[PHONE]") == 2 and "[OPENID]" in out
    # Ordinary ids and numbers survive.
    assert scrub("department D0301 doctor DR10023 fee 5000") == "department D0301 doctor DR10023 fee 5000"


def test_redact_masks_sensitive_keys_recursively():
    data = {"patient": {"name": "张三", "id_number": "x", "phone": "1", "patient_id": "P000123456"},
            "openid": "o1", "items": [{"card_no": "123"}]}
    out = redact(data)
    assert out["patient"]["name"] == "[REDACTED]" and out["patient"]["id_number"] == "[REDACTED]"
    assert out["patient"]["patient_id"] == "P000123456"
    assert out["openid"] == "[REDACTED]" and out["items"][0]["card_no"] == "[REDACTED]"


def test_json_log_lines_carry_extras_redacted():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("yiwei.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.info("lookup for %s", "13800138000", extra={"openid": "oABCDEFGHIJKLMNOPQRSTUVWXYZa1", "dataset": "x"})
    line = json.loads(stream.getvalue())
    assert line["message"] == "lookup for [PHONE]"
    assert line["openid"] == "[REDACTED]" and line["dataset"] == "x" and line["level"] == "INFO"
    assert "13800138000" not in stream.getvalue()
