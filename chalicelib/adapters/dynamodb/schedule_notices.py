"""``ScheduleNotices`` on DynamoDB (table ``his``, see ``models.HisItem``): schedule stops and changes
from HIS events, and which of our appointments are on which schedule.

* a stop ................ pk = "schedule#<schedule_id>", sk = "stop";   ``version``, ``data`` the event data
* a change .............. pk = "schedule#<schedule_id>", sk = "change"; ``version``, ``data`` the event data
* its appointments ...... pk = "schedule#<schedule_id>", sk = "appointment#<appointment_id>"; ``value`` patient id
* an appointment's schedule  pk = "appointment#<appointment_id>", sk = "schedule"; ``value`` schedule id
Stops and changes are written "newer version only" and expire 60 days after the schedule's date;
appointment links (written by booking) expire 60 days after they are written.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.his_event_ledger import conditional_failed
from chalicelib.adapters.dynamodb.models import HisItem
from chalicelib.domain.his_events import SHANGHAI, ScheduleChanged, ScheduleStopped, to_json

KEEP = timedelta(days=60)


class DynamoScheduleNotices:
    def __init__(self, model: type[HisItem]) -> None:
        self._model = model

    def _save(self, schedule_id: str, sk: str, value: ScheduleStopped | ScheduleChanged) -> bool:
        m = self._model
        expires = int((datetime.combine(value.date, time(0), tzinfo=SHANGHAI) + KEEP).timestamp())
        item = m(f"schedule#{schedule_id}", sk, version=value.version, data=to_json(value), expires_at=expires)
        try:
            item.save(condition=m.pk.does_not_exist() | (m.version <= value.version))
        except PutError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

    def _data(self, schedule_id: str, sk: str) -> dict[str, object] | None:
        try:
            return dict(self._model.get(f"schedule#{schedule_id}", sk, consistent_read=True).data or {})
        except self._model.DoesNotExist:
            return None

    def record_stop(self, stop: ScheduleStopped) -> bool:
        return self._save(stop.schedule_id, "stop", stop)

    def stop_of(self, schedule_id: str) -> ScheduleStopped | None:
        data = self._data(schedule_id, "stop")
        return ScheduleStopped.parse(data) if data else None

    def record_change(self, change: ScheduleChanged) -> bool:
        return self._save(change.schedule_id, "change", change)

    def change_of(self, schedule_id: str) -> ScheduleChanged | None:
        data = self._data(schedule_id, "change")
        return ScheduleChanged.parse(data) if data else None

    def remember_appointment(self, appointment_id: str, schedule_id: str, patient_id: str, at: datetime) -> None:
        m = self._model
        expires = int((at + KEEP).timestamp())
        m(f"schedule#{schedule_id}", f"appointment#{appointment_id}", value=patient_id, expires_at=expires).save()
        m(f"appointment#{appointment_id}", "schedule", value=schedule_id, expires_at=expires).save()

    def schedule_of(self, appointment_id: str) -> str | None:
        try:
            return self._model.get(f"appointment#{appointment_id}", "schedule", consistent_read=True).value or None
        except self._model.DoesNotExist:
            return None

    def appointments_of(self, schedule_id: str) -> list[tuple[str, str]]:
        m = self._model
        return [(item.sk.removeprefix("appointment#"), item.value or "")
                for item in m.query(f"schedule#{schedule_id}", m.sk.startswith("appointment#"), consistent_read=True)]
