"""Errors of the webhook protocol, importable without wechatpy (keeps the Lambda's cold import light)."""


class WebhookError(Exception):
    """A request refused with a 4xx: 403 authentication, 400 malformed, 413 oversized."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
