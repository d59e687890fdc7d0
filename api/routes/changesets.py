"""The log of legal acts, and editing the map through change sets."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from api import error_codes as codes
from api.auth import Editor
from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES, ApiError
from api.operations import REPAIR_FIELDS, make_operations_valid, parse_change_set
from api.params import Whole
from api.requests import read_json
from api.schemas import (
    ChangeSetDetail,
    ChangeSetLog,
    ChangeSetNote,
    ChangeSetReceipt,
    ErrorResponse,
    RepairEntry,
    UnitPreview,
)
from api.shared import WRITE_ERRORS, geojson, problem_json, repair_options, write_status
from domain.changesets import MAX_IDEMPOTENCY_KEY, idempotency_key_problem
from domain.commands import ChangeSetRequest
from domain.errors import IdempotencyKeyInvalid, InvalidChangeSet
from domain.geometry import from_wkb_hex
from domain.repair import Repair, RepairOptions
from domain.workspace import UnitAfter
from jurisdictions.bootstrap import Services
from jurisdictions.commands import submit_change_set

router = APIRouter(tags=["change sets"])


@router.get(
    "/v1/changesets",
    response_model=ChangeSetLog,
    summary="The log of legal acts, most recently recorded first",
    responses=ERROR_RESPONSES,
)
def list_change_sets(
    services: ServicesDep,
    limit: Annotated[Whole, Query(ge=1, le=1000)] = 100,
    offset: Annotated[Whole, Query(ge=0, le=10_000_000)] = 0,
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
        raise ApiError.of(codes.CHANGE_SET_NOT_FOUND, f"no change set {change_set_id}")
    return ChangeSetDetail.model_validate(found)


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
    problem_geometry: Annotated[
        bool,
        Query(
            description="In a 422, give each problem that has an area (an overlap, a gap, an "
            "overhang, a straddling child, a piece outside its unit) its `geometry` as GeoJSON, "
            "besides its `area_m2` and `location_point`, so an editor can draw it."
        ),
    ] = False,
    preview: Annotated[
        bool,
        Query(
            description="Answer with `preview`: each unit the change set changes as it stands "
            "on the effective date afterwards, with its GeoJSON geometry (in a 422 too, when the "
            "operations could be worked out), to draw the result of an edit."
        ),
    ] = False,
    based_on: Annotated[
        Whole | None,
        Query(
            ge=0,
            le=10**18,
            description="The log position of the map the edit was drawn on (the `position` of "
            "the newest change set in GET /v1/changesets when the editor loaded the map, or of "
            "the editor's last write). If another change set changed any unit this one changes, "
            "or its family, after that position, the answer is 409 `concurrent_change` naming "
            "it (a dry run too): reload and edit again.",
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            description=(
                "The client's name for this request, scoped to the editor: a retry with the "
                "same key and the same request stores nothing and answers 200 `replayed`; the "
                "same key with another request is a 422 `idempotency_key_reused`. 1 to "
                f"{MAX_IDEMPOTENCY_KEY} printable ASCII characters, not all spaces. A dry run "
                "never uses a key up."
            )
        ),
    ] = None,
) -> ChangeSetReceipt:
    """Checked as a whole against every rule; 422 lists every problem and stores nothing.

    Answers 201 once the projections show the change, so a lookup right after sees it; 202
    when it was stored but not visible in time (send `position` back as X-Min-Position).
    """
    if idempotency_key is not None and (problem := idempotency_key_problem(idempotency_key)):
        # Before the body is read: the header alone decides this.
        raise IdempotencyKeyInvalid(problem)
    body = await read_json(request)
    repair, made_valid = _repairs(body)
    change_set = await run_in_threadpool(_parse, services, body, editor.actor)
    try:
        outcome = await run_in_threadpool(
            submit_change_set,
            services,
            change_set,
            actor=editor.actor,
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            repair=repair,
            preview=preview,
            based_on=based_on,
        )
    except InvalidChangeSet as exc:
        made = [*made_valid, *exc.repairs]
        if not made and not problem_geometry and not preview:
            raise
        extra: dict[str, Any] = {}
        if made:
            # Refused even so: the answer still shows what the repairs did.
            extra["repairs"] = [r.as_dict() for r in made]
        if preview:
            extra["preview"] = [_preview(u).model_dump() for u in exc.preview or ()]
        raise ApiError.of(
            codes.INVALID_CHANGE_SET,
            str(exc),
            [problem_json(p, problem_geometry) for p in exc.problems],
            extra=extra,
        ) from exc
    response.status_code = write_status(outcome)
    receipt = outcome.receipt
    return ChangeSetReceipt(
        id=None if outcome.dry_run and not outcome.replayed else receipt.id,
        events=receipt.events,
        position=outcome.position,
        units=list(receipt.units),
        dry_run=outcome.dry_run,
        replayed=outcome.replayed,
        projected=outcome.visible,
        repairs=[RepairEntry(**r.as_dict()) for r in (*made_valid, *outcome.repairs)],
        preview=None if receipt.preview is None else [_preview(u) for u in receipt.preview],
        notes=[ChangeSetNote.model_validate(n.as_dict()) for n in receipt.notes],
    )


def _preview(unit: UnitAfter) -> UnitPreview:
    """A unit's after-state as the answer gives it."""
    version = unit.version
    if version is None:
        return UnitPreview(
            code=unit.code, level=unit.level, name=None, parent=None, ended=True, geometry=None
        )
    return UnitPreview(
        code=unit.code,
        level=unit.level,
        name=version.name,
        parent=version.parent,
        ended=False,
        geometry=geojson(from_wkb_hex(version.geometry)),
    )


def _repairs(body: Any) -> tuple[RepairOptions | None, list[Repair]]:
    """The body's repair options (taken out of it, checked at the edge: 422 `repair_unknown`
    or `sliver_m2_invalid`), and the `make_valid` repairs made to its geometries."""
    if not isinstance(body, dict) or not any(f in body for f in REPAIR_FIELDS):
        return None, []
    names = body.pop("repair", None)
    sliver = body.pop("sliver_m2", 0)
    if names is None:
        names = []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ApiError.of(
            codes.REPAIR_UNKNOWN,
            "repair must be a list of names: make_valid, clip_to_parent, snap_to_neighbours",
            [{"location": "body.repair"}],
        )
    if isinstance(sliver, bool) or not isinstance(sliver, int | float):
        raise ApiError.of(
            codes.SLIVER_M2_INVALID,
            "sliver_m2 must be a number of m² >= 0",
            [{"location": "body.sliver_m2"}],
        )
    options = repair_options(list(names), float(sliver), "body")
    made_valid = make_operations_valid(body) if options.make_valid else []
    return options, made_valid


def _parse(services: Services, body: Any, actor: str) -> ChangeSetRequest:
    """The request body as the register's request, parsed here at the edge.

    When some operations fail to parse, the register still checks those that did, so the
    editor gets every problem at once.
    """
    try:
        return parse_change_set(body, services.register.rules.code_pattern)
    except InvalidChangeSet as exc:
        if exc.partial is not None:
            exc.problems.extend(services.register.check_operations(exc.partial, actor=actor))
        raise
