"""Create the local stack's AWS resources from the deployment template.

The DynamoDB tables, the SQS queues (with their dead-letter queues) and the blob bucket are read from
``infra/resources.yaml``, the same file ``chalice package --merge-template`` merges into the deployed
stack, and created against an emulator endpoint (the moto server at ``AWS_ENDPOINT_URL``). Key schemas,
billing mode, indexes, TTL, visibility timeouts, redrive policies and the bucket's lifecycle therefore
cannot drift between the local stack and the deployments.

Names come from the template's ``!Sub`` expressions, resolved with these parameters:

==============  ==========================  ==========================================
parameter       local (this module)          deployed (``make package`` / deploy)
==============  ==========================  ==========================================
Stage           ``local``                    ``dev`` / ``prod``
TablePrefix     ``yiwei-local-``             ``yiwei-<stage>-``
QueuePrefix     ``yiwei-``                   ``yiwei-<stage>-``
BlobBucketName  ``yiwei-local-blobs``        empty, i.e. ``yiwei-<stage>-blobs``
==============  ==========================  ==========================================

so the local queues are ``yiwei-his-requests`` / ``yiwei-his-results`` as in the ``local`` stage of
``.chalice/config.json``. Provisioning is idempotent: existing tables and buckets are kept (TTL and
bucket settings are re-applied), existing queues get their attributes updated.

Usage: ``python -m devstack.provision`` (settings from the environment, else the ``local`` stage).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError

LOG = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = ROOT / "infra" / "resources.yaml"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"

BLOB_BUCKET_LOGICAL_ID = "BlobBucket"
LOCAL_STAGE = "local"
LOCAL_QUEUE_PREFIX = "yiwei-"
# moto's default account; only used where the template substitutes ${AWS::AccountId}.
DEFAULT_ACCOUNT_ID = "123456789012"

TABLE_TYPE = "AWS::DynamoDB::Table"
QUEUE_TYPE = "AWS::SQS::Queue"
BUCKET_TYPE = "AWS::S3::Bucket"


class TemplateError(ValueError):
    """The template uses something this module cannot evaluate, or is inconsistent."""


# --------------------------------------------------------------------------- loading


class CfnLoader(yaml.SafeLoader):
    """A safe YAML loader that turns CloudFormation short tags into their long form.

    ``!Sub 'x'`` -> ``{"Fn::Sub": "x"}``, ``!Ref X`` -> ``{"Ref": "X"}``, ``!GetAtt A.B`` ->
    ``{"Fn::GetAtt": ["A", "B"]}``, ``!Condition C`` -> ``{"Condition": "C"}``.
    """


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unexpected YAML node for !{tag_suffix}: {node!r}")
    return {name: value}


CfnLoader.add_multi_constructor("!", _construct_short_tag)


def load_template(path: Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """Read a CloudFormation/SAM template (YAML or JSON) with short tags in long form."""
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template")
    return data


# --------------------------------------------------------------------------- intrinsic functions


class _NoValue:
    """``AWS::NoValue``: the property or list item is dropped."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class Unresolved(Exception):
    """A value refers to a resource that is not created yet."""

    def __init__(self, logical_id: str) -> None:
        super().__init__(logical_id)
        self.logical_id = logical_id


_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class Resolver:
    """Evaluates the intrinsic functions of one template for given parameters.

    Resources are looked up in ``created``: logical id -> attributes (``"Ref"`` plus ``GetAtt`` names).
    A reference to a template resource missing there raises ``Unresolved``.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, Any],
        pseudo_parameters: Mapping[str, str],
    ) -> None:
        self.template = template
        self.created: dict[str, dict[str, str]] = {}
        self._values: dict[str, Any] = {}
        for name, spec in (template.get("Parameters") or {}).items():
            if "Default" in spec:
                self._values[name] = spec["Default"]
        unknown = set(parameters) - set(template.get("Parameters") or {})
        if unknown:
            raise TemplateError(f"parameters not declared in the template: {sorted(unknown)}")
        self._values.update(parameters)
        self._values.update(pseudo_parameters)
        self._values["AWS::NoValue"] = NO_VALUE
        self._conditions: dict[str, bool] = {}

    # -- conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = (self.template.get("Conditions") or {}).get(name)
            if spec is None:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def resource_enabled(self, logical_id: str) -> bool:
        cond = self.template["Resources"][logical_id].get("Condition")
        return cond is None or self.condition(cond)

    # -- values
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(arg)
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::Sub": self._sub,
            "Fn::GetAtt": self._get_att,
            "Fn::If": self._if,
            "Fn::Equals": lambda a: self._str(a[0]) == self._str(a[1]),
            "Fn::Not": lambda a: not self.resolve(a[0]),
            "Fn::And": lambda a: all(self.resolve(x) for x in a),
            "Fn::Or": lambda a: any(self.resolve(x) for x in a),
            "Condition": self.condition,
            "Fn::Join": lambda a: str(a[0]).join(self._str(x) for x in self.resolve(a[1])),
            "Fn::Select": lambda a: self.resolve(a[1])[int(self.resolve(a[0]))],
            "Fn::Split": lambda a: self._str(a[1]).split(str(a[0])),
            "Fn::FindInMap": self._find_in_map,
        }

    def _str(self, value: Any) -> str:
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, (str, int, float)):
            return str(resolved)
        raise TemplateError(f"expected a scalar, got {resolved!r}")

    def _ref(self, name: Any) -> Any:
        name = str(name)
        if name in self._values:
            return self._values[name]
        return self._resource_attribute(name, "Ref")

    def _get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        logical_id, attribute = (str(self.resolve(x)) for x in arg)
        return self._resource_attribute(logical_id, attribute)

    def _resource_attribute(self, logical_id: str, attribute: str) -> str:
        if logical_id in self.created:
            try:
                return self.created[logical_id][attribute]
            except KeyError:
                raise TemplateError(f"attribute {attribute} of {logical_id} is not known locally") from None
        if logical_id in self.template["Resources"]:
            raise Unresolved(logical_id)
        raise TemplateError(f"unknown parameter or resource {logical_id!r} (no value given?)")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, local = str(arg[0]), {k: self._str(v) for k, v in arg[1].items()}
        else:
            text, local = str(arg), {}

        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in local:
                return local[expr]
            if expr in self._values or "." not in expr:
                return self._str({"Ref": expr})
            logical_id, attribute = expr.split(".", 1)
            return self._resource_attribute(logical_id, attribute)

        return _SUB_VARIABLE.sub(replace, text)

    def _if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(str(name)) else when_false)

    def _find_in_map(self, arg: Any) -> Any:
        mapping, top, second = (self._str(x) for x in arg)
        try:
            return self.template["Mappings"][mapping][top][second]
        except KeyError:
            raise TemplateError(f"Fn::FindInMap {mapping}/{top}/{second} not found") from None


# --------------------------------------------------------------------------- provisioning


@dataclass(frozen=True)
class ProvisionedResources:
    """What ``provision`` created (or found)."""

    #: logical id -> table name, e.g. ``{"ReferenceTable": "yiwei-local-reference"}``
    tables: dict[str, str]
    #: queue name -> queue URL, dead-letter queues included
    queues: dict[str, str]
    #: name of the blob bucket
    bucket: str
    #: logical id -> queue name
    queue_names: dict[str, str] = field(default_factory=dict)
    #: source queue name -> name of its dead-letter queue
    dead_letter_queues: dict[str, str] = field(default_factory=dict)

    def table(self, logical: str) -> str:
        """Table name by its short name (``reference``) or logical id (``ReferenceTable``)."""
        if logical in self.tables:
            return self.tables[logical]
        for name in self.tables.values():
            if name.endswith(logical):
                return name
        raise KeyError(logical)


def default_queue_prefix(stage: str) -> str:
    """``yiwei-`` for the local stack, ``yiwei-<stage>-`` otherwise (see the module docstring)."""
    return LOCAL_QUEUE_PREFIX if stage == LOCAL_STAGE else f"yiwei-{stage}-"


def provision(
    *,
    endpoint_url: str,
    region: str,
    table_prefix: str,
    stage: str,
    bucket_name: str,
    template_path: Path = DEFAULT_TEMPLATE,
    queue_prefix: str | None = None,
) -> ProvisionedResources:
    """Create the template's tables, queues and blob bucket at ``endpoint_url``; idempotent."""
    template = load_template(template_path)
    parameters = {
        "Stage": stage,
        "TablePrefix": table_prefix,
        "QueuePrefix": default_queue_prefix(stage) if queue_prefix is None else queue_prefix,
        "BlobBucketName": bucket_name,
    }
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": DEFAULT_ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": f"yiwei-{stage}",
    }
    resolver = Resolver(template, parameters, pseudo)

    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
        region_name=region,
    )
    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    s3 = session.client("s3", endpoint_url=endpoint_url)

    resources = template["Resources"]
    wanted = [
        logical_id
        for logical_id, spec in resources.items()
        if isinstance(spec, dict)
        and (spec.get("Type") in (TABLE_TYPE, QUEUE_TYPE) or logical_id == BLOB_BUCKET_LOGICAL_ID)
        and resolver.resource_enabled(logical_id)
    ]
    if BLOB_BUCKET_LOGICAL_ID not in wanted or resources[BLOB_BUCKET_LOGICAL_ID].get("Type") != BUCKET_TYPE:
        raise TemplateError(f"{template_path} has no S3 bucket {BLOB_BUCKET_LOGICAL_ID}")

    tables: dict[str, str] = {}
    queues: dict[str, str] = {}
    queue_names: dict[str, str] = {}
    bucket = ""
    pending = list(wanted)
    while pending:
        deferred: list[str] = []
        for logical_id in pending:
            spec = resources[logical_id]
            try:
                props = resolver.resolve(spec.get("Properties") or {})
            except Unresolved:
                deferred.append(logical_id)
                continue
            if spec["Type"] == TABLE_TYPE:
                resolver.created[logical_id] = _ensure_table(dynamodb, props)
                tables[logical_id] = resolver.created[logical_id]["Ref"]
            elif spec["Type"] == QUEUE_TYPE:
                resolver.created[logical_id] = _ensure_queue(sqs, props)
                name = resolver.created[logical_id]["QueueName"]
                queues[name] = resolver.created[logical_id]["QueueUrl"]
                queue_names[logical_id] = name
            else:
                resolver.created[logical_id] = _ensure_bucket(s3, props, region)
                bucket = resolver.created[logical_id]["Ref"]
        if len(deferred) == len(pending):
            raise TemplateError(f"cannot order the creation of {deferred} (a reference to a resource not provisioned?)")
        pending = deferred

    arn_to_name = {resolver.created[lid]["Arn"]: name for lid, name in queue_names.items()}
    dead_letter_queues: dict[str, str] = {}
    for logical_id, name in queue_names.items():
        redrive = (resources[logical_id].get("Properties") or {}).get("RedrivePolicy")
        if redrive:
            target = _as_dict(resolver.resolve(redrive)).get("deadLetterTargetArn")
            if target in arn_to_name:
                dead_letter_queues[name] = arn_to_name[target]

    return ProvisionedResources(
        tables=tables,
        queues=queues,
        bucket=bucket,
        queue_names=queue_names,
        dead_letter_queues=dead_letter_queues,
    )


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise TemplateError(f"expected a mapping, got {value!r}")
    return value


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# -- DynamoDB

_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")


def _ensure_table(client: Any, props: Mapping[str, Any]) -> dict[str, str]:
    name = str(props["TableName"])
    billing = props.get("BillingMode", "PROVISIONED")
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
    for prop in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        indexes = [{k: v for k, v in index.items() if k in _INDEX_KEYS} for index in props.get(prop) or []]
        for index in indexes:
            if "ProvisionedThroughput" in index:
                index["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
        if indexes:
            kwargs[prop] = indexes
    stream = props.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}

    try:
        client.create_table(**kwargs)
        LOG.info("created table %s", name)
    except ClientError as exc:
        if _error_code(exc) != "ResourceInUseException":
            raise
        LOG.info("table %s exists", name)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})

    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled") in (True, "true", "True"):
        current = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        elif current.get("AttributeName") != ttl["AttributeName"]:
            raise TemplateError(
                f"table {name} has TTL on {current.get('AttributeName')!r}, the template wants {ttl['AttributeName']!r}"
                " (reset the emulator)"
            )

    arn = client.describe_table(TableName=name)["Table"]["TableArn"]
    return {"Ref": name, "Arn": str(arn)}


def _throughput(value: Any) -> dict[str, int]:
    value = value or {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    return {k: int(v) for k, v in value.items()}


# -- SQS

_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
_CREATE_ONLY_QUEUE_ATTRIBUTES = ("FifoQueue",)


def _queue_attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _ensure_queue(client: Any, props: Mapping[str, Any]) -> dict[str, str]:
    if "QueueName" not in props:
        raise TemplateError("queues need a QueueName to be provisioned locally")
    name = str(props["QueueName"])
    attributes = {key: _queue_attribute(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    ignored = sorted(set(props) - set(_QUEUE_ATTRIBUTES) - {"QueueName", "Tags"})
    if ignored:
        LOG.warning("queue %s: properties not applied locally: %s", name, ignored)
    try:
        url = client.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if "NonExistentQueue" not in _error_code(exc):
            raise
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        LOG.info("created queue %s", name)
    else:
        updatable = {k: v for k, v in attributes.items() if k not in _CREATE_ONLY_QUEUE_ATTRIBUTES}
        if updatable:
            client.set_queue_attributes(QueueUrl=url, Attributes=updatable)
        LOG.info("queue %s exists, attributes updated", name)
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"Ref": str(url), "QueueUrl": str(url), "Arn": str(arn), "QueueName": name}


# -- S3


def _ensure_bucket(client: Any, props: Mapping[str, Any], region: str) -> dict[str, str]:
    name = str(props["BucketName"])
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
        LOG.info("created bucket %s", name)
    except ClientError as exc:
        if _error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        LOG.info("bucket %s exists", name)

    block = props.get("PublicAccessBlockConfiguration")
    if block:
        client.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=dict(block))
    encryption = props.get("BucketEncryption")
    if encryption:
        rules = []
        for rule in encryption["ServerSideEncryptionConfiguration"]:
            api_rule: dict[str, Any] = {}
            if "ServerSideEncryptionByDefault" in rule:  # CloudFormation and S3 API names differ
                api_rule["ApplyServerSideEncryptionByDefault"] = dict(rule["ServerSideEncryptionByDefault"])
            if "BucketKeyEnabled" in rule:
                api_rule["BucketKeyEnabled"] = bool(rule["BucketKeyEnabled"])
            rules.append(api_rule)
        client.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    lifecycle = props.get("LifecycleConfiguration")
    if lifecycle:
        rules = [_lifecycle_rule(rule) for rule in lifecycle.get("Rules") or []]
        client.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    return {"Ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}


_LIFECYCLE_KEYS = {"Id", "Status", "Prefix", "ExpirationInDays", "AbortIncompleteMultipartUpload"}


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the shape of the S3 API (the fields our template uses)."""
    ignored = sorted(set(rule) - _LIFECYCLE_KEYS)
    if ignored:
        LOG.warning("lifecycle rule %s: fields not applied locally: %s", rule.get("Id"), ignored)
    out: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": str(rule.get("Prefix", ""))}}
    if "Id" in rule:
        out["ID"] = rule["Id"]
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return out


# --------------------------------------------------------------------------- command line


def _local_stage_env() -> dict[str, str]:
    try:
        config = json.loads(CHALICE_CONFIG.read_text(encoding="utf-8"))
        env = config["stages"][LOCAL_STAGE]["environment_variables"]
    except (OSError, ValueError, KeyError):
        return {}
    return {str(k): str(v) for k, v in env.items()}


def main(argv: Iterable[str] | None = None) -> int:
    local = _local_stage_env()

    def default(name: str, fallback: str) -> str:
        return os.environ.get(name) or local.get(name) or fallback

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--endpoint-url", default=default("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or default("AWS_DEFAULT_REGION", "ap-east-1"))
    parser.add_argument("--stage", default=default("STAGE", LOCAL_STAGE))
    parser.add_argument("--table-prefix", default=default("TABLE_PREFIX", "yiwei-local-"))
    parser.add_argument("--bucket", default=default("BLOB_BUCKET", "yiwei-local-blobs"))
    parser.add_argument("--queue-prefix", default=None, help="default: yiwei- for local, else yiwei-<stage>-")
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    args = parser.parse_args(list(argv) if argv is not None else None)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    result = provision(
        endpoint_url=args.endpoint_url,
        region=args.region,
        table_prefix=args.table_prefix,
        stage=args.stage,
        bucket_name=args.bucket,
        template_path=args.template,
        queue_prefix=args.queue_prefix,
    )
    print(json.dumps(asdict(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
