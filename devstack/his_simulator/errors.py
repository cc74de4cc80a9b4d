"""The error model of interface spec §6: ``{code, message, retryable, trace_id, details?}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# code -> (HTTP status, retryable, default message)
ERROR_TABLE: dict[str, tuple[int, bool, str]] = {
    "VALIDATION_ERROR": (400, False, "请求参数不合法"),
    "SIGNATURE_INVALID": (401, False, "签名无效"),
    "TIMESTAMP_SKEW": (401, True, "请求时间戳超出允许范围"),
    "NONCE_REPLAYED": (401, True, "随机数已被使用"),
    "APP_FORBIDDEN": (403, False, "应用无权访问"),
    "PATIENT_NOT_LINKED": (403, False, "患者未关联，请先查询患者"),
    "PATIENT_RESTRICTED": (403, False, "患者已被暂停网上预约"),
    "RESOURCE_NOT_FOUND": (404, False, "资源不存在"),
    "PATIENT_NOT_FOUND": (404, False, "未找到患者，请先建档"),
    "IDENTITY_MISMATCH": (422, False, "身份信息与档案不一致"),
    "PATIENT_NOT_ELIGIBLE": (422, False, "患者不符合科室就诊条件"),
    "AMOUNT_MISMATCH": (422, False, "金额与应付金额不一致"),
    "IDEMPOTENCY_KEY_REUSED": (422, False, "幂等键已用于不同的请求"),
    "SLOT_TAKEN": (409, False, "号源已被占用，请选择其他号源"),
    "SCHEDULE_FULL": (409, False, "号源已满"),
    "SLOT_NOT_RELEASED": (409, False, "号源尚未放号"),
    "SCHEDULE_STOPPED": (409, False, "该排班已停诊"),
    "PATIENT_LIMIT_REACHED": (409, False, "已达预约数量上限"),
    "LOCK_EXPIRED": (409, False, "锁号已超时且无法重新锁定，请退款"),
    "INVALID_STATE": (409, False, "当前状态不允许该操作"),
    "CANCEL_DEADLINE_PASSED": (409, False, "已过退号截止时间，请到窗口办理"),
    "CHECKIN_NOT_ALLOWED": (409, False, "当前不能签到"),
    "CHARGE_NOT_PAYABLE": (409, False, "费用不可在线支付"),
    "ITEM_ALREADY_EXECUTED": (409, False, "项目已执行，请到窗口办理退费"),
    "REPORT_NOT_VIEWABLE": (409, False, "报告暂不可查看"),
    "DUPLICATE_REQUEST": (409, False, "业务单号已使用"),
    "REQUEST_IN_PROGRESS": (409, True, "相同请求正在处理中"),
    "RECONCILIATION_NOT_READY": (409, True, "对账文件尚未生成"),
    "HIS_BUSY": (429, True, "请求过于频繁，请稍后重试"),
    "INTERNAL_ERROR": (500, True, "内部错误"),
    "HIS_UNAVAILABLE": (503, True, "HIS 暂不可用"),
    "HIS_MAINTENANCE": (503, True, "系统维护中（23:30-00:30）"),
    "OUTCOME_UNKNOWN": (504, True, "HIS 处理超时，结果未知，请查询"),
}


@dataclass(eq=False)
class HisError(Exception):
    """Raised anywhere below the routes; turned into a §6 error response by the server."""

    code: str
    message: str = ""
    details: dict[str, Any] | None = None
    retry_after: int | None = None
    status: int | None = None  # overrides the table (e.g. 405 for a wrong method)

    def __post_init__(self) -> None:
        if self.code not in ERROR_TABLE:
            raise ValueError(f"unknown error code {self.code}")
        super().__init__(self.code)

    @property
    def http_status(self) -> int:
        return self.status or ERROR_TABLE[self.code][0]

    @property
    def retryable(self) -> bool:
        return ERROR_TABLE[self.code][1]

    def body(self, trace_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message or ERROR_TABLE[self.code][2],
            "retryable": self.retryable,
            "trace_id": trace_id,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def validation_error(fields: dict[str, str], message: str = "") -> HisError:
    """``VALIDATION_ERROR`` with ``details.fields``: a list of ``{field, reason}`` (field is a dotted path)."""
    return HisError(
        "VALIDATION_ERROR",
        message or "请求参数不合法: " + ", ".join(sorted(fields)),
        {"fields": [{"field": name, "reason": reason} for name, reason in sorted(fields.items())]},
    )


def not_found(resource: str, resource_id: str) -> HisError:
    return HisError("RESOURCE_NOT_FOUND", f"{resource} not found", {"resource": resource, "id": resource_id})
