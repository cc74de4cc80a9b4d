"""Everything the fake remembers, behind one re-entrant lock (the server is threaded): users, access tokens,
OAuth codes, the menu, tags, templates, QR scenes, each user's chat timeline, recorded API calls, pushes to the
app's webhook and injected faults.

Time is ``time.time()`` plus an offset (``advance``), so tests can expire tokens, codes and the 48 h window.
"""

from __future__ import annotations

import dataclasses
import itertools
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import FakeConfig
from .errors import WeChatError

HOUR = 3600
CALL_LOG_LIMIT = 2000
TIMELINE_LIMIT = 500
SYSTEM_TAGS = {0: "未分组", 1: "黑名单", 2: "星标组"}


@dataclass
class User:
    openid: str
    nickname: str
    subscribed: bool = False
    subscribe_time: int = 0
    last_interaction_at: float | None = None
    tags: list[int] = field(default_factory=list)
    subscribe_scene: str = "ADD_SCENE_OTHERS"
    qr_scene_str: str = ""
    remark: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def seed_users(now: float) -> list[User]:
    """张阿姨 has not followed yet; 李先生 follows but last wrote 3 days ago (custom messages to him fail with
    45015); 陈女士 follows and wrote just now."""
    return [
        User("o-sim-zhangayi-0000000000001", "张阿姨"),
        User("o-sim-lixiansheng-0000000002", "李先生", True, int(now - 30 * 24 * HOUR), now - 72 * HOUR,
             subscribe_scene="ADD_SCENE_SEARCH"),
        User("o-sim-chennvshi-000000000003", "陈女士", True, int(now - 7 * 24 * HOUR), now,
             subscribe_scene="ADD_SCENE_QR_CODE", qr_scene_str="dept:D0301"),
    ]


@dataclass
class _Token:
    value: str
    expires_at: float
    valid_until: float  # earlier than expires_at once a newer token superseded it


@dataclass
class _Code:
    openid: str
    scope: str
    issued_at: float
    used: bool = False


@dataclass
class _Fault:
    errcode: int
    errmsg: str | None
    remaining: int


def new_openid() -> str:
    """28 characters like WeChat's, recognisably simulated."""
    return "o-sim-" + secrets.token_urlsafe(17)[:22]


class FakeState:
    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self._initial_config = dataclasses.replace(config)
        self.lock = threading.RLock()
        self._offset = 0.0
        self.reset()

    # ---------------------------------------------------------------- clock, ids, reset
    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self._offset += seconds

    def reset(self) -> None:
        """Forget everything the app or the simulator did, put the switches back as started, reseed the test users.
        The clock offset stays."""
        with self.lock:
            for name in FakeConfig.SWITCHES:
                setattr(self.config, name, getattr(self._initial_config, name))
            self.users: dict[str, User] = {u.openid: u for u in seed_users(self.now())}
            self.tokens: dict[str, _Token] = {}
            self.current_token: str | None = None
            self.jsapi_ticket: tuple[str, float] | None = None
            self.codes: dict[str, _Code] = {}
            self.sns_tokens: dict[str, dict[str, Any]] = {}
            self.menu: dict[str, Any] | None = None
            self.menu_id = 0
            self.tags: dict[int, str] = dict(SYSTEM_TAGS)
            self.next_tag_id = 100
            self.templates: dict[str, dict[str, str]] = {}
            self.qrcodes: dict[str, dict[str, Any]] = {}
            self.timelines: dict[str, deque[dict[str, Any]]] = {}
            self.calls: deque[dict[str, Any]] = deque(maxlen=CALL_LOG_LIMIT)
            self.pushes: deque[dict[str, Any]] = deque(maxlen=CALL_LOG_LIMIT)
            self.faults: dict[str, list[_Fault]] = {}
            self.sms: deque[dict[str, Any]] = deque(maxlen=CALL_LOG_LIMIT)  # cards: the SMS outbox (sms.py)
            self._ids = itertools.count(1)
            self._msgids = itertools.count(int(self.now()) * 1000)

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    def next_msgid(self) -> int:
        with self.lock:
            return next(self._msgids)

    # ---------------------------------------------------------------- credentials
    def check_app(self, appid: str | None, secret: str | None) -> None:
        if not appid:
            raise WeChatError(41002)
        if appid != self.config.appid:
            raise WeChatError(40013)
        if not secret:
            raise WeChatError(41004)
        if not secrets.compare_digest(secret.encode(), self.config.secret.encode()):
            raise WeChatError(40125)

    def issue_token(self) -> tuple[str, int]:
        """A new access token; the previous one stays valid for ``token_grace_seconds`` (default 0)."""
        with self.lock:
            now = self.now()
            if self.current_token is not None:
                old = self.tokens[self.current_token]
                old.valid_until = min(old.valid_until, now + self.config.token_grace_seconds)
            ttl = self.config.token_ttl_seconds
            value = secrets.token_urlsafe(100)
            self.tokens[value] = _Token(value, now + ttl, now + ttl)
            self.current_token = value
            return value, ttl

    def stable_token(self, force_refresh: bool) -> tuple[str, int]:
        """``/cgi-bin/stable_token``: the current token while it is valid, unless forced."""
        with self.lock:
            token = self.tokens.get(self.current_token or "")
            now = self.now()
            if not force_refresh and token is not None and now < token.valid_until:
                return token.value, int(token.valid_until - now)
            return self.issue_token()

    def check_token(self, value: str | None) -> None:
        if not value:
            raise WeChatError(41001)
        with self.lock:
            token = self.tokens.get(value)
            now = self.now()
        if token is None:
            raise WeChatError(40001)
        if now >= token.expires_at:
            raise WeChatError(42001)
        if now >= token.valid_until:
            raise WeChatError(40001)

    def expire_token(self) -> str | None:
        """Make the current token expired (the next call with it gets 42001)."""
        with self.lock:
            if self.current_token is None:
                return None
            token = self.tokens[self.current_token]
            token.expires_at = token.valid_until = self.now()
            return token.value

    def ticket(self) -> tuple[str, int]:
        with self.lock:
            now = self.now()
            if self.jsapi_ticket is None or now >= self.jsapi_ticket[1]:
                self.jsapi_ticket = (secrets.token_urlsafe(64), now + 7200)
            return self.jsapi_ticket[0], int(self.jsapi_ticket[1] - now)

    # ---------------------------------------------------------------- OAuth codes
    def issue_code(self, openid: str, scope: str) -> str:
        with self.lock:
            self.user(openid)
            code = secrets.token_hex(16)
            self.codes[code] = _Code(openid, scope, self.now())
            return code

    def exchange_code(self, code: str | None) -> dict[str, Any]:
        """Single use (40163 on reuse), valid for ``code_ttl_seconds`` (then 40029)."""
        if not code:
            raise WeChatError(41008)
        with self.lock:
            grant = self.codes.get(code)
            if grant is None:
                raise WeChatError(40029)
            if grant.used:
                raise WeChatError(40163)
            if self.now() - grant.issued_at >= self.config.code_ttl_seconds:
                raise WeChatError(40029)
            grant.used = True
            result: dict[str, Any] = {
                "access_token": secrets.token_urlsafe(64),
                "expires_in": 7200,
                "refresh_token": secrets.token_urlsafe(64),
                "openid": grant.openid,
                "scope": grant.scope,
            }
            self.sns_tokens[result["access_token"]] = {**result, "expires_at": self.now() + 7200}
            return result

    # ---------------------------------------------------------------- users
    def user(self, openid: str | None) -> User:
        """The user, or 40003 invalid openid."""
        with self.lock:
            found = self.users.get(openid or "")
        if found is None:
            raise WeChatError(40003)
        return found

    def add_user(self, nickname: str, openid: str | None = None, **fields_: Any) -> User:
        with self.lock:
            user = User(openid or new_openid(), nickname, **fields_)
            self.users[user.openid] = user
            return user

    def touch(self, openid: str) -> None:
        """Record an interaction that opens the 48 h customer-service window."""
        with self.lock:
            self.user(openid).last_interaction_at = self.now()

    def subscribe(self, openid: str, scene: str | None) -> User:
        with self.lock:
            user = self.user(openid)
            user.subscribed = True
            user.subscribe_time = int(self.now())
            user.subscribe_scene = "ADD_SCENE_QR_CODE" if scene else "ADD_SCENE_SEARCH"
            user.qr_scene_str = scene or ""
            user.last_interaction_at = self.now()
            return user

    def unsubscribe(self, openid: str) -> User:
        with self.lock:
            user = self.user(openid)
            user.subscribed = False
            return user

    def can_receive_custom(self, user: User) -> bool:
        """Customer-service messages only reach a follower who interacted within the last 48 hours."""
        if not user.subscribed:
            return False
        if not self.config.enforce_48h:
            return True
        return user.last_interaction_at is not None and self.now() - user.last_interaction_at < 48 * HOUR

    # ---------------------------------------------------------------- timeline
    def add_entry(self, openid: str, entry: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            full = {"id": next(self._ids), "at": self.now(), "openid": openid, **entry}
            self.timelines.setdefault(openid, deque(maxlen=TIMELINE_LIMIT)).append(full)
            return full

    def timeline(self, openid: str, after: int = 0) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.timelines.get(openid, ()) if e["id"] > after]

    # ---------------------------------------------------------------- calls, pushes, faults
    def record_call(self, call: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append({"id": next(self._ids), **call})

    def find_calls(self, path: str | None = None, openid: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                c for c in self.calls
                if (path is None or c["path"] == path) and (openid is None or openid in c.get("openids", ()))
            ]

    def record_push(self, push: dict[str, Any]) -> None:
        with self.lock:
            self.pushes.append({"id": next(self._ids), **push})

    def add_fault(self, path: str, errcode: int, count: int, errmsg: str | None = None) -> None:
        with self.lock:
            self.faults.setdefault(path, []).append(_Fault(errcode, errmsg, count))

    def take_fault(self, path: str) -> WeChatError | None:
        """The error to answer for this call of ``path`` instead of running it, if one is pending."""
        with self.lock:
            pending = self.faults.get(path, [])
            while pending and pending[0].remaining <= 0:
                pending.pop(0)
            if not pending:
                return None
            pending[0].remaining -= 1
            return WeChatError(pending[0].errcode, pending[0].errmsg)

    def pending_faults(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"path": p, **asdict(f)} for p, fs in self.faults.items() for f in fs if f.remaining > 0]
