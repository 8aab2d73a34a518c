"""One APIRouter per resource (FastAPI's "bigger applications" layout); ``create_app`` includes them."""

from workbench.clinical.service.routers import auth, metadata, observation, patient

ROUTERS = (auth.router, metadata.router, patient.router, observation.router)

__all__ = ["ROUTERS"]
