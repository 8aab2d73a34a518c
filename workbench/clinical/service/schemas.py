"""What the OpenAPI document says the routes answer (documentation models only: responses are built
as JSON text, never through these models)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from workbench.clinical.service.errors import FHIR_JSON

OBSERVATION_STATUS = ("registered", "preliminary", "final", "amended", "corrected", "cancelled",
                      "entered-in-error", "unknown")  # fmt: skip


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class Issue(_Loose):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str
    diagnostics: str | None = None


class OperationOutcome(_Loose):
    """Every error of the FHIR routes."""

    resourceType: Literal["OperationOutcome"]
    issue: list[Issue]


class Resource(_Loose):
    resourceType: str
    id: str


class BundleLink(_Loose):
    relation: str
    url: str


class BundleEntry(_Loose):
    fullUrl: str | None = None
    resource: dict
    search: dict[str, str] | None = None


class Bundle(_Loose):
    """A searchset page: ``total`` matches in all, this page's entries, a ``next`` link if more."""

    resourceType: Literal["Bundle"]
    type: Literal["searchset"]
    total: int
    link: list[BundleLink]
    entry: list[BundleEntry] | None = None


class CapabilityStatement(_Loose):
    resourceType: Literal["CapabilityStatement"]
    status: str
    fhirVersion: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class OAuthErrorBody(BaseModel):
    error: str
    error_description: str | None = None


class Me(BaseModel):
    name: str
    grant: str
    scopes: list[str]
    token_expires_at: int


class FhirResponse(JSONResponse):
    """JSON of media type ``application/fhir+json``; text or bytes pass through as already rendered.

    A JSONResponse subclass so that FastAPI documents the route's model as a JSON body.
    """

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode("utf-8")
        return super().render(content)


def fhir_response(body: str | bytes, status: int = 200, headers: dict[str, str] | None = None) -> FhirResponse:
    return FhirResponse(body, status_code=status, headers=headers)


def doc(model: type[BaseModel], description: str) -> dict:
    return {"model": model, "description": description}


ERRORS = {
    400: doc(OperationOutcome, "bad search parameter, malformed request, or Inactive user"),
    401: doc(OperationOutcome, "missing, malformed, expired, revoked or wrongly signed bearer token"),
    403: doc(OperationOutcome, "the token lacks the scope this route needs"),
    404: doc(OperationOutcome, "no such resource"),
    405: doc(OperationOutcome, "method not allowed"),
    413: doc(OperationOutcome, "request body too large"),
    500: doc(OperationOutcome, "internal error"),
}
READ_ERRORS = {k: ERRORS[k] for k in (400, 401, 403, 404, 500)}
SEARCH_ERRORS = {k: ERRORS[k] for k in (400, 401, 403, 500)}

OBSERVATION_BODY_SCHEMA = {
    "type": "object",
    "required": ["resourceType", "status", "code", "subject", "effectiveDateTime", "identifier"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Observation"]},
        "identifier": {
            "type": "array",
            "items": {"type": "object", "properties": {"system": {"type": "string"}, "value": {"type": "string"}}},
        },
        "status": {"type": "string", "enum": list(OBSERVATION_STATUS)},
        "code": {"type": "object"},
        "subject": {"type": "object", "properties": {"reference": {"type": "string"}}},
        "effectiveDateTime": {"type": "string"},
        "valueQuantity": {"type": "object"},
        "component": {"type": "array", "items": {"type": "object"}},
    },
    "example": {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:example:device-readings", "value": "reading-0001"}],
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": "Patient/<pseudonym>"},
        "effectiveDateTime": "2026-10-01T07:30:00+08:00",
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    },
}  # fmt: skip


def query_parameters(*specs: tuple[str, str, bool] | tuple[str, str, bool, list[str]]) -> dict:
    """OpenAPI ``parameters`` for a search route, given as (name, description, repeatable[, enum]).

    The search handlers read ``request.query_params`` themselves (strict or lenient handling needs the
    raw list), so the parameters are documented here rather than declared in the signature, where
    FastAPI would also parse and validate each one per request (about a millisecond per search).
    """
    out = []
    for name, description, repeatable, *enum in specs:
        item: dict = {"type": "string"}
        if enum:
            item["enum"] = enum[0]
        schema = {"type": "array", "items": item} if repeatable else item
        out.append({"name": name, "in": "query", "required": False, "description": description, "schema": schema,
                    **({"style": "form", "explode": True} if repeatable else {})})
    return {"parameters": out}


COMMON_SEARCH_PARAMETERS = (
    ("_count", "page size 0..max (0: the total only)", False),
    ("_summary", "count: the total only", False),
    ("_cursor", "from the Bundle's next link", False),
)
