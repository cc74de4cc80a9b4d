"""``DynamoOneTimeCodes`` against the ``wechat`` table provisioned from infra/resources.yaml (moto server)."""

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib import bootstrap

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def test_a_code_is_claimed_once_and_only_its_hash_is_stored(app_settings, moto_endpoint):
    codes = bootstrap.container().one_time_codes
    assert codes.claim(_hash("CODE-A"), T0)
    assert not codes.claim(_hash("CODE-A"), T0 + timedelta(seconds=1))  # the conditional write is enforced
    assert codes.claim(_hash("CODE-B"), T0)

    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=app_settings.region)
    item = ddb.get_item(TableName=app_settings.table_name("wechat"),
                        Key={"pk": {"S": f"oauthcode#{_hash('CODE-A')}"}, "sk": {"S": "code"}})["Item"]
    assert int(item["expires_at"]["N"]) == int((T0 + timedelta(days=1)).timestamp())
    assert "CODE-A" not in str(item)


def test_racing_claims_of_one_code_have_exactly_one_winner(app_settings):
    codes = bootstrap.container().one_time_codes
    code_hash = _hash("RACED-CODE")
    racers = 16
    start = threading.Barrier(racers)

    def claim(_: int) -> bool:
        start.wait()
        return codes.claim(code_hash, T0)

    with ThreadPoolExecutor(max_workers=racers) as pool:
        results = list(pool.map(claim, range(racers)))
    assert results.count(True) == 1 and results.count(False) == racers - 1


def test_only_sha256_digests_are_accepted(app_settings):
    codes = bootstrap.container().one_time_codes
    with pytest.raises(ValueError, match="SHA-256"):
        codes.claim("RAW-CODE", T0)
