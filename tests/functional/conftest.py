from __future__ import annotations

import logging
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.observability import JsonFormatter


@pytest.fixture
def client(reference_repo: Any) -> Any:
    """The app under ``chalice.test.Client`` with fakes behind every port."""
    from app import app
    from chalicelib import bootstrap
    from tests.fakes import FakeBlobStore, FakeHisRequestQueue, FakeJobRepository

    bootstrap.override(
        reference_repository=reference_repo,
        his_request_queue=FakeHisRequestQueue(),
        job_repository=FakeJobRepository(),
        blob_store=FakeBlobStore(),
    )
    with Client(app, stage_name="local") as c:
        yield c


@pytest.fixture
def logs() -> Any:
    """The app's log lines as JSON, to check what is (not) written: audits, never personal data."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("yiwei")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)
