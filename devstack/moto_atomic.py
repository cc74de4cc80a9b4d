"""DynamoDB applies each write to an item atomically, condition included; moto 5.2's DynamoDB does not: its
``put_item`` / ``update_item`` / ``delete_item`` / ``transact_write_items`` read the item, evaluate the condition
and write without a lock, while the threaded server runs requests in parallel (observed: 2 of 12 racing
conditional holds of one free slot both won). The local stack and the integration tests run moto in-process,
so its write operations are serialized here, making the emulator behave like DynamoDB for conditional writes.
The canary tests (racing conditional writes, exactly one winner) check it."""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.RLock()
_DONE = False
WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def serialize_dynamodb_writes() -> None:
    """Make moto's DynamoDB writes atomic in this process (idempotent)."""
    global _DONE  # noqa: PLW0603
    with _LOCK:
        if _DONE:
            return
        from moto.dynamodb.models import DynamoDBBackend

        for name in WRITES:
            original = getattr(DynamoDBBackend, name, None)
            if original is None:
                continue

            def serialized(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
                with _LOCK:
                    return __original(self, *args, **kwargs)

            setattr(DynamoDBBackend, name, serialized)
        _DONE = True
