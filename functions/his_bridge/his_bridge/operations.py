"""The middleware's operations (``openapi.yaml`` operationIds) the bridge can perform.

Each entry: HTTP method, path template under the base URL, how a list is paged (the bridge follows the
cursor and returns every item in one result) and, for the two non-JSON operations, the media type of the
body (PDF, CSV: always parked in S3). The ``on*`` webhooks are not operations: events arrive at
``his_bridge.events``.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGES_NONE = "none"
PAGES_CURSOR = "cursor"  # ``cursor`` in, ``next_cursor`` out, null at the end (§2.2)
PAGES_EVENTS = "events"  # ``after`` in, ``next_cursor`` always set; an empty page is the end (listEvents)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    paging: str = PAGES_NONE
    media_type: str = "application/json"

    @property
    def is_write(self) -> bool:
        return self.method != "GET"

    @property
    def paginated(self) -> bool:
        return self.paging != PAGES_NONE

    @property
    def is_binary(self) -> bool:
        """The body is not JSON; the bridge parks it in S3 and passes a ``body_ref``."""
        return self.media_type != "application/json"

    @property
    def extension(self) -> str:
        return {"application/pdf": "pdf", "text/csv": "csv"}.get(self.media_type, "json")


OPERATIONS: dict[str, Operation] = {
    "getHealth": Operation("GET", "/health"),
    "getPolicies": Operation("GET", "/policies"),
    "listCampuses": Operation("GET", "/campuses"),
    "listDepartments": Operation("GET", "/departments"),
    "getDepartment": Operation("GET", "/departments/{department_id}"),
    "listDoctors": Operation("GET", "/doctors", PAGES_CURSOR),
    "getDoctor": Operation("GET", "/doctors/{doctor_id}"),
    "getFeeSchedule": Operation("GET", "/fee-schedule"),
    "listSchedules": Operation("GET", "/schedules", PAGES_CURSOR),
    "getSchedule": Operation("GET", "/schedules/{schedule_id}"),
    "listSlots": Operation("GET", "/schedules/{schedule_id}/slots"),
    "listScheduleNotices": Operation("GET", "/schedule-notices", PAGES_CURSOR),
    "lookupPatient": Operation("POST", "/patients/lookup"),
    "createPatient": Operation("POST", "/patients"),
    "getPatient": Operation("GET", "/patients/{patient_id}"),
    "unlinkPatient": Operation("DELETE", "/patients/{patient_id}/link"),
    "listReports": Operation("GET", "/patients/{patient_id}/reports", PAGES_CURSOR),
    "getReport": Operation("GET", "/patients/{patient_id}/reports/{report_id}"),
    "getReportPdf": Operation("GET", "/patients/{patient_id}/reports/{report_id}/pdf", media_type="application/pdf"),
    "listCharges": Operation("GET", "/patients/{patient_id}/charges"),
    "lockAppointment": Operation("POST", "/appointments"),
    "queryAppointments": Operation("GET", "/appointments", PAGES_CURSOR),
    "getAppointment": Operation("GET", "/appointments/{appointment_id}"),
    "confirmAppointment": Operation("POST", "/appointments/{appointment_id}/confirm"),
    "cancelAppointment": Operation("POST", "/appointments/{appointment_id}/cancel"),
    "checkInAppointment": Operation("POST", "/appointments/{appointment_id}/check-in"),
    "listVisits": Operation("GET", "/visits", PAGES_CURSOR),
    "getVisit": Operation("GET", "/visits/{visit_id}"),
    "getQueueStatus": Operation("GET", "/visits/{visit_id}/queue"),
    "prepareSettlement": Operation("POST", "/settlements"),
    "querySettlements": Operation("GET", "/settlements", PAGES_CURSOR),
    "getSettlement": Operation("GET", "/settlements/{settlement_id}"),
    "confirmSettlement": Operation("POST", "/settlements/{settlement_id}/confirm"),
    "cancelSettlement": Operation("POST", "/settlements/{settlement_id}/cancel"),
    "refundSettlementItems": Operation("POST", "/settlements/{settlement_id}/refunds"),
    "getReconciliationSummary": Operation("GET", "/reconciliation/{date}"),
    "getReconciliationFile": Operation("GET", "/reconciliation/{date}/file", media_type="text/csv"),
    "listEvents": Operation("GET", "/events", PAGES_EVENTS),
}
