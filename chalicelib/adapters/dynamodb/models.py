"""PynamoDB models. Table names come from settings at runtime, so models are built by factories
(``reference_model(...)``) and cached per table; the class attributes below are the schema.

Table definitions for deployment and for the local stack live in ``infra/resources.yaml``; these
models must agree with them (``tests/integration/test_dynamo_repositories.py`` runs them against
tables provisioned from that template).
"""

from __future__ import annotations

from functools import cache

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.models import Model


class ReferenceItem(Model):
    """Table ``{TABLE_PREFIX}reference``: our copy of the HIS reference data.

    Access patterns (no Scan anywhere):
      * every item of a dataset ........ Query  pk = "campuses" | "departments" | "doctors" | "fee_schedule"
      * one campus / department / doctor GetItem pk = <dataset>, sk = <id>
      * doctors of a department ........ Query  pk = "department_doctors#<department_id>"
      * sync state of all datasets ..... Query  pk = "sync_state"  (sk = <dataset>)
    Each item carries ``fetched_ms``, the HIS fetch time of the snapshot that wrote it; writes are
    conditional on it so a late, older snapshot cannot overwrite a newer one.
    """

    class Meta:
        table_name = "reference"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = JSONAttribute(null=True)
    digest = UnicodeAttribute(null=True)
    fetched_ms = NumberAttribute(default=0)
    etag = UnicodeAttribute(null=True)
    item_count = NumberAttribute(null=True)


class JobItem(Model):
    """Table ``{TABLE_PREFIX}jobs``: background jobs we started (reference syncs, later others).

    Access patterns:
      * one job ........................ GetItem pk = "job#<job_id>", sk = "job"
    Items expire through the table's TTL attribute ``expires_at`` (epoch seconds) after 7 days.
    """

    class Meta:
        table_name = "jobs"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    subject = UnicodeAttribute()
    request_id = UnicodeAttribute()
    state = UnicodeAttribute()
    requested_at = UnicodeAttribute()
    finished_at = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()


def _bind(base: type[Model], table_name: str, region: str, host: str | None) -> type[Model]:
    meta = type("Meta", (), {"table_name": table_name, "region": region, "host": host,
                             "connect_timeout_seconds": 2, "read_timeout_seconds": 5, "max_retry_attempts": 3})
    return type(f"{base.__name__}_{table_name}", (base,), {"Meta": meta})


@cache
def reference_model(table_name: str, region: str, host: str | None) -> type[ReferenceItem]:
    return _bind(ReferenceItem, table_name, region, host)  # type: ignore[return-value]


@cache
def job_model(table_name: str, region: str, host: str | None) -> type[JobItem]:
    return _bind(JobItem, table_name, region, host)  # type: ignore[return-value]


class WeChatItem(Model):
    """Table ``{TABLE_PREFIX}wechat``: the official account's own state.

    Access patterns (no Scan anywhere):
      * inbound delivery (dedup) ....... GetItem/conditional Put pk = "inbox#<dedup key>", sk = "inbox"  (TTL 1 day)
      * a user ......................... GetItem pk = "user#<openid>", sk = "profile"
      * a user's deliveries ............ Query   pk = "user#<openid>", sk begins_with "delivery#" (TTL 90 days)
      * a template message by msgid .... GetItem pk = "tplmsg#<msgid>", sk = "tplmsg" (points at the delivery)
      * credentials and leases ......... GetItem pk = "cred#<name>", sk = "value" | "lease"
      * single-use OAuth codes ......... conditional Put pk = "oauthcode#<sha256>", sk = "code" (TTL 1 day)
      * FAQ entries .................... Query   pk = "faq" (``chalicelib.adapters.dynamodb.faq_repository``)
    ``expires_at`` (epoch seconds) is the table's TTL attribute; DynamoDB deletes lazily, so readers
    check it themselves.
    """

    class Meta:
        table_name = "wechat"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    state = UnicodeAttribute(null=True)
    value = UnicodeAttribute(null=True)
    data = JSONAttribute(null=True)
    at_ms = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)


class WeChatUserItem(Model):
    """A follower's profile in the ``wechat`` table: pk = "user#<openid>", sk = "profile".
    Each field is its own attribute so each change is one ``UpdateItem`` on just that field."""

    class Meta:
        table_name = "wechat"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    subscribed = BooleanAttribute(null=True)
    subscribed_at = UnicodeAttribute(null=True)
    unsubscribed_at = UnicodeAttribute(null=True)
    last_interaction_at = UnicodeAttribute(null=True)
    latitude = NumberAttribute(null=True)
    longitude = NumberAttribute(null=True)
    located_at = UnicodeAttribute(null=True)
    tags = UnicodeSetAttribute(null=True)
    scene = UnicodeAttribute(null=True)


@cache
def wechat_user_model(table_name: str, region: str, host: str | None) -> type[WeChatUserItem]:
    return _bind(WeChatUserItem, table_name, region, host)  # type: ignore[return-value]


@cache
def wechat_model(table_name: str, region: str, host: str | None) -> type[WeChatItem]:
    return _bind(WeChatItem, table_name, region, host)  # type: ignore[return-value]


class HisItem(Model):
    """Table ``{TABLE_PREFIX}his``: the state of the HIS integration. Generic items; each adapter
    documents its own key patterns (``pk`` = "<kind>#<id>"). ``version`` is for conditional
    "newer only" writes; ``expires_at`` (epoch seconds) is the TTL attribute."""

    class Meta:
        table_name = "his"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    state = UnicodeAttribute(null=True)
    value = UnicodeAttribute(null=True)
    data = JSONAttribute(null=True)
    version = NumberAttribute(null=True)
    at_ms = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)


@cache
def his_model(table_name: str, region: str, host: str | None) -> type[HisItem]:
    return _bind(HisItem, table_name, region, host)  # type: ignore[return-value]


class PatientItem(HisItem):
    """Table ``{TABLE_PREFIX}patients``: WeChat users and the HIS patients bound to them (cards,
    family). The same generic item shape as ``HisItem``; each adapter documents its key patterns."""

    class Meta:
        table_name = "patients"


@cache
def patients_model(table_name: str, region: str, host: str | None) -> type[PatientItem]:
    return _bind(PatientItem, table_name, region, host)  # type: ignore[return-value]


class BookingItem(HisItem):
    """Table ``{TABLE_PREFIX}booking``: slot holds (one item per slot), appointments, limits, waitlists
    and timers. The same generic item shape as ``HisItem``; each adapter documents its key patterns."""

    class Meta:
        table_name = "booking"


@cache
def booking_model(table_name: str, region: str, host: str | None) -> type[BookingItem]:
    return _bind(BookingItem, table_name, region, host)  # type: ignore[return-value]


class PaymentItem(HisItem):
    """Table ``{TABLE_PREFIX}payments``: WeChat Pay orders, their work list and security events (owner:
    payments). The same generic item shape as ``HisItem``; ``chalicelib.adapters.dynamodb.payments``
    documents the key patterns."""

    class Meta:
        table_name = "payments"


@cache
def payments_model(table_name: str, region: str, host: str | None) -> type[PaymentItem]:
    return _bind(PaymentItem, table_name, region, host)  # type: ignore[return-value]
