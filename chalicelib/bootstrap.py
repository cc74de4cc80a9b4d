"""The one place that wires adapters to ports.

Everything is built lazily on first use and cached for the life of the Lambda container, so importing
the app costs nothing (cold start). Tests replace parts with ``override(...)`` and undo it with
``reset()``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings, get_settings
from chalicelib.observability import configure_logging, enable_tracing
from chalicelib.services.ports import (
    BlobStore,
    Clock,
    DeferredInbox,
    DeliveryLog,
    HisRequestQueue,
    IdFactory,
    InboxLedger,
    JobRepository,
    ReferenceRepository,
    WeChatMessenger,
    WeChatUserRepository,
)
from chalicelib.services.reference_query import HospitalProfile

if TYPE_CHECKING:
    from chalicelib.adapters.wechat.protocol import WeChatProtocol
    from chalicelib.domain.wechat import InboundMessage, Reply
    from chalicelib.services.booking import BookingContext
    from chalicelib.services.ports import (
        DeadLetterQueues,
        HisLiveReader,
        JsapiTicketSource,
        LiveCopies,
        OAuthCodeExchange,
        OneTimeCodes,
        PaymentRecords,
        ReconciliationReports,
    )
    from chalicelib.services.reports import ReportsContext
    from chalicelib.services.wechat_handlers import WeChatContext


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
    def one_time_codes(self) -> OneTimeCodes:
        from chalicelib.adapters.dynamodb.models import wechat_model
        from chalicelib.adapters.dynamodb.one_time_codes import DynamoOneTimeCodes

        return DynamoOneTimeCodes(self._wechat_table(wechat_model))

    @cached_property
    def wechat_oauth(self) -> OAuthCodeExchange:
        from chalicelib.adapters.wechat.oauth import WeChatApiOAuth

        s = self.settings
        return WeChatApiOAuth(s.wechat_appid, s.wechat_secret, s.wechat_api_base_url)

    @cached_property
    def jsapi_tickets(self) -> JsapiTicketSource:
        from chalicelib.adapters.wechat.oauth import WeChatApiJsapi

        return WeChatApiJsapi(self.wechat_client)

    @cached_property
    def hospital_profile(self) -> HospitalProfile:
        return HospitalProfile(name=self.settings.hospital_name, intro=self.settings.hospital_intro or None)

    # ---- WeChat ---------------------------------------------------------------------------------
    def _wechat_table(self, factory: Callable[[str, str, str | None], Any]) -> Any:
        s = self.settings
        return factory(s.table_name("wechat"), s.region, s.aws_endpoint_url)

    @cached_property
    def wechat_protocol(self) -> WeChatProtocol:
        from chalicelib.adapters.wechat.protocol import WeChatProtocol

        s = self.settings
        return WeChatProtocol(s.wechat_token, s.wechat_aes_key, s.wechat_appid, s.wechat_max_message_age_seconds)

    @cached_property
    def inbox_ledger(self) -> InboxLedger:
        from chalicelib.adapters.dynamodb.models import wechat_model
        from chalicelib.adapters.dynamodb.wechat_inbox import DynamoInboxLedger

        return DynamoInboxLedger(self._wechat_table(wechat_model))

    @cached_property
    def wechat_users(self) -> WeChatUserRepository:
        from chalicelib.adapters.dynamodb.models import wechat_user_model
        from chalicelib.adapters.dynamodb.wechat_users import DynamoWeChatUserRepository

        return DynamoWeChatUserRepository(self._wechat_table(wechat_user_model))

    @cached_property
    def deliveries(self) -> DeliveryLog:
        from chalicelib.adapters.dynamodb.models import wechat_model
        from chalicelib.adapters.dynamodb.wechat_deliveries import DynamoDeliveryLog

        return DynamoDeliveryLog(self._wechat_table(wechat_model))

    @cached_property
    def deferred_inbox(self) -> DeferredInbox:
        from chalicelib.adapters.sqs.deferred_inbox import SqsDeferredInbox

        return SqsDeferredInbox(self._boto_client("sqs"), self.settings.wechat_async_queue)

    @cached_property
    def wechat_client(self) -> Any:
        """wechatpy's client with the access token shared through DynamoDB (one refresher at a time)."""
        from chalicelib.adapters.dynamodb.models import wechat_model
        from chalicelib.adapters.dynamodb.wechat_credentials import DynamoCredentialStore
        from chalicelib.adapters.wechat.client import SharedTokenWeChatClient

        s = self.settings
        store = DynamoCredentialStore(self._wechat_table(wechat_model), self.clock)
        return SharedTokenWeChatClient(s.wechat_appid, s.wechat_secret, store, s.wechat_api_base_url)

    @cached_property
    def wechat_messenger(self) -> WeChatMessenger:
        from chalicelib.adapters.wechat.messenger import WeChatApiMessenger

        return WeChatApiMessenger(self.wechat_client)

    @cached_property
    def faq_repository(self) -> Any:
        from chalicelib.adapters.dynamodb.faq_repository import DynamoFaqRepository, faq_model

        return DynamoFaqRepository(self._wechat_table(faq_model))

    @cached_property
    def wechat_context(self) -> WeChatContext:
        from chalicelib.services import faq
        from chalicelib.services.wechat_handlers import WeChatContext

        s = self.settings

        def answer(question: str) -> str | None:
            found = faq.answer_text(question, self.faq_repository, s.h5_base_url)
            return found.text if found else None

        return WeChatContext(
            users=self.wechat_users, reference=self.reference_repository, deliveries=self.deliveries,
            clock=self.clock, page_url=s.h5_url, answer_question=answer,
            faq_topics=lambda: faq.topics(self.faq_repository, 10), hospital_name=s.hospital_name,
            hospital_phone=s.hospital_phone,
        )

    @cached_property
    def wechat_handle(self) -> Callable[[InboundMessage], Reply]:
        """Answer one message with the handler registered for its type (``wechat_handlers``)."""
        from chalicelib.services.wechat_handlers import handle

        context = self.wechat_context
        return lambda message: handle(message, context)


    # ---- HIS tables ---------------------------------------------------------------------------
    def _his_table(self) -> Any:
        from chalicelib.adapters.dynamodb.models import his_model

        s = self.settings
        return his_model(s.table_name("his"), s.region, s.aws_endpoint_url)

    def _patients_table(self) -> Any:
        from chalicelib.adapters.dynamodb.models import patients_model

        s = self.settings
        return patients_model(s.table_name("patients"), s.region, s.aws_endpoint_url)

    # ---- HIS events and their effects (owner: events) -----------------------------------------
    if TYPE_CHECKING:
        from chalicelib.services.his_events import EventPorts
        from chalicelib.services.ports import (
            EventCursor,
            FollowUpPlans,
            HisEventLedger,
            HisEventQueue,
            PatientBindings,
            RefundObligations,
            ResourceVersions,
            ScheduleNotices,
        )

    @cached_property
    def his_event_ledger(self) -> HisEventLedger:
        from chalicelib.adapters.dynamodb.his_event_ledger import DynamoHisEventLedger

        return DynamoHisEventLedger(self._his_table())

    @cached_property
    def resource_versions(self) -> ResourceVersions:
        from chalicelib.adapters.dynamodb.resource_versions import DynamoResourceVersions

        return DynamoResourceVersions(self._his_table())

    @cached_property
    def his_event_queue(self) -> HisEventQueue:
        from chalicelib.adapters.sqs.his_event_queue import SqsHisEventQueue

        return SqsHisEventQueue(self._boto_client("sqs"), self.settings.his_event_queue)

    @cached_property
    def event_cursor(self) -> EventCursor:
        from chalicelib.adapters.dynamodb.event_cursor import DynamoEventCursor

        return DynamoEventCursor(self._his_table())

    @cached_property
    def follow_up_plans(self) -> FollowUpPlans:
        from chalicelib.adapters.dynamodb.follow_up_plans import DynamoFollowUpPlans

        return DynamoFollowUpPlans(self._his_table())

    @cached_property
    def schedule_notices(self) -> ScheduleNotices:
        from chalicelib.adapters.dynamodb.schedule_notices import DynamoScheduleNotices

        return DynamoScheduleNotices(self._his_table())

    @cached_property
    def patient_bindings(self) -> PatientBindings:
        from chalicelib.adapters.dynamodb.patient_bindings import DynamoPatientBindings

        return DynamoPatientBindings(self._patients_table())

    @cached_property
    def refund_obligations(self) -> RefundObligations:
        from chalicelib.adapters.dynamodb.refund_obligations import DynamoRefundObligations

        return DynamoRefundObligations(self._his_table())

    @cached_property
    def his_event_ports(self) -> EventPorts:
        """Everything ``services.his_events.ingest`` needs; notices go through ``notices.notify``."""
        from chalicelib.domain.wechat import Notice
        from chalicelib.services import booking, notices
        from chalicelib.services.his_events import EventPorts

        s = self.settings

        def send_notice(notice: Notice, notice_id: str) -> object:
            return notices.notify(notice, notice_id, self.wechat_users, self.wechat_messenger, self.deliveries,
                                  s.template_id, self.clock)

        return EventPorts(
            ledger=self.his_event_ledger, versions=self.resource_versions, queue=self.his_event_queue,
            schedules=self.schedule_notices, follow_ups=self.follow_up_plans, bindings=self.patient_bindings,
            refunds=self.refund_obligations, send_notice=send_notice, page_url=s.h5_url,
            appointment_changed=lambda his_id, status, reason, version: booking.on_his_status(
                self.booking_context, his_id, status, reason, version),
        )
    # (end of HIS events components)

    # ---- Live reads through the bridge and reports (owner: live reads) ------------------------
    @cached_property
    def his_live_reader(self) -> HisLiveReader:
        from chalicelib.adapters.aws_lambda.his_live_reader import LambdaHisLiveReader, lambda_client

        s = self.settings
        client = lambda_client(s.region, s.lambda_endpoint_url, s.his_live_read_timeout_seconds)
        return LambdaHisLiveReader(client, s.his_bridge_function)

    @cached_property
    def live_copies(self) -> LiveCopies:
        from chalicelib.adapters.dynamodb.live_copies import DynamoLiveCopies

        return DynamoLiveCopies(self._his_table(), self.clock)

    @cached_property
    def reports_context(self) -> ReportsContext:
        from chalicelib.services.reports import ReportsContext

        return ReportsContext(
            bindings=self.patient_bindings, reader=self.his_live_reader, copies=self.live_copies,
            blobs=self.blob_store, clock=self.clock, new_id=self.new_id,
            end_user_key=self.settings.his_end_user_key.encode("utf-8"),
        )

    # (end of live reads components)

    # ---- Reconciliation (owner: reconciliation) -----------------------------------------------
    @cached_property
    def payment_records(self) -> PaymentRecords:
        from chalicelib.adapters.dynamodb.payment_records import DynamoPaymentRecords

        return DynamoPaymentRecords(self._his_table())

    @cached_property
    def reconciliation_reports(self) -> ReconciliationReports:
        from chalicelib.adapters.dynamodb.reconciliation_reports import DynamoReconciliationReports

        return DynamoReconciliationReports(self._his_table())

    @cached_property
    def dead_letters(self) -> DeadLetterQueues:
        from chalicelib.adapters.sqs.dead_letters import SqsDeadLetterQueues

        return SqsDeadLetterQueues(self._boto_client("sqs"))

    @cached_property
    def resume_paid(self) -> Callable[[str, Any], bool]:
        """For the reconciliation: resume a paid order the HIS never accounted, through its owner."""
        from chalicelib.domain.refunds import BusinessType
        from chalicelib.services import booking, payments

        def resume(order_id: str, business_type: BusinessType) -> bool:
            if business_type is BusinessType.REGISTRATION:
                return booking.resume(self.booking_context, order_id)
            return payments.resume(self.payments_context, order_id)

        return resume

    # (end of reconciliation components)

    # ---- Cards: binding patients to WeChat users (owner: cards) -----------------------------------
    if TYPE_CHECKING:
        from chalicelib.services.cards import CardsContext
        from chalicelib.services.ports import BindRequests, CardInfos, CardQuota, SmsSender

    @cached_property
    def card_bind_requests(self) -> BindRequests:
        from chalicelib.adapters.dynamodb.card_bind_requests import DynamoBindRequests

        return DynamoBindRequests(self._patients_table(), self.clock)

    @cached_property
    def card_quota(self) -> CardQuota:
        from chalicelib.adapters.dynamodb.card_records import DynamoCardQuota

        return DynamoCardQuota(self._patients_table())

    @cached_property
    def card_infos(self) -> CardInfos:
        from chalicelib.adapters.dynamodb.card_records import DynamoCardInfos

        return DynamoCardInfos(self._patients_table())

    @cached_property
    def sms_sender(self) -> SmsSender:
        s = self.settings
        if s.sms_backend == "outbox":
            from chalicelib.adapters.sms.outbox import HttpOutboxSmsSender

            return HttpOutboxSmsSender(s.sms_outbox_url)
        if s.sms_backend != "sns":
            raise ValueError(f"SMS_BACKEND must be sns or outbox, not {s.sms_backend!r}")
        from chalicelib.adapters.sms.sns import SnsSmsSender

        return SnsSmsSender(lambda: self._boto_client("sns"))

    @cached_property
    def cards_context(self) -> CardsContext:
        import hashlib
        import secrets

        from chalicelib.services.cards import CardsContext

        s = self.settings
        return CardsContext(
            requests=self.card_bind_requests, quota=self.card_quota, infos=self.card_infos,
            bindings=self.patient_bindings, his=self.his_request_queue, sms=self.sms_sender, clock=self.clock,
            new_id=self.new_id, new_code=lambda: f"{secrets.randbelow(10**6):06d}",
            end_user_key=s.his_end_user_key.encode("utf-8"),
            code_key=hashlib.sha256(b"yiwei-card-codes:" + s.session_secret.encode("utf-8")).digest(),
            binds_per_day=s.card_binds_per_day, hospital_name=s.hospital_name,
        )

    # (end of cards components)

    # ---- Browse: schedules, slots, doctor search (owner: browse) ---------------------------------
    if TYPE_CHECKING:
        from chalicelib.services.schedules import ScheduleContext

    @cached_property
    def schedules_context(self) -> ScheduleContext:
        from chalicelib.services.schedules import ScheduleContext

        return ScheduleContext(
            reader=self.his_live_reader, copies=self.live_copies, reference=self.reference_repository,
            clock=self.clock, new_id=self.new_id, blobs=self.blob_store, stops=self.schedule_notices,
        )

    # (end of browse components)

    # ---- Booking: schedules, holds, appointments, waitlist, reminders (owner: booking) ----------
    def _booking_table(self) -> Any:
        from chalicelib.adapters.dynamodb.models import booking_model

        s = self.settings
        return booking_model(s.table_name("booking"), s.region, s.aws_endpoint_url)

    @cached_property
    def booking_context(self) -> BookingContext:
        import random
        import secrets

        from chalicelib.adapters.dynamodb.booking_records import DynamoAppointmentRepository, DynamoWaitlistRepository
        from chalicelib.adapters.dynamodb.booking_slots import DynamoBookingLimits, DynamoSlotPool, DynamoTimerStore
        from chalicelib.domain.wechat import Notice
        from chalicelib.services import notices
        from chalicelib.services.booking import BookingContext, his_schedule_reader

        s = self.settings
        table = self._booking_table()

        def send_notice(notice: Notice, notice_id: str) -> object:
            return notices.notify(notice, notice_id, self.wechat_users, self.wechat_messenger, self.deliveries,
                                  s.template_id, self.clock)

        return BookingContext(
            appointments=DynamoAppointmentRepository(table), pool=DynamoSlotPool(table),
            limits=DynamoBookingLimits(table, self.clock), timers=DynamoTimerStore(table),
            waitlist=DynamoWaitlistRepository(table), bindings=self.patient_bindings, requests=self.his_request_queue,
            stops=self.schedule_notices, refunds=self.refund_obligations,
            read_schedule=his_schedule_reader(self.his_live_reader, self.live_copies, self.clock, self.new_id,
                                              self.blob_store),
            send_notice=send_notice, page_url=s.h5_url, clock=self.clock, new_hex=lambda: secrets.token_hex(16),
            shuffle=lambda ids: random.sample(ids, len(ids)), end_user_key=s.his_end_user_key.encode("utf-8"),
            requests_per_minute=s.booking_requests_per_minute, daily_cap_per_user=s.booking_daily_cap_per_user,
            daily_cap_per_patient=s.booking_daily_cap_per_patient, reminder_offsets_minutes=s.reminder_offsets_minutes,
            waitlist_offer_minutes=s.waitlist_offer_minutes,
        )

    # (end of booking components)

    # ---- Payments (owner: payments) ----------------------------------------------------------------
    def _payments_table(self) -> Any:
        from chalicelib.adapters.dynamodb.models import payments_model

        s = self.settings
        return payments_model(s.table_name("payments"), s.region, s.aws_endpoint_url)

    @cached_property
    def wechatpay(self) -> Any:
        from chalicelib.adapters.wechatpay.client import HttpWeChatPay
        from chalicelib.adapters.wechatpay.crypto import MerchantSigner, PlatformVerifier

        s = self.settings
        signer = MerchantSigner(s.wechatpay_mchid, s.wechatpay_merchant_serial, s.wechatpay_private_key)
        return HttpWeChatPay(s.wechatpay_api_base_url, s.wechat_appid, signer,
                             PlatformVerifier(dict(s.wechatpay_platform_keys)))

    @cached_property
    def payment_notifications(self) -> Any:
        from chalicelib.adapters.wechatpay.client import WeChatPayNotifications
        from chalicelib.adapters.wechatpay.crypto import PlatformVerifier

        s = self.settings
        return WeChatPayNotifications(PlatformVerifier(dict(s.wechatpay_platform_keys)),
                                      s.wechatpay_apiv3_key.encode("utf-8"))

    @cached_property
    def payment_orders(self) -> Any:
        from chalicelib.adapters.dynamodb.payments import DynamoPaymentOrders

        return DynamoPaymentOrders(self._payments_table())

    @cached_property
    def security_events(self) -> Any:
        from chalicelib.adapters.dynamodb.payments import DynamoSecurityEvents

        return DynamoSecurityEvents(self._payments_table())

    @cached_property
    def wechatpay_bill(self) -> Any:
        from chalicelib.adapters.wechatpay.bill import HttpWeChatPayBill

        return HttpWeChatPayBill(self.wechatpay)

    @cached_property
    def registration_payable(self) -> Callable[[str, str], Any]:
        """booking.payable(ctx, openid, appointment_id) (the lead's ``chalicelib.services.booking``)."""
        import importlib

        def payable(openid: str, appointment_id: str) -> Any:
            booking = importlib.import_module("chalicelib.services.booking")
            return booking.payable(self.paid_handler_context("registration"), openid, appointment_id)

        return payable

    def paid_handler_context(self, kind: str) -> Any:
        """The context a kind's paid handler (and its payable function) takes: booking's for registration."""
        if kind == "registration":
            return getattr(self, "booking_context")  # noqa: B009 - provided by the booking section
        return self.payments_context

    @cached_property
    def payments_context(self) -> Any:
        from chalicelib.domain.wechat import Notice
        from chalicelib.services import notices
        from chalicelib.services.payments import PaymentsContext

        s = self.settings

        def send_notice(notice: Notice, notice_id: str) -> object:
            return notices.notify(notice, notice_id, self.wechat_users, self.wechat_messenger, self.deliveries,
                                  s.template_id, self.clock)

        return PaymentsContext(
            orders=self.payment_orders, wechatpay=self.wechatpay, notifications=self.payment_notifications,
            security=self.security_events, records=self.payment_records, refunds=self.refund_obligations,
            queue=self.his_request_queue, bindings=self.patient_bindings, reader=self.his_live_reader,
            copies=self.live_copies, blobs=self.blob_store, clock=self.clock, new_id=self.new_id,
            end_user_key=s.his_end_user_key.encode("utf-8"),
            order_key=("payments-order:" + s.session_secret).encode("utf-8"),
            notify_url=s.wechatpay_notify_url,
            refund_notify_url=s.wechatpay_notify_url.removesuffix("/notify") + "/refund-notify",
            send_notice=send_notice, page_url=s.h5_url, registration_payable=self.registration_payable,
            handler_context=self.paid_handler_context,
        )

    # (end of payments components)

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
