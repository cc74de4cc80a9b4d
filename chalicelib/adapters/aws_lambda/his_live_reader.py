"""``HisLiveReader`` by a direct, synchronous invoke of the HIS bridge Lambda.

``Invoke`` with ``InvocationType=RequestResponse``: the payload is the ``HisRequest`` JSON, the bridge's
``invoke_handler`` answers the ``HisResult`` JSON (large or binary bodies parked in S3, ``body_ref``). The
client has a short read timeout and no retries: a page waits for one attempt only, then shows the kept
copy. Anything but a well-formed result for this request (a timeout, the bridge's own failure, a
garbled reply) is "no timely answer" (None). Payloads are never logged: they carry patient data.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.his_messages import HisRequest, HisResult, MessageFormatError
from chalicelib.observability import get_logger

log = get_logger("his_live_reader")


def lambda_client(region: str, endpoint_url: str | None, read_timeout: float) -> Any:
    """A Lambda client for live reads: 1 s to connect, ``read_timeout`` to answer, no retries."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=read_timeout, retries={"max_attempts": 0, "mode": "standard"})
    return boto3.session.Session().client("lambda", region_name=region, endpoint_url=endpoint_url, config=config)


class LambdaHisLiveReader:
    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def read(self, request: HisRequest) -> HisResult | None:
        payload = json.dumps(request.to_json(), ensure_ascii=False).encode("utf-8")
        try:
            response = self._client.invoke(FunctionName=self._function, InvocationType="RequestResponse", Payload=payload)
            raw = response["Payload"].read()
        except (BotoCoreError, ClientError) as exc:
            log.warning("live read: no answer from the bridge", extra={"operation": request.operation,
                                                                       "error": type(exc).__name__})
            return None
        if response.get("FunctionError"):
            log.warning("live read: the bridge failed", extra={"operation": request.operation,
                                                                "function_error": str(response["FunctionError"])})
            return None
        try:
            data = json.loads(raw)
            result = HisResult.from_json(data)
        except (ValueError, MessageFormatError, TypeError) as exc:
            log.warning("live read: unreadable answer", extra={"operation": request.operation, "error": type(exc).__name__})
            return None
        if result.request_id != request.request_id:
            log.warning("live read: answer to another request", extra={"operation": request.operation})
            return None
        return result

