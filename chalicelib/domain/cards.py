"""Cards (就诊卡): binding a WeChat user to HIS patients (self and family) with proof of control, and 建档.

Pure rules, no I/O; time, ids and codes are passed in.

How a binding is proven (spec §7.4, our reading):

* **Existing patient, identity method** (the only lookup we offer): the user types name, document type and
  number and the mobile phone. The middleware's ``lookupPatient`` succeeds only if name *and* phone match its
  record (else ``IDENTITY_MISMATCH``). Knowing someone's name, ID number and phone is not proof of control, so
  we then send a 6-digit one-time code by SMS to that phone — the phone on file — and bind only when the user
  enters it. (The card-number method returns only ``phone_masked``; we do not offer it.)
* **New patient (建档)**: the code goes to the typed phone *before* ``createPatient`` is called (the spec
  requires the integrator to have verified the phone). If the middleware answers ``created: false`` (the
  document already has a record, whose phone on file may differ), we do not bind: the user is sent to the
  identity method, whose code goes to the phone on file.

Codes are stored only as an HMAC digest, expire after 5 minutes, allow at most 5 wrong entries per request and
are used once. A bind request lives at most 15 minutes; the full phone (and, for 建档, the form) is kept only in
it and dropped as soon as the flow no longer needs it. Everything shown is masked (``张*``, ``138****0001``,
the last four characters of a document).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from hashlib import sha256
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.patients import Relation

SHANGHAI = ZoneInfo("Asia/Shanghai")

CODE_LENGTH = 6
CODE_TTL = timedelta(minutes=5)
CODE_MAX_ATTEMPTS = 5  # wrong entries per bind request, then it is locked
MAX_SENDS = 3  # SMS per bind request (the first one included)
RESEND_AFTER = timedelta(seconds=60)
REQUEST_TTL = timedelta(minutes=15)
LOOKUP_TIMEOUT = timedelta(seconds=45)  # a lookup the HIS has not answered by then is given up
CREATE_SLOW_AFTER = timedelta(seconds=45)  # a 建档 still unanswered: the page says it may take a while
MAX_PATIENTS_PER_USER = 5  # bound patients (self and family) per WeChat user
GUARDIAN_UNDER_YEARS = 14  # spec §7.4
MAINTENANCE_START, MAINTENANCE_END = time(23, 30), time(0, 30)  # spec §5.5, Shanghai time


class IdType(StrEnum):
    RESIDENT_ID = "resident_id"
    PASSPORT = "passport"
    HK_MACAO_PERMIT = "hk_macao_permit"
    TAIWAN_PERMIT = "taiwan_permit"
    FOREIGN_PERMANENT_RESIDENT_ID = "foreign_permanent_resident_id"
    NONE = "none"


ID_TYPE_NAMES: dict[IdType, str] = {
    IdType.RESIDENT_ID: "居民身份证",
    IdType.PASSPORT: "护照",
    IdType.HK_MACAO_PERMIT: "港澳居民来往内地通行证",
    IdType.TAIWAN_PERMIT: "台湾居民来往大陆通行证",
    IdType.FOREIGN_PERMANENT_RESIDENT_ID: "外国人永久居留身份证",
    IdType.NONE: "无证件（新生儿）",
}
CARD_TYPE_NAMES = {"e_card": "电子就诊卡", "physical_card": "实体就诊卡", "insurance_card": "医保卡"}
CARD_STATUS_NAMES = {"active": "正常", "frozen": "已冻结", "cancelled": "已注销"}
GUARDIAN_RELATIONSHIPS = {"father": "父亲", "mother": "母亲", "other_guardian": "其他监护人"}


class BindMethod(StrEnum):
    IDENTITY = "identity"  # an existing patient, found by document + name + phone on file
    CREATE = "create"  # 建档: a new record and electronic card


class BindState(StrEnum):
    PENDING = "pending"  # the lookup is with the HIS
    CODE_SENT = "code_sent"  # waiting for the user to enter the SMS code
    CREATING = "creating"  # code verified, 建档 is with the HIS
    DONE = "done"  # bound
    FAILED = "failed"  # see error_code / message


class CardFormError(ValueError):
    """Input the user must correct; ``message`` is Chinese and shown as it is."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


class HisPatientFormatError(ValueError):
    """The middleware's patient does not have the documented shape."""


# ---- masking ------------------------------------------------------------------------------------------
def mask_name(name: str) -> str:
    """张三 → 张*, 张小明 → 张**, SMITH JOHN → S***: the first character only."""
    name = name.strip()
    if not name:
        return "*"
    return name[0] + "*" * min(max(len(name) - 1, 1), 3)


def mask_phone(phone: str) -> str:
    """13800000001 → 138****0001."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "****"


def id_tail(id_number: str | None) -> str:
    """The last four characters of a document number (full or masked), the only part we show."""
    tail = (id_number or "").strip()[-4:]
    return tail if len(tail) == 4 and "*" not in tail else ""


def mask_card_no(card_no: str) -> str:
    """E2025000123456 → E202******3456; short numbers keep only their last four."""
    card_no = card_no.strip()
    if len(card_no) <= 4:
        return "*" * len(card_no)
    if len(card_no) <= 8:
        return "*" * (len(card_no) - 4) + card_no[-4:]
    return card_no[:4] + "*" * (len(card_no) - 8) + card_no[-4:]


def phone_matches_masked(phone: str, masked: str | None) -> bool:
    """Whether ``phone`` agrees with every visible digit of the middleware's ``phone_masked``."""
    if not masked or len(masked) != len(phone):
        return False
    return all(m in ("*", p) for m, p in zip(masked, phone, strict=True))


# ---- documents ----------------------------------------------------------------------------------------
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK = "10X98765432"
_RESIDENT_SHAPE = re.compile(r"\d{17}[\dX]")


def resident_id_check_char(first17: str) -> str:
    return _RESIDENT_CHECK[sum(int(c) * w for c, w in zip(first17, _RESIDENT_WEIGHTS, strict=True)) % 11]


def resident_id_birth_and_gender(number: str) -> tuple[date, str] | None:
    """Birth date and gender ("male"/"female") a well-formed 18-character number encodes; None if it is not one."""
    number = number.strip().upper()
    if not _RESIDENT_SHAPE.fullmatch(number):
        return None
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    return birth, "male" if int(number[16]) % 2 else "female"


def resident_id_problem(number: str, today: date, gender: str | None = None, birth: date | None = None) -> str | None:
    """Why ``number`` is not an acceptable 居民身份证号 (Chinese), or None: 18 characters, the check digit,
    a real birth date not in the future, and agreement with ``gender`` / ``birth`` when given."""
    number = number.strip().upper()
    if not _RESIDENT_SHAPE.fullmatch(number):
        return "身份证号应为18位（最后一位可以是X）"
    if resident_id_check_char(number[:17]) != number[17]:
        return "身份证号有误，请检查后重新输入"
    decoded = resident_id_birth_and_gender(number)
    if decoded is None or decoded[0] > today or decoded[0].year < 1900:
        return "身份证号中的出生日期有误"
    if birth is not None and decoded[0] != birth:
        return "出生日期与身份证号不一致"
    if gender is not None and decoded[1] != gender:
        return "性别与身份证号不一致"
    return None


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def needs_guardian(birth: date, id_type: IdType, today: date) -> bool:
    """Spec §7.4: a guardian is required under 14 years and for ``id_type: none``."""
    return id_type is IdType.NONE or age_on(birth, today) < GUARDIAN_UNDER_YEARS


# ---- forms --------------------------------------------------------------------------------------------
_PHONE = re.compile(r"1\d{10}")
_NAME = re.compile(r"[\u3400-\u9fffA-Za-z][\u3400-\u9fffA-Za-z·•. ]{0,49}")
_DOCUMENT = re.compile(r"[A-Za-z0-9()（）-]{4,32}")
_CODE = re.compile(rf"\d{{{CODE_LENGTH}}}")


@dataclass(frozen=True)
class IdentityForm:
    """Bind an existing patient: the lookup body (``PatientLookupByIdentity``) and what we keep of it."""

    relation: Relation
    name: str
    id_type: IdType
    id_number: str
    phone: str

    def lookup_body(self) -> dict[str, Any]:
        return {"method": "identity", "id_type": self.id_type.value, "id_number": self.id_number,
                "name": self.name, "phone": self.phone}


@dataclass(frozen=True)
class GuardianForm:
    name: str
    id_type: IdType
    id_number: str
    phone: str
    relationship: str  # father | mother | other_guardian


@dataclass(frozen=True)
class CreateForm:
    """建档 (``PatientCreateRequest``)."""

    relation: Relation
    name: str
    gender: str
    birth_date: date
    id_type: IdType
    id_number: str | None
    phone: str
    address: str | None = None
    guardian: GuardianForm | None = None

    def create_body(self) -> dict[str, Any]:
        g = self.guardian
        return {
            "name": self.name, "gender": self.gender, "birth_date": self.birth_date.isoformat(),
            "id_type": self.id_type.value, "id_number": self.id_number, "phone": self.phone,
            "address": self.address,
            "guardian": None if g is None else {"name": g.name, "id_type": g.id_type.value, "id_number": g.id_number,
                                                "phone": g.phone, "relationship": g.relationship},
        }


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return value.strip() if isinstance(value, str) else ""


def _relation(raw: Mapping[str, Any]) -> Relation:
    try:
        return Relation(_text(raw, "relation"))
    except ValueError:
        raise CardFormError("relation", "请选择与您的关系") from None


def _name(raw: Mapping[str, Any], key: str = "name", what: str = "姓名") -> str:
    name = re.sub(r"\s+", " ", _text(raw, key))
    if not name:
        raise CardFormError(key, f"请填写{what}")
    if not _NAME.fullmatch(name):
        raise CardFormError(key, f"{what}只能包含汉字或字母，最多50个字")
    return name


def _phone(raw: Mapping[str, Any], key: str = "phone") -> str:
    phone = _text(raw, key).replace(" ", "")
    if not _PHONE.fullmatch(phone):
        raise CardFormError(key, "请填写11位手机号")
    return phone


def _id_type(raw: Mapping[str, Any], key: str = "id_type", allow_none: bool = False) -> IdType:
    try:
        id_type = IdType(_text(raw, key) or IdType.RESIDENT_ID.value)
    except ValueError:
        raise CardFormError(key, "请选择证件类型") from None
    if id_type is IdType.NONE and not allow_none:
        raise CardFormError(key, "请选择证件类型")
    return id_type


def _document(raw: Mapping[str, Any], id_type: IdType, today: date, key: str = "id_number",
              gender: str | None = None, birth: date | None = None) -> str:
    number = _text(raw, key).replace(" ", "").upper()
    if not number:
        raise CardFormError(key, "请填写证件号码")
    if id_type is IdType.RESIDENT_ID:
        problem = resident_id_problem(number, today, gender, birth)
        if problem:
            raise CardFormError(key, problem)
    elif not _DOCUMENT.fullmatch(number):
        raise CardFormError(key, "证件号码格式有误")
    return number


def parse_identity_form(raw: Mapping[str, Any], today: date) -> IdentityForm:
    relation = _relation(raw)
    name = _name(raw)
    id_type = _id_type(raw)
    return IdentityForm(relation, name, id_type, _document(raw, id_type, today), _phone(raw))


def _birth_date(raw: Mapping[str, Any], today: date) -> date | None:
    text = _text(raw, "birth_date")
    if not text:
        return None
    try:
        birth = date.fromisoformat(text)
    except ValueError:
        raise CardFormError("birth_date", "请选择出生日期") from None
    if birth > today or birth.year < 1900:
        raise CardFormError("birth_date", "出生日期有误")
    return birth


def _guardian(raw: Any, today: date) -> GuardianForm:
    if not isinstance(raw, Mapping):
        raise CardFormError("guardian", "未满14周岁或无证件的就诊人需要填写监护人信息")
    name = _name(raw, "name", "监护人姓名")
    id_type = _id_type(raw)
    number = _document(raw, id_type, today)
    if id_type is IdType.RESIDENT_ID:
        decoded = resident_id_birth_and_gender(number)
        if decoded is not None and age_on(decoded[0], today) < 18:
            raise CardFormError("guardian.id_number", "监护人应为成年人")
    relationship = _text(raw, "relationship")
    if relationship not in GUARDIAN_RELATIONSHIPS:
        raise CardFormError("guardian.relationship", "请选择监护人与就诊人的关系")
    return GuardianForm(name, id_type, number, _phone(raw), relationship)


def parse_create_form(raw: Mapping[str, Any], today: date) -> CreateForm:
    """The 建档 form. For a 居民身份证 the birth date and gender may be left out (they are read from the number);
    given, they must agree with it."""
    relation = _relation(raw)
    name = _name(raw)
    id_type = _id_type(raw, allow_none=True)
    gender = _text(raw, "gender") or None
    if gender is not None and gender not in ("male", "female"):
        raise CardFormError("gender", "请选择性别")
    birth = _birth_date(raw, today)
    number: str | None = None
    if id_type is IdType.NONE:
        if _text(raw, "id_number"):
            raise CardFormError("id_number", "选择“无证件”时不填证件号码")
    else:
        number = _document(raw, id_type, today, gender=gender, birth=birth)
        decoded = resident_id_birth_and_gender(number) if id_type is IdType.RESIDENT_ID else None
        if decoded is not None:
            birth, gender = decoded
    if gender is None:
        raise CardFormError("gender", "请选择性别")
    if birth is None:
        raise CardFormError("birth_date", "请选择出生日期")
    phone = _phone(raw)
    address = _text(raw, "address") or None
    if address is not None and len(address) > 200:
        raise CardFormError("address", "地址最多200个字")
    guardian = None
    if needs_guardian(birth, id_type, today):
        try:
            guardian = _guardian(raw.get("guardian"), today)
        except CardFormError as exc:
            where = exc.field if exc.field.startswith("guardian") else f"guardian.{exc.field}"
            raise CardFormError(where, exc.message) from None
    return CreateForm(relation, name, gender, birth, id_type, number, phone, address, guardian)


_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def valid_request_id(request_id: str) -> bool:
    return bool(_REQUEST_ID.fullmatch(request_id))


def valid_code(code: str) -> bool:
    return bool(_CODE.fullmatch(code))


def code_digest(key: bytes, request_id: str, code: str) -> str:
    """What is stored of a code: HMAC-SHA256 under our key, bound to its request (a 6-digit code's plain hash
    could be reversed by trying all million)."""
    return hmac.new(key, f"{request_id}:{code}".encode(), sha256).hexdigest()


# ---- the middleware's patient -------------------------------------------------------------------------
@dataclass(frozen=True)
class MaskedCard:
    card_no_masked: str
    card_type: str
    status: str

    @property
    def type_name(self) -> str:
        return CARD_TYPE_NAMES.get(self.card_type, "就诊卡")

    @property
    def status_name(self) -> str:
        return CARD_STATUS_NAMES.get(self.status, "")


@dataclass(frozen=True)
class HisPatient:
    """A ``Patient`` / ``PatientCreated`` as far as we keep it: masked, never the full name or numbers."""

    patient_id: str
    label: str  # masked name
    id_tail: str
    phone_masked: str | None
    cards: tuple[MaskedCard, ...]
    created: bool | None = None  # createPatient only


def patient_from_his(body: Any) -> HisPatient:
    if not isinstance(body, Mapping):
        raise HisPatientFormatError("patient is not an object")
    patient_id, name = body.get("patient_id"), body.get("name")
    if not isinstance(patient_id, str) or not patient_id or len(patient_id) > 40 or not isinstance(name, str):
        raise HisPatientFormatError("patient_id and name are required")
    cards = []
    for raw in body.get("cards") or []:
        if isinstance(raw, Mapping) and isinstance(raw.get("card_no"), str):
            cards.append(MaskedCard(mask_card_no(raw["card_no"]), str(raw.get("card_type") or ""),
                                    str(raw.get("status") or "active")))
    phone = body.get("phone_masked")
    created = body.get("created")
    return HisPatient(patient_id, mask_name(name), id_tail(body.get("id_number_masked")),
                      phone if isinstance(phone, str) else None, tuple(cards),
                      created if isinstance(created, bool) else None)


# ---- what a bound patient shows -----------------------------------------------------------------------
@dataclass(frozen=True)
class CardInfo:
    """Masked card details kept for one user's bound patient (the family list)."""

    patient_id: str
    cards: tuple[MaskedCard, ...]
    id_tail: str
    phone_masked: str | None
    updated_at: datetime


# ---- bind requests ------------------------------------------------------------------------------------
# Our codes for refusals the page explains; the HIS's codes map onto them in ``his_refusal``.
IDENTITY_MISMATCH_MESSAGE = "信息与医院登记不一致，请到窗口核对"
REFUSALS: dict[str, str] = {
    "IDENTITY_MISMATCH": IDENTITY_MISMATCH_MESSAGE,
    "PATIENT_NOT_FOUND": "医院没有找到该就诊人的建档记录。如果从未在本院就诊，可以在线建档。",
    "ALREADY_REGISTERED": "该证件已在医院建档，请选择“已有就诊卡”绑定，验证码将发到医院登记的手机号。",
    "HIS_BUSY": "查询过于频繁，请一小时后再试；如仍有问题请到窗口办理。",
    "HIS_MAINTENANCE": "医院系统每晚23:30至次日00:30维护，请在维护结束后办理。",
    "HIS_UNAVAILABLE": "医院系统暂时无法办理，请稍后再试。",
    "INVALID_DATA": "填写的信息未通过医院校验，请检查后重试或到窗口办理。",
    "ALREADY_BOUND": "该就诊人已在您的就诊人列表中。",
    "PATIENT_LIMIT": f"每个微信账号最多绑定{MAX_PATIENTS_PER_USER}位就诊人，请先解绑不再需要的就诊人。",
    "CODE_LOCKED": "验证码错误次数过多，请重新添加就诊人。",
    "EXPIRED": "操作已超时，请重新添加就诊人。",
    "TIMEOUT": "医院系统响应超时，请稍后重新添加。",
}


def his_refusal(his_code: str, status: int) -> str:
    """Our refusal code for a definite HIS error on a lookup or 建档."""
    if his_code in ("IDENTITY_MISMATCH", "PATIENT_NOT_FOUND", "HIS_BUSY", "HIS_MAINTENANCE"):
        return his_code
    if his_code == "VALIDATION_ERROR" or status in (400, 422):
        return "INVALID_DATA"
    return "HIS_UNAVAILABLE"


@dataclass(frozen=True)
class BindRequest:
    """One attempt to add a patient to a user's list. Stored with ``version`` for compare-and-set: every
    change is a new value with ``version + 1`` written only if the stored one is still ``version``."""

    request_id: str
    openid: str
    method: BindMethod
    relation: Relation
    state: BindState
    created_at: datetime
    updated_at: datetime
    label: str  # masked name as typed (replaced by the HIS's once found)
    phone: str  # full: kept only while a code may still be sent; "" afterwards
    phone_masked: str
    id_tail: str
    version: int = 1
    his_request_id: str | None = None
    patient: HisPatient | None = None
    code_digest: str | None = None
    code_expires_at: datetime | None = None
    attempts: int = 0  # wrong codes entered
    sends: int = 0  # SMS sent
    last_sent_at: datetime | None = None
    sms_failed: bool = False
    error_code: str | None = None
    create_body: dict[str, Any] | None = field(default=None, compare=False)  # 建档 form until sent to the HIS

    @property
    def expires_at(self) -> datetime:
        return self.created_at + REQUEST_TTL

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at and self.state not in (BindState.DONE, BindState.FAILED, BindState.CREATING)

    @property
    def message(self) -> str | None:
        return REFUSALS.get(self.error_code or "") if self.state is BindState.FAILED else None

    @property
    def attempts_left(self) -> int:
        return max(CODE_MAX_ATTEMPTS - self.attempts, 0)

    @property
    def sends_left(self) -> int:
        return max(MAX_SENDS - self.sends, 0)

    def resend_at(self) -> datetime | None:
        """When another code may be asked for (None: no more)."""
        if self.state is not BindState.CODE_SENT or not self.sends_left or not self.phone:
            return None
        if self.sms_failed or self.last_sent_at is None:
            return self.updated_at
        return self.last_sent_at + RESEND_AFTER

    def _next(self, now: datetime, **changes: Any) -> BindRequest:
        return replace(self, version=self.version + 1, updated_at=now, **changes)


def new_lookup(request_id: str, openid: str, form: IdentityForm, his_request_id: str, now: datetime) -> BindRequest:
    return BindRequest(request_id, openid, BindMethod.IDENTITY, form.relation, BindState.PENDING, now, now,
                       mask_name(form.name), form.phone, mask_phone(form.phone), id_tail(form.id_number),
                       his_request_id=his_request_id)


def new_creation(request_id: str, openid: str, form: CreateForm, digest: str, now: datetime) -> BindRequest:
    """建档 starts by proving the phone: the code is sent before anything reaches the HIS."""
    return BindRequest(request_id, openid, BindMethod.CREATE, form.relation, BindState.CODE_SENT, now, now,
                       mask_name(form.name), form.phone, mask_phone(form.phone), id_tail(form.id_number),
                       code_digest=digest, code_expires_at=now + CODE_TTL, sends=1, last_sent_at=now,
                       create_body=form.create_body())


def found(req: BindRequest, patient: HisPatient, digest: str, now: datetime) -> BindRequest:
    """The HIS found the patient (name and phone matched): a code goes to that phone."""
    return req._next(now, state=BindState.CODE_SENT, patient=patient, label=patient.label,
                     phone_masked=patient.phone_masked or req.phone_masked, id_tail=patient.id_tail or req.id_tail,
                     code_digest=digest, code_expires_at=now + CODE_TTL, sends=req.sends + 1, last_sent_at=now)


def failed(req: BindRequest, error_code: str, now: datetime) -> BindRequest:
    return req._next(now, state=BindState.FAILED, error_code=error_code, phone="", code_digest=None,
                     create_body=None)


def sms_failed(req: BindRequest, now: datetime) -> BindRequest:
    """The SMS did not go out: the user may ask again at once (it does not count)."""
    return req._next(now, sms_failed=True, sends=max(req.sends - 1, 0))


def resent(req: BindRequest, digest: str, now: datetime) -> BindRequest:
    return req._next(now, code_digest=digest, code_expires_at=now + CODE_TTL, sends=req.sends + 1,
                     last_sent_at=now, sms_failed=False)


def creating(req: BindRequest, his_request_id: str, now: datetime) -> BindRequest:
    """Code verified for 建档: the form is with the HIS now; the phone and form are no longer kept."""
    return req._next(now, state=BindState.CREATING, his_request_id=his_request_id, phone="", code_digest=None,
                     create_body=None)


def bound(req: BindRequest, patient: HisPatient, now: datetime) -> BindRequest:
    return req._next(now, state=BindState.DONE, patient=patient, label=patient.label, phone="", code_digest=None,
                     create_body=None, id_tail=patient.id_tail or req.id_tail,
                     phone_masked=patient.phone_masked or req.phone_masked)


def timed_out(req: BindRequest, now: datetime) -> BindRequest | None:
    """A lookup left unanswered, or a request past its lifetime, becomes failed (None: neither)."""
    if req.expired(now):
        return failed(req, "EXPIRED", now)
    if req.state is BindState.PENDING and now - req.updated_at >= LOOKUP_TIMEOUT:
        return failed(req, "TIMEOUT", now)
    return None


class CodeOutcome(StrEnum):
    OK = "ok"
    WRONG = "wrong"  # attempts_left says how many remain
    LOCKED = "locked"  # too many wrong entries: the request failed
    EXPIRED = "expired"  # ask for a new code
    GONE = "gone"  # the request itself is past its lifetime: it failed
    NOT_WAITING = "not_waiting"  # no code is expected in this state


@dataclass(frozen=True)
class CodeCheck:
    outcome: CodeOutcome
    request: BindRequest  # the new value to store (unchanged for EXPIRED / NOT_WAITING)


def check_code(req: BindRequest, digest: str, now: datetime) -> CodeCheck:
    """Compare an entered code's digest with the stored one. A right code is used up by the caller's next
    state change (``bound`` / ``creating`` clear the digest); a wrong one counts, and the fifth locks."""
    if req.state is not BindState.CODE_SENT or req.code_digest is None:
        return CodeCheck(CodeOutcome.NOT_WAITING, req)
    if req.expired(now):
        return CodeCheck(CodeOutcome.GONE, failed(req, "EXPIRED", now))
    if req.code_expires_at is None or now >= req.code_expires_at:
        return CodeCheck(CodeOutcome.EXPIRED, req)
    if hmac.compare_digest(req.code_digest, digest):
        return CodeCheck(CodeOutcome.OK, req)
    attempts = req.attempts + 1
    if attempts >= CODE_MAX_ATTEMPTS:
        return CodeCheck(CodeOutcome.LOCKED, replace(failed(req, "CODE_LOCKED", now), attempts=attempts))
    return CodeCheck(CodeOutcome.WRONG, req._next(now, attempts=attempts))


# ---- time ---------------------------------------------------------------------------------------------
def shanghai_day(now: datetime) -> str:
    return now.astimezone(SHANGHAI).date().isoformat()


def in_maintenance(now: datetime) -> bool:
    """The middleware's nightly window (23:30-00:30 Shanghai), when writes are refused (§5.5)."""
    t = now.astimezone(SHANGHAI).time()
    return t >= MAINTENANCE_START or t < MAINTENANCE_END


def sms_text(hospital_name: str, code: str, method: BindMethod) -> str:
    what = "在线建档" if method is BindMethod.CREATE else "绑定就诊卡"
    return (f"【{hospital_name}】您的验证码是{code}，用于{what}，{int(CODE_TTL.total_seconds() // 60)}分钟内有效。"
            "如非本人操作，请忽略本短信。")


# ---- storage shape (used by adapters and fakes alike) ---------------------------------------------------
def _card_json(c: MaskedCard) -> dict[str, str]:
    return {"card_no_masked": c.card_no_masked, "card_type": c.card_type, "status": c.status}


def _card_from(raw: Mapping[str, Any]) -> MaskedCard:
    return MaskedCard(str(raw["card_no_masked"]), str(raw["card_type"]), str(raw["status"]))


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def request_to_json(req: BindRequest) -> dict[str, Any]:
    p = req.patient
    return {
        "request_id": req.request_id, "openid": req.openid, "method": req.method.value,
        "relation": req.relation.value, "state": req.state.value, "created_at": req.created_at.isoformat(),
        "updated_at": req.updated_at.isoformat(), "label": req.label, "phone": req.phone,
        "phone_masked": req.phone_masked, "id_tail": req.id_tail, "version": req.version,
        "his_request_id": req.his_request_id,
        "patient": None if p is None else {
            "patient_id": p.patient_id, "label": p.label, "id_tail": p.id_tail, "phone_masked": p.phone_masked,
            "cards": [_card_json(c) for c in p.cards], "created": p.created},
        "code_digest": req.code_digest,
        "code_expires_at": req.code_expires_at.isoformat() if req.code_expires_at else None,
        "attempts": req.attempts, "sends": req.sends,
        "last_sent_at": req.last_sent_at.isoformat() if req.last_sent_at else None,
        "sms_failed": req.sms_failed, "error_code": req.error_code, "create_body": req.create_body,
    }


def request_from_json(raw: Mapping[str, Any]) -> BindRequest:
    p = raw.get("patient")
    patient = None if not isinstance(p, Mapping) else HisPatient(
        str(p["patient_id"]), str(p["label"]), str(p.get("id_tail") or ""), p.get("phone_masked"),
        tuple(_card_from(c) for c in p.get("cards") or []), p.get("created"))
    created_at = _time(raw["created_at"])
    updated_at = _time(raw["updated_at"])
    assert created_at is not None and updated_at is not None
    return BindRequest(
        request_id=str(raw["request_id"]), openid=str(raw["openid"]), method=BindMethod(raw["method"]),
        relation=Relation(raw["relation"]), state=BindState(raw["state"]), created_at=created_at,
        updated_at=updated_at, label=str(raw["label"]), phone=str(raw.get("phone") or ""),
        phone_masked=str(raw.get("phone_masked") or ""), id_tail=str(raw.get("id_tail") or ""),
        version=int(raw["version"]), his_request_id=raw.get("his_request_id"), patient=patient,
        code_digest=raw.get("code_digest"), code_expires_at=_time(raw.get("code_expires_at")),
        attempts=int(raw.get("attempts") or 0), sends=int(raw.get("sends") or 0),
        last_sent_at=_time(raw.get("last_sent_at")), sms_failed=bool(raw.get("sms_failed")),
        error_code=raw.get("error_code"), create_body=raw.get("create_body"),
    )


def info_to_json(info: CardInfo) -> dict[str, Any]:
    return {"patient_id": info.patient_id, "cards": [_card_json(c) for c in info.cards], "id_tail": info.id_tail,
            "phone_masked": info.phone_masked, "updated_at": info.updated_at.isoformat()}


def info_from_json(raw: Mapping[str, Any]) -> CardInfo:
    updated_at = _time(raw["updated_at"])
    assert updated_at is not None
    return CardInfo(str(raw["patient_id"]), tuple(_card_from(c) for c in raw.get("cards") or []),
                    str(raw.get("id_tail") or ""), raw.get("phone_masked"), updated_at)
