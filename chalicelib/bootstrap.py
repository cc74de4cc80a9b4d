"""The one place that wires adapters to ports.

Everything is built lazily on first use and cached for the life of the Lambda container, so importing
the app costs nothing (cold start). Tests replace parts with ``override(...)`` and undo it with
``reset()``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.observability import configure_logging, enable_tracing
from chalicelib.services.ports import BlobStore, Clock, HisRequestQueue, IdFactory, JobRepository, ReferenceRepository
from chalicelib.services.reference_query import HospitalProfile


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _uuid() -> str:
    return uuid.uuid4().hex


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        configure_logging(settings.log_level)
        enable_tracing(settings.running_in_lambda)

    def _boto_client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            service,
            region_name=self.settings.region,
            endpoint_url=self.settings.aws_endpoint_url,
            config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}),
        )

    @cached_property
    def clock(self) -> Clock:
        return _utc_now

    @cached_property
    def new_id(self) -> IdFactory:
        return _uuid

    @cached_property
    def reference_repository(self) -> ReferenceRepository:
        from chalicelib.adapters.dynamodb.models import reference_model
        from chalicelib.adapters.dynamodb.reference_repository import DynamoReferenceRepository

        s = self.settings
        return DynamoReferenceRepository(reference_model(s.table_name("reference"), s.region, s.aws_endpoint_url))

    @cached_property
    def job_repository(self) -> JobRepository:
        from chalicelib.adapters.dynamodb.job_repository import DynamoJobRepository
        from chalicelib.adapters.dynamodb.models import job_model

        s = self.settings
        return DynamoJobRepository(job_model(s.table_name("jobs"), s.region, s.aws_endpoint_url))

    @cached_property
    def his_request_queue(self) -> HisRequestQueue:
        from chalicelib.adapters.sqs.his_request_queue import SqsHisRequestQueue

        return SqsHisRequestQueue(self._boto_client("sqs"), self.settings.his_request_queue)

    @cached_property
    def blob_store(self) -> BlobStore:
        from chalicelib.adapters.s3.blob_store import S3BlobStore

        return S3BlobStore(self._boto_client("s3"))

    @cached_property
    def hospital_profile(self) -> HospitalProfile:
        return HospitalProfile(name=self.settings.hospital_name, intro=self.settings.hospital_intro or None)


_container: Container | None = None
_overrides: dict[str, Any] = {}


def container() -> Container:
    """The process's container, built on first use."""
    return _container if _container is not None else use_settings(get_settings())


def use_settings(settings: Settings) -> Container:
    """Build the container from explicit settings (the local stack and integration tests)."""
    global _container  # noqa: PLW0603
    _container = Container(settings)
    for name, value in _overrides.items():
        _container.__dict__[name] = value
    return _container


def override(**components: Any) -> None:
    """Replace components (e.g. ``reference_repository=FakeReferenceRepository()``) for tests."""
    unknown = [n for n in components if not isinstance(getattr(Container, n, None), cached_property)]
    if unknown:
        raise AttributeError(f"no such component: {unknown}")
    _overrides.update(components)
    if _container is not None:
        _container.__dict__.update(components)


def reset() -> None:
    """Forget every built component and override."""
    global _container  # noqa: PLW0603
    _container = None
    _overrides.clear()
