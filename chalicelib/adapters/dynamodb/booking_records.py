"""Appointments and waitlists on DynamoDB (table ``booking``, ``models.BookingItem``).

Appointments:
* an appointment ..... pk = "appt#<appointment_id>", sk = "appt"; ``data`` the record, ``version`` for
                       optimistic writes (a save is conditional on the version it read), ``state``
* a user's ........... pk = "userappt#<openid>", sk = "<created_at UTC ISO>#<appointment_id>"; ``value`` the id
                       (written first; an id with no appointment is skipped)
* by HIS id .......... pk = "hisappt#<his appointment_id>", sk = "hisappt"; ``value`` our id
Waitlists:
* the line ........... pk = "wait#<schedule_id>", sk = "<joined epoch ms, 15 digits>#<patient_id>"; ``data``
                       the entry, ``version``
* a patient's place .. pk = "waitme#<schedule_id>#<patient_id>", sk = "me"; ``value`` the line's sk
* a user's entries ... pk = "userwait#<openid>", sk = "<schedule_id>#<patient_id>"
* an offer ........... pk = "offer#<offer_id>", sk = "offer"; ``value`` "<schedule_id>|<patient_id>"
Appointments and waitlists keep no TTL: they are the patient's history. Only masked labels are stored.
"""

from __future__ import annotations

from datetime import UTC

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb.booking_codec import appointment_json, appointment_of, entry_json, entry_of
from chalicelib.adapters.dynamodb.models import BookingItem
from chalicelib.adapters.dynamodb.patient_bindings import connection_of
from chalicelib.domain.booking import Appointment
from chalicelib.domain.waitlist import WaitlistEntry


def _conditional_failed(exc: Exception) -> bool:
    if isinstance(exc, TransactWriteError):
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or [])
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


class DynamoAppointmentRepository:
    def __init__(self, model: type[BookingItem]) -> None:
        self._m = model

    def add(self, appointment: Appointment) -> None:
        m = self._m
        a = appointment
        # The user's pointer first (harmless alone: ``of_user`` skips ids with no appointment), then the
        # appointment, which never overwrites. No transaction: the release rush writes here.
        m(f"userappt#{a.openid}", f"{a.created_at.astimezone(UTC).isoformat()}#{a.appointment_id}",
          value=a.appointment_id).save()
        m(f"appt#{a.appointment_id}", "appt", data=appointment_json(a), version=a.version,
          state=a.state.value).save(condition=m.pk.does_not_exist())

    def get(self, appointment_id: str) -> Appointment | None:
        try:
            item = self._m.get(f"appt#{appointment_id}", "appt", consistent_read=True)
        except self._m.DoesNotExist:
            return None
        return appointment_of(item.data or {})

    def save(self, appointment: Appointment) -> bool:
        m = self._m
        a = appointment
        data = appointment_json(a)
        try:
            m(f"appt#{a.appointment_id}", "appt").update(
                actions=[m.data.set(data), m.version.set(a.version), m.state.set(a.state.value)],
                condition=m.version == a.version - 1)
        except UpdateError as exc:
            if _conditional_failed(exc):
                # A resent write meeting its own success finds exactly what it wrote.
                stored = self.get(a.appointment_id)
                return stored is not None and appointment_json(stored) == data
            raise
        return True

    def of_user(self, openid: str) -> list[Appointment]:
        m = self._m
        ids = [item.value for item in m.query(f"userappt#{openid}", scan_index_forward=False, limit=200) if item.value]
        found = [appointment_of(item.data or {}) for item in m.batch_get([(f"appt#{i}", "appt") for i in ids])]
        return sorted(found, key=lambda a: a.created_at, reverse=True)

    def by_his_id(self, his_appointment_id: str) -> Appointment | None:
        try:
            item = self._m.get(f"hisappt#{his_appointment_id}", "hisappt")
        except self._m.DoesNotExist:
            return None
        return self.get(item.value or "")

    def remember_his_id(self, his_appointment_id: str, appointment_id: str) -> None:
        self._m(f"hisappt#{his_appointment_id}", "hisappt", value=appointment_id).save()


def _line_sk(entry: WaitlistEntry) -> str:
    return f"{int(entry.joined_at.timestamp() * 1000):015d}#{entry.patient_id}"


class DynamoWaitlistRepository:
    def __init__(self, model: type[BookingItem]) -> None:
        self._m = model

    def join(self, entry: WaitlistEntry) -> bool:
        m = self._m
        e = entry
        try:
            with TransactWrite(connection=connection_of(m)) as tx:
                tx.save(m(f"waitme#{e.schedule_id}#{e.patient_id}", "me", value=_line_sk(e)),
                        condition=m.pk.does_not_exist())
                tx.save(m(f"wait#{e.schedule_id}", _line_sk(e), data=entry_json(e), version=e.version))
                tx.save(m(f"userwait#{e.openid}", f"{e.schedule_id}#{e.patient_id}", value=_line_sk(e)))
        except TransactWriteError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def get(self, schedule_id: str, patient_id: str) -> WaitlistEntry | None:
        m = self._m
        try:
            sk = m.get(f"waitme#{schedule_id}#{patient_id}", "me", consistent_read=True).value or ""
            return entry_of(m.get(f"wait#{schedule_id}", sk, consistent_read=True).data or {})
        except m.DoesNotExist:
            return None

    def entries(self, schedule_id: str) -> list[WaitlistEntry]:
        return [entry_of(item.data or {}) for item in self._m.query(f"wait#{schedule_id}", consistent_read=True)]

    def of_user(self, openid: str) -> list[WaitlistEntry]:
        found = []
        for pointer in self._m.query(f"userwait#{openid}"):
            schedule_id, _, patient_id = pointer.sk.partition("#")
            entry = self.get(schedule_id, patient_id)
            if entry is not None:
                found.append(entry)
        return found

    def save(self, entry: WaitlistEntry) -> bool:
        m = self._m
        e = entry
        try:
            m(f"wait#{e.schedule_id}", _line_sk(e)).update(
                actions=[m.data.set(entry_json(e)), m.version.set(e.version)], condition=m.version == e.version - 1)
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        if e.offer is not None:
            try:
                m(f"offer#{e.offer.offer_id}", "offer", value=f"{e.schedule_id}|{e.patient_id}").save(
                    condition=m.pk.does_not_exist())
            except PutError as exc:
                if not _conditional_failed(exc):
                    raise
        return True

    def by_offer(self, offer_id: str) -> WaitlistEntry | None:
        try:
            pointer = self._m.get(f"offer#{offer_id}", "offer").value or ""
        except self._m.DoesNotExist:
            return None
        schedule_id, _, patient_id = pointer.partition("|")
        return self.get(schedule_id, patient_id)
