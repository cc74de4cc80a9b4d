"""The bridge's settings: the only place the bridge (and its event receiver) reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BridgeSettings:
    his_base_url: str
    his_app_id: str
    his_app_secret: str
    result_queue_url: str
    result_queue_name: str
    blob_bucket: str
    ca_bundle: str | None
    region: str
    aws_endpoint_url: str | None
    connect_timeout: float = 1.0
    read_timeout: float = 4.0
    inline_body_limit: int = 200_000
    log_level: str = "INFO"
    # Reserved concurrency of the bridge Lambda: the app's rate budget (§5.4) is split between instances.
    max_concurrency: int = 5
    # Synchronous reads for pages (``invoke_handler``): total time cap, whatever the Lambda has left.
    sync_read_cap_seconds: float = 4.0
    # Event receiver (§4.4, §8): nonce table, queue, secrets (current and, during rotation, previous), path.
    state_table: str = "yiwei-local-his"
    event_queue_name: str = "yiwei-his-events"
    event_queue_url: str = ""
    event_secret: str = ""
    event_secret_previous: str = ""
    event_path: str = "/his/events"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    try:
        return max(1, int(raw)) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number") from exc


def load_settings(env: Mapping[str, str] | None = None) -> BridgeSettings:
    env = os.environ if env is None else env
    return BridgeSettings(
        his_base_url=env.get("HIS_BASE_URL", "").rstrip("/"),
        his_app_id=env.get("HIS_APP_ID", ""),
        his_app_secret=env.get("HIS_APP_SECRET", ""),
        result_queue_url=env.get("HIS_RESULT_QUEUE_URL", ""),
        result_queue_name=env.get("HIS_RESULT_QUEUE", "yiwei-his-results"),
        blob_bucket=env.get("BLOB_BUCKET", ""),
        ca_bundle=env.get("HIS_CA_BUNDLE") or None,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "ap-east-1",
        aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        max_concurrency=_int(env, "BRIDGE_MAX_CONCURRENCY", 5),
        state_table=env.get("HIS_STATE_TABLE") or "yiwei-local-his",
        event_queue_name=env.get("HIS_EVENT_QUEUE") or "yiwei-his-events",
        event_queue_url=env.get("HIS_EVENT_QUEUE_URL", ""),
        event_secret=env.get("HIS_EVENT_SECRET", ""),
        event_secret_previous=env.get("HIS_EVENT_SECRET_PREVIOUS", ""),
        event_path=env.get("HIS_EVENT_PATH") or "/his/events",
    )
