"""Fakes for browse: a bridge that answers the schedule operations the way the middleware does (spec §7.3,
§6) over a small 心血管内科 (D0301) with its own clock, and switches for silence, outages and a middleware that
hands out slots before their release."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.his_messages import HisError, HisRequest, HisResult

SHANGHAI = ZoneInfo("Asia/Shanghai")
SLOT_MINUTES = 10
STOP_MESSAGE = "赵强医生因参加紧急会诊停诊，已预约的患者将自动退号退费。"


def _iso(at: datetime) -> str:
    return at.astimezone(SHANGHAI).isoformat(timespec="seconds")


def _at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=SHANGHAI)


def _schedule(day: date, session: str, doctor: tuple[str, str, str] | None, reg_type: str, fee_fen: int,
              capacity: int, room: str | None) -> dict[str, Any]:
    start, end = {"morning": ((8, 0), (12, 0)), "afternoon": ((13, 30), (17, 0))}[session]
    doctor_id, name, title = doctor or (None, None, None)
    suffix = {"morning": "AM", "afternoon": "PM"}[session]
    return {
        "schedule_id": f"S{day:%Y%m%d}D0301{doctor_id or 'POOL'}{suffix}",
        "date": day.isoformat(), "session": session,
        "start_time": _iso(_at(day, *start)), "end_time": _iso(_at(day, *end)),
        "department_id": "D0301", "department_name": "心血管内科",
        "doctor_id": doctor_id, "doctor_name": name, "doctor_title_name": title,
        "reg_type": reg_type, "fee_fen": fee_fen, "capacity": capacity,
        "release_at": _iso(_at(day - timedelta(days=7), 8)),
        "cancel_deadline": _iso(_at(day - timedelta(days=1), 18)),
        "location": {"campus_id": "C01", "campus_name": "本部院区", "building": "门诊楼", "floor": "3F", "room": room,
                     "description": "出电梯右转，心血管内科B区"},
        "stop_notice_id": None, "version": 1,
    }


LI = ("DR10023", "李明", "主任医师")
ZHAO = ("DR10025", "赵强", "副主任医师")


class FakeSchedulesBridge:
    """A ``HisLiveReader`` answering listSchedules, getSchedule, listSlots and listScheduleNotices.

    Two weeks of 心血管内科 from ``today``: 李明 (专家号 ¥50) every morning, the department pool (普通号 ¥10)
    every afternoon, 赵强 (专家号 ¥30) on day 2's morning (stopped, with a notice), and day 1's pool sold
    out. Statuses follow ``his_now`` (the middleware's clock) as the middleware computes them.

    ``silent``: no timely answer; ``down``: ``503 HIS_UNAVAILABLE``; ``leak_slots``: the middleware answers
    slots as available even before release (what a page must still never show)."""

    def __init__(self, today: date, his_now: datetime) -> None:
        self.today = today
        self.his_now = his_now
        self.schedules: dict[str, dict[str, Any]] = {}
        self.taken: dict[str, set[int]] = {}
        self.notices: list[dict[str, Any]] = []
        self.requests: list[HisRequest] = []
        self.silent = False
        self.down = False
        self.notices_down = False
        self.leak_slots = False
        for n in range(14):
            day = today + timedelta(days=n)
            self._add(_schedule(day, "morning", LI, "expert", 5000, 12, "305诊室"))
            self._add(_schedule(day, "afternoon", None, "general", 1000, 20, None))
        zhao = self._add(_schedule(today + timedelta(days=2), "morning", ZHAO, "expert", 3000, 10, "307诊室"))
        self.stop(zhao["schedule_id"], STOP_MESSAGE)
        pool_day1 = f"S{today + timedelta(days=1):%Y%m%d}D0301POOLPM"
        self.taken[pool_day1] = set(range(1, 21))
        self.taken[f"S{today + timedelta(days=1):%Y%m%d}D0301DR10023AM"] = {1, 2, 5}

    def _add(self, raw: dict[str, Any]) -> dict[str, Any]:
        self.schedules[raw["schedule_id"]] = raw
        self.taken.setdefault(raw["schedule_id"], set())
        return raw

    def stop(self, schedule_id: str, public_message: str) -> None:
        raw = self.schedules[schedule_id]
        notice_id = f"N{len(self.notices) + 1:04d}"
        raw.update(stop_notice_id=notice_id, version=raw["version"] + 1, stopped=True)
        self.notices.insert(0, {
            "notice_id": notice_id, "type": "stopped", "schedule_id": schedule_id, "date": raw["date"],
            "session": raw["session"], "department_id": raw["department_id"], "doctor_id": raw["doctor_id"],
            "reason_code": "emergency_duty", "public_message": public_message, "changes": [],
            "affected_appointments": 0, "handling": "auto_cancelled_full_refund", "free_cancel_until": None,
            "published_at": _iso(self.his_now)})

    # ---- the middleware's view -------------------------------------------------------------------------
    def _status(self, raw: Mapping[str, Any]) -> str:
        if raw.get("stopped"):
            return "stopped"
        if self.his_now >= datetime.fromisoformat(raw["start_time"]):
            return "closed"
        if self.his_now < datetime.fromisoformat(raw["release_at"]):
            return "not_released"
        return "full" if len(self.taken[raw["schedule_id"]]) >= raw["capacity"] else "open"

    def view(self, schedule_id: str) -> dict[str, Any]:
        raw = self.schedules[schedule_id]
        out = {k: copy.deepcopy(v) for k, v in raw.items() if k != "stopped"}
        out["status"] = self._status(raw)
        out["remaining"] = max(raw["capacity"] - len(self.taken[schedule_id]), 0)
        out["updated_at"] = _iso(self.his_now)
        return out

    def slots(self, schedule_id: str) -> list[dict[str, Any]]:
        raw = self.schedules[schedule_id]
        status = self._status(raw)
        start = datetime.fromisoformat(raw["start_time"])
        out = []
        for seq in range(1, raw["capacity"] + 1):
            begin = start + timedelta(minutes=SLOT_MINUTES * (seq - 1))
            if status == "not_released" and not self.leak_slots:
                slot_status = "not_released"
            elif status in ("stopped", "closed") or seq in self.taken[schedule_id]:
                slot_status = "unavailable"
            else:
                slot_status = "available"
            out.append({"slot_id": f"{schedule_id}-{seq:02d}", "seq_no": seq, "start_time": _iso(begin),
                        "end_time": _iso(begin + timedelta(minutes=SLOT_MINUTES)), "status": slot_status})
        return out

    # ---- HisLiveReader ---------------------------------------------------------------------------------
    def _result(self, request: HisRequest, status: int, body: Any = None, error: HisError | None = None) -> HisResult:
        return HisResult(request_id=request.request_id, operation=request.operation,
                         outcome="ok" if 200 <= status < 300 else "error", fetched_at=self.his_now, status=status,
                         body=body, error=error)

    def _error(self, request: HisRequest, status: int, code: str, retryable: bool, **details: Any) -> HisResult:
        return self._result(request, status, error=HisError(code, code, retryable, details))

    def read(self, request: HisRequest) -> HisResult | None:
        self.requests.append(request)
        if self.silent:
            return None
        if self.down or (self.notices_down and request.operation == "listScheduleNotices"):
            return self._error(request, 503, "HIS_UNAVAILABLE", True)
        q = request.query
        if request.operation == "listSchedules":
            if not (q.get("department_id") or q.get("doctor_id")):
                return self._error(request, 400, "VALIDATION_ERROR", False)
            items = [self.view(sid) for sid, raw in self.schedules.items() if self._matches(raw, q)]
            items.sort(key=lambda s: (s["date"], s["session"] != "morning", s["department_id"], s["doctor_id"] or ""))
            return self._result(request, 200, {"items": items, "next_cursor": None})
        if request.operation == "listScheduleNotices":
            items = [copy.deepcopy(n) for n in self.notices if q["date_from"] <= n["date"] <= q["date_to"]
                     and (not q.get("department_id") or n["department_id"] == q["department_id"])
                     and (not q.get("doctor_id") or n["doctor_id"] == q["doctor_id"])]
            return self._result(request, 200, {"items": items, "next_cursor": None})
        schedule_id = request.path_params.get("schedule_id", "")
        if schedule_id not in self.schedules:
            return self._error(request, 404, "RESOURCE_NOT_FOUND", False, resource="schedule")
        if request.operation == "getSchedule":
            return self._result(request, 200, self.view(schedule_id))
        if request.operation == "listSlots":
            return self._result(request, 200, {"schedule_id": schedule_id, "items": self.slots(schedule_id)})
        return self._error(request, 404, "RESOURCE_NOT_FOUND", False, resource=request.operation)

    @staticmethod
    def _matches(raw: Mapping[str, Any], q: Mapping[str, str]) -> bool:
        return (q["date_from"] <= raw["date"] <= q["date_to"]
                and (not q.get("department_id") or raw["department_id"] == q["department_id"])
                and (not q.get("doctor_id") or raw["doctor_id"] == q["doctor_id"])
                and (not q.get("campus_id") or raw["location"]["campus_id"] == q["campus_id"])
                and (not q.get("reg_type") or raw["reg_type"] == q["reg_type"]))
