"""Patients and cards (§7.4) and linking (§4.6)."""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from .. import patients, views
from ..errors import HisError
from ..web import PATIENT_READ, WRITE, json_body, json_response, operation, sim

bp = Blueprint("patients", __name__)


@bp.post("/patients/lookup")
@operation("lookupPatient", WRITE)
def lookup() -> Response:
    simulator = sim()
    end_user = request.headers.get("X-His-End-User")
    wait = simulator.lookup_throttled(end_user)
    if wait is not None:
        raise HisError("HIS_BUSY", details={"reason": "rate_limit"}, retry_after=wait)
    body = json_body()
    try:
        patient = patients.lookup(simulator.state, g.app_id, body)
    except HisError as error:
        if error.code in ("PATIENT_NOT_FOUND", "IDENTITY_MISMATCH"):
            simulator.record_failed_lookup(end_user)
        raise
    return json_response(views.patient(patient))


@bp.post("/patients")
@operation("createPatient", WRITE, idempotent=True)
def create() -> Response:
    simulator = sim()
    patient, created = patients.create(simulator.state, g.app_id, json_body(), simulator.now())
    return json_response(views.patient(patient, created=created), 201 if created else 200)


@bp.get("/patients/<patient_id>")
@operation("getPatient", PATIENT_READ)
def get_patient(patient_id: str) -> Response:
    return json_response(views.patient(patients.require_linked(sim().state, g.app_id, patient_id)))


@bp.delete("/patients/<patient_id>/link")
@operation("unlinkPatient", WRITE)
def unlink(patient_id: str) -> Response:
    patients.unlink(sim().state, g.app_id, patient_id)
    return Response(status=204)
