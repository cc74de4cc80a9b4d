"""The ports services depend on. Adapters implement them by technology; tests use fakes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol

from chalicelib.domain.faq import FaqEntry
from chalicelib.domain.his_messages import HisRequest, HisResult
from chalicelib.domain.jobs import Job, JobState
from chalicelib.domain.patients import PatientBinding
from chalicelib.domain.reconciliation import BillEntry, HisSummary, OurRecord, ReconciliationReport
from chalicelib.domain.reference import (
    Campus,
    Dataset,
    Department,
    Doctor,
    FeeEntry,
    ReferenceSnapshot,
    SyncState,
)
from chalicelib.domain.refunds import RefundObligation
from chalicelib.domain.wechat import (
    Delivery,
    DeliveryState,
    InboundMessage,
    LastLocation,
    Reply,
    UserTag,
    WeChatUser,
)

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]


class ReferenceRepository(Protocol):
    def sync_states(self) -> dict[Dataset, SyncState]: ...

    def apply_snapshot(self, snapshot: ReferenceSnapshot) -> bool:
        """Make the stored copy equal ``snapshot`` unless a newer one is held; True if applied."""
        ...

    def mark_unchanged(self, dataset: Dataset, fetched_at: datetime, etag: str | None) -> bool:
        """Record that the HIS confirmed our copy is current (HTTP 304)."""
        ...

    def campuses(self) -> list[Campus]: ...

    def departments(self) -> list[Department]: ...

    def department(self, department_id: str) -> Department | None: ...

    def doctors(self) -> list[Doctor]: ...

    def doctors_of_department(self, department_id: str) -> list[Doctor]: ...

    def doctor(self, doctor_id: str) -> Doctor | None: ...

    def fees(self) -> list[FeeEntry]: ...


class HisRequestQueue(Protocol):
    def send(self, request: HisRequest) -> None: ...


class BlobStore(Protocol):
    def get_json(self, bucket: str, key: str) -> Any: ...

    def get_bytes(self, bucket: str, key: str) -> bytes: ...

    def presigned_url(self, bucket: str, key: str, expires_in: int, filename: str | None = None) -> str:
        """A short-lived GET link (e.g. a report's PDF), optionally served as a download named ``filename``."""
        ...


class JobRepository(Protocol):
    def add(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def finish(self, job_id: str, state: JobState, at: datetime, detail: str = "") -> None:
        """Record the outcome; a job already finished keeps its first outcome (redelivery-safe)."""
        ...


# ---- WeChat ---------------------------------------------------------------------------------------
class InboxState(StrEnum):
    NEW = "new"  # first delivery: process it
    PROCESSING = "processing"  # another delivery of it is being processed right now
    ANSWERED = "answered"  # processed; ``reply`` is what we answered
    DEFERRED = "deferred"  # handed to the async worker; the answer goes out as a customer-service message


@dataclass(frozen=True)
class InboxClaim:
    state: InboxState
    reply: Reply | None = None


class InboxLedger(Protocol):
    """Deduplicates WeChat deliveries (retries) by their natural key, with a TTL."""

    def claim(self, key: str, at: datetime) -> InboxClaim:
        """Atomically record ``key`` as processing, or report what an earlier delivery did."""
        ...

    def peek(self, key: str) -> InboxClaim | None: ...

    def answered(self, key: str, reply: Reply, at: datetime) -> None: ...

    def deferred(self, key: str, at: datetime) -> bool:
        """Mark as handed to the worker; False if it was already answered (then nothing is deferred)."""
        ...

    def release(self, key: str) -> None:
        """Forget a claim whose processing failed, so WeChat's retry processes it again."""
        ...


class WeChatUserRepository(Protocol):
    def get(self, openid: str) -> WeChatUser | None: ...

    def touch(self, openid: str, at: datetime) -> None:
        """Record an interaction (opens the 48-hour customer-service window)."""
        ...

    def subscribe(self, openid: str, at: datetime, scene: str) -> None:
        """Record a follow (also an interaction); ``scene`` is kept from a follow through a QR code."""
        ...

    def unsubscribe(self, openid: str, at: datetime) -> None: ...

    def save_location(self, openid: str, location: LastLocation) -> None: ...

    def set_tags(self, openid: str, tags: frozenset[UserTag]) -> None: ...


class DeferredInbox(Protocol):
    """Queue of messages whose handling may take longer than WeChat waits."""

    def send(self, message: InboundMessage) -> None: ...


class WeChatSendError(Exception):
    """WeChat refused an outbound call (``errcode`` as WeChat gave it; None for transport failures)."""

    def __init__(self, errcode: int | None, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatMessenger(Protocol):
    """Outbound messages through the WeChat API; every method raises ``WeChatSendError``."""

    def send_custom(self, openid: str, reply: Reply) -> None: ...

    def send_template(self, openid: str, template_id: str, fields: Mapping[str, str], url: str) -> str:
        """Returns WeChat's msgid (reported back later by TEMPLATESENDJOBFINISH)."""
        ...

    def ensure_tag(self, name: str) -> int: ...

    def tag_users(self, tag_id: int, openids: list[str]) -> None: ...

    def untag_users(self, tag_id: int, openids: list[str]) -> None: ...

    def mass_send_text(self, tag_id: int, content: str) -> str: ...

    def publish_menu(self, document: Mapping[str, Any]) -> None: ...


class DeliveryLog(Protocol):
    def get(self, delivery_id: str) -> Delivery | None: ...

    def record(self, delivery: Delivery) -> None:
        """Store (or overwrite) the delivery of one notice id."""
        ...

    def template_finished(self, wechat_msgid: str, state: DeliveryState, at: datetime) -> bool:
        """Record WeChat's delivery report; False if no such template message of ours is known."""
        ...

    def of_user(self, openid: str, limit: int = 20) -> list[Delivery]: ...


# ---- H5 login -------------------------------------------------------------------------------------
class OneTimeCodes(Protocol):
    def claim(self, code_hash: str, at: datetime) -> bool:
        """Record ``code_hash`` as used; False if it already was (atomic: exactly one caller wins)."""
        ...


class OAuthCodeExchange(Protocol):
    def openid_for_code(self, code: str) -> str:
        """The openid an OAuth2 code stands for (``sns/oauth2/access_token``); raises ``WeChatSendError``."""
        ...


class JsapiTicketSource(Protocol):
    def ticket(self) -> str:
        """A valid ``jsapi_ticket`` (cached by the adapter); raises ``WeChatSendError``."""
        ...


# ---- FAQ ------------------------------------------------------------------------------------------
class FaqRepository(Protocol):
    def all(self) -> list[FaqEntry]:
        """Every entry, disabled ones too (may be a little stale: adapters cache it briefly)."""
        ...

    def put_many(self, entries: Iterable[FaqEntry]) -> None: ...

    def delete(self, entry_id: str) -> None: ...

    def replace_all(self, entries: Iterable[FaqEntry]) -> None:
        """Store exactly ``entries``: upsert them and delete every other entry."""
        ...


# ---- Patients bound to WeChat users ---------------------------------------------------------------
class PatientBindings(Protocol):
    def bind(self, binding: PatientBinding) -> None:
        """Bind (or re-bind with the new relation and label); idempotent."""
        ...

    def unbind(self, openid: str, patient_id: str) -> None: ...

    def patients_of(self, openid: str) -> list[PatientBinding]: ...

    def openids_of(self, patient_id: str) -> list[str]:
        """Every WeChat user bound to ``patient_id`` (a parent and a grandparent may both follow a child)."""
        ...


# ---- Refunds we owe --------------------------------------------------------------------------------
class RefundObligations(Protocol):
    def record(self, obligation: RefundObligation) -> bool:
        """Store it unless ``out_refund_no`` is already known; True if this call stored it."""
        ...

    def get(self, out_refund_no: str) -> RefundObligation | None: ...

    def pending(self, limit: int = 100) -> list[RefundObligation]: ...

    def mark_executed(self, out_refund_no: str, at: datetime) -> None: ...


# ---- HIS events and their effects (owner: events) --------------------------------------------------
from chalicelib.domain.his_events import (  # noqa: E402 (kept in this section)
    EventMessage,
    FollowUpPlan,
    ScheduleChanged,
    ScheduleStopped,
)


class LedgerState(StrEnum):
    NEW = "new"  # first delivery: this caller processes it
    PROCESSING = "processing"  # another delivery of it is being processed right now
    DEFERRED = "deferred"  # waiting on the events queue (a report not yet released)
    DONE = "done"  # processed


class HisEventLedger(Protocol):
    """Seen event ids (spec §8.2.2), kept 9 days. A claim is atomic: of concurrent deliveries of one
    event exactly one gets ``NEW``."""

    def claim(self, event_id: str, at: datetime, take_deferred: bool = False) -> LedgerState:
        """Record ``event_id`` as processing and return ``NEW``, or return what an earlier delivery left.
        A processing claim older than the adapter's stale limit (a delivery that died) is taken over;
        a deferred one only with ``take_deferred`` (the delayed copy itself)."""
        ...

    def deferred(self, event_id: str, at: datetime) -> None: ...

    def done(self, event_id: str, outcome: str, at: datetime) -> None: ...

    def release(self, event_id: str) -> None:
        """Forget a processing or deferred claim whose processing failed, so a redelivery processes it."""
        ...


@dataclass(frozen=True)
class HeldVersion:
    version: int
    event_id: str
    state: Mapping[str, Any]


class ResourceVersions(Protocol):
    """The newest version of each resource seen in events (``appointment:<id>``, ``report:<id>``, ...)."""

    def advance(self, resource: str, version: int, event_id: str, at: datetime,
                state: Mapping[str, Any] | None = None) -> bool:
        """Record ``version`` (and ``state``) unless it is stale (``his_events.supersedes``); atomic.
        True if this event may apply its effect."""
        ...

    def get(self, resource: str) -> HeldVersion | None: ...


class HisEventQueue(Protocol):
    def send(self, message: EventMessage, delay_seconds: int = 0) -> None:
        """Put an event message on the events queue, invisible for ``delay_seconds`` (at most 900)."""
        ...


class EventCursor(Protocol):
    """Where the events-pull poller continues (the middleware's opaque ``next_cursor``)."""

    def get(self) -> str | None: ...

    def advance(self, expected: str | None, cursor: str, at: datetime) -> bool:
        """Store ``cursor`` if the stored one is still ``expected`` (None: none stored yet); atomic,
        so a slow poll result cannot move the cursor back. True if stored."""
        ...


class FollowUpPlans(Protocol):
    def save(self, plan: FollowUpPlan) -> bool:
        """Store the plan unless one of a newer visit version is held; True if stored."""
        ...

    def get(self, visit_id: str) -> FollowUpPlan | None: ...

    def due_on(self, day: str) -> list[FollowUpPlan]:
        """Planned follow-ups due on a Shanghai date (``YYYY-MM-DD``), for the sender."""
        ...


class ScheduleNotices(Protocol):
    """Stops and changes of schedules (for notices and the booking pages), and which of our
    appointments are on which schedule (written by booking: ``remember_appointment``)."""

    def record_stop(self, stop: ScheduleStopped) -> bool:
        """Store unless a newer version is held; True if stored."""
        ...

    def stop_of(self, schedule_id: str) -> ScheduleStopped | None: ...

    def record_change(self, change: ScheduleChanged) -> bool: ...

    def change_of(self, schedule_id: str) -> ScheduleChanged | None: ...

    def remember_appointment(self, appointment_id: str, schedule_id: str, patient_id: str, at: datetime) -> None: ...

    def schedule_of(self, appointment_id: str) -> str | None: ...

    def appointments_of(self, schedule_id: str) -> list[tuple[str, str]]:
        """``(appointment_id, patient_id)`` of the appointments remembered on the schedule."""
        ...
# (end of HIS events ports)


# ---- Live reads through the bridge and reports (owner: live reads) ---------------------------------
@dataclass(frozen=True)
class LiveCopy:
    """The last good answer to a live read, kept to show (with its time) when the HIS cannot answer."""

    body: Any
    as_of: datetime


class HisLiveReader(Protocol):
    """A synchronous read through the bridge (a direct Lambda invoke with a short timeout)."""

    def read(self, request: HisRequest) -> HisResult | None:
        """The bridge's result, or None when no answer came in time (timeout, bridge failure, garbled reply)."""
        ...


class LiveCopies(Protocol):
    """Last good answers of live reads by key (kept 7 days)."""

    def get(self, key: str) -> LiveCopy | None: ...

    def put(self, key: str, body: Any, as_of: datetime) -> None:
        """Keep ``body`` as the answer for ``key`` as of ``as_of``; a copy never replaces a newer one."""
        ...


# (end of live reads ports)


# ---- Reconciliation (owner: reconciliation) --------------------------------------------------------
class PaymentRecords(Protocol):
    """Our own record of money that moved through WeChat Pay (booking and payments write it)."""

    def record(self, entry: OurRecord) -> bool:
        """Store it unless its natural key (transaction_id / out_refund_no) is known; True if stored."""
        ...

    def between(self, start: datetime, end: datetime) -> list[OurRecord]:
        """Records with ``start <= at < end``."""
        ...


class ReconciliationReports(Protocol):
    """A day's run: the HIS summary and file as they arrive, and the report made from them."""

    def note_summary(self, summary: HisSummary, at: datetime) -> None: ...

    def note_file(self, day: date, ref: Mapping[str, str], at: datetime) -> None:
        """Where the bridge parked the day's file (``bucket``, ``key``)."""
        ...

    def inputs(self, day: date) -> tuple[HisSummary | None, dict[str, str] | None]:
        """The summary and file reference noted so far (read consistently)."""
        ...

    def save(self, report: ReconciliationReport) -> None: ...

    def get(self, day: date) -> ReconciliationReport | None: ...

    def list(self, limit: int = 30) -> list[ReconciliationReport]:
        """The most recent days first."""
        ...


class WeChatPayBill(Protocol):
    """The WeChat Pay bill (the payments side provides it); None while a day's bill is not available."""

    def entries_between(self, start: datetime, end: datetime) -> list[BillEntry] | None: ...


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, Any]  # SQS message attributes, sent again as they were


class DeadLetterQueues(Protocol):
    """Moves messages between a queue and its dead-letter queue ``<queue>-dlq``."""

    def count(self, queue: str) -> int:
        """Approximate number of messages waiting in ``queue``'s DLQ."""
        ...

    def receive(self, queue: str, max_messages: int) -> list[DeadLetter]:
        """Up to ``max_messages`` (≤ 10) from the DLQ, hidden from other readers for a while."""
        ...

    def send_back(self, queue: str, letter: DeadLetter) -> None:
        """Send to ``queue`` with the same body and attributes; raises on failure."""
        ...

    def delete(self, queue: str, letter: DeadLetter) -> None:
        """Delete from the DLQ."""
        ...


# (end of reconciliation ports)


# ---- Cards: binding patients to WeChat users (owner: cards) ----------------------------------------
from chalicelib.domain.cards import BindRequest, CardInfo  # noqa: E402 (kept in this section)


class BindRequests(Protocol):
    """Bind requests (``domain.cards.BindRequest``), kept at most ``REQUEST_TTL`` (+ a margin to show the end)."""

    def add(self, request: BindRequest) -> None:
        """Store a new request (its id must not exist yet)."""
        ...

    def get(self, request_id: str) -> BindRequest | None:
        """The request as stored (read consistently), None if unknown or past its storage lifetime."""
        ...

    def replace(self, request: BindRequest, expected_version: int) -> bool:
        """Store ``request`` only if the stored version is still ``expected_version`` (atomic compare-and-set:
        of racing writers exactly one wins). False if it was not."""
        ...


class CardQuota(Protocol):
    """Binding attempts per WeChat user per Shanghai day."""

    def take(self, openid: str, day: str, limit: int, at: datetime) -> bool:
        """Count one attempt unless ``limit`` are counted already (atomic); True if counted."""
        ...

    def used(self, openid: str, day: str) -> int: ...


class CardInfos(Protocol):
    """Masked card details of a user's bound patients (next to the binding, same lifetime)."""

    def put(self, openid: str, info: CardInfo) -> None: ...

    def of_user(self, openid: str) -> dict[str, CardInfo]:
        """By patient id."""
        ...

    def delete(self, openid: str, patient_id: str) -> None: ...


class SmsSendError(Exception):
    """The SMS could not be handed to the carrier (the message says why, without the number or text)."""


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None:
        """Send ``text`` to the mainland mobile ``phone`` (11 digits); raises ``SmsSendError``."""
        ...


# (end of cards ports)


# ---- Booking: schedules, holds, appointments, waitlist, reminders (owner: booking) -----------------
from chalicelib.domain.booking import Appointment  # noqa: E402 (kept in this section)
from chalicelib.domain.schedules import Schedule, Slot  # noqa: E402
from chalicelib.domain.timers import Timer  # noqa: E402
from chalicelib.domain.waitlist import WaitlistEntry  # noqa: E402


@dataclass(frozen=True)
class SlotPoolSnapshot:
    """A schedule as the booking path knows it: the schedule when its slot items were made (refreshed
    now and then) and its slots. Read by every booker, written rarely."""

    schedule: Schedule
    slots: tuple[Slot, ...]
    refreshed_at: datetime


class SlotPool(Protocol):
    """One item per slot, so the writers of a popular session spread over many keys. A slot is ``free``,
    ``held`` by a holder (an appointment id, or ``offer:<id>`` for a waitlist offer) or ``blocked`` (not
    bookable through us: taken at a counter, or reserved)."""

    def snapshot(self, schedule_id: str) -> SlotPoolSnapshot | None: ...

    def start_preparing(self, schedule_id: str, at: datetime) -> bool:
        """A short lease so that one caller makes the slot items; False if someone else is at it."""
        ...

    def prepare(self, snapshot: SlotPoolSnapshot) -> None:
        """Create the slot items (existing ones are kept as they are) and store the snapshot."""
        ...

    def refresh(self, schedule: Schedule, at: datetime) -> None:
        """Store a newer copy of the schedule (fee, status, deadlines); the slot items are untouched."""
        ...

    def hold(self, schedule_id: str, holder: str, slot_ids: list[str]) -> str | None:
        """Hold the first of ``slot_ids`` (tried in order) that is free; the slot id, or None. Atomic."""
        ...

    def free_slots(self, schedule_id: str) -> list[str]:
        """The slot ids free now (may be a moment stale: only ``hold`` decides)."""
        ...

    def holder_of(self, schedule_id: str, slot_id: str) -> str | None: ...

    def transfer(self, schedule_id: str, slot_id: str, from_holder: str, to_holder: str | None) -> bool:
        """Hand a held slot to another holder (None: make it free), only if ``from_holder`` holds it."""
        ...

    def take_back(self, schedule_id: str, slot_id: str, holder: str) -> bool:
        """Hold the slot for ``holder`` when it is free or already theirs (the HIS re-took it for us)."""
        ...

    def counts(self, schedule_id: str) -> dict[str, int]:
        """How many slots are ``free``, ``held`` and ``blocked``."""
        ...


class AppointmentRepository(Protocol):
    def add(self, appointment: Appointment) -> None:
        """Store a new appointment (its id is new: never overwrites)."""
        ...

    def get(self, appointment_id: str) -> Appointment | None: ...

    def save(self, appointment: Appointment) -> bool:
        """Store ``appointment`` if the stored one is still at ``appointment.version - 1``; False if
        someone else moved it first (re-read and decide again)."""
        ...

    def of_user(self, openid: str) -> list[Appointment]: ...

    def by_his_id(self, his_appointment_id: str) -> Appointment | None: ...

    def remember_his_id(self, his_appointment_id: str, appointment_id: str) -> None: ...


class BookingLimits(Protocol):
    """Fairness: each method is one atomic conditional write."""

    def claim_request(self, user: str, request_key: str, appointment_id: str, at: datetime) -> str:
        """The appointment id of this request: ``appointment_id`` if this call is the first, else the
        one the first call recorded (double taps, retries)."""
        ...

    def claim_patient_schedule(self, patient_id: str, schedule_id: str, appointment_id: str) -> str | None:
        """Record that the patient has this appointment on the schedule; None if recorded, else the
        appointment id already holding that place."""
        ...

    def release_patient_schedule(self, patient_id: str, schedule_id: str, appointment_id: str) -> None: ...

    def place_of(self, patient_id: str, schedule_id: str) -> str | None:
        """The appointment holding the patient's place on the schedule, if any."""
        ...

    def release_request(self, user: str, request_key: str, appointment_id: str) -> None:
        """Forget a request key whose booking was refused (only if it still names ``appointment_id``), so
        the same key may be tried again."""
        ...

    def take_daily(self, counter: str, day: str, cap: int) -> bool:
        """Count one more for ``counter`` on ``day`` unless it reached ``cap``."""
        ...

    def give_back_daily(self, counter: str, day: str) -> None: ...

    def throttle(self, user: str, at: datetime, per_minute: int) -> bool:
        """Count a request in the user's current minute; False when over ``per_minute``."""
        ...


class TimerStore(Protocol):
    def set(self, timer: Timer) -> None:
        """Idempotent by the timer's key and due minute."""
        ...

    def due(self, now: datetime, limit: int = 200) -> list[Timer]:
        """Timers due at or before ``now`` not yet done."""
        ...

    def done(self, timer: Timer) -> None: ...


class WaitlistRepository(Protocol):
    def join(self, entry: WaitlistEntry) -> bool:
        """Add the patient to the schedule's line; False if they already have an entry there."""
        ...

    def get(self, schedule_id: str, patient_id: str) -> WaitlistEntry | None: ...

    def entries(self, schedule_id: str) -> list[WaitlistEntry]: ...

    def of_user(self, openid: str) -> list[WaitlistEntry]: ...

    def save(self, entry: WaitlistEntry) -> bool:
        """Store if the stored entry is still at ``entry.version - 1``."""
        ...

    def by_offer(self, offer_id: str) -> WaitlistEntry | None: ...


# (end of booking ports)


# ---- Payments: WeChat Pay orders, notifications, refunds (owner: payments) ---------------------------
from chalicelib.domain.payments import (  # noqa: E402 (kept in this section)
    Order,
    RefundResult,
    Refusal,
    SecurityEvent,
    Transaction,
)


class WeChatPayError(Exception):
    """WeChat Pay answered with a definite error (4xx): ``code`` is its error code."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message


class WeChatPayUnavailableError(Exception):
    """No usable answer (timeout, 5xx, an unsigned answer): the outcome is unknown; query, never re-create."""


@dataclass(frozen=True)
class OpenedNotification:
    notification_id: str
    event_type: str  # TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED
    resource: dict[str, Any]  # the decrypted resource


class WeChatPay(Protocol):
    appid: str
    mchid: str

    def jsapi_prepay(self, out_trade_no: str, description: str, total_fen: int, payer_openid: str,
                     time_expire: datetime, notify_url: str) -> str:
        """The prepay_id (the same out_trade_no and parameters again give the same one)."""
        ...

    def query(self, out_trade_no: str) -> Transaction | None: ...

    def close(self, out_trade_no: str) -> None:
        """Raises ``WeChatPayError`` (e.g. ORDER_PAID) when it cannot be closed."""
        ...

    def refund(self, out_refund_no: str, out_trade_no: str, refund_fen: int, total_fen: int, reason: str,
               notify_url: str) -> RefundResult:
        """Idempotent under ``out_refund_no``."""
        ...

    def query_refund(self, out_refund_no: str) -> RefundResult | None: ...

    def jsapi_params(self, prepay_id: str) -> dict[str, str]:
        """``appId, timeStamp, nonceStr, package, signType, paySign`` for getBrandWCPayRequest."""
        ...


class PaymentNotifications(Protocol):
    def open(self, headers: Mapping[str, str], body: bytes, now: datetime) -> OpenedNotification | Refusal:
        """Verify (allowlisted serial, ±300 s, platform signature) and decrypt, or say why not."""
        ...


class PaymentOrders(Protocol):
    def create(self, order: Order) -> bool:
        """Store a new order unless ``order_id`` is known; True if this call stored it."""
        ...

    def get(self, order_id: str) -> Order | None: ...

    def replace(self, order: Order, expected: Order) -> bool:
        """Write ``order`` only if the stored one is still ``expected`` (same state and version)."""
        ...

    def of_user(self, openid: str, limit: int = 50) -> list[Order]:
        """The user's orders, newest first."""
        ...

    def unfinished(self, before: datetime, limit: int = 100) -> list[Order]:
        """Orders still created/paying whose time_expire is before ``before``, and paid ones not yet handled."""
        ...


class SecurityEvents(Protocol):
    def record(self, event: SecurityEvent) -> None: ...

    def recent(self, limit: int = 100) -> list[SecurityEvent]: ...


# (end of payments ports)
