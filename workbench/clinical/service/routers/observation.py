"""``/fhir/Observation``: read, search (subject, code, date, _sort) and create (idempotent on identifier).

A create is checked in this order, cheapest and most hostile first: media type, strict JSON (UTF-8,
bounded depth, unique keys; :mod:`.._json`), no NUL or lone surrogate in any string, the privacy check on
every decoded string (:mod:`.._privacy`), then the FHIR R4 model validation - in a worker thread with a
time limit, so a costly document delays only its own request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from workbench.clinical.service import _search as search
from workbench.clinical.service._json import JsonRefused, bad_string, parse_strict_json
from workbench.clinical.service._privacy import iter_strings
from workbench.clinical.service.deps import Principal, requires
from workbench.clinical.service.errors import FHIR_JSON, FhirError
from workbench.clinical.service.routers.patient import read_resource
from workbench.clinical.service.schemas import (
    COMMON_SEARCH_PARAMETERS,
    ERRORS,
    OBSERVATION_BODY_SCHEMA,
    OBSERVATION_STATUS,
    READ_ERRORS,
    SEARCH_ERRORS,
    Bundle,
    FhirResponse,
    OperationOutcome,
    Resource,
    doc,
    query_parameters,
)
from workbench.clinical.service.searchset import SearchQuery, base_url, parse_common, run_searchset

router = APIRouter(tags=["fhir"])
log = logging.getLogger("workbench.fhir")
READ_SQL = "SELECT resource::text FROM fhir.observation WHERE id = %s"
# Identifiers of created Observations live under this namespace: id = uuid5(NS, system|value).
CREATED_OBSERVATION_NS = uuid.UUID("6f1b7f0e-3c0a-5b7e-9a53-1f2d8c4e9b21")
VALIDATION_TIMEOUT_S = 5.0


@router.get("/fhir/Observation/{observation_id}", summary="Read an Observation", response_class=FhirResponse,
            responses={200: doc(Resource, "the Observation"), **READ_ERRORS})  # fmt: skip
async def read_observation(request: Request, observation_id: str,
                           principal: Principal = requires("system/Observation.read")) -> Response:  # fmt: skip
    return await read_resource(request, READ_SQL, "Observation", observation_id)


@router.get("/fhir/Observation", summary="Search Observations", response_class=FhirResponse,
            responses={200: doc(Bundle, "searchset Bundle"), **SEARCH_ERRORS},
            openapi_extra=query_parameters(
                ("subject", "Patient/<id> or <id>", False),
                ("code", "LOINC code, e.g. 85354-9 or http://loinc.org|8867-4", False),
                ("date", "e.g. ge2026-09-01 (repeatable)", True),
                ("_sort", "date (default, oldest first) or -date (empty: the default)", False, ["date", "-date", ""]),
                *COMMON_SEARCH_PARAMETERS,
            ))  # fmt: skip
async def search_observations(request: Request, principal: Principal = requires("system/Observation.read")) -> Response:
    params, ignored = parse_common(request, {"subject", "code", "date", "_sort"}, {"date"})
    query = SearchQuery()
    raw: dict[str, str | None] = {"_count": None, "_summary": None, "_cursor": None}
    sort_value = None
    for name, value in params:
        if name in raw:
            raw[name] = value
            continue
        if name == "_sort":
            if value not in ("date", "-date"):
                raise search.SearchError("_sort", "supported: date (oldest first) or -date (newest first)")
            sort_value = value
        elif name == "subject":
            query.add("patient_id = %s", search.parse_reference("subject", value, "Patient"))
        elif name == "code":
            query.add("code = ANY(%s)", search.parse_token_codes("code", value))
        else:  # date
            query.add(*search.date_condition("effective", search.parse_date("date", value)))
        query.used.append((name, value))
    descending = sort_value == "-date"

    def parse_key(values: list[str]) -> list:
        return [dt.datetime.fromisoformat(values[0]), values[1]]

    bundle, ids = await run_searchset(
        request, resource_type="Observation", table="fhir.observation", query=query, raw=raw, ignored=ignored,
        keys=("effective", "id"), descending=descending, parse_key=parse_key,
        cursor_kind="Observation" + ("-" if descending else "+"),
    )  # fmt: skip
    request.state.audit_ids = ids
    return FhirResponse(bundle)


def _validate_observation(body: Any) -> tuple[dict, str, str, str, dt.datetime, str]:
    """Check a posted Observation; return (resource, identifier system, value, patient id, effective, LOINC code)."""
    from pydantic import ValidationError

    from workbench.clinical.fhir import validation_error

    if not isinstance(body, dict):
        raise FhirError(422, "structure", "the body must be a JSON object (an Observation resource)")
    if body.get("resourceType") != "Observation":
        raise FhirError(422, "structure", "resourceType must be 'Observation' on this endpoint")
    try:
        problem = validation_error(body)
    except (ValidationError, TypeError, ValueError, KeyError, AttributeError, RecursionError):
        problem = "the resource does not validate as a FHIR R4 Observation"
    if problem:
        raise FhirError(422, "structure", f"invalid Observation: {problem}")
    if body.get("status") not in OBSERVATION_STATUS:
        # A required binding in FHIR R4 that the pydantic models do not enforce.
        raise FhirError(422, "code-invalid", f"Observation.status must be one of {', '.join(OBSERVATION_STATUS)}")
    identifiers = [i for i in body.get("identifier") or [] if isinstance(i, dict) and i.get("system") and i.get("value")]
    if not identifiers:
        raise FhirError(422, "required", "Observation.identifier with system and value is required: it is what "
                                         "makes a repeated POST idempotent")  # fmt: skip
    ident = identifiers[0]
    if not isinstance(ident["system"], str) or not isinstance(ident["value"], str):
        raise FhirError(422, "structure", "identifier.system and identifier.value must be strings")
    reference = (body.get("subject") or {}).get("reference")
    if not isinstance(reference, str) or not reference.startswith("Patient/"):
        raise FhirError(422, "required", "Observation.subject.reference must be 'Patient/<id>'")
    patient_id = reference.removeprefix("Patient/")
    if not search.FHIR_ID.fullmatch(patient_id):
        raise FhirError(422, "value", "Observation.subject.reference must be 'Patient/<id>' with a FHIR id")
    effective_text = body.get("effectiveDateTime")
    if not isinstance(effective_text, str) or "T" not in effective_text:
        raise FhirError(422, "required", "effectiveDateTime with a time and an offset is required")
    try:
        effective = dt.datetime.fromisoformat(effective_text.replace("Z", "+00:00"))
    except ValueError:
        raise FhirError(422, "value", "effectiveDateTime is not a valid dateTime") from None
    if effective.tzinfo is None:
        raise FhirError(422, "value", "effectiveDateTime needs a time-zone offset such as +08:00")
    codings = ((body.get("code") or {}).get("coding")) or []
    loinc = [c.get("code") for c in codings if isinstance(c, dict) and c.get("system") == search.LOINC and c.get("code")]
    if not loinc:
        raise FhirError(422, "required", "Observation.code needs a LOINC coding (system http://loinc.org)")
    return body, ident["system"], ident["value"], patient_id, effective, loinc[0]


def parse_observation_body(raw: bytes, state) -> dict:
    """Strict JSON, storable strings, no clear identifiers: the checks before FHIR validation."""
    try:
        body = parse_strict_json(raw, max_depth=state.config.max_json_depth)
    except JsonRefused as exc:
        raise FhirError(400, "structure", str(exc)) from None
    try:
        strings = list(iter_strings(body))
    except ValueError as exc:
        raise FhirError(413, "too-costly", str(exc)) from None
    for text in strings:
        problem = bad_string(text)
        if problem:
            raise FhirError(400, "structure", f"a string in the resource contains {problem}")
    found = state.privacy.problem_in(strings)
    if found:
        # Refuse rather than store: this service holds pseudonyms only, and we must not echo it.
        raise FhirError(422, "security", f"the resource carries what looks like {found} in clear; refer to "
                                         "patients by their pseudonymous Patient id only")  # fmt: skip
    return body


@router.post(
    "/fhir/Observation", summary="Create an Observation (idempotent on identifier)",
    response_class=FhirResponse, status_code=201,
    responses={
        201: doc(Resource, "created; Location names it"),
        200: doc(Resource, "the same identifier and content were posted before: the existing resource"),
        409: doc(OperationOutcome, "the identifier is already used by a different Observation"),
        415: doc(OperationOutcome, "the body is not application/fhir+json or application/json"),
        422: doc(OperationOutcome, "not a valid Observation, or subject unknown"),
        **{k: ERRORS[k] for k in (400, 401, 403, 413, 500)},
    },
    openapi_extra={"requestBody": {"required": True, "content": {
        FHIR_JSON: {"schema": OBSERVATION_BODY_SCHEMA},
        "application/json": {"schema": OBSERVATION_BODY_SCHEMA},
    }}},
)  # fmt: skip
async def create_observation(request: Request, principal: Principal = requires("system/Observation.write")) -> Response:
    state = request.app.state
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (FHIR_JSON, "application/json"):
        raise FhirError(415, "not-supported", f"Content-Type must be {FHIR_JSON} (or application/json)")
    raw = await request.body()
    body = parse_observation_body(raw, state)
    loop = asyncio.get_running_loop()
    try:
        # Validation is CPU work of unbounded cost in principle: off the event loop, in a bounded pool.
        checked = await asyncio.wait_for(loop.run_in_executor(state.validation_pool, _validate_observation, body),
                                         VALIDATION_TIMEOUT_S)  # fmt: skip
    except TimeoutError:
        raise FhirError(422, "too-costly", "the resource took too long to validate; simplify it") from None
    resource, system, value, patient_id, effective, loinc = checked
    content = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    content_sha = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    new_id = str(uuid.uuid5(CREATED_OBSERVATION_NS, f"{system}|{value}"))
    now = dt.datetime.now(dt.timezone.utc)
    stored = {"resourceType": "Observation", "id": new_id,
              "meta": {"versionId": "1", "lastUpdated": now.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
              **{k: v for k, v in content.items() if k != "resourceType"}}  # fmt: skip
    stored_text = json.dumps(stored, ensure_ascii=False, separators=(",", ":"))
    location = f"{base_url(request)}/fhir/Observation/"
    async with state.pool.connection() as conn:
        async with conn.transaction():
            exists = await (await conn.execute("SELECT 1 FROM fhir.patient WHERE id = %s", (patient_id,))).fetchone()
            if exists is None:
                raise FhirError(422, "not-found", "Observation.subject refers to no known Patient")
            # ON CONFLICT DO NOTHING against the unique identifier: of any number of concurrent
            # identical POSTs exactly one inserts; the others see its row below.
            inserted = await (await conn.execute(
                "INSERT INTO fhir.observation (id, patient_id, code, effective, resource, origin,"
                " identifier_system, identifier_value, content_sha256)"
                " VALUES (%s, %s, %s, %s, %s, 'api', %s, %s, %s) ON CONFLICT DO NOTHING RETURNING seq",
                (new_id, patient_id, loinc, effective, stored_text, system, value, content_sha),
            )).fetchone()  # fmt: skip
        if inserted is None:
            row = await (await conn.execute(
                "SELECT id, resource::text, content_sha256 FROM fhir.observation"
                " WHERE identifier_system = %s AND identifier_value = %s",
                (system, value),
            )).fetchone()  # fmt: skip
            if row is None or row[2] != content_sha:
                raise FhirError(409, "duplicate", "this identifier already names a different Observation")
            request.state.audit_ids = [row[0]]
            return FhirResponse(row[1], 200, {"Location": f"{location}{row[0]}/_history/1"})
    request.state.audit_ids = [new_id]
    on_created = state.on_created
    if on_created is not None:
        try:
            await loop.run_in_executor(None, on_created, {"seq": inserted[0], "id": new_id, "resource": stored})
        except Exception as exc:  # the Observation is committed; the outbox column lets a later sync retry
            log.warning("feature-lake hand-off failed for a created Observation: %s", type(exc).__name__)
    return FhirResponse(stored_text, 201, {"Location": f"{location}{new_id}/_history/1"})
