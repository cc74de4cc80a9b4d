"""Demo patients and their history (all fictitious; identifiers are well-formed but invented).

``P000123456`` 张三 is the spec examples' patient: ID ``110101199003070011``, phone ``13800000001``, e-card
``E2025000123456``. Yesterday he saw 李四 (D0301) at the counter-booked visit ``V<yesterday>00877``, which left
reports (lab final with one abnormal item, exam final, lab pending) and unpaid charges (prescription and lab payable
online, one treatment needing medical insurance). He also holds a kiosk booking for the coming days.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from . import policy
from .clock import SHANGHAI, at
from .identity import make_resident_id
from .schedules import make_schedule, remaining
from .state import (
    Appointment,
    Card,
    Charge,
    ChargeItem,
    DiagnosisCategory,
    Guardian,
    HisState,
    LabItem,
    Patient,
    Report,
    Visit,
)

UNPAID_CHARGE_VALIDITY = timedelta(hours=policy.UNPAID_CHARGE_VALIDITY_HOURS)


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(SHANGHAI)


def seed_patients(state: HisState, rng: random.Random, today: date, now: datetime) -> None:
    zhang = Patient(
        patient_id="P000123456", name="张三", gender="male", birth_date=date(1990, 3, 7), id_type="resident_id",
        id_number="110101199003070011", phone="13800000001", created_at=_dt("2023-11-02T09:15:22+08:00"),
        cards=[Card("E2025000123456", "e_card")],
        address="示例市中山区民主路12号",
    )
    child_birth = date(2019, 9, 1)
    child = Patient(
        patient_id="P000345678", name="张小明", gender="male", birth_date=child_birth, id_type="resident_id",
        id_number=make_resident_id("110101", child_birth, 31, "male"), phone="13800000001",
        created_at=_dt("2023-11-02T09:20:05+08:00"), cards=[Card("E2023000345678", "e_card")],
        guardian=Guardian("张三", "resident_id", "110101199003070011", "13800000001", "father"),
    )
    li = Patient(
        patient_id="P000234567", name="李梅", gender="female", birth_date=date(1986, 11, 20), id_type="resident_id",
        id_number=make_resident_id("110105", date(1986, 11, 20), 42, "female"), phone="13800000002",
        created_at=_dt("2024-03-18T14:02:51+08:00"), cards=[Card("E2024000234567", "e_card")],
    )
    wang = Patient(
        patient_id="P000987654", name="王芳", gender="female", birth_date=date(1978, 4, 15), id_type="resident_id",
        id_number=make_resident_id("110102", date(1978, 4, 15), 126, "female"), phone="13800000004",
        created_at=_dt("2021-07-09T10:44:00+08:00"),
        cards=[Card("E2021000987654", "e_card"), Card("1100000098765400", "insurance_card")],
    )
    zhao = Patient(
        patient_id="P000555001", name="赵建国", gender="male", birth_date=date(1951, 8, 8), id_type="resident_id",
        id_number=make_resident_id("110108", date(1951, 8, 8), 17, "male"), phone="13800000005",
        created_at=_dt("2019-05-30T08:31:12+08:00"), cards=[Card("0009876543", "physical_card")],
    )
    sun = Patient(
        patient_id="P000666001", name="孙磊", gender="male", birth_date=date(1995, 1, 23), id_type="resident_id",
        id_number=make_resident_id("110106", date(1995, 1, 23), 55, "male"), phone="13800000006",
        created_at=_dt("2024-09-01T16:12:40+08:00"), cards=[Card("E2024000666001", "e_card")],
        restricted_until=at(today + timedelta(days=60), "00:00"),
        no_show_dates=[today - timedelta(days=d) for d in (40, 25, 12)],
    )
    smith = Patient(
        patient_id="P000777001", name="SMITH JOHN", gender="male", birth_date=date(1983, 2, 14), id_type="passport",
        id_number="PX0000001", phone="13800000007", created_at=_dt("2025-01-06T11:05:33+08:00"),
        cards=[Card("E2025000777001", "e_card")],
    )
    for patient in (zhang, child, li, wang, zhao, sun, smith):
        state.patients[patient.patient_id] = patient
    _seed_zhang_history(state, today, now)
    _seed_other_visits(state, today)
    _seed_kiosk_booking(state, rng, today, now)


def _seed_zhang_history(state: HisState, today: date, now: datetime) -> None:
    yesterday = today - timedelta(days=1)
    ymd = f"{yesterday:%Y%m%d}"
    schedule = make_schedule(state, yesterday, "morning", "D0301", "DR10023", "expert", 24, "305诊室",
                             at(yesterday - timedelta(days=14), "16:20"))
    state.schedules[schedule.schedule_id] = schedule
    appointment_id = f"A{ymd}0158"
    visit_id = f"V{ymd}00877"
    schedule.taken[5] = appointment_id
    state.appointments[appointment_id] = Appointment(
        appointment_id=appointment_id, app_id=None, order_id=None, channel="counter", status="completed",
        status_version=3, status_reason="visit_completed", patient_id="P000123456",
        schedule_id=schedule.schedule_id, seq_no=5, fee_fen=schedule.fee_fen,
        created_at=at(yesterday - timedelta(days=3), "10:12"), updated_at=at(yesterday, "09:31"),
        confirmed_at=at(yesterday - timedelta(days=3), "10:12"), visit_id=visit_id,
    )
    state.visits[visit_id] = Visit(
        visit_id=visit_id, patient_id="P000123456", appointment_id=appointment_id, campus_id="C01",
        department_id="D0301", doctor_id="DR10023", visit_type="outpatient", status="completed",
        started_at=at(yesterday, "08:52"), completed_at=at(yesterday, "09:31"),
        diagnosis_categories=[DiagnosisCategory("I10", True), DiagnosisCategory("E78", False)],
        followup_allowed=True, schedule_id=schedule.schedule_id, checked_in_at=at(yesterday, "08:05"),
    )
    _seed_reports(state, yesterday, today, visit_id)
    _seed_charges(state, yesterday, visit_id)


def _seed_reports(state: HisState, yesterday: date, today: date, visit_id: str) -> None:
    ymd = f"{yesterday:%Y%m%d}"
    blood = Report(
        report_id=f"R-LIS-{ymd}-004417", patient_id="P000123456", visit_id=visit_id, category="lab", title="血常规",
        status="final", version=1, ordered_at=at(yesterday, "09:05"), release_rule_code="lab_default",
        department_id="D0301", ordering_doctor_name="李四", specimen="全血", finalized_at=at(yesterday, "10:31"),
        items=[
            LabItem("WBC", "白细胞计数", "10.6", 10.6, "10^9/L", "3.5-9.5", "H"),
            LabItem("NEUT%", "中性粒细胞百分比", "68.2", 68.2, "%", "40-75", "N"),
            LabItem("RBC", "红细胞计数", "4.86", 4.86, "10^12/L", "4.3-5.8", "N"),
            LabItem("HGB", "血红蛋白", "146", 146, "g/L", "130-175", "N"),
            LabItem("PLT", "血小板计数", "231", 231, "10^9/L", "125-350", "N"),
        ],
        conclusion=None, reported_by="赵六", reviewed_by="钱七",
    )
    echo = Report(
        report_id=f"R-PACS-{ymd}-001208", patient_id="P000123456", visit_id=visit_id, category="exam",
        title="经胸超声心动图", status="final", version=1, ordered_at=at(yesterday, "09:05"),
        release_rule_code="exam_default", department_id="D0301", ordering_doctor_name="李四", modality="US",
        body_part="心脏", finalized_at=at(yesterday, "11:05"),
        findings="左心房内径37mm，左心室舒张末期内径50mm，室间隔厚度11mm，左室后壁厚度10mm。"
        "各瓣膜形态及启闭未见明显异常。彩色多普勒：二尖瓣少量反流。左室射血分数62%。",
        conclusion="室间隔稍增厚；二尖瓣少量反流；左室收缩功能正常。", reported_by="孙八", reviewed_by="周九",
    )
    hba1c = Report(
        report_id=f"R-LIS-{ymd}-004502", patient_id="P000123456", visit_id=visit_id, category="lab",
        title="糖化血红蛋白", status="pending", version=1, ordered_at=at(yesterday, "09:06"),
        release_rule_code="lab_default", department_id="D0301", ordering_doctor_name="李四", specimen="全血",
        expected_at=at(today + timedelta(days=1), "16:00"),
    )
    for report in (blood, echo, hba1c):
        state.reports[report.report_id] = report


def _seed_charges(state: HisState, yesterday: date, visit_id: str) -> None:
    ymd = f"{yesterday:%Y%m%d}"
    specs: list[tuple[str, str, str, str, bool, list[tuple[str, str | None, int, str, int]]]] = [
        ("001201", "prescription", "西药处方", "09:25", True, [
            ("苯磺酸氨氯地平片", "5mg×7片/盒", 2, "盒", 1850),
            ("阿托伐他汀钙片", "20mg×7片/盒", 2, "盒", 2260),
        ]),
        ("001202", "lab", "检验单", "09:26", True, [
            ("血脂四项", None, 1, "项", 6800),
            ("静脉采血", None, 1, "次", 500),
        ]),
        ("001203", "treatment", "治疗单", "09:27", False, [
            ("24小时动态血压监测", None, 1, "次", 15000),
        ]),
    ]
    for suffix, kind, title, hhmm, payable, lines in specs:
        charge_id = f"CH{ymd}{suffix}"
        created = at(yesterday, hhmm)
        items = [
            ChargeItem(f"{charge_id}-{n}", name, spec, qty, unit, price, qty * price)
            for n, (name, spec, qty, unit, price) in enumerate(lines, start=1)
        ]
        state.charges[charge_id] = Charge(
            charge_id=charge_id, patient_id="P000123456", visit_id=visit_id, type=kind, title=title,
            department_id="D0301", doctor_name="李四", status="unpaid", payable_online=payable, items=items,
            created_at=created, expires_at=created + UNPAID_CHARGE_VALIDITY,
            not_payable_reason=None if payable else "insurance_required",
        )


def _seed_other_visits(state: HisState, today: date) -> None:
    day = today - timedelta(days=20)
    state.visits[f"V{day:%Y%m%d}00312"] = Visit(
        visit_id=f"V{day:%Y%m%d}00312", patient_id="P000987654", appointment_id=None, campus_id="C01",
        department_id="D0501", doctor_id=None, visit_type="outpatient", status="completed",
        started_at=at(day, "10:02"), completed_at=at(day, "10:20"), diagnosis_categories=[],
        followup_allowed=False,  # reproductive health: excluded from online follow-up by policy
    )
    day = today - timedelta(days=10)
    state.visits[f"V{day:%Y%m%d}00145"] = Visit(
        visit_id=f"V{day:%Y%m%d}00145", patient_id="P000345678", appointment_id=None, campus_id="C01",
        department_id="D0601", doctor_id=None, visit_type="outpatient", status="completed",
        started_at=at(day, "19:10"), completed_at=at(day, "19:26"),
        diagnosis_categories=[DiagnosisCategory("J06", True)], followup_allowed=True,
    )


def _seed_kiosk_booking(state: HisState, rng: random.Random, today: date, now: datetime) -> None:
    """A confirmed booking made at a kiosk (other channel: order_id null) in the coming days."""
    candidates = sorted(
        (s for s in state.schedules.values()
         if s.department_id == "D0305" and s.doctor_id is None and today < s.date <= today + timedelta(days=5)
         and not s.stopped and remaining(s) > 0),
        key=lambda s: s.schedule_id,
    )
    if not candidates:
        return
    schedule = candidates[0]
    free = [seq for seq in range(1, schedule.capacity + 1) if seq not in schedule.taken]
    seq = free[min(rng.randint(0, 5), len(free) - 1)]
    appointment_id = f"A{schedule.date:%Y%m%d}{state.next_number('A' + schedule.date.isoformat(), 300):04d}"
    schedule.taken[seq] = appointment_id
    booked = min(at(today - timedelta(days=1), "15:40"), now)
    state.appointments[appointment_id] = Appointment(
        appointment_id=appointment_id, app_id=None, order_id=None, channel="kiosk", status="confirmed",
        status_version=2, status_reason=None, patient_id="P000123456", schedule_id=schedule.schedule_id,
        seq_no=seq, fee_fen=schedule.fee_fen, created_at=booked, updated_at=booked, confirmed_at=booked,
    )
