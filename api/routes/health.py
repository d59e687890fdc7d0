"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from api import error_codes as codes
from api.dependencies import ServicesDep
from api.errors import ApiError
from api.schemas import NotReady, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Answers without touching the database, so it measures the web stack alone."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness, with the projection lag in events",
    responses={
        503: {
            "model": NotReady,
            "description": "The projection is stalled at an event (`projection_stalled`), or "
            "the database is unavailable (`database_unavailable`).",
        }
    },
)
def readyz(services: ServicesDep) -> Readiness:
    """Ready when the database answers and the projection is not stuck; `lag` is how many
    stored events the maps lack.

    A stalled projection (an event it cannot apply, recorded by whichever process projects)
    is a 503 `projection_stalled` naming the event's position, topic and reason, since when,
    and the head and lag: the read model stops before that event until it is fixed.
    """
    head = services.worker.head()
    position = services.worker.position()
    stalled = services.worker.stalled()
    readiness = Readiness.model_validate(
        {
            "status": "ready" if stalled is None else "stalled",
            "projection": {
                "position": position,
                "head": head,
                "lag": max(head - position, 0),
                "stalled": stalled.as_dict() if stalled is not None else None,
            },
            "lookup_index": services.lookup_index.status() if services.lookup_index else None,
        }
    )
    if stalled is None:
        return readiness
    lag = max(head - position, 0)
    body = readiness.model_dump(mode="json")
    shown = body["projection"]["stalled"]  # dates as the body writes them
    message = (
        f"the projection is stalled at event {stalled.position} ({stalled.event_topic}) "
        f"since {shown['since']}: {stalled.reason}; the read model is at {position}, "
        f"{lag} events behind the head {head}"
    )
    detail = {
        "location": "projection",
        "message": stalled.reason,
        **shown,
        "head": head,
        "lag": lag,
    }
    raise ApiError.of(codes.PROJECTION_STALLED, message, [detail], extra=body)
