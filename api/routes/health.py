"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.dependencies import ServicesDep
from api.schemas import ErrorResponse, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Answers without touching the database, so it measures the web stack alone."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness, with the projection lag in events",
    responses={503: {"model": ErrorResponse}},
)
def readyz(services: ServicesDep) -> Readiness | JSONResponse:
    """Ready when the database answers; `lag` is how many stored events the maps lack."""
    head = services.worker.head()
    position = services.worker.position()
    return Readiness.model_validate(
        {
            "status": "ready",
            "projection": {"position": position, "head": head, "lag": max(head - position, 0)},
            "lookup_index": services.lookup_index.status() if services.lookup_index else None,
        }
    )
