"""``SmsSender`` for the local stack: posts ``{"phone", "text"}`` to an outbox URL (the fake WeChat platform's
``/_fake/sms``), where the WeChat simulator page shows it. Never used in AWS."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from chalicelib.services.ports import SmsSendError

TIMEOUT_SECONDS = 3.0


class HttpOutboxSmsSender:
    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the SMS outbox URL must be http(s)")
        self._url = url
        self._timeout = timeout

    def send(self, phone: str, text: str) -> None:
        body = json.dumps({"phone": phone, "text": text}, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self._url, data=body, method="POST",  # noqa: S310 (checked above)
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                if response.status >= 300:
                    raise SmsSendError(f"SMS outbox answered HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            raise SmsSendError(f"SMS outbox answered HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SmsSendError(f"SMS outbox not reachable: {type(exc).__name__}") from None
