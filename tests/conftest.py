"""Shared fixtures. Test layers: unit (pure, fakes), functional (chalice.test.Client + fakes),
integration (moto server, HIS simulator over real HTTP), e2e (local stack + headless Chromium)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SPEC_DIR = ROOT / "devstack" / "his_simulator" / "spec"

# boto3 refuses to sign without credentials; tests never reach real AWS.
for _name, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                      "AWS_DEFAULT_REGION": "ap-east-1"}.items():
    os.environ.setdefault(_name, _value)


# Hypothesis: random exploration on a developer's machine (new interleavings each run; failures are kept in
# .hypothesis/ and replayed), the same examples on CI (CI=true), so a submission's result does not depend on
# luck. HYPOTHESIS_PROFILE=default|ci chooses explicitly.
from hypothesis import settings as _hypothesis  # noqa: E402 (after the environment above)

_hypothesis.register_profile("ci", derandomize=True, database=None, print_blob=True)
_hypothesis.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default"))


def load_fixture(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _fresh_bootstrap() -> Any:
    from chalicelib import bootstrap

    bootstrap.reset()
    yield
    bootstrap.reset()


@pytest.fixture
def fetched_at() -> datetime:
    return datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


@pytest.fixture
def reference_repo(fetched_at: datetime) -> Any:
    """A fake repository holding the fixture hospital (tests/fixtures/his/reference_*.json)."""
    from chalicelib.domain.his_reference import snapshot_from_payload
    from chalicelib.domain.reference import Dataset
    from tests.fakes import FakeReferenceRepository

    repo = FakeReferenceRepository()
    for dataset in Dataset:
        snapshot, _ = snapshot_from_payload(dataset, load_fixture(f"his/reference_{dataset.value}.json"), fetched_at,
                                            f'"etag-{dataset.value}"')
        repo.apply_snapshot(snapshot)
    return repo
