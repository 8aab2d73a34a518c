"""``/fhir/Patient``: read and search (gender, birthdate). Pseudonymous Patients only: no name, no national id."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from workbench.clinical.service import _search as search
from workbench.clinical.service.deps import Principal, requires
from workbench.clinical.service.errors import FhirError
from workbench.clinical.service.schemas import (
    COMMON_SEARCH_PARAMETERS,
    READ_ERRORS,
    SEARCH_ERRORS,
    Bundle,
    FhirResponse,
    Resource,
    doc,
    query_parameters,
)
from workbench.clinical.service.searchset import SearchQuery, parse_common, run_searchset

router = APIRouter(tags=["fhir"])
READ_SQL = "SELECT resource::text FROM fhir.patient WHERE id = %s"


async def read_resource(request: Request, sql: str, resource_type: str, raw_id: str) -> Response:
    """The FHIR read interaction: one stored resource by id (served as stored), or a 404 OperationOutcome."""
    ident = search.parse_id("id", raw_id)
    async with request.app.state.pool.connection() as conn:
        row = await (await conn.execute(sql, (ident,))).fetchone()
    if row is None:
        raise FhirError(404, "not-found", f"no {resource_type} with this id")
    request.state.audit_ids = [ident]
    return FhirResponse(row[0])


@router.get("/fhir/Patient/{patient_id}", summary="Read a Patient", response_class=FhirResponse,
            responses={200: doc(Resource, "the Patient"), **READ_ERRORS})  # fmt: skip
async def read_patient(request: Request, patient_id: str, principal: Principal = requires("system/Patient.read")) -> Response:
    return await read_resource(request, READ_SQL, "Patient", patient_id)


@router.get("/fhir/Patient", summary="Search Patients", response_class=FhirResponse,
            responses={200: doc(Bundle, "searchset Bundle"), **SEARCH_ERRORS},
            openapi_extra=query_parameters(("gender", "male | female | other | unknown", False),
                                           ("birthdate", "e.g. ge1960-01-01 (repeatable)", True),
                                           *COMMON_SEARCH_PARAMETERS))  # fmt: skip
async def search_patients(request: Request, principal: Principal = requires("system/Patient.read")) -> Response:
    params, ignored = parse_common(request, {"gender", "birthdate"}, {"birthdate"})
    query = SearchQuery()
    raw: dict[str, str | None] = {"_count": None, "_summary": None, "_cursor": None}
    for name, value in params:
        if name in raw:
            raw[name] = value
        elif name == "gender":
            if value not in search.GENDERS:
                raise search.SearchError("gender", f"expected one of {', '.join(search.GENDERS)}")
            query.add("gender = %s", value)
            query.used.append((name, value))
        else:  # birthdate
            bound = search.parse_date("birthdate", value, allow_time=False)
            day = search.DateBound(bound.prefix, bound.start.date(), bound.end.date())
            query.add(*search.date_condition("birth_date", day))
            query.used.append((name, value))
    bundle, ids = await run_searchset(request, resource_type="Patient", table="fhir.patient", query=query, raw=raw,
                                      ignored=ignored, keys=("id",))  # fmt: skip
    request.state.audit_ids = ids
    return FhirResponse(bundle)
