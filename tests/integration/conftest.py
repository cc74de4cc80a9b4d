"""Integration fixtures: a moto server over real HTTP, resources provisioned from the same template
the deployment uses, and settings pointing the app at them."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

REGION = "ap-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from devstack.moto_atomic import serialize_dynamodb_writes

    serialize_dynamodb_writes()  # conditional writes as atomic as DynamoDB's (moto's are not); canaries check it
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str) -> Iterator[Any]:
    """Fresh resources for one test (unique table prefix / queue prefix / bucket)."""
    from devstack.provision import provision

    tag = uuid.uuid4().hex[:8]
    resources = provision(
        endpoint_url=moto_endpoint,
        region=REGION,
        table_prefix=f"t{tag}-",
        stage="local",
        bucket_name=f"blobs-{tag}",
        queue_prefix=f"q{tag}-",
    )
    yield resources


@pytest.fixture
def app_settings(moto_endpoint: str, aws: Any) -> Any:
    """App settings aimed at this test's resources, installed in the bootstrap container."""
    from chalicelib import bootstrap
    from chalicelib.config import load_settings, stage_environment

    env = stage_environment("local")
    env.update(
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_DEFAULT_REGION=REGION,
        TABLE_PREFIX=aws.table("reference").removesuffix("reference"),
        HIS_REQUEST_QUEUE=aws.queue_names["HisRequestQueue"],
        HIS_RESULT_QUEUE=aws.queue_names["HisResultQueue"],
        WECHAT_ASYNC_QUEUE=aws.queue_names["WeChatAsyncQueue"],
        HIS_EVENT_QUEUE=aws.queue_names["HisEventQueue"],
        BLOB_BUCKET=aws.bucket,
    )
    settings = load_settings(env)
    bootstrap.use_settings(settings)
    return settings
