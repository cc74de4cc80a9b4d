"""The FAQ store on DynamoDB (moto server) and the ``faq`` operator commands against it."""

import dataclasses
import json
from datetime import UTC, datetime

import boto3
import pytest

from chalicelib.adapters.dynamodb.faq_repository import FAQ_PK, DynamoFaqRepository, faq_model
from chalicelib.cli import main
from chalicelib.domain.faq import FaqEntry
from chalicelib.services.faq import SEED_FILE, seed_entries
from tests.integration.conftest import REGION

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def wechat_table(aws, moto_endpoint):
    """This test's ``wechat`` table: from infra/resources.yaml when it has one, else created here."""
    prefix = aws.table("reference").removesuffix("reference")
    name = f"{prefix}wechat"
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    existing = {t for page in ddb.get_paginator("list_tables").paginate() for t in page["TableNames"]}  # 100 a page
    if name not in existing:
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
    return name


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _repo(table, endpoint, clock=None):
    model = faq_model(table, REGION, endpoint)
    return DynamoFaqRepository(model, clock=clock) if clock else DynamoFaqRepository(model)


def _entry(entry_id, question, **changes):
    entry = FaqEntry(entry_id, question, f"{question}的答案，见 {{h5}}/index.html", T0, ("关键词",), ("另一种问法",))
    return dataclasses.replace(entry, **changes)


def test_round_trip_delete_and_replace_all(wechat_table, moto_endpoint):
    repo = _repo(wechat_table, moto_endpoint)
    assert repo.all() == []
    entries = [_entry("b", "怎么停车", priority=3, enabled=False), _entry("a", "几点上班")]
    repo.put_many(entries)
    assert repo.all() == sorted(entries, key=lambda e: e.entry_id)

    repo.delete("b")
    repo.delete("missing")  # nothing to delete is fine
    assert [e.entry_id for e in repo.all()] == ["a"]

    repo.put_many([_entry("b", "怎么停车"), _entry("c", "医保能用吗")])
    repo.replace_all([_entry("a", "几点上班", answer="8点"), _entry("d", "有食堂吗")])
    stored = {e.entry_id: e for e in repo.all()}
    assert sorted(stored) == ["a", "d"] and stored["a"].answer == "8点"

    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    item = ddb.get_item(TableName=wechat_table, Key={"pk": {"S": FAQ_PK}, "sk": {"S": "a"}})["Item"]
    assert int(item["updated_ms"]["N"]) == int(T0.timestamp() * 1000)
    assert json.loads(item["data"]["S"])["question"] == "几点上班"


def test_many_entries_are_read_with_one_query(wechat_table, moto_endpoint):
    repo = _repo(wechat_table, moto_endpoint)
    seed = seed_entries(T0)
    repo.put_many(seed)
    repo.put_many([_entry(f"extra-{n:03d}", f"第{n}个问题") for n in range(60)])  # more than one batch of 25
    assert len(repo.all()) == len(seed) + 60


def test_all_is_cached_for_the_ttl_and_own_writes_show_at_once(wechat_table, moto_endpoint):
    clock = ManualClock()
    lambda_a = _repo(wechat_table, moto_endpoint, clock)
    lambda_b = _repo(wechat_table, moto_endpoint)
    lambda_a.put_many([_entry("a", "几点上班")])
    assert [e.entry_id for e in lambda_a.all()] == ["a"]

    lambda_b.put_many([_entry("b", "怎么停车")])  # a staff edit through another process
    clock.now += 59
    assert [e.entry_id for e in lambda_a.all()] == ["a"]
    clock.now += 1
    assert [e.entry_id for e in lambda_a.all()] == ["a", "b"]

    lambda_a.delete("b")
    assert [e.entry_id for e in lambda_a.all()] == ["a"]


def test_a_broken_item_is_skipped_not_fatal(wechat_table, moto_endpoint):
    repo = _repo(wechat_table, moto_endpoint)
    repo.put_many([_entry("a", "几点上班")])
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    ddb.put_item(TableName=wechat_table, Item={"pk": {"S": FAQ_PK}, "sk": {"S": "broken"},
                                               "data": {"S": json.dumps({"entry_id": "broken"})},
                                               "updated_ms": {"N": "0"}})
    assert [e.entry_id for e in repo.all()] == ["a"]


@pytest.fixture
def stage_env(monkeypatch, moto_endpoint, wechat_table):
    """``--stage local`` aimed at this test's moto tables."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("TABLE_PREFIX", wechat_table.removesuffix("wechat"))
    monkeypatch.setenv("H5_BASE_URL", "https://h5.example.org")
    return wechat_table


def test_cli_import_export_and_test(stage_env, moto_endpoint, tmp_path, capsys):
    assert main(["faq", "import", str(SEED_FILE), "--dry-run"]) == 0
    out = capsys.readouterr().out
    seed_count = len(json.loads(SEED_FILE.read_text(encoding="utf-8")))
    assert f"{seed_count} added, 0 changed, 0 removed, 0 unchanged: dry run, not written" in out
    assert main(["faq", "export"]) == 0
    assert json.loads(capsys.readouterr().out) == []

    assert main(["faq", "import", str(SEED_FILE), "--stage", "local"]) == 0
    assert f"{seed_count} added, 0 changed, 0 removed, 0 unchanged: written" in capsys.readouterr().out

    assert main(["faq", "export"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert len(exported) == seed_count and all(d["updated_at"] for d in exported)

    edited = [d for d in exported if d["entry_id"] != "dining"]
    edited[0]["answer"] = "新的回答"
    path = tmp_path / "faq.json"
    path.write_text(json.dumps(edited, ensure_ascii=False), encoding="utf-8")
    assert main(["faq", "import", str(path), "--replace"]) == 0
    out = capsys.readouterr().out
    assert f"changed  {edited[0]['entry_id']}" in out and "removed  dining" in out
    assert f"0 added, 1 changed, 1 removed, {seed_count - 2} unchanged: written" in out

    assert main(["faq", "test", "请问一下医院怎么停车？"]) == 0
    out = capsys.readouterr().out
    assert "match    parking" in out and "https://h5.example.org/campuses.html" in out
    assert main(["faq", "test", "哈哈"]) == 1
    assert "no match" in capsys.readouterr().out


def test_cli_import_refuses_an_invalid_file_and_writes_nothing(stage_env, tmp_path, capsys):
    path = tmp_path / "faq.json"
    path.write_text(json.dumps([{"entry_id": "a", "question": "几点上班", "answer": "8点"},
                                {"entry_id": "b", "question": "怎么停车", "keyword": ["停车"]}]), encoding="utf-8")
    assert main(["faq", "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert "entry 2 (b): unknown field 'keyword' (did you mean 'keywords'?)" in err
    assert "entry 2 (b): 'answer' is missing or empty" in err and "nothing was written" in err

    path.write_text("[{", encoding="utf-8")
    assert main(["faq", "import", str(path)]) == 1
    assert "is not valid JSON" in capsys.readouterr().err

    assert main(["faq", "export"]) == 0
    assert json.loads(capsys.readouterr().out) == []
