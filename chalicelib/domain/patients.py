"""Patients as the account knows them: which WeChat users are bound to which HIS patients.

The middleware has no notion of WeChat accounts or families (spec §4.6): a family member is a separate
patient, and the mapping openid → patient ids is ours. ``patient_id`` is the HIS master patient index
id. Nothing here holds a full name, ID number or phone number; ``label`` is what the patient's list
shows (already masked, e.g. "张*（本人）").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Relation(StrEnum):
    SELF = "self"  # 本人
    CHILD = "child"  # 子女
    PARENT = "parent"  # 父母
    SPOUSE = "spouse"  # 配偶
    OTHER = "other"  # 其他


RELATION_NAMES: dict[Relation, str] = {
    Relation.SELF: "本人",
    Relation.CHILD: "子女",
    Relation.PARENT: "父母",
    Relation.SPOUSE: "配偶",
    Relation.OTHER: "其他",
}


@dataclass(frozen=True)
class PatientBinding:
    openid: str
    patient_id: str
    relation: Relation
    label: str  # masked display name, e.g. "张*"
    bound_at: datetime


def addressed(text: str, binding: PatientBinding | None) -> str:
    """A notice about a family member says whose it is: "【就诊人：张*（子女）】…"; one's own is unchanged."""
    if binding is None or binding.relation is Relation.SELF:
        return text
    return f"【就诊人：{binding.label}（{RELATION_NAMES[binding.relation]}）】{text}"
