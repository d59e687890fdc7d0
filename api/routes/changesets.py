"""The log of legal acts, and editing the map through change sets."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import Editor
from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES, ApiError
from api.operations import parse_change_set
from api.requests import read_json
from api.schemas import ChangeSetDetail, ChangeSetLog, ChangeSetReceipt, ErrorResponse
from domain.errors import InvalidChangeSet
from domain.register import Receipt
from jurisdictions.bootstrap import Services

router = APIRouter(tags=["change sets"])

WRITE_ERRORS: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    401: {"description": "No valid token", "model": ErrorResponse},
    403: {"description": "The token may only read", "model": ErrorResponse},
    409: {"description": "A unit it read was changed meanwhile; retry", "model": ErrorResponse},
    413: {"description": "Body too large", "model": ErrorResponse},
    415: {"description": "Not application/json", "model": ErrorResponse},
}


@router.get(
    "/v1/changesets",
    response_model=ChangeSetLog,
    summary="The log of legal acts, most recently recorded first",
    responses=ERROR_RESPONSES,
)
def list_change_sets(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ChangeSetLog:
    """Each with its effective date, actor, reason, document and the units it changed."""
    page = services.queries.change_sets(limit, offset)
    return ChangeSetLog.model_validate({"total": page.total, "change_sets": page.items})


@router.get(
    "/v1/changesets/{change_set_id}",
    response_model=ChangeSetDetail,
    summary="One legal act with its operations",
    responses={
        **ERROR_RESPONSES,
        404: {"description": "No such change set", "model": ErrorResponse},
    },
)
def get_change_set(
    services: ServicesDep, change_set_id: Annotated[uuid.UUID, Path(description="Its id.")]
) -> ChangeSetDetail:
    """Operations are listed without their geometries."""
    found = services.queries.change_set(str(change_set_id))
    if found is None:
        raise ApiError(
            status.HTTP_404_NOT_FOUND, "change_set_not_found", f"no change set {change_set_id}"
        )
    return ChangeSetDetail.model_validate(found)


def _projected(services: Services, receipt: Receipt) -> tuple[int | None, bool]:
    """Wait until the read model shows the change set (read your writes)."""
    timeout = services.settings.read_your_writes_timeout
    position = receipt.position
    if position is None:
        # A replay: the first request stored it; find its position in the log.
        deadline = time.monotonic() + timeout
        while position is None and time.monotonic() < deadline:
            found = services.queries.change_set(str(receipt.id))
            if found is not None:
                return int(found["position"]), True
            time.sleep(0.02)
        return None, False
    return position, services.worker.wait_for(position, timeout)


@router.post(
    "/v1/changesets",
    response_model=ChangeSetReceipt,
    status_code=status.HTTP_201_CREATED,
    summary="Apply a change set (editor token)",
    responses={
        **WRITE_ERRORS,
        200: {
            "description": "Dry run, or a replay of an earlier Idempotency-Key",
            "model": ChangeSetReceipt,
        },
        202: {
            "description": "Stored, but the maps did not show it in time",
            "model": ChangeSetReceipt,
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ChangeSetBody"}}
            },
        }
    },
)
async def post_change_set(
    request: Request,
    response: Response,
    services: ServicesDep,
    editor: Editor,
    dry_run: Annotated[bool, Query(description="Check and report; store nothing.")] = False,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="Retries with the same key store nothing twice."),
    ] = None,
) -> ChangeSetReceipt:
    """Checked as a whole against every rule; 422 lists every problem and stores nothing.

    Answers 201 once the projections show the change, so a lookup right after sees it.
    """
    body = await read_json(request)
    try:
        change_set = await run_in_threadpool(parse_change_set, body)
    except InvalidChangeSet as exc:
        if exc.partial is not None:
            exc.problems.extend(
                await run_in_threadpool(
                    services.register.check_operations, exc.partial, actor=editor.actor
                )
            )
        raise
    receipt = await run_in_threadpool(
        services.register.apply_change_set,
        change_set,
        actor=editor.actor,
        idempotency_key=idempotency_key,
        dry_run=dry_run,
    )
    if dry_run:
        response.status_code = status.HTTP_200_OK
        return ChangeSetReceipt(
            id=None,
            events=receipt.events,
            position=None,
            units=list(receipt.units),
            dry_run=True,
            projected=False,
        )
    position, projected = await run_in_threadpool(_projected, services, receipt)
    if position is not None:
        services.reads.wrote(position)
    if receipt.replayed:
        response.status_code = status.HTTP_200_OK
    elif not projected:
        response.status_code = status.HTTP_202_ACCEPTED
    return ChangeSetReceipt(
        id=receipt.id,
        events=receipt.events,
        position=position,
        units=list(receipt.units),
        replayed=receipt.replayed,
        projected=projected,
    )
