"""The SNS SMS sender: publish to +86…, transactional, the client made on first use; errors without the number
or text. (The local outbox sender is tested over HTTP in tests/integration/test_card_sms_outbox.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.adapters.sms.sns import SnsSmsSender
from chalicelib.services.ports import SmsSendError


class FakeSns:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return {"MessageId": "m1"}


def test_sns_publishes_to_the_mainland_number_as_a_transactional_sms():
    made: list[FakeSns] = []

    def factory() -> FakeSns:
        made.append(FakeSns())
        return made[-1]

    sender = SnsSmsSender(factory)
    assert made == []  # the client is made on first use
    sender.send("13800000004", "验证码是123456")
    sender.send("13800000004", "验证码是654321")
    assert len(made) == 1
    call = made[0].calls[0]
    assert call["PhoneNumber"] == "+8613800000004" and call["Message"] == "验证码是123456"
    assert call["MessageAttributes"]["AWS.SNS.SMS.SMSType"]["StringValue"] == "Transactional"


@pytest.mark.parametrize("error", [
    ClientError({"Error": {"Code": "InvalidParameter", "Message": "+8613800000004 验证码是123456"}}, "Publish"),
    EndpointConnectionError(endpoint_url="https://sns.ap-east-1.amazonaws.com"),
])
def test_sns_failures_name_no_number_or_text(error):
    sender = SnsSmsSender(lambda: FakeSns(error))
    with pytest.raises(SmsSendError) as err:
        sender.send("13800000004", "验证码是123456")
    assert "13800000004" not in str(err.value) and "123456" not in str(err.value)
    assert err.value.__cause__ is None
