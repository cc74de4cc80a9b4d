"""Answering patients' text messages from the FAQ knowledge base, and keeping that base.

Staff edit the entries as JSON (``faq export`` / ``faq import`` in ``chalicelib.cli``); the seed in
``chalicelib/data/faq_seed.json`` fills an empty base once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from chalicelib.domain.faq import FaqEntry, FaqFormatError, FaqMatch, match, parse_entries, suggest, to_dict
from chalicelib.services.ports import FaqRepository

SEED_FILE = Path(__file__).resolve().parents[1] / "data" / "faq_seed.json"
SUGGESTION_INTRO = "您是不是想问："
SUGGESTION_OUTRO = "可以直接发送上面的问题。"


@dataclass(frozen=True)
class FaqAnswer:
    """What to reply: the matched entry's answer, or the near misses as "您是不是想问：…"."""

    text: str
    match: FaqMatch | None = None
    suggestions: tuple[FaqMatch, ...] = ()


@dataclass(frozen=True)
class FaqImport:
    """What an import changes (or would change, when not applied)."""

    added: list[FaqEntry] = field(default_factory=list)
    changed: list[FaqEntry] = field(default_factory=list)
    removed: list[FaqEntry] = field(default_factory=list)
    unchanged: list[FaqEntry] = field(default_factory=list)
    applied: bool = False

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def answer_text(query: str, repo: FaqRepository, h5_base_url: str) -> FaqAnswer | None:
    """The reply to a patient's text ``query``, or None when the base knows nothing like it."""
    return reply_for(query, repo.all(), h5_base_url)


def reply_for(query: str, entries: Sequence[FaqEntry], h5_base_url: str) -> FaqAnswer | None:
    """``answer_text`` over given entries (e.g. a file staff are editing)."""
    found = match(query, entries)
    if found is not None:
        return FaqAnswer(found.entry.answer_with(h5_base_url), found)
    near = tuple(suggest(query, entries))
    if not near:
        return None
    lines = [SUGGESTION_INTRO, *(f"· {m.entry.question}" for m in near), SUGGESTION_OUTRO]
    return FaqAnswer("\n".join(lines), None, near)


def topics(repo: FaqRepository, n: int = 10) -> list[str]:
    """The questions to offer when a patient asks what they can ask (highest priority first)."""
    entries = sorted((e for e in repo.all() if e.enabled), key=lambda e: (-e.priority, e.entry_id))
    return [e.question for e in entries[:n]]


def seed_entries(now: datetime, path: Path = SEED_FILE) -> list[FaqEntry]:
    """The seed entries shipped with the app, stamped ``now`` where they carry no ``updated_at``."""
    return parse_entries(json.loads(path.read_text(encoding="utf-8")), now)


def ensure_seeded(repo: FaqRepository, seed_entries: Sequence[FaqEntry]) -> bool:
    """Store ``seed_entries`` if the base holds no entry at all (not even a disabled one); True if it did.

    Safe to run concurrently: two runs write the same items.
    """
    if repo.all():
        return False
    repo.put_many(seed_entries)
    return True


def _same_content(a: FaqEntry, b: FaqEntry) -> bool:
    return dataclasses.replace(a, updated_at=b.updated_at) == b


def import_entries(repo: FaqRepository, raw: Any, replace: bool, now: datetime,
                   dry_run: bool = False) -> FaqImport:
    """Validate ``raw`` (the staff format; ``FaqFormatError`` lists every problem, and nothing is
    written then) and store it: new and changed entries are stamped ``now``, unchanged ones keep
    their time. With ``replace`` the entries missing from ``raw`` are deleted."""
    entries = parse_entries(raw, now)
    if replace and not entries:
        raise FaqFormatError(["the file holds no entries; replacing with it would delete every entry"])
    held = {e.entry_id: e for e in repo.all()}
    result = FaqImport()
    for entry in entries:
        old = held.get(entry.entry_id)
        if old is None:
            result.added.append(dataclasses.replace(entry, updated_at=now))
        elif _same_content(old, entry):
            result.unchanged.append(old)
        else:
            result.changed.append(dataclasses.replace(entry, updated_at=now))
    if replace:
        wanted = {e.entry_id for e in entries}
        result.removed.extend(e for e in held.values() if e.entry_id not in wanted)
    if dry_run or not result.has_changes:
        return result
    if replace:
        repo.replace_all([*result.unchanged, *result.added, *result.changed])
    else:
        repo.put_many([*result.added, *result.changed])
    return dataclasses.replace(result, applied=True)


def export_entries(repo: FaqRepository) -> list[dict[str, Any]]:
    """Every entry in the staff format, by ``entry_id`` (what ``import_entries`` reads back)."""
    return [to_dict(e) for e in sorted(repo.all(), key=lambda e: e.entry_id)]
