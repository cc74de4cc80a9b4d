"""Cards (就诊卡): the logged-in user's family list, binding a patient with an SMS code, 建档, unbinding.

The flow (``domain.cards`` explains the proof): ``start`` checks the form and the caps and either sends the
identity lookup to the HIS (through the request queue; the result comes back to ``apply_his_result``, which
sends the code to the phone on file) or, for 建档, sends the code to the typed phone at once. ``verify`` takes
the code: a lookup binds there and then; 建档 goes to the HIS and binds when its result comes back. Pages poll
``get`` meanwhile.

Every change of a bind request is a compare-and-set on its version (``BindRequests.replace``), so a redelivered
HIS result, a double tap or racing code entries change it once: only the writer that wins sends an SMS or binds.

Another user's request or patient is "not found", and the attempt is logged under the user's pseudonym (never
the openid). Requests to the HIS carry that pseudonym as ``end_user`` (``X-His-End-User``, spec §4.5).
Nothing here logs a name, ID number, phone number or code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain import cards as d
from chalicelib.domain.cards import (
    BindMethod,
    BindRequest,
    BindState,
    CardFormError,
    CardInfo,
    CodeOutcome,
    HisPatient,
    HisPatientFormatError,
)
from chalicelib.domain.his_messages import OUTCOME_OK, HisRequest, HisResult, end_user_pseudonym
from chalicelib.domain.patients import PatientBinding, Relation
from chalicelib.domain.refusals import RefusalError
from chalicelib.observability import get_logger
from chalicelib.services.ports import (
    BindRequests,
    CardInfos,
    CardQuota,
    Clock,
    HisRequestQueue,
    IdFactory,
    PatientBindings,
    SmsSender,
    SmsSendError,
)

log = get_logger("cards")

PURPOSE = "cards"
CAS_ATTEMPTS = 5
NOT_FOUND_MESSAGE = "未找到该就诊人"
REQUEST_NOT_FOUND_MESSAGE = "未找到该办理记录，请重新添加就诊人"


@dataclass(frozen=True)
class CardsContext:
    """The ports the card use cases need (built by ``bootstrap``)."""

    requests: BindRequests
    quota: CardQuota
    infos: CardInfos
    bindings: PatientBindings
    his: HisRequestQueue
    sms: SmsSender
    clock: Clock
    new_id: IdFactory
    new_code: Callable[[], str]  # a random 6-digit code
    end_user_key: bytes  # the X-His-End-User pseudonym key
    code_key: bytes  # keys the stored digests of codes
    binds_per_day: int
    hospital_name: str


class CardsError(RefusalError):
    """A cards refusal the page shows (see ``RefusalError``)."""


@dataclass(frozen=True)
class FamilyMember:
    binding: PatientBinding
    info: CardInfo | None


@dataclass(frozen=True)
class Family:
    members: list[FamilyMember]
    binds_left_today: int


# ---- helpers ------------------------------------------------------------------------------------------
def _pseudonym(openid: str, ctx: CardsContext) -> str:
    return end_user_pseudonym(openid, ctx.end_user_key)


def _audit_refused(openid: str, what: str, ctx: CardsContext) -> None:
    log.warning("security: card access refused, not this user's", extra={"audit": "cards", "resource": what,
                                                                         "end_user": _pseudonym(openid, ctx)})


def _digest(ctx: CardsContext, request_id: str, code: str) -> str:
    return d.code_digest(ctx.code_key, request_id, code)


def _refused(code: str, status: int = 409, **extra: Any) -> CardsError:
    return CardsError(status, code, d.REFUSALS[code], **extra)


def _his_request(ctx: CardsContext, openid: str, operation: str, action: str, bind_request: str,
                 body: dict[str, Any] | None = None, path_params: dict[str, str] | None = None,
                 idempotency_key: str | None = None, request_id: str | None = None) -> HisRequest:
    return HisRequest(
        request_id=request_id or ctx.new_id(), operation=operation, requested_at=ctx.clock(),
        path_params=path_params or {}, body=body, idempotency_key=idempotency_key,
        end_user=_pseudonym(openid, ctx),
        context={"purpose": PURPOSE, "action": action, "bind_request": bind_request},
    )


def _send_code(ctx: CardsContext, req: BindRequest, code: str) -> BindRequest:
    """Text the code to the request's phone; if that fails, record it so the user can ask again at once."""
    try:
        ctx.sms.send(req.phone, d.sms_text(ctx.hospital_name, code, req.method))
        return req
    except SmsSendError as exc:
        log.error("card code SMS not sent", extra={"bind_request": req.request_id, "error": str(exc)})
        failed_send = d.sms_failed(req, ctx.clock())
        return failed_send if ctx.requests.replace(failed_send, req.version) else req


def _update(ctx: CardsContext, request_id: str,
            change: Callable[[BindRequest], BindRequest | None]) -> tuple[BindRequest | None, bool]:
    """Apply ``change`` to the stored request by compare-and-set, re-reading on a lost race.
    Returns (the request as it now stands, whether this call changed it); ``change`` returning None = no change."""
    for _ in range(CAS_ATTEMPTS):
        current = ctx.requests.get(request_id)
        if current is None:
            return None, False
        updated = change(current)
        if updated is None:
            return current, False
        if ctx.requests.replace(updated, current.version):
            return updated, True
    raise CardsError(409, "BUSY", "操作太频繁了，请稍后再试")


def _owned(openid: str, request_id: str, ctx: CardsContext) -> BindRequest:
    req = ctx.requests.get(request_id) if d.valid_request_id(request_id) else None
    if req is None:
        raise CardsError(404, "NOT_FOUND", REQUEST_NOT_FOUND_MESSAGE)
    if req.openid != openid:
        _audit_refused(openid, "bind_request", ctx)
        raise CardsError(404, "NOT_FOUND", REQUEST_NOT_FOUND_MESSAGE)
    return req


def _settle(req: BindRequest, ctx: CardsContext) -> BindRequest:
    """A request left waiting too long is failed before it is shown or used."""
    if d.timed_out(req, ctx.clock()) is None:
        return req
    now, _ = _update(ctx, req.request_id, lambda cur: d.timed_out(cur, ctx.clock()))
    return now or req


def _bind(ctx: CardsContext, req: BindRequest, patient: HisPatient) -> None:
    now = ctx.clock()
    ctx.bindings.bind(PatientBinding(req.openid, patient.patient_id, req.relation, patient.label, now))
    ctx.infos.put(req.openid, CardInfo(patient.patient_id, patient.cards, patient.id_tail, patient.phone_masked, now))
    log.info("patient bound", extra={"bind_request": req.request_id, "patient_id": patient.patient_id,
                                     "end_user": _pseudonym(req.openid, ctx)})


def _cap_problem(openid: str, relation: Relation, patient_id: str | None, ctx: CardsContext) -> str | None:
    bound = ctx.bindings.patients_of(openid)
    if patient_id is not None and any(b.patient_id == patient_id for b in bound):
        return "ALREADY_BOUND"
    if len(bound) >= d.MAX_PATIENTS_PER_USER:
        return "PATIENT_LIMIT"
    if relation is Relation.SELF and any(b.relation is Relation.SELF for b in bound):
        return "SELF_BOUND"
    return None


# ---- the family list ----------------------------------------------------------------------------------
def family(openid: str, ctx: CardsContext) -> Family:
    infos = ctx.infos.of_user(openid)
    members = [FamilyMember(b, infos.get(b.patient_id)) for b in ctx.bindings.patients_of(openid)]
    used = ctx.quota.used(openid, d.shanghai_day(ctx.clock()))
    return Family(members, max(ctx.binds_per_day - used, 0))


# ---- starting ---------------------------------------------------------------------------------------
def start(openid: str, raw: Mapping[str, Any], ctx: CardsContext) -> BindRequest:
    """Begin adding a patient: ``raw["method"]`` is ``identity`` (an existing patient) or ``create`` (建档)."""
    now = ctx.clock()
    method = raw.get("method")
    if method not in (BindMethod.IDENTITY.value, BindMethod.CREATE.value):
        raise CardsError(400, "BAD_REQUEST", "请选择“已有就诊卡”或“在线建档”")
    try:
        form: d.IdentityForm | d.CreateForm = (d.parse_identity_form(raw, now.astimezone(d.SHANGHAI).date())
                                               if method == BindMethod.IDENTITY.value
                                               else d.parse_create_form(raw, now.astimezone(d.SHANGHAI).date()))
    except CardFormError as exc:
        raise CardsError(400, "BAD_REQUEST", exc.message, field=exc.field) from exc
    if d.in_maintenance(now):
        raise _refused("HIS_MAINTENANCE", 503)
    problem = _cap_problem(openid, form.relation, None, ctx)
    if problem == "SELF_BOUND":
        raise CardsError(409, "SELF_BOUND", "您已绑定“本人”，请选择与该就诊人的其他关系")
    if problem:
        raise _refused(problem)
    if not ctx.quota.take(openid, d.shanghai_day(now), ctx.binds_per_day, now):
        log.info("card binding refused: daily cap", extra={"end_user": _pseudonym(openid, ctx)})
        raise CardsError(429, "DAILY_LIMIT", f"今天添加就诊人的次数已用完（每天{ctx.binds_per_day}次），请明天再试")
    request_id = ctx.new_id()
    if isinstance(form, d.IdentityForm):
        his_request_id = ctx.new_id()
        req = d.new_lookup(request_id, openid, form, his_request_id, now)
        ctx.requests.add(req)
        try:
            ctx.his.send(_his_request(ctx, openid, "lookupPatient", "lookup", request_id, body=form.lookup_body(),
                                      idempotency_key=f"{request_id}:lookup", request_id=his_request_id))
        except Exception:
            log.exception("card lookup not queued", extra={"bind_request": request_id})
            ctx.requests.replace(d.failed(req, "HIS_UNAVAILABLE", ctx.clock()), req.version)
            raise _refused("HIS_UNAVAILABLE", 503) from None
        log.info("card lookup queued", extra={"bind_request": request_id, "end_user": _pseudonym(openid, ctx)})
        return req
    code = ctx.new_code()
    req = d.new_creation(request_id, openid, form, _digest(ctx, request_id, code), now)
    ctx.requests.add(req)
    log.info("card creation started, code sent", extra={"bind_request": request_id,
                                                        "end_user": _pseudonym(openid, ctx)})
    return _send_code(ctx, req, code)


def get(openid: str, request_id: str, ctx: CardsContext) -> BindRequest:
    return _settle(_owned(openid, request_id, ctx), ctx)


# ---- the code -----------------------------------------------------------------------------------------
def resend(openid: str, request_id: str, ctx: CardsContext) -> BindRequest:
    req = _settle(_owned(openid, request_id, ctx), ctx)
    refusal = _resend_refusal(req, ctx)
    if refusal is not None:
        raise refusal
    code = ctx.new_code()

    def change(cur: BindRequest) -> BindRequest | None:
        if _resend_refusal(cur, ctx) is not None:
            return None
        return d.resent(cur, _digest(ctx, request_id, code), ctx.clock())

    updated, changed = _update(ctx, request_id, change)
    if updated is None:
        raise CardsError(404, "NOT_FOUND", REQUEST_NOT_FOUND_MESSAGE)
    if not changed:
        raise _resend_refusal(updated, ctx) or _state_refusal(updated)
    return _send_code(ctx, updated, code)


def _resend_refusal(req: BindRequest, ctx: CardsContext) -> CardsError | None:
    if req.state is not BindState.CODE_SENT:
        return _state_refusal(req)
    at = req.resend_at()
    if at is None:
        return CardsError(429, "SMS_LIMIT", "获取验证码次数过多，请稍后重新添加就诊人")
    now = ctx.clock()
    if now < at:
        wait = max(math.ceil((at - now).total_seconds()), 1)
        return CardsError(429, "TOO_SOON", f"请{wait}秒后再获取验证码", retry_after=wait)
    return None


def _state_refusal(req: BindRequest) -> CardsError:
    if req.state is BindState.FAILED:
        return CardsError(409, req.error_code or "FAILED", req.message or d.REFUSALS["EXPIRED"])
    if req.state is BindState.DONE:
        return CardsError(409, "ALREADY_DONE", "已经绑定成功，无需再次验证")
    if req.state is BindState.CREATING:
        return CardsError(409, "IN_PROGRESS", "正在为您建档，请稍候")
    return CardsError(409, "IN_PROGRESS", "正在向医院核对信息，请稍候")


def verify(openid: str, request_id: str, code: str, relation: str | None, ctx: CardsContext) -> BindRequest:
    """Check the SMS code; bind (lookup) or hand 建档 to the HIS. ``relation`` may change the one chosen at start.
    The right code is used up by the state change that follows it (compare-and-set: exactly once)."""
    req = _owned(openid, request_id, ctx)
    if not d.valid_code(code):
        raise CardsError(400, "BAD_REQUEST", f"请输入{d.CODE_LENGTH}位数字验证码")
    chosen: Relation | None = None
    if relation:
        try:
            chosen = Relation(relation)
        except ValueError:
            raise CardsError(400, "BAD_REQUEST", "请选择与您的关系") from None
    digest = _digest(ctx, request_id, code)
    for _ in range(CAS_ATTEMPTS):
        req = _settle(req, ctx)
        if req.state is not BindState.CODE_SENT:
            raise _state_refusal(req)
        check = d.check_code(req, digest, ctx.clock())
        if check.outcome is CodeOutcome.EXPIRED:
            raise CardsError(409, "CODE_EXPIRED", "验证码已过期，请重新获取")
        if check.outcome is CodeOutcome.NOT_WAITING:
            raise _state_refusal(req)
        if check.outcome is CodeOutcome.OK:
            done = _code_ok(openid, replace(req, relation=chosen or req.relation), ctx)
            if done is not None:
                return done
        elif ctx.requests.replace(check.request, req.version):
            if check.outcome is CodeOutcome.WRONG:
                left = check.request.attempts_left
                raise CardsError(400, "WRONG_CODE", f"验证码不正确，还可以再试{left}次", attempts_left=left)
            log.warning("card code refused: request locked or expired",
                        extra={"bind_request": request_id, "end_user": _pseudonym(openid, ctx)})
            raise _state_refusal(check.request)
        req = _owned(openid, request_id, ctx)  # lost a race: look again
    raise CardsError(409, "BUSY", "操作太频繁了，请稍后再试")


def _code_ok(openid: str, req: BindRequest, ctx: CardsContext) -> BindRequest | None:
    """The next state after a right code, stored if ``req`` is still current (None: it was not; look again)."""
    problem = _cap_problem(openid, req.relation, req.patient.patient_id if req.patient else None, ctx)
    if problem == "SELF_BOUND":
        raise CardsError(409, "SELF_BOUND", "您已绑定“本人”，请选择与该就诊人的其他关系")
    if problem:
        refused = d.failed(req, problem, ctx.clock())
        if not ctx.requests.replace(refused, req.version):
            return None
        raise _state_refusal(refused)
    if req.method is BindMethod.IDENTITY:
        assert req.patient is not None
        done = d.bound(req, req.patient, ctx.clock())
        if not ctx.requests.replace(done, req.version):
            return None
        _bind(ctx, done, req.patient)
        return done
    # 建档: the same request (same id, key and body) whoever sends it, so a repeat creates nothing twice (§5.3).
    assert req.create_body is not None
    his_request_id = f"{req.request_id}-create"
    ctx.his.send(_his_request(ctx, openid, "createPatient", "create", req.request_id, body=req.create_body,
                              idempotency_key=f"{req.request_id}:create", request_id=his_request_id))
    now_creating = d.creating(req, his_request_id, ctx.clock())
    if not ctx.requests.replace(now_creating, req.version):
        return None
    log.info("card creation queued", extra={"bind_request": req.request_id, "end_user": _pseudonym(openid, ctx)})
    return now_creating


# ---- unbinding ----------------------------------------------------------------------------------------
def unbind(openid: str, patient_id: str, ctx: CardsContext) -> None:
    """Remove a patient from the user's list; unlink it at the HIS when no user of ours is bound to it any more."""
    if not any(b.patient_id == patient_id for b in ctx.bindings.patients_of(openid)):
        _audit_refused(openid, "patient", ctx)
        raise CardsError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
    ctx.bindings.unbind(openid, patient_id)
    ctx.infos.delete(openid, patient_id)
    log.info("patient unbound", extra={"patient_id": patient_id, "end_user": _pseudonym(openid, ctx)})
    if ctx.bindings.openids_of(patient_id):
        return
    try:
        ctx.his.send(_his_request(ctx, openid, "unlinkPatient", "unlink", "", path_params={"patient_id": patient_id}))
    except Exception:
        # The binding is gone either way; the link only lets the HIS send us this patient's events.
        log.exception("patient unlink not queued", extra={"patient_id": patient_id})


# ---- results from the HIS -----------------------------------------------------------------------------
def apply_his_result(result: HisResult, ctx: CardsContext) -> str:
    """Apply a lookup / 建档 / unlink result; redelivery-safe (a result changes its request once). Returns what
    happened (for logs and tests)."""
    action = result.context.get("action", "")
    if action == "unlink":
        code = result.error.code if result.error else None
        log.info("patient unlink answered", extra={"outcome": result.outcome, "his_code": code})
        return "unlinked" if result.outcome == OUTCOME_OK else "unlink_failed"
    request_id = result.context.get("bind_request", "")
    if action not in ("lookup", "create") or not request_id:
        log.warning("card result without a known action dropped", extra={"request_id": result.request_id})
        return "dropped"
    expected_states = (BindState.PENDING,) if action == "lookup" else (BindState.CODE_SENT, BindState.CREATING)
    patient: HisPatient | None = None
    refusal: str | None = None
    if result.outcome == OUTCOME_OK:
        try:
            patient = d.patient_from_his(result.body)
        except HisPatientFormatError as exc:
            log.error("unreadable patient from the HIS", extra={"error": str(exc), "bind_request": request_id})
            refusal = "HIS_UNAVAILABLE"
        else:
            if action == "create" and patient.created is False:
                refusal = "ALREADY_REGISTERED"  # an existing record: its phone on file was not the one verified
    else:
        err = result.error
        refusal = d.his_refusal(err.code if err else "", result.status)
        log.info("card request refused by the HIS", extra={"bind_request": request_id, "action": action,
                                                           "his_code": err.code if err else None,
                                                           "status": result.status})
    code = ctx.new_code()

    def change(cur: BindRequest) -> BindRequest | None:
        if cur.state not in expected_states or cur.his_request_id not in (None, result.request_id):
            return None
        if action == "create" and result.request_id != f"{cur.request_id}-create":
            return None
        now = ctx.clock()
        late = d.timed_out(cur, now)
        if late is not None:
            return late
        if refusal is not None or patient is None:
            return d.failed(cur, refusal or "HIS_UNAVAILABLE", now)
        problem = _cap_problem(cur.openid, cur.relation, patient.patient_id, ctx)
        if problem in ("ALREADY_BOUND", "PATIENT_LIMIT"):  # "本人" twice is refused when the code is entered
            return d.failed(cur, str(problem), now)
        if action == "lookup":
            return d.found(cur, patient, _digest(ctx, cur.request_id, code), now)
        return d.bound(cur, patient, now)

    updated, changed = _update(ctx, request_id, change)
    if updated is None or not changed:
        log.info("card result already applied or too late", extra={"bind_request": request_id, "action": action})
        return "ignored"
    if updated.state is BindState.CODE_SENT:
        _send_code(ctx, updated, code)
        return "code_sent"
    if updated.state is BindState.DONE:
        assert updated.patient is not None
        _bind(ctx, updated, updated.patient)
        return "bound"
    return "failed"
