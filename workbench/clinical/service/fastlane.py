"""The fast lane: the four hot FHIR GET routes answered without FastAPI's router and dependency solver.

A Patient read used to spend more CPU in the framework than in the database: matching the request against
every route in turn, building and solving the dependency graph of ``requires(...)`` (a ``Security``
dependency with an OAuth2 scheme), validating parameters, and passing through four more middleware
layers. For ``GET /fhir/Patient/{id}``, ``GET /fhir/Observation/{id}``, ``GET /fhir/Patient`` and
``GET /fhir/Observation`` this pure ASGI layer calls the *same* handler functions with the *same* auth
check (:func:`.deps.authorize`) and maps errors through the *same* function as the app's exception
handlers. It sits inside :class:`.guard.RequestGuard`, CORS and the body limit, so request ids, the
``Host`` and URL checks, security headers, the one-line 500 and the audit record are unchanged.

Anything else (other methods, other paths, a trailing slash) goes on to FastAPI. The FastAPI routes stay
registered: they define the OpenAPI document, and with ``create_app(..., fast_lane=False)`` they answer
these requests too; a test checks both give the same answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from workbench.clinical.service.deps import authorize
from workbench.clinical.service.routers import observation, patient

__all__ = ["FastLane"]

# path prefix -> (scope, SQL, resource type, the FastAPI route template the audit record names)
_READS = {
    "/fhir/Patient/": ("system/Patient.read", patient.READ_SQL, "Patient", "/fhir/Patient/{patient_id}"),
    "/fhir/Observation/": ("system/Observation.read", observation.READ_SQL, "Observation",
                           "/fhir/Observation/{observation_id}"),
}  # fmt: skip
_SEARCHES = {
    "/fhir/Patient": ("system/Patient.read", patient.search_patients),
    "/fhir/Observation": ("system/Observation.read", observation.search_observations),
}


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value.decode("latin-1")
    return None


class FastLane:
    """Pure ASGI middleware; ``fastapi_app`` is the application (its state), ``on_error`` maps handler errors."""

    def __init__(self, app: ASGIApp, fastapi_app, on_error: Callable[[Exception], Response | None]) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.on_error = on_error
        self._routes: dict[str, object] | None = None

    def _route(self, template: str):
        """The FastAPI route of ``template`` (for ``scope["route"]``, which the audit record reads)."""
        if self._routes is None:  # the routers are included without a prefix, so their paths are the templates
            self._routes = {r.path: r for router in (patient.router, observation.router) for r in router.routes
                            if "GET" in r.methods}  # fmt: skip
        return self._routes[template]

    def _handler(self, scope: Scope) -> Callable[[Request], Awaitable[Response]] | None:
        path = scope["path"]
        search = _SEARCHES.get(path)
        if search is not None:
            scope["route"] = self._route(path)
            needed, handler = search

            async def run_search(request: Request) -> Response:
                return await handler(request, authorize(request, _authorization(request.scope), needed))

            return run_search
        cut = path.rfind("/") + 1
        read = _READS.get(path[:cut])
        if read is None or cut == len(path):
            return None
        needed, sql, resource_type, template = read
        raw_id = path[cut:]
        scope["route"] = self._route(template)

        async def run_read(request: Request) -> Response:
            authorize(request, _authorization(request.scope), needed)
            return await patient.read_resource(request, sql, resource_type, raw_id)

        return run_read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = None
        if scope["type"] == "http" and scope["method"] == "GET" and self.fastapi_app.state.fast_lane:
            handler = self._handler(scope)
        if handler is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.fastapi_app  # what Request.app reads (FastAPI sets it on its own path)
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except Exception as exc:
            response = self.on_error(exc)
            if response is None:
                raise  # unexpected: the guard answers 500 with one log line
        await response(scope, receive, send)
