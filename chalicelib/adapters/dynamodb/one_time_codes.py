"""``OneTimeCodes`` on DynamoDB: OAuth2 codes claimed once (see ``models.WeChatItem``).

Item: pk = "oauthcode#<sha256 hex of the code>", sk = "code", expires_at = claim time + 1 day (TTL).
Only the hash is stored. The put is conditional on the key not existing, so of any number of racing
claims exactly one succeeds. A claimed code stays claimed until TTL removes it, long after WeChat's
own five-minute validity.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.models import WeChatItem

SK = "code"
RETENTION = timedelta(days=1)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class DynamoOneTimeCodes:
    def __init__(self, model: type[WeChatItem]) -> None:
        self._model = model

    def claim(self, code_hash: str, at: datetime) -> bool:
        if not _SHA256_HEX.fullmatch(code_hash):
            raise ValueError("code_hash must be a lower-case SHA-256 hex digest")
        item = self._model(
            f"oauthcode#{code_hash}",
            SK,
            state="claimed",
            at_ms=int(at.timestamp() * 1000),
            expires_at=int((at + RETENTION).timestamp()),
        )
        try:
            item.save(condition=self._model.pk.does_not_exist())
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True
