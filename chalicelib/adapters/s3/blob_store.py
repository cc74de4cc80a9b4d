"""``BlobStore`` on S3: the bridge parks large HIS result bodies, PDFs and CSV files in the bucket."""

from __future__ import annotations

import json
from typing import Any


class S3BlobStore:
    def __init__(self, s3_client: Any) -> None:
        self._s3 = s3_client

    def get_json(self, bucket: str, key: str) -> Any:
        return json.loads(self.get_bytes(bucket, key))

    def get_bytes(self, bucket: str, key: str) -> bytes:
        return bytes(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def presigned_url(self, bucket: str, key: str, expires_in: int, filename: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        return str(self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in))
