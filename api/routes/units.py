"""Units on a date, one unit, its history and lineage, and what changed between two dates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api import error_codes as codes
from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES, ApiError
from api.fields import IsoDate
from api.params import BboxQuery, DateQuery, LevelQuery, RecordedQuery, Whole
from api.schemas import Changes, Lineage, UnitCollection, UnitFeature, UnitHistory
from api.shared import before_register, check_level, parse_bbox, require_unit
from projections.queries import as_feature

router = APIRouter(tags=["units"])

CodePath = Annotated[str, Path(max_length=64, description="A unit's code, e.g. 440309.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: ERROR_RESPONSES[422] | {"description": "No unit with this code"}
}


@router.get(
    "/v1/units",
    response_model=UnitCollection,
    summary="Units live on a date, as a GeoJSON FeatureCollection",
    responses=ERROR_RESPONSES,
)
def list_units(
    services: ServicesDep,
    level: LevelQuery = None,
    date: DateQuery = None,
    parent: Annotated[
        str | None, Query(max_length=64, description="Only children of this code.")
    ] = None,
    bbox: BboxQuery = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Name search: part of the Chinese name (西乡), or the start of the "
            "pinyin name or of one of its words (xixiang, baoan, Bao'an).",
        ),
    ] = None,
    geometry: Annotated[bool, Query(description="Include geometries.")] = True,
    limit: Annotated[Whole, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[Whole, Query(ge=0, le=10_000_000)] = 0,
    as_recorded: RecordedQuery = None,
) -> UnitCollection:
    """Ordered by code; `numberMatched` counts all matches, `limit`/`offset` page through.
    With `as_recorded`, the units as the register recorded them at that instant; on a date
    before the register begins, `hint` says so."""
    check_level(services, level)
    if q is not None and not q.strip():
        message = "q must hold a name or part of one, not only spaces"
        raise ApiError.of(
            codes.INVALID_REQUEST, message, [{"location": "query.q", "message": message}]
        )
    day = date or services.settings.today()
    page = services.queries.units_on(
        day,
        level=level,
        parent=parent,
        bbox=parse_bbox(bbox),
        as_recorded=as_recorded,
        geometry=geometry,
        limit=limit,
        offset=offset,
        q=q,
    )
    return UnitCollection(
        date=day,
        numberMatched=page.total,
        numberReturned=len(page.items),
        features=[UnitFeature.model_validate(as_feature(item)) for item in page.items],
        as_recorded=as_recorded,
        hint=before_register(services, day, as_recorded) if not page.total else None,
    )


@router.get(
    "/v1/units/{code}",
    response_model=UnitFeature,
    summary="One unit's version on a date, as a GeoJSON Feature with its offices",
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
def get_unit(
    services: ServicesDep,
    code: CodePath,
    date: DateQuery = None,
    as_recorded: RecordedQuery = None,
) -> UnitFeature:
    """404 if the code was never registered or the unit did not exist on that date (or, with
    `as_recorded`, was not recorded as existing then at that instant)."""
    day = date or services.settings.today()
    unit = services.queries.unit_on(code, day, as_recorded)
    if unit is None:
        require_unit(services, code)
        hint = before_register(services, day, as_recorded)
        raise ApiError.of(
            codes.UNIT_NOT_LIVE,
            f"unit {code} did not exist on {day}"
            + (f" ({hint})" if hint else "")
            + f"; see /v1/units/{code}/history",
        )
    return UnitFeature.model_validate(as_feature(unit))


@router.get(
    "/v1/units/{code}/history",
    response_model=UnitHistory,
    summary="Every change to a unit",
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
def unit_history(
    services: ServicesDep, code: CodePath, as_recorded: RecordedQuery = None
) -> UnitHistory:
    """Effective date, recorded time, operation, actor, reason, document and change set;
    with `as_recorded`, only the changes recorded by that instant."""
    changes = services.queries.unit_history(code, as_recorded)
    if not changes:
        require_unit(services, code)
    return UnitHistory.model_validate(
        {"code": code, "changes": changes, "as_recorded": as_recorded}
    )


@router.get(
    "/v1/units/{code}/lineage",
    response_model=Lineage,
    summary="A unit's predecessors and successors, transitively",
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
def unit_lineage(
    services: ServicesDep, code: CodePath, as_recorded: RecordedQuery = None
) -> Lineage:
    """Each edge with the kind of change (split_off, merge, recode, regrid, ...) and its date;
    with `as_recorded`, only the links recorded by that instant."""
    require_unit(services, code)
    found = services.queries.lineage(code, as_recorded)
    return Lineage.model_validate({"code": code, **found, "as_recorded": as_recorded})


@router.get(
    "/v1/changes",
    response_model=Changes,
    summary="What changed between two dates",
    responses=ERROR_RESPONSES,
)
def changes(
    services: ServicesDep,
    from_: Annotated[IsoDate, Query(alias="from", description="The earlier date, YYYY-MM-DD.")],
    to: Annotated[IsoDate, Query(description="The later date, YYYY-MM-DD.")],
    level: LevelQuery = None,
    as_recorded: RecordedQuery = None,
) -> Changes:
    """Units established, ended, redrawn (with the area gained and lost), renamed, transferred,
    each with its name and the act (change set, effective date, reason, document) that made
    the change. With `as_recorded`, the two maps as the register recorded them at that
    instant; with `from` before the register begins, `hint` says so."""
    if from_ > to:
        message = f"from ({from_}) is after to ({to})"
        raise ApiError.of(
            codes.PERIOD_INVALID, message, [{"location": "query.from", "message": message}]
        )
    check_level(services, level)
    found: dict[str, Any] = services.queries.changes(from_, to, level, as_recorded)
    return Changes.model_validate(
        {
            "from": from_,
            "to": to,
            "level": level,
            "as_recorded": as_recorded,
            "hint": before_register(services, from_, as_recorded),
            **found,
        }
    )
