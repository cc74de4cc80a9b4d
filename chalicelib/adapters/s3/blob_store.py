"""``BlobStore`` on S3: large HIS result bodies are parked in the bucket by the bridge."""

from __future__ import annotations

import json
from typing import Any


class S3BlobStore:
    def __init__(self, s3_client: Any) -> None:
        self._s3 = s3_client

    def get_json(self, bucket: str, key: str) -> Any:
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return json.loads(body)
