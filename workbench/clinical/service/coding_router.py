"""ICD-10-CM coding beside FHIR: ``POST /coding/icd10cm/$suggest``, ``POST /fhir/Condition`` and a page.

==========================================  ==============================  ========================
``POST /coding/icd10cm/$suggest``           main diagnosis, CC, status      :data:`SUGGEST_SCOPE`
                                            codes (+ draft Conditions)
``POST /fhir/Condition``                    create an ICD-10-CM Condition   :data:`CONDITION_WRITE_SCOPE`
``GET  /coding/icd10cm``                    the page for the hospital       public (the page holds
                                            information system              no data; calls need a token)
==========================================  ==============================  ========================

A standalone ``APIRouter``: ``app.include_router(coding_router.router)`` on the FHIR app. It reads
``app.state.config`` (a :class:`ServiceConfig`, for token checks) and ``app.state.pool`` (the
PostgreSQL pool, for Conditions), both of which ``create_app`` sets. Token checks raise
:class:`AuthError`, answered by the app's handler (:func:`auth_error_response` is that answer for an
app that has none).

Notes are patient text: they are never logged, never echoed in an error, and bounded in size
(:data:`MAX_BODY_BYTES`, :data:`~workbench.clinical.coding.MAX_TEXT_CHARS`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from workbench.clinical.service.auth import AuthError, TokenClaims, bearer_token, require_scope

__all__ = [
    "CONDITION_WRITE_SCOPE",
    "ICD10CM_SYSTEM",
    "MAX_BODY_BYTES",
    "SCOPES",
    "SUGGEST_SCOPE",
    "auth_error_response",
    "condition_resource",
    "router",
]

SUGGEST_SCOPE = "system/Condition.suggest"
CONDITION_WRITE_SCOPE = "system/Condition.write"
SCOPES = {
    SUGGEST_SCOPE: "ask for ICD-10-CM code suggestions for a clinical text (nothing is stored)",
    CONDITION_WRITE_SCOPE: "create ICD-10-CM coded Condition resources",
}
ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
FHIR_JSON = "application/fhir+json"
MAX_BODY_BYTES = 16_384  # a pasted note plus JSON framing; the text itself is limited to MAX_TEXT_CHARS
CONDITION_NS = uuid.UUID("0b7a3c52-8f0e-5d2c-9a61-3e4c1f7d2b90")
_PAGE = Path(__file__).with_name("coding_page.html")

router = APIRouter(tags=["coding"])


# ------------------------------------------------------------------------------------------ errors
def _outcome(status: int, code: str, diagnostics: str, headers: dict[str, str] | None = None) -> Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}]}
    return Response(json.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


class _Refused(Exception):
    def __init__(self, status: int, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics


def auth_error_response(exc: AuthError) -> Response:
    """The OperationOutcome + ``WWW-Authenticate`` answer for a refused token (as the FHIR app gives)."""
    challenge = f'Bearer realm="workbench-fhir", error="{exc.error}"'
    if exc.status == 403:
        challenge += f', scope="{exc.description.rsplit(" ", 1)[-1]}"'
    return _outcome(exc.status, "login" if exc.status == 401 else "forbidden", exc.description,
                    {"WWW-Authenticate": challenge})  # fmt: skip


# -------------------------------------------------------------------------------------------- auth
def token_with_scope(scope: str):
    """Dependency: the verified token of the request, which must carry ``scope`` (else AuthError).

    The token passes the app's :class:`~workbench.clinical.service.auth.TokenGate` (signature, claims,
    revocation, a configured and current client), the principal must be active, then the scope is checked:
    the same gate as every FHIR route, so a revoked or removed client cannot ask for codes either.
    """

    async def dependency(request: Request, authorization: Annotated[str | None, Header()] = None) -> TokenClaims:
        gate = getattr(request.app.state, "tokens", None)
        if gate is None:  # mounted on an app without the FHIR app's token gate: refuse rather than skip revocation
            raise AuthError(503, "temporarily_unavailable", "the service has no token gate configured")
        claims, record = gate.verify(bearer_token(authorization))
        request.state.principal = claims.subject
        if record.disabled:
            raise AuthError(400, "invalid_grant", "Inactive user")
        require_scope(claims, scope)
        return claims

    dependency.__name__ = f"token_with_{scope.replace('/', '_').replace('.', '_')}"
    return Depends(dependency)


# -------------------------------------------------------------------------------------------- body
async def _json_body(request: Request) -> dict:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise _Refused(413, "too-costly", f"the request body must be at most {MAX_BODY_BYTES} bytes")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise _Refused(413, "too-costly", f"the request body must be at most {MAX_BODY_BYTES} bytes")
    media = request.headers.get("content-type", "").split(";")[0].strip()
    if media not in ("application/json", FHIR_JSON):
        raise _Refused(415, "not-supported", "send the body as application/json or application/fhir+json")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _Refused(400, "invalid", "the body is not valid JSON") from None  # never quote the body
    if not isinstance(body, dict):
        raise _Refused(400, "invalid", "the body must be a JSON object")
    return body


def _suggest_request(body: dict) -> tuple[str, int, str | None]:
    if body.get("resourceType") == "Parameters":  # the FHIR form of an operation's input
        params = {p.get("name"): p for p in body.get("parameter", []) if isinstance(p, dict)}
        text = params.get("text", {}).get("valueString")
        k = params.get("count", {}).get("valueInteger", 10)
        subject = params.get("subject", {}).get("valueReference", {}).get("reference")
    else:
        text, k, subject = body.get("text"), body.get("count", 10), body.get("subject")
    from workbench.clinical.coding import MAX_TEXT_CHARS

    if not isinstance(text, str) or not text.strip():
        raise _Refused(400, "required", "give the clinical text as 'text' (a non-empty string)")
    if len(text) > MAX_TEXT_CHARS:
        raise _Refused(413, "too-costly", f"'text' has {len(text)} characters, at most {MAX_TEXT_CHARS}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 20:
        raise _Refused(400, "value", "'count' must be an integer from 1 to 20")
    if subject is not None and (not isinstance(subject, str) or not subject.startswith("Patient/") or len(subject) > 80):
        raise _Refused(400, "value", "'subject' must be a reference 'Patient/<id>'")
    return text, k, subject


# --------------------------------------------------------------------------------------- Condition
def condition_resource(code: str, display: str, subject: str, *, recorded: dt.date | None = None) -> dict:
    """A provisional, encounter-diagnosis FHIR R4 Condition for an ICD-10-CM ``code``, validated.

    Provisional: a machine suggested it; a coder or clinician confirms it by changing the status.
    """
    from fhir.resources.R4B.condition import Condition

    recorded = recorded or dt.date.today()
    resource = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                           "code": "provisional"}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                  "code": "encounter-diagnosis"}]}],
        "code": {"coding": [{"system": ICD10CM_SYSTEM, "code": code, "display": display}]},
        "subject": {"reference": subject},
        "recordedDate": recorded.isoformat(),
    }  # fmt: skip
    Condition.model_validate(resource)
    return resource


def _validated_condition(body: dict) -> tuple[dict, str, str, dt.date]:
    from fhir.resources.R4B.condition import Condition
    from pydantic import ValidationError

    if body.get("resourceType") != "Condition":
        raise _Refused(400, "invalid", "the body must be a FHIR Condition resource (resourceType 'Condition')")
    if "id" in body:
        raise _Refused(400, "invalid", "leave out 'id' on create: the server assigns it")
    try:
        Condition.model_validate(body)
    except ValidationError as exc:
        where = "; ".join(".".join(str(p) for p in e["loc"]) + ": " + e["type"] for e in exc.errors()[:3])
        raise _Refused(400, "structure", f"not a valid FHIR R4 Condition ({where})") from None
    codings = [c for c in body.get("code", {}).get("coding", []) if c.get("system") == ICD10CM_SYSTEM]
    if len(codings) != 1:
        raise _Refused(422, "code-invalid", f"Condition.code needs exactly one coding with system {ICD10CM_SYSTEM}")
    import simple_icd_10_cm as icd

    code = codings[0].get("code", "")
    if not (isinstance(code, str) and icd.is_valid_item(code) and icd.is_leaf(code)):
        raise _Refused(422, "code-invalid", "Condition.code is not a billable ICD-10-CM code (use a leaf code, e.g. H66.92)")
    reference = body.get("subject", {}).get("reference", "")
    if not reference.startswith("Patient/") or len(reference) <= len("Patient/"):
        raise _Refused(422, "required", "Condition.subject must reference a Patient ('Patient/<id>')")
    recorded = dt.date.fromisoformat(str(body["recordedDate"])[:10]) if body.get("recordedDate") else dt.date.today()
    return body, reference.removeprefix("Patient/"), icd.add_dot(icd.remove_dot(code)), recorded


# ------------------------------------------------------------------------------------------ routes
@router.post("/coding/icd10cm/$suggest", summary="Suggest ICD-10-CM codes for a clinical text",
             responses={400: {"description": "OperationOutcome"}, 413: {"description": "OperationOutcome"}})  # fmt: skip
async def suggest(request: Request, claims: TokenClaims = token_with_scope(SUGGEST_SCOPE)) -> Response:
    """Body ``{"text": ..., "count": 10, "subject": "Patient/<id>"}`` or a FHIR ``Parameters`` with the
    same names. Answers the main diagnosis, secondary diagnoses (CC), status codes and alternatives,
    each with a calibrated probability and evidence spans; with ``subject``, draft Conditions too."""
    try:
        text, k, subject = _suggest_request(await _json_body(request))
    except _Refused as exc:
        return _outcome(exc.status, exc.code, exc.diagnostics)
    from workbench.clinical.coding import suggest_codes

    # Ranking is CPU work (tens of ms): a worker thread keeps the event loop serving other requests.
    result = (await run_in_threadpool(suggest_codes, text, k=k)).to_dict()
    if subject is not None:
        chosen = [s for s in [result["main"], *result["secondary"]] if s]
        result["conditions"] = [condition_resource(s["code"], s["description"], subject) for s in chosen]
    return Response(json.dumps(result), media_type="application/json", headers={"Cache-Control": "no-store"})


@router.post("/fhir/Condition", summary="Create an ICD-10-CM coded Condition", status_code=201,
             responses={200: {"description": "a replay of an earlier create"}, 409: {"description": "OperationOutcome"},
                        422: {"description": "OperationOutcome"}})  # fmt: skip
async def create_condition(request: Request, claims: TokenClaims = token_with_scope(CONDITION_WRITE_SCOPE)) -> Response:
    try:
        body, patient_id, code, recorded = _validated_condition(await _json_body(request))
    except _Refused as exc:
        return _outcome(exc.status, exc.code, exc.diagnostics)
    content = json.dumps(body, sort_keys=True, separators=(",", ":"))
    content_sha = hashlib.sha256(content.encode("utf-8")).hexdigest()
    new_id = str(uuid.uuid5(CONDITION_NS, f"{patient_id}|{code}|{recorded.isoformat()}"))
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    stored = {"resourceType": "Condition", "id": new_id, "meta": {"versionId": "1", "lastUpdated": now},
              **{k: v for k, v in body.items() if k != "resourceType"}}  # fmt: skip
    stored_text = json.dumps(stored, ensure_ascii=False, separators=(",", ":"))
    location = {"Location": f"{request.base_url}fhir/Condition/{new_id}/_history/1"}
    async with request.app.state.pool.connection() as conn:
        async with conn.transaction():
            found = await (await conn.execute("SELECT 1 FROM fhir.patient WHERE id = %s", (patient_id,))).fetchone()
            if found is None:
                return _outcome(422, "not-found", "Condition.subject refers to no known Patient")
            inserted = await (await conn.execute(
                "INSERT INTO fhir.condition (id, patient_id, code, recorded, resource, content_sha256)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
                (new_id, patient_id, code, recorded, stored_text, content_sha),
            )).fetchone()  # fmt: skip
        if inserted is None:
            row = await (await conn.execute(
                "SELECT resource::text, content_sha256 FROM fhir.condition WHERE id = %s", (new_id,))).fetchone()
            if row is None or row[1] != content_sha:
                return _outcome(409, "duplicate", "this patient already has a different Condition with this code and date")
            return Response(row[0], 200, media_type=FHIR_JSON, headers=location)
    return Response(stored_text, 201, media_type=FHIR_JSON, headers=location)


@router.get("/coding/icd10cm", response_class=HTMLResponse, summary="The coding page for the hospital information system")
async def coding_page() -> HTMLResponse:
    # A fresh nonce per answer: the page's one inline script runs, injected script cannot (CSP).
    nonce = secrets.token_urlsafe(16)
    html = _PAGE.read_text(encoding="utf-8").replace("{{NONCE}}", nonce)
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
           "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")  # fmt: skip
    return HTMLResponse(html, headers={"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
                                       "Cache-Control": "no-store"})  # fmt: skip
