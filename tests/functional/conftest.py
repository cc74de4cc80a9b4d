from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client


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
