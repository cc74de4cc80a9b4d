"""devstack/provision.py against a real moto server: the local stack's tables, queues and bucket come
from infra/resources.yaml and match the local stage of .chalice/config.json."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer

from devstack.provision import DEFAULT_TEMPLATE, ProvisionedResources, load_template, provision

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REGION = "ap-east-1"
LOCAL_ENV = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))["stages"]["local"][
    "environment_variables"
]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def endpoint(moto_server: str) -> str:
    """The moto server, emptied before each test."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return moto_server


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _provision_local(endpoint: str, template_path: Path = DEFAULT_TEMPLATE) -> ProvisionedResources:
    return provision(endpoint_url=endpoint, region=REGION, table_prefix=LOCAL_ENV["TABLE_PREFIX"],
                     stage="local", bucket_name=LOCAL_ENV["BLOB_BUCKET"], template_path=template_path)


def _queue_attributes(sqs: Any, url: str) -> dict[str, str]:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_local_stack_matches_the_template_and_the_local_stage(endpoint: str) -> None:
    res = _provision_local(endpoint)

    # Tables: names from TABLE_PREFIX, pk/sk string keys, on-demand, TTL on jobs.
    ddb = _client("dynamodb", endpoint)
    assert set(res.tables.values()) == {f"yiwei-local-{t}" for t in ("reference", "jobs", "wechat", "his", "patients",
                                                                      "booking", "payments")}
    assert res.table("reference") == LOCAL_ENV["TABLE_PREFIX"] + "reference"
    for name in res.tables.values():
        table = ddb.describe_table(TableName=name)["Table"]
        assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
        assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
            ("pk", "S"), ("sk", "S")}
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    for ttl_table in ("yiwei-local-jobs", "yiwei-local-wechat", "yiwei-local-his", "yiwei-local-patients"):
        ttl = ddb.describe_time_to_live(TableName=ttl_table)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

    # Queues: the names the app uses locally, each redriven to its DLQ after 5 receives.
    sqs = _client("sqs", endpoint)
    request_q, result_q = LOCAL_ENV["HIS_REQUEST_QUEUE"], LOCAL_ENV["HIS_RESULT_QUEUE"]
    wechat_q, event_q = LOCAL_ENV["WECHAT_ASYNC_QUEUE"], LOCAL_ENV["HIS_EVENT_QUEUE"]
    sources = (request_q, result_q, wechat_q, event_q)
    assert set(res.queues) == {q + suffix for q in sources for suffix in ("", "-dlq")}
    assert res.dead_letter_queues == {q: f"{q}-dlq" for q in sources}
    for source, dlq in res.dead_letter_queues.items():
        attrs = _queue_attributes(sqs, res.queues[source])
        dlq_arn = _queue_attributes(sqs, res.queues[dlq])["QueueArn"]
        redrive = json.loads(attrs["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq_arn
        assert int(redrive["maxReceiveCount"]) == 5
        assert int(attrs["VisibilityTimeout"]) >= 180  # 6 x the consumers' 30 s timeout
        assert sqs.get_queue_url(QueueName=source)["QueueUrl"] == res.queues[source]

    # Blob bucket, with the his-results/ expiry of the deployment.
    s3 = _client("s3", endpoint)
    assert res.bucket == LOCAL_ENV["BLOB_BUCKET"]
    s3.head_bucket(Bucket=res.bucket)
    rules = s3.get_bucket_lifecycle_configuration(Bucket=res.bucket)["Rules"]
    assert {"Prefix": "his-results/"} in [r.get("Filter") for r in rules if r.get("Expiration") == {"Days": 2}]
    s3.put_object(Bucket=res.bucket, Key="his-results/x.json", Body=b"{}")


def test_reprovisioning_is_idempotent_and_repairs_drift(endpoint: str) -> None:
    first = _provision_local(endpoint)
    ddb, sqs, s3 = _client("dynamodb", endpoint), _client("sqs", endpoint), _client("s3", endpoint)
    ddb.put_item(TableName=first.table("jobs"), Item={"pk": {"S": "job#1"}, "sk": {"S": "job"}})
    sqs.send_message(QueueUrl=first.queues[LOCAL_ENV["HIS_REQUEST_QUEUE"]], MessageBody="{}")
    s3.put_object(Bucket=first.bucket, Key="his-results/kept.json", Body=b"{}")
    sqs.set_queue_attributes(QueueUrl=first.queues[LOCAL_ENV["HIS_RESULT_QUEUE"]],
                             Attributes={"VisibilityTimeout": "30"})

    second = _provision_local(endpoint)

    assert second == first
    assert "Item" in ddb.get_item(TableName=first.table("jobs"), Key={"pk": {"S": "job#1"}, "sk": {"S": "job"}})
    attrs = _queue_attributes(sqs, first.queues[LOCAL_ENV["HIS_REQUEST_QUEUE"]])
    assert attrs["ApproximateNumberOfMessages"] == "1"
    assert _queue_attributes(sqs, first.queues[LOCAL_ENV["HIS_RESULT_QUEUE"]])["VisibilityTimeout"] == "180"
    s3.head_object(Bucket=first.bucket, Key="his-results/kept.json")


def test_deployed_stage_names_resolve_like_the_chalice_config(endpoint: str) -> None:
    """With a deployed stage's parameters the same definitions give that stage's names."""
    dev_env = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))["stages"]["dev"][
        "environment_variables"]
    res = provision(endpoint_url=endpoint, region=REGION, table_prefix=dev_env["TABLE_PREFIX"], stage="dev",
                    bucket_name="")  # empty: the template's default name yiwei-<stage>-blobs
    assert res.bucket == dev_env["BLOB_BUCKET"]
    assert {dev_env["HIS_REQUEST_QUEUE"], dev_env["HIS_RESULT_QUEUE"]} <= set(res.queues)
    assert res.table("reference") == dev_env["TABLE_PREFIX"] + "reference"


def test_secondary_indexes_in_the_template_are_provisioned(endpoint: str, tmp_path: Path) -> None:
    template = load_template(DEFAULT_TEMPLATE)
    jobs = template["Resources"]["JobsTable"]["Properties"]
    jobs["AttributeDefinitions"].append({"AttributeName": "subject", "AttributeType": "S"})
    jobs["GlobalSecondaryIndexes"] = [{
        "IndexName": "by-subject",
        "KeySchema": [{"AttributeName": "subject", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
        "ContributorInsightsSpecification": {"Enabled": False},  # CloudFormation-only, dropped locally
    }]
    path = tmp_path / "resources.yaml"
    path.write_text(yaml.safe_dump(template), encoding="utf-8")  # long-form intrinsics only

    res = _provision_local(endpoint, path)

    table = _client("dynamodb", endpoint).describe_table(TableName=res.table("jobs"))["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-subject"]
