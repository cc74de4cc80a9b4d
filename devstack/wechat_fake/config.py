"""Settings of the fake: the official account it plays (credentials the app also holds) and runtime switches."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import WeChatError

DEFAULT_ACCOUNT_ID = "gh_yiwei_local"
ENCRYPT_MODES = ("aes", "plain")


@dataclass
class FakeConfig:
    appid: str
    secret: str
    token: str
    aes_key: str
    account_id: str = DEFAULT_ACCOUNT_ID
    account_name: str = "示例市第一人民医院"
    webhook_url: str = ""
    # switches (``POST /_fake/config``)
    enforce_48h: bool = True
    push_template_events: bool = True
    token_grace_seconds: int = 0
    encrypt_mode: str = "aes"  # "aes" (安全模式) or "plain" (明文模式)
    token_ttl_seconds: int = 7200
    code_ttl_seconds: int = 300
    webhook_timeout_seconds: float = 5.0

    SWITCHES = (
        "webhook_url", "enforce_48h", "push_template_events", "token_grace_seconds", "encrypt_mode",
        "token_ttl_seconds", "code_ttl_seconds", "webhook_timeout_seconds", "account_name",
    )

    def public(self) -> dict[str, Any]:
        """Everything except the secrets."""
        data = asdict(self)
        for secret in ("secret", "token", "aes_key"):
            data.pop(secret)
        return data

    def update(self, changes: dict[str, Any]) -> None:
        """Apply switches from JSON; unknown keys or wrong types give 40097 invalid args."""
        types = {f.name: f.type for f in fields(self)}
        for key, value in changes.items():
            if key not in self.SWITCHES:
                raise WeChatError(40097, f"invalid args: unknown setting {key}")
            expected = types[key]
            if expected == "bool" and not isinstance(value, bool):
                raise WeChatError(40097, f"invalid args: {key} must be true or false")
            if expected in ("int", "float") and (isinstance(value, bool) or not isinstance(value, int | float)
                                                 or value < 0):
                raise WeChatError(40097, f"invalid args: {key} must be a number ≥ 0")
            if expected == "str" and not isinstance(value, str):
                raise WeChatError(40097, f"invalid args: {key} must be a string")
            if key == "encrypt_mode" and value not in ENCRYPT_MODES:
                raise WeChatError(40097, "invalid args: encrypt_mode must be aes or plain")
            setattr(self, key, int(value) if expected == "int" else value)
