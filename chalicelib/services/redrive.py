"""Moving dead-lettered messages back to their queue (operator command ``redrive``).

A message reaches ``<queue>-dlq`` after failing the queue's max receives. Once the cause is fixed,
``redrive`` receives them in batches, sends each back to ``<queue>`` with the same body and attributes,
and deletes it from the DLQ only after that send succeeded: a message is never lost, and at worst (the
delete fails) it is delivered twice, which every consumer tolerates (they are idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.observability import get_logger
from chalicelib.services.ports import DeadLetterQueues

BATCH = 10
log = get_logger("redrive")


@dataclass(frozen=True)
class RedriveOutcome:
    waiting: int  # approximately in the DLQ before we started
    moved: int = 0  # sent back and deleted from the DLQ
    failed: int = 0  # could not be sent back; still in the DLQ
    not_deleted: int = 0  # sent back but still in the DLQ too (will be delivered twice)
    dry_run: bool = False


def redrive(queue: str, dead_letters: DeadLetterQueues, max_messages: int | None = None,
            dry_run: bool = False) -> RedriveOutcome:
    """Move up to ``max_messages`` (all, when None) from ``<queue>-dlq`` back to ``queue``."""
    waiting = dead_letters.count(queue)
    if dry_run:
        return RedriveOutcome(waiting, dry_run=True)
    if max_messages is not None and max_messages < 1:
        raise ValueError("max_messages must be at least 1")
    moved = failed = not_deleted = 0
    seen: set[str] = set()
    while max_messages is None or len(seen) < max_messages:
        want = BATCH if max_messages is None else min(BATCH, max_messages - len(seen))
        fresh = [m for m in dead_letters.receive(queue, want) if m.message_id not in seen]
        if not fresh:
            break  # empty, or only the ones we failed to send coming round again
        for letter in fresh:
            seen.add(letter.message_id)
            try:
                dead_letters.send_back(queue, letter)
            except Exception:
                failed += 1
                log.exception("could not send a message back; it stays in the DLQ",
                              extra={"queue": queue, "message_id": letter.message_id})
                continue
            try:
                dead_letters.delete(queue, letter)
            except Exception:
                not_deleted += 1
                log.exception("sent back but not deleted from the DLQ",
                              extra={"queue": queue, "message_id": letter.message_id})
                continue
            moved += 1
    log.info("redrive finished", extra={"queue": queue, "moved": moved, "failed": failed, "not_deleted": not_deleted})
    return RedriveOutcome(waiting, moved, failed, not_deleted)
