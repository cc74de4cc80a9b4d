"""The one module that reads the environment.

Every setting the application needs is read here, once, into a frozen ``Settings``. Nothing else in
``chalicelib`` touches ``os.environ``; adapters receive the values they need from ``bootstrap``.

Local development values live in the ``local`` stage of ``.chalice/config.json`` (see the README);
deployed stages get theirs from the packaged template.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

DEFAULT_REGION = "ap-east-1"


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    # Outside systems.
    his_app_id: str
    his_end_user_key: str  # keys the X-His-End-User pseudonym of an openid (spec §4.5)
    wechat_appid: str
    wechat_secret: str
    wechat_token: str
    wechat_aes_key: str
    wechat_api_base_url: str
    wechat_open_base_url: str  # OAuth2 authorize page (open.weixin.qq.com)
    wechat_max_message_age_seconds: int  # older signed requests are refused (replay window)
    wechat_reply_deadline_seconds: float  # after this, answer ``success`` and finish asynchronously
    wechat_templates: tuple[tuple[str, str], ...]  # notice kind -> template id
    wechatpay_api_base_url: str
    aws_endpoint_url: str | None
    # Our own resources.
    table_prefix: str
    his_request_queue: str
    his_result_queue: str
    wechat_async_queue: str
    his_event_queue: str  # HIS events (pushed to the bridge's receiver, or pulled) -> on_his_event
    blob_bucket: str
    # Synchronous reads through the bridge (a direct Lambda invoke with a short timeout).
    his_bridge_function: str
    his_live_read_timeout_seconds: float
    lambda_endpoint_url: str | None  # local stack only: the devstack's Lambda Invoke API
    # The H5 pages' public base URL (the CDN), and the secret that signs their session cookies.
    h5_base_url: str
    session_secret: str
    # Hospital profile shown on the home page.
    hospital_name: str
    hospital_intro: str
    hospital_phone: str
    # Cards (owner: cards): the one-time code to the phone on file goes out as an SMS.
    sms_backend: str  # "sns" (AWS) or "outbox" (local: posted to SMS_OUTBOX_URL, shown in the WeChat simulator)
    sms_outbox_url: str
    card_binds_per_day: int  # binding attempts (lookups) per WeChat user per Shanghai day
    # Booking (owner: booking).
    booking_requests_per_minute: int  # per WeChat user, for the booking API's writes
    booking_daily_cap_per_user: int  # bookings per WeChat user per Shanghai day (all their patients)
    booking_daily_cap_per_patient: int  # bookings per patient per Shanghai day (the HIS policy is 3)
    reminder_offsets_minutes: tuple[int, ...]  # reminders this many minutes before the visit
    waitlist_offer_minutes: int  # how long a freed slot is kept for the patient it is offered to
    # Payments (owner: payments): WeChat Pay APIv3 (JSAPI). Keys are PEM text, or "file:<path>" (relative
    # to the project) for the local TEST keys; in AWS they come from Secrets Manager.
    wechatpay_mchid: str
    wechatpay_merchant_serial: str
    wechatpay_private_key: str  # the merchant's API private key (PEM)
    wechatpay_apiv3_key: str  # 32 bytes: decrypts notifications (AES-256-GCM)
    wechatpay_platform_keys: tuple[tuple[str, str], ...]  # allowlist: serial -> platform public key (PEM)
    wechatpay_notify_url: str  # default: {H5_BASE_URL}/api/payments/notify (CloudFront routes /api/*)
    # Runtime.
    running_in_lambda: bool
    log_level: str

    def table_name(self, logical: str) -> str:
        return f"{self.table_prefix}{logical}"

    def template_id(self, kind: str) -> str:
        """The template id configured for a notice kind ("" when none is)."""
        return dict(self.wechat_templates).get(kind, "")

    def h5_url(self, page: str) -> str:
        return f"{self.h5_base_url}/{page.lstrip('/')}"


def _get(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, default).strip()


def _templates(raw: str) -> tuple[tuple[str, str], ...]:
    if not raw:
        return ()
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError("WECHAT_TEMPLATES must be a JSON object of kind -> template id") from exc
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ConfigurationError("WECHAT_TEMPLATES must be a JSON object of kind -> template id")
    return tuple(sorted((str(k), v) for k, v in parsed.items()))


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name)
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from exc


def _minutes_list(env: Mapping[str, str], name: str, default: str) -> tuple[int, ...]:
    raw = _get(env, name, default)
    try:
        values = tuple(sorted({int(v) for v in raw.split(",") if v.strip()}, reverse=True))
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be comma-separated whole minutes, not {raw!r}") from exc
    if any(v <= 0 for v in values):
        raise ConfigurationError(f"{name} must be positive minutes, not {raw!r}")
    return values


# ---- Payments (owner: payments) ----
def _pem(raw: str) -> str:
    """PEM text as given, or the file named by "file:<path>" (relative to the project: the local TEST keys)."""
    if not raw.startswith("file:"):
        return raw.replace("\\n", "\n")
    path = Path(raw[len("file:"):])
    path = path if path.is_absolute() else Path(__file__).resolve().parents[1] / path
    try:
        return path.read_text(encoding="ascii")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the key file {path}") from exc


def _apiv3_key(raw: str) -> str:
    if raw and len(raw.encode("utf-8")) != 32:
        raise ConfigurationError("WECHATPAY_APIV3_KEY must be 32 bytes")
    return raw


def _platform_keys(raw: str) -> tuple[tuple[str, str], ...]:
    if not raw:
        return ()
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError("WECHATPAY_PLATFORM_PUBLIC_KEYS must be a JSON object of serial -> PEM") from exc
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ConfigurationError("WECHATPAY_PLATFORM_PUBLIC_KEYS must be a JSON object of serial -> PEM")
    return tuple(sorted((str(k), _pem(v)) for k, v in parsed.items()))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (the process environment when omitted)."""
    env = os.environ if env is None else env
    endpoint = _get(env, "AWS_ENDPOINT_URL") or None
    return Settings(
        stage=_get(env, "STAGE", "local"),
        region=_get(env, "AWS_REGION") or _get(env, "AWS_DEFAULT_REGION") or DEFAULT_REGION,
        his_app_id=_get(env, "HIS_APP_ID"),
        his_end_user_key=_get(env, "HIS_END_USER_KEY"),
        wechat_appid=_get(env, "WECHAT_APPID"),
        wechat_secret=_get(env, "WECHAT_SECRET"),
        wechat_token=_get(env, "WECHAT_TOKEN"),
        wechat_aes_key=_get(env, "WECHAT_AES_KEY"),
        wechat_api_base_url=_get(env, "WECHAT_API_BASE_URL", "https://api.weixin.qq.com").rstrip("/"),
        wechat_open_base_url=_get(env, "WECHAT_OPEN_BASE_URL", "https://open.weixin.qq.com").rstrip("/"),
        wechat_max_message_age_seconds=int(_number(env, "WECHAT_MAX_MESSAGE_AGE_SECONDS", 300)),
        wechat_reply_deadline_seconds=_number(env, "WECHAT_REPLY_DEADLINE_SECONDS", 4.0),
        wechat_templates=_templates(_get(env, "WECHAT_TEMPLATES")),
        wechatpay_api_base_url=_get(env, "WECHATPAY_API_BASE_URL", "https://api.mch.weixin.qq.com").rstrip("/"),
        aws_endpoint_url=endpoint,
        table_prefix=_get(env, "TABLE_PREFIX", "yiwei-local-"),
        his_request_queue=_get(env, "HIS_REQUEST_QUEUE", "yiwei-his-requests"),
        his_result_queue=_get(env, "HIS_RESULT_QUEUE", "yiwei-his-results"),
        wechat_async_queue=_get(env, "WECHAT_ASYNC_QUEUE", "yiwei-wechat-async"),
        his_event_queue=_get(env, "HIS_EVENT_QUEUE", "yiwei-his-events"),
        blob_bucket=_get(env, "BLOB_BUCKET", "yiwei-local-blobs"),
        his_bridge_function=_get(env, "HIS_BRIDGE_FUNCTION", "yiwei-local-his-bridge-read"),
        his_live_read_timeout_seconds=_number(env, "HIS_LIVE_READ_TIMEOUT_SECONDS", 3.0),
        lambda_endpoint_url=_get(env, "LAMBDA_ENDPOINT_URL") or None,
        h5_base_url=_get(env, "H5_BASE_URL", "http://127.0.0.1:8080").rstrip("/"),
        session_secret=_get(env, "H5_SESSION_SECRET"),
        hospital_name=_get(env, "HOSPITAL_NAME", "示例市第一人民医院"),
        hospital_intro=_get(env, "HOSPITAL_INTRO"),
        hospital_phone=_get(env, "HOSPITAL_PHONE"),
        sms_backend=_get(env, "SMS_BACKEND", "sns").lower(),
        sms_outbox_url=_get(env, "SMS_OUTBOX_URL").rstrip("/"),
        card_binds_per_day=int(_number(env, "CARD_BINDS_PER_DAY", 5)),
        booking_requests_per_minute=int(_number(env, "BOOKING_REQUESTS_PER_MINUTE", 20)),
        booking_daily_cap_per_user=int(_number(env, "BOOKING_DAILY_CAP_PER_USER", 6)),
        booking_daily_cap_per_patient=int(_number(env, "BOOKING_DAILY_CAP_PER_PATIENT", 3)),
        reminder_offsets_minutes=_minutes_list(env, "REMINDER_OFFSETS_MINUTES", "1440,120"),
        waitlist_offer_minutes=int(_number(env, "WAITLIST_OFFER_MINUTES", 15)),
        wechatpay_mchid=_get(env, "WECHATPAY_MCHID"),
        wechatpay_merchant_serial=_get(env, "WECHATPAY_MERCHANT_SERIAL"),
        wechatpay_private_key=_pem(_get(env, "WECHATPAY_PRIVATE_KEY")),
        wechatpay_apiv3_key=_apiv3_key(_get(env, "WECHATPAY_APIV3_KEY")),
        wechatpay_platform_keys=_platform_keys(_get(env, "WECHATPAY_PLATFORM_PUBLIC_KEYS")),
        wechatpay_notify_url=_get(env, "WECHATPAY_NOTIFY_URL").rstrip("/")
        or _get(env, "H5_BASE_URL", "http://127.0.0.1:8080").rstrip("/") + "/api/payments/notify",
        running_in_lambda=bool(_get(env, "AWS_LAMBDA_FUNCTION_NAME"))
        and not _get(env, "AWS_CHALICE_CLI_MODE"),
        log_level=_get(env, "LOG_LEVEL", "INFO").upper(),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return load_settings()


class QueueNames(NamedTuple):
    his_requests: str
    his_results: str
    wechat_async: str
    his_events: str


def queue_names() -> QueueNames:
    """Queue names the app subscribes to. Needed at import time by the SQS decorators, so they are
    read from the environment directly and default to the names the template creates."""
    s = get_settings()
    return QueueNames(s.his_request_queue, s.his_result_queue, s.wechat_async_queue, s.his_event_queue)


def stage_environment(stage: str, project_dir: Path | None = None) -> dict[str, str]:
    """The environment a Chalice stage defines in ``.chalice/config.json`` (for tools run outside
    Lambda: the local stack and the CLI)."""
    root = project_dir or Path(__file__).resolve().parents[1]
    config = json.loads((root / ".chalice" / "config.json").read_text(encoding="utf-8"))
    env: dict[str, str] = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return env


def settings_for_stage(stage: str) -> Settings:
    """Settings of ``stage`` where every variable already set in the environment wins."""
    env = stage_environment(stage)
    env.update({k: v for k, v in os.environ.items() if k in env or k.startswith("AWS_")})
    return load_settings(env)
