"""H5 API: the logged-in user's family list (就诊人 and their masked cards), adding one with an SMS code
(an existing patient, or 建档), and unbinding. Results of the HIS lookups and creations come back over SQS to
the ``cards`` result handler registered here.

Every answer is personal: ``Cache-Control: no-store``. Nothing in an answer is unmasked.
"""

from __future__ import annotations

import json
import math
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.auth import require_login
from chalicelib.api.errors import JSON, NO_STORE, refusal
from chalicelib.api.his_results import result_handler
from chalicelib.api.views import local_time
from chalicelib.domain.cards import (
    CREATE_SLOW_AFTER,
    ID_TYPE_NAMES,
    MAX_PATIENTS_PER_USER,
    BindRequest,
    BindState,
    MaskedCard,
)
from chalicelib.domain.his_messages import HisResult
from chalicelib.domain.patients import RELATION_NAMES
from chalicelib.services import cards as service
from chalicelib.services.cards import CardsError, FamilyMember

bp = Blueprint(__name__)


def _ctx() -> Any:
    return bootstrap.container().cards_context


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers={**JSON, **NO_STORE})


def _body() -> dict[str, Any] | None:
    raw = bp.current_request.raw_body
    try:
        parsed = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


_BAD_BODY = CardsError(400, "BAD_REQUEST", "请求有误，请返回重试")


# ---- JSON shapes ------------------------------------------------------------------------------------
def card_view(c: MaskedCard) -> dict[str, Any]:
    return {"card_no_masked": c.card_no_masked, "card_type": c.card_type, "card_type_name": c.type_name,
            "status": c.status, "status_name": c.status_name}


def member_view(m: FamilyMember) -> dict[str, Any]:
    b, info = m.binding, m.info
    return {"patient_id": b.patient_id, "label": b.label, "relation": b.relation.value,
            "relation_name": RELATION_NAMES.get(b.relation, ""), "bound_at": local_time(b.bound_at),
            "cards": [card_view(c) for c in info.cards] if info else [],
            "id_tail": (info.id_tail or None) if info else None, "phone_masked": info.phone_masked if info else None}


def request_view(r: BindRequest) -> dict[str, Any]:
    now = _ctx().clock()
    resend_at = r.resend_at()
    patient = r.patient
    return {
        "request_id": r.request_id, "method": r.method.value, "state": r.state.value,
        "relation": r.relation.value, "relation_name": RELATION_NAMES.get(r.relation, ""), "label": r.label,
        "phone_masked": r.phone_masked or None, "id_tail": r.id_tail or None,
        "code_expires_at": local_time(r.code_expires_at) if r.state is BindState.CODE_SENT else None,
        "resend_in": max(math.ceil((resend_at - now).total_seconds()), 0) if resend_at else None,
        "sends_left": r.sends_left if r.state is BindState.CODE_SENT else 0,
        "attempts_left": r.attempts_left if r.state is BindState.CODE_SENT else 0,
        "sms_failed": r.sms_failed, "slow": r.state is BindState.CREATING and now - r.updated_at > CREATE_SLOW_AFTER,
        "error_code": r.error_code if r.state is BindState.FAILED else None, "message": r.message,
        "patient": None if patient is None or r.state is not BindState.DONE else {
            "patient_id": patient.patient_id, "label": patient.label,
            "cards": [card_view(c) for c in patient.cards]},
        "expires_at": local_time(r.expires_at),
    }


# ---- routes -----------------------------------------------------------------------------------------
@bp.route("/api/cards", methods=["GET"])
def family() -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    found = service.family(openid, _ctx())
    return _json({"items": [member_view(m) for m in found.members], "max_patients": MAX_PATIENTS_PER_USER,
                  "binds_left_today": found.binds_left_today,
                  "relations": [{"value": r.value, "name": n} for r, n in RELATION_NAMES.items()],
                  "id_types": [{"value": t.value, "name": n} for t, n in ID_TYPE_NAMES.items()]})


@bp.route("/api/cards/bind-requests", methods=["POST"], content_types=["application/json"])
def start_binding() -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    body = _body()
    try:
        if body is None:
            raise _BAD_BODY
        req = service.start(openid, body, _ctx())
    except CardsError as exc:
        return refusal(exc)
    return _json({"request": request_view(req)}, 202)


@bp.route("/api/cards/bind-requests/{request_id}", methods=["GET"])
def bind_request(request_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        req = service.get(openid, request_id, _ctx())
    except CardsError as exc:
        return refusal(exc)
    return _json({"request": request_view(req)})


@bp.route("/api/cards/bind-requests/{request_id}/verify", methods=["POST"], content_types=["application/json"])
def verify_code(request_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    body = _body()
    try:
        if body is None or not isinstance(body.get("code", ""), str) or not isinstance(body.get("relation", ""), str):
            raise _BAD_BODY
        req = service.verify(openid, request_id, body.get("code", "").strip(), body.get("relation") or None, _ctx())
    except CardsError as exc:
        return refusal(exc)
    return _json({"request": request_view(req)}, 200 if req.state is BindState.DONE else 202)


@bp.route("/api/cards/bind-requests/{request_id}/resend", methods=["POST"], content_types=["application/json"])
def resend_code(request_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        req = service.resend(openid, request_id, _ctx())
    except CardsError as exc:
        return refusal(exc)
    return _json({"request": request_view(req)})


@bp.route("/api/cards/{patient_id}", methods=["DELETE"])
def unbind(patient_id: str) -> Response:
    openid = require_login(bp.current_request)
    if isinstance(openid, Response):
        return openid
    try:
        service.unbind(openid, patient_id, _ctx())
    except CardsError as exc:
        return refusal(exc)
    return Response(body="", status_code=204, headers=dict(NO_STORE))


# ---- results of the HIS calls (SQS) -----------------------------------------------------------------
@result_handler(service.PURPOSE)
def _apply_card_result(result: HisResult, c: bootstrap.Container) -> object:
    return service.apply_his_result(result, c.cards_context)
