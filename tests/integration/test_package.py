"""`chalice package --merge-template infra/resources.yaml` of the real project: the merged SAM template
passes cfn-lint and has what the deployment relies on (tables, queues + DLQs, bucket, VPC bridge,
partial batch responses on both SQS consumers, names consistent with .chalice/config.json).

Runs the Chalice CLI offline except for the first run, which downloads the manylinux wheels of
requirements.txt; later runs reuse .chalice/deployments/ (git-ignored). cfn-lint takes ~2 s.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

from devstack.provision import DEFAULT_TEMPLATE, Resolver, load_template

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STAGE = "prod"
REGION = "ap-east-1"
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
#: where the Makefile writes the packaged template; CodeUri/ContentUri are relative to it
PACKAGE_DIR = ROOT / "build" / "cfn"


def _deploy_parameters(stage: str) -> dict[str, str]:
    """The parameters the `make package` recipe passes for a stage."""
    return {"Stage": stage, "TablePrefix": f"yiwei-{stage}-", "QueuePrefix": f"yiwei-{stage}-"}


def _resolver(template: dict[str, Any], stage: str) -> Resolver:
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
              "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": f"yiwei-{stage}"}
    return Resolver(template, _deploy_parameters(stage), pseudo)


def _name(resolver: Resolver, logical_id: str, prop: str) -> str:
    return str(resolver.resolve(resolver.template["Resources"][logical_id]["Properties"][prop]))


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / "app.py").exists():
        pytest.fail("app.py is missing: the project root cannot be packaged")
    out = tmp_path_factory.mktemp("package") / "out"
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", REGION)}
    env.pop("AWS_ENDPOINT_URL", None)
    chalice = Path(sys.executable).parent / "chalice"
    proc = subprocess.run(
        [str(chalice), "package", "--stage", STAGE, "--merge-template", "infra/resources.yaml", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "sam.yaml").exists() and (out / "deployment.zip").exists()
    return out / "sam.yaml"


@pytest.fixture(scope="module")
def template(packaged: Path) -> dict[str, Any]:
    return load_template(packaged)


def _resources(template: dict[str, Any], type_: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == type_}


def test_cfn_lint_reports_no_errors(packaged: Path) -> None:
    matches = lint_file(packaged, config=ManualArgs(regions=[REGION]))
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert not errors, "\n".join(str(m) for m in matches)


def test_every_resource_has_a_type(template: dict[str, Any]) -> None:
    """A merge entry whose logical id Chalice no longer generates (renamed handler) would be typeless."""
    assert [k for k, v in template["Resources"].items() if "Type" not in v] == []


def test_tables(template: dict[str, Any]) -> None:
    tables = _resources(template, "AWS::DynamoDB::Table")
    assert set(tables) == {"ReferenceTable", "JobsTable", "WeChatTable", "HisTable", "PatientsTable", "BookingTable",
                           "PaymentsTable"}
    for spec in tables.values():
        props = spec["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert {(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}
    for ttl_table in ("JobsTable", "WeChatTable", "HisTable", "PatientsTable", "BookingTable", "PaymentsTable"):
        assert tables[ttl_table]["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at",
                                                                              "Enabled": True}


def _sqs_consumers(template: dict[str, Any], resolver: Resolver) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Queue logical id -> [(function logical id, SQS event properties)]."""
    by_name = {_name(resolver, lid, "QueueName"): lid for lid in _resources(template, "AWS::SQS::Queue")}
    consumers: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for fn_id, fn in _resources(template, "AWS::Serverless::Function").items():
        for event in (fn["Properties"].get("Events") or {}).values():
            if event["Type"] != "SQS":
                continue
            queue = event["Properties"]["Queue"]
            if "Fn::GetAtt" in queue:
                queue_id = queue["Fn::GetAtt"][0]
            else:  # Chalice: Fn::Sub of an ARN ending with the queue name from .chalice/config.json
                queue_id = by_name[str(resolver.resolve(queue)).rsplit(":", 1)[-1]]
            consumers.setdefault(queue_id, []).append((fn_id, event["Properties"]))
    return consumers


def test_queues_have_dlqs_and_visibility_of_six_consumer_timeouts(template: dict[str, Any]) -> None:
    resolver = _resolver(template, STAGE)
    queues = _resources(template, "AWS::SQS::Queue")
    consumers = _sqs_consumers(template, resolver)
    assert set(consumers) == {"HisRequestQueue", "HisResultQueue", "WeChatAsyncQueue", "HisEventQueue"}
    assert [fn for fn, _ in consumers["HisRequestQueue"]] == ["HisBridgeFunction"]
    assert [fn for fn, _ in consumers["HisResultQueue"]] == ["OnHisResult"]
    assert [fn for fn, _ in consumers["WeChatAsyncQueue"]] == ["OnWechatDeferred"]
    assert [fn for fn, _ in consumers["HisEventQueue"]] == ["OnHisEvent"]
    for queue_id, queue_consumers in consumers.items():
        props = queues[queue_id]["Properties"]
        dlq_id = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert queues[dlq_id]["Properties"]["MessageRetentionPeriod"] > props["MessageRetentionPeriod"]
        assert props["RedrivePolicy"]["maxReceiveCount"] == 5
        assert props["SqsManagedSseEnabled"] is True
        for fn_id, _ in queue_consumers:
            timeout = template["Resources"][fn_id]["Properties"]["Timeout"]
            assert timeout == 30, fn_id
            assert props["VisibilityTimeout"] >= 6 * timeout, (queue_id, fn_id)


def test_every_sqs_event_source_reports_batch_item_failures(template: dict[str, Any]) -> None:
    consumers = _sqs_consumers(template, _resolver(template, STAGE))
    events = {fn: event for pairs in consumers.values() for fn, event in pairs}
    assert len(events) == 4
    for event in events.values():
        assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # A deferred WeChat reply may take seconds each: five fit well inside the 30 s timeout.
    assert {fn: e["BatchSize"] for fn, e in events.items()} == {"HisBridgeFunction": 10, "OnHisResult": 10,
                                                               "OnWechatDeferred": 5, "OnHisEvent": 10}


def test_blob_bucket(template: dict[str, Any]) -> None:
    props = template["Resources"]["BlobBucket"]["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    rules = props["LifecycleConfiguration"]["Rules"]
    assert {"Id": "expire-his-results", "Status": "Enabled", "Prefix": "his-results/", "ExpirationInDays": 2} in rules
    assert _name(_resolver(template, STAGE), "BlobBucket", "BucketName") == "yiwei-prod-blobs"


def test_bridge_function(template: dict[str, Any]) -> None:
    fn = template["Resources"]["HisBridgeFunction"]["Properties"]
    assert fn["Handler"] == "his_bridge.handler.lambda_handler"
    assert fn["Runtime"] == "python3.11"
    assert fn["Tracing"] == "Active"
    assert fn["VpcConfig"] == {"SubnetIds": {"Ref": "BridgeSubnetIds"},
                               "SecurityGroupIds": {"Ref": "BridgeSecurityGroupIds"}}
    assert fn["Layers"] == [{"Ref": "HisBridgeDepsLayer"}]
    env = fn["Environment"]["Variables"]
    assert set(env) >= {"HIS_BASE_URL", "HIS_APP_ID", "HIS_APP_SECRET", "HIS_RESULT_QUEUE_URL", "BLOB_BUCKET",
                        "HIS_CA_BUNDLE", "LOG_LEVEL", "BRIDGE_MAX_CONCURRENCY"}
    assert not [k for k in env if k.startswith("WECHAT")]
    read = template["Resources"]["HisBridgeReadFunction"]["Properties"]
    assert read["Handler"] == "his_bridge.handler.invoke_handler"
    assert read["VpcConfig"] == fn["VpcConfig"] and read["Timeout"] <= 10
    receiver = template["Resources"]["HisEventReceiverFunction"]["Properties"]
    assert receiver["Handler"] == "his_bridge.events.lambda_handler"
    assert receiver["VpcConfig"] == fn["VpcConfig"]
    assert set(receiver["Environment"]["Variables"]) >= {"HIS_EVENT_SECRET", "HIS_EVENT_SECRET_PREVIOUS",
                                                         "HIS_STATE_TABLE", "HIS_EVENT_QUEUE", "HIS_EVENT_PATH"}
    for other in (read, receiver):
        assert not [k for k in other["Environment"]["Variables"] if k.startswith("WECHAT")]
    lb = template["Resources"]["HisEventsLoadBalancer"]["Properties"]
    assert lb["Scheme"] == "internal"
    assert template["Resources"]["HisEventsListener"]["Properties"]["Protocol"] == "HTTPS"
    # Code paths are relative to build/cfn/, where `make package` writes the template.
    code = (PACKAGE_DIR / fn["CodeUri"]).resolve()
    assert code == ROOT / "functions" / "his_bridge"
    assert (code / "his_bridge" / "__init__.py").exists()
    layer = (PACKAGE_DIR / template["Resources"]["HisBridgeDepsLayer"]["Properties"]["ContentUri"]).resolve()
    assert layer == ROOT / "layers" / "his_bridge_deps" / "build"
    assert (layer.parent / "build.sh").exists()


def test_cdn_routes_api_to_the_rest_api_stage(template: dict[str, Any]) -> None:
    config = template["Resources"]["H5Distribution"]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    (api,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/api/*"]
    assert origins[api["TargetOriginId"]]["OriginPath"] == "/" + CONFIG["api_gateway_stage"]
    assert "RestAPI" in json.dumps(origins[api["TargetOriginId"]]["DomainName"])
    assert template["Resources"]["RestAPI"]["Properties"]["StageName"] == CONFIG["api_gateway_stage"]
    assert "OriginAccessControlId" in origins[config["DefaultCacheBehavior"]["TargetOriginId"]]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_names_match_the_chalice_stage_config(stage: str) -> None:
    """The template's names for a stage are the ones .chalice/config.json gives that stage's functions,
    and the app's policy file covers them."""
    template = load_template(DEFAULT_TEMPLATE)
    resolver = _resolver(template, stage)
    env = CONFIG["stages"][stage]["environment_variables"]
    assert _name(resolver, "ReferenceTable", "TableName") == env["TABLE_PREFIX"] + "reference"
    assert _name(resolver, "JobsTable", "TableName") == env["TABLE_PREFIX"] + "jobs"
    assert _name(resolver, "HisRequestQueue", "QueueName") == env["HIS_REQUEST_QUEUE"]
    assert _name(resolver, "HisResultQueue", "QueueName") == env["HIS_RESULT_QUEUE"]
    assert _name(resolver, "WeChatAsyncQueue", "QueueName") == env["WECHAT_ASYNC_QUEUE"]
    assert _name(resolver, "WeChatTable", "TableName") == env["TABLE_PREFIX"] + "wechat"
    assert _name(resolver, "HisTable", "TableName") == env["TABLE_PREFIX"] + "his"
    assert _name(resolver, "PatientsTable", "TableName") == env["TABLE_PREFIX"] + "patients"
    assert _name(resolver, "HisEventQueue", "QueueName") == env["HIS_EVENT_QUEUE"]
    assert _name(resolver, "HisBridgeReadFunction", "FunctionName") == env["HIS_BRIDGE_FUNCTION"]
    assert _name(resolver, "BlobBucket", "BucketName") == env["BLOB_BUCKET"]
    # the Rules of the template accept exactly these prefixes for the stage
    rule = template["Rules"][f"{stage.capitalize()}NamesMatchChaliceConfig"]
    assert [a["Assert"]["Fn::Equals"][1] for a in rule["Assertions"]] == [env["TABLE_PREFIX"]] * 2

    policy = json.loads((ROOT / ".chalice" / "policy-app.json").read_text(encoding="utf-8"))

    def as_list(value: str | list[str]) -> list[str]:
        return [value] if isinstance(value, str) else value

    allowed = [(as_list(s["Action"]), as_list(s["Resource"])) for s in policy["Statement"] if s["Effect"] == "Allow"]

    def allows(action: str, arn: str) -> bool:
        return any(action in actions and any(fnmatch.fnmatchcase(arn, r) for r in resources)
                   for actions, resources in allowed)

    account = f"{REGION}:123456789012"
    for table in ("reference", "jobs", "wechat", "his", "patients"):
        arn = f"arn:aws:dynamodb:{account}:table/{env['TABLE_PREFIX']}{table}"
        assert all(allows(f"dynamodb:{a}", arn) for a in ("DescribeTable", "GetItem", "PutItem", "Query"))
    assert allows("sqs:SendMessage", f"arn:aws:sqs:{account}:{env['HIS_REQUEST_QUEUE']}")
    assert allows("sqs:ReceiveMessage", f"arn:aws:sqs:{account}:{env['HIS_RESULT_QUEUE']}")
    assert not allows("sqs:SendMessage", f"arn:aws:sqs:{account}:{env['HIS_RESULT_QUEUE']}")
    assert allows("sqs:SendMessage", f"arn:aws:sqs:{account}:{env['WECHAT_ASYNC_QUEUE']}")
    assert allows("sqs:ReceiveMessage", f"arn:aws:sqs:{account}:{env['WECHAT_ASYNC_QUEUE']}")
    assert allows("sqs:SendMessage", f"arn:aws:sqs:{account}:{env['HIS_EVENT_QUEUE']}")
    assert allows("sqs:ReceiveMessage", f"arn:aws:sqs:{account}:{env['HIS_EVENT_QUEUE']}")
    assert allows("lambda:InvokeFunction", f"arn:aws:lambda:{account}:function:{env['HIS_BRIDGE_FUNCTION']}")
    assert not allows("lambda:InvokeFunction", f"arn:aws:lambda:{account}:function:yiwei-{stage}-his-bridge")
    assert allows("s3:GetObject", f"arn:aws:s3:::{env['BLOB_BUCKET']}/his-results/a.json")
    assert not allows("s3:PutObject", f"arn:aws:s3:::{env['BLOB_BUCKET']}/his-results/a.json")


def test_queue_handler_timeouts_are_configured_for_every_stage() -> None:
    for stage in ("dev", "prod"):
        for handler in ("on_his_result", "on_wechat_deferred", "on_his_event"):
            assert CONFIG["stages"][stage]["lambda_functions"][handler]["lambda_timeout"] == 30
