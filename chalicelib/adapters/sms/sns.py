"""``SmsSender`` through Amazon SNS (``Publish`` to a phone number, transactional).

The client is made on first use (cold start). Errors become ``SmsSendError`` with SNS's error code only: the
number and the text (which holds a one-time code) never reach a log or an exception message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.services.ports import SmsSendError


class SnsSmsSender:
    def __init__(self, client_factory: Callable[[], Any], sender_id: str | None = None) -> None:
        self._factory = client_factory
        self._client: Any = None
        self._sender_id = sender_id

    def send(self, phone: str, text: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._client is None:
            self._client = self._factory()
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if self._sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self._sender_id}
        try:
            self._client.publish(PhoneNumber=f"+86{phone}", Message=text, MessageAttributes=attributes)
        except ClientError as exc:
            raise SmsSendError(f"SNS refused the SMS: {exc.response.get('Error', {}).get('Code', 'unknown')}") from None
        except BotoCoreError as exc:
            raise SmsSendError(f"SNS not reachable: {type(exc).__name__}") from None
