"""The bridge's settings: the only place the bridge reads its environment."""

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
    )
