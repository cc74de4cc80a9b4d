"""JSON-line logging for the bridge: operation names, statuses, codes, attempts, trace ids, durations.

Nothing personal or secret is ever passed here: no bodies, no paths or queries (they carry patient and
appointment ids), no headers. Fields whose value is None are left out.
"""

from __future__ import annotations

import json
import logging
from typing import Any


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    if not logger.isEnabledFor(level):
        return
    record = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
    logger.log(level, json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str))


def configure(level: str) -> None:
    """Plain message lines (each one JSON object); Lambda adds its own timestamp and request id."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(message)s")
    logging.getLogger("his_bridge").setLevel(level)
