"""``GET /fhir/metadata``: the CapabilityStatement, rendered once per app (it only changes with the config)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from workbench.clinical.service.schemas import ERRORS, CapabilityStatement, FhirResponse, doc

router = APIRouter(tags=["fhir"])


@router.get("/fhir/metadata", summary="CapabilityStatement", response_class=FhirResponse,
            responses={200: doc(CapabilityStatement, "what this server implements"), 500: ERRORS[500]})  # fmt: skip
async def metadata(request: Request) -> Response:
    return FhirResponse(request.app.state.capability_json)
