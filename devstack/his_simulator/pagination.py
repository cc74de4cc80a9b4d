"""Cursor pagination (§2.2): ``page_size`` 1-200 (default 50), opaque ``cursor``, ``next_cursor`` null at the end.

A cursor encodes the offset and a digest of the query it belongs to, so it cannot be replayed against another
query by mistake.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def _digest(query: Mapping[str, str]) -> str:
    relevant = {k: v for k, v in query.items() if k not in ("cursor", "page_size")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]


def encode_cursor(offset: int, query: Mapping[str, str]) -> str:
    raw = json.dumps({"o": offset, "q": _digest(query)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, query: Mapping[str, str]) -> int | None:
    """The offset in ``cursor``; None when it is malformed or belongs to another query."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = decoded["o"]
        if isinstance(offset, int) and offset >= 0 and decoded["q"] == _digest(query):
            return offset
    except (ValueError, KeyError, TypeError):
        pass
    return None


def paginate(items: Sequence[T], offset: int, size: int, query: Mapping[str, str]) -> tuple[list[T], str | None]:
    """One page and the cursor of the next page (None on the last page)."""
    page = list(items[offset : offset + size])
    next_offset = offset + size
    return page, encode_cursor(next_offset, query) if next_offset < len(items) else None
