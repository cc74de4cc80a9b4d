"""The middleware's operations (``openapi.yaml`` operationIds) the bridge can perform.

Each entry: HTTP method, path template under the base URL, and whether the list is paginated
(the bridge then follows ``next_cursor`` and returns every item in one result).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    paginated: bool = False

    @property
    def is_write(self) -> bool:
        return self.method != "GET"


OPERATIONS: dict[str, Operation] = {
    "getHealth": Operation("GET", "/health"),
    "getPolicies": Operation("GET", "/policies"),
    "listCampuses": Operation("GET", "/campuses"),
    "listDepartments": Operation("GET", "/departments"),
    "getDepartment": Operation("GET", "/departments/{department_id}"),
    "listDoctors": Operation("GET", "/doctors", paginated=True),
    "getDoctor": Operation("GET", "/doctors/{doctor_id}"),
    "getFeeSchedule": Operation("GET", "/fee-schedule"),
    "listSchedules": Operation("GET", "/schedules", paginated=True),
    "getSchedule": Operation("GET", "/schedules/{schedule_id}"),
    "listSlots": Operation("GET", "/schedules/{schedule_id}/slots"),
    "listScheduleNotices": Operation("GET", "/schedule-notices", paginated=True),
    "lookupPatient": Operation("POST", "/patients/lookup"),
    "createPatient": Operation("POST", "/patients"),
    "getPatient": Operation("GET", "/patients/{patient_id}"),
    "unlinkPatient": Operation("DELETE", "/patients/{patient_id}/link"),
    "listReports": Operation("GET", "/patients/{patient_id}/reports", paginated=True),
    "getReport": Operation("GET", "/patients/{patient_id}/reports/{report_id}"),
    "listCharges": Operation("GET", "/patients/{patient_id}/charges", paginated=True),
    "lockAppointment": Operation("POST", "/appointments"),
    "queryAppointments": Operation("GET", "/appointments", paginated=True),
    "getAppointment": Operation("GET", "/appointments/{appointment_id}"),
    "confirmAppointment": Operation("POST", "/appointments/{appointment_id}/confirm"),
    "cancelAppointment": Operation("POST", "/appointments/{appointment_id}/cancel"),
    "checkInAppointment": Operation("POST", "/appointments/{appointment_id}/check-in"),
    "listVisits": Operation("GET", "/visits", paginated=True),
    "getVisit": Operation("GET", "/visits/{visit_id}"),
    "getQueueStatus": Operation("GET", "/visits/{visit_id}/queue"),
    "prepareSettlement": Operation("POST", "/settlements"),
    "querySettlements": Operation("GET", "/settlements", paginated=True),
    "getSettlement": Operation("GET", "/settlements/{settlement_id}"),
    "confirmSettlement": Operation("POST", "/settlements/{settlement_id}/confirm"),
    "cancelSettlement": Operation("POST", "/settlements/{settlement_id}/cancel"),
    "refundSettlementItems": Operation("POST", "/settlements/{settlement_id}/refunds"),
    "getReconciliationSummary": Operation("GET", "/reconciliation/{date}"),
    "listEvents": Operation("GET", "/events", paginated=True),
}
