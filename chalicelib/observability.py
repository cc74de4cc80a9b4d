"""Structured JSON logs with redaction, and X-Ray tracing only when running in Lambda.

Personal data must never reach the logs in clear: ID numbers, phone numbers, names, openids and
report contents. Two layers keep it out:

* callers log identifiers through ``extra={...}``; keys known to carry personal data are masked;
* every rendered message and string value is scrubbed for ID-number, phone and openid shapes.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "yiwei"

# Keys whose values are personal data wherever they appear.
SENSITIVE_KEYS = frozenset(
    {
        "name", "patient_name", "real_name", "nickname", "id_number", "id_no", "idcard", "id_card",
        "phone", "mobile", "phone_number", "openid", "open_id", "unionid", "from_user", "fromusername",
        "to_user", "address", "guardian", "card_no", "content", "findings", "conclusion",
        "secret", "app_secret", "token", "password", "signature", "authorization", "cookie",
    }
)

_PATTERNS = [
    # Mainland resident ID numbers (18 chars, last may be X) and 15-digit legacy ones.
    (re.compile(r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[\dXx](?![0-9A-Za-z])"), "[ID]"),
    (re.compile(r"(?<!\d)\d{15}(?!\d)"), "[ID]"),
    # Mainland mobile numbers, optionally with +86.
    (re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)"), "[PHONE]"),
    # WeChat openids / unionids (o + 27 url-safe chars; a little leeway either side).
    (re.compile(r"(?<![A-Za-z0-9_-])o[A-Za-z0-9_-]{26,30}(?![A-Za-z0-9_-])"), "[OPENID]"),
]

_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def scrub(text: str) -> str:
    """Mask ID-number, phone and openid shapes in free text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    """Return ``value`` with personal data masked, recursively."""
    if key is not None and key.lower() in SENSITIVE_KEYS and value not in (None, "", [], {}):
        return "[REDACTED]"
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = redact(value, key)
        if record.exc_info:
            entry["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


_configured = False


def configure_logging(level: str = "INFO") -> logging.Logger:
    """Install the JSON handler on the application logger once; idempotent."""
    global _configured  # noqa: PLW0603 - one-time process setup
    logger = logging.getLogger(LOGGER_NAME)
    if not _configured:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
        _configured = True
    logger.setLevel(level)
    return logger


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


def enable_tracing(running_in_lambda: bool) -> bool:
    """Patch boto3/requests for X-Ray, but only inside Lambda (locally there is no daemon, and the
    import costs cold-start time we do not want in tests)."""
    if not running_in_lambda:
        return False
    from aws_xray_sdk.core import patch, xray_recorder

    xray_recorder.configure(context_missing="LOG_ERROR")
    patch(["boto3", "botocore", "requests"])
    return True
