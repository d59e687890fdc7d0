"""Units on a date, one unit, its history and lineage, and what changed between two dates."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES, ApiError
from api.params import BboxQuery, DateQuery, IsoDate, LevelQuery
from api.schemas import Changes, Lineage, UnitCollection, UnitFeature, UnitHistory
from jurisdictions.bootstrap import Services
from projections.queries import as_feature

router = APIRouter(tags=["units"])

CodePath = Annotated[str, Path(max_length=64, description="A unit's code, e.g. 440309.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: ERROR_RESPONSES[422] | {"description": "No unit with this code"}
}


def parse_bbox(
    text: str | None, where: str = "query.bbox"
) -> tuple[float, float, float, float] | None:
    """``west,south,east,north`` in degrees, or a 422 saying what is wrong with it."""
    if text is None or not text.strip():
        return None
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    problem = None
    if len(values) != 4:
        problem = "bbox must be four numbers: west,south,east,north"
    elif not all(v == v and abs(v) != float("inf") for v in values):
        problem = "bbox numbers must be finite"
    else:
        west, south, east, north = values
        if not (
            -180 <= west <= 180
            and -180 <= east <= 180
            and -90 <= south <= 90
            and -90 <= north <= 90
        ):
            problem = "bbox is outside lon -180..180 / lat -90..90"
        elif west > east or south > north:
            problem = "bbox must be west,south,east,north with west <= east and south <= north"
    if problem:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "bbox_invalid",
            problem,
            [{"location": where, "message": problem}],
        )
    assert len(values) == 4
    return values[0], values[1], values[2], values[3]


def check_level(services: Services, level: str | None, where: str = "query.level") -> None:
    """A 422 for a level the register does not have."""
    if level is not None and level not in services.settings.level_scheme:
        names = ", ".join(services.settings.level_scheme.names)
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "level_unknown",
            f"unknown level {level!r}; levels are {names}",
            [{"location": where, "message": f"unknown level {level!r}"}],
        )


def require_unit(services: Services, code: str) -> None:
    """A 404 for a code never registered."""
    if not services.queries.unit_exists(code):
        raise ApiError(status.HTTP_404_NOT_FOUND, "unit_not_found", f"no unit with code {code!r}")


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
    geometry: Annotated[bool, Query(description="Include geometries.")] = True,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> UnitCollection:
    """Ordered by code; `numberMatched` counts all matches, `limit`/`offset` page through."""
    check_level(services, level)
    day = date or dt.date.today()
    page = services.queries.units_on(
        day,
        level=level,
        parent=parent,
        bbox=parse_bbox(bbox),
        geometry=geometry,
        limit=limit,
        offset=offset,
    )
    return UnitCollection(
        date=day,
        numberMatched=page.total,
        numberReturned=len(page.items),
        features=[UnitFeature.model_validate(as_feature(item)) for item in page.items],
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
) -> UnitFeature:
    """404 if the code was never registered or the unit did not exist on that date."""
    day = date or dt.date.today()
    unit = services.queries.unit_on(code, day)
    if unit is None:
        require_unit(services, code)
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "unit_not_live",
            f"unit {code} did not exist on {day}; see /v1/units/{code}/history",
        )
    return UnitFeature.model_validate(as_feature(unit))


@router.get(
    "/v1/units/{code}/history",
    response_model=UnitHistory,
    summary="Every change to a unit",
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
def unit_history(services: ServicesDep, code: CodePath) -> UnitHistory:
    """Effective date, recorded time, operation, actor, reason, document and change set."""
    changes = services.queries.unit_history(code)
    if not changes:
        require_unit(services, code)
    return UnitHistory.model_validate({"code": code, "changes": changes})


@router.get(
    "/v1/units/{code}/lineage",
    response_model=Lineage,
    summary="A unit's predecessors and successors, transitively",
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
def unit_lineage(services: ServicesDep, code: CodePath) -> Lineage:
    """Each edge with the kind of change (split_off, merge, recode, regrid, ...) and its date."""
    require_unit(services, code)
    return Lineage.model_validate({"code": code, **services.queries.lineage(code)})


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
) -> Changes:
    """Units established, ended, redrawn (with the area gained and lost), renamed, transferred."""
    check_level(services, level)
    found: dict[str, Any] = services.queries.changes(from_, to, level)
    return Changes.model_validate({"from": from_, "to": to, "level": level, **found})
