"""Helpers several route modules share: checks of common parameters, write answers.

Routes import these from here, never from a sibling route.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import shapely
from fastapi import status
from shapely.geometry import mapping

from api import error_codes as codes
from api.errors import ERROR_RESPONSES, ApiError
from api.schemas import ErrorResponse
from domain.errors import Problem, UnitNotFound
from domain.geometry import COORDINATE_DECIMALS
from domain.repair import RepairOptions, RepairOptionsError
from jurisdictions.bootstrap import Services
from jurisdictions.commands import WriteOutcome

#: The error responses of every write route, for the OpenAPI document.
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {"description": "No valid token", "model": ErrorResponse},
    403: {"description": "The token may only read", "model": ErrorResponse},
    409: {
        "description": "Someone else changed the same units or family meanwhile (or since "
        "`based_on`): the message and details name the change set; reload and edit again",
        "model": ErrorResponse,
    },
    413: {"description": "Body too large", "model": ErrorResponse},
    415: {"description": "Not application/json", "model": ErrorResponse},
}


def write_status(outcome: WriteOutcome) -> int:
    """The contract's rule for every write: 201 only once the read model shows it; 202 when it
    was stored but not visible in time (the body's `position` is what to send back as
    ``X-Min-Position``); 200 for a dry run or a replay of an earlier Idempotency-Key."""
    if outcome.dry_run or outcome.replayed:
        return status.HTTP_200_OK
    if outcome.visible:
        return status.HTTP_201_CREATED
    return status.HTTP_202_ACCEPTED


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
        raise ApiError.of(codes.BBOX_INVALID, problem, [{"location": where, "message": problem}])
    assert len(values) == 4
    return values[0], values[1], values[2], values[3]


def check_level(services: Services, level: str | None, where: str = "query.level") -> None:
    """A 422 for a level the register does not have."""
    if level is not None and level not in services.settings.level_scheme:
        names = ", ".join(services.settings.level_scheme.names)
        raise ApiError.of(
            codes.LEVEL_UNKNOWN,
            f"unknown level {level!r}; levels are {names}",
            [{"location": where, "message": f"unknown level {level!r}"}],
        )


def before_register(
    services: Services, day: dt.date, as_recorded: dt.datetime | None = None
) -> str | None:
    """The `hint` of an answer on `day`: set when the register (as known at `as_recorded`)
    begins after it (its first unit's first day), so that an empty answer is not read as
    "outside every unit"."""
    first = services.lookup_service.first_day(as_recorded)
    if first is None:
        if as_recorded is not None:
            return f"nothing was recorded by {as_recorded.isoformat()}"
        return "the register is empty: nothing is recorded on any date yet"
    if day < first:
        return (
            f"the register begins on {first}: nothing is recorded before that date, "
            "so an empty answer here does not mean outside every unit"
        )
    return None


def require_unit(services: Services, code: str) -> None:
    """A 404 (`UnitNotFound`, answered by the one handler) for a code never registered."""
    if not services.queries.unit_exists(code):
        raise UnitNotFound(code)


#: A plain decimal number of m² (no exponent, sign, underscores or spaces), as forms send it.
_PLAIN_DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{1,15})?")


def repair_options(repairs: list[str], sliver_m2: str | float | int, where: str) -> RepairOptions:
    """The repairs an import (`where`="form") or a change set ("body") asks for, checked at
    the edge: an unknown repair is a 422 `repair_unknown`, a `sliver_m2` that is not a plain
    number >= 0 a 422 `sliver_m2_invalid`, each naming the field."""
    if isinstance(sliver_m2, str) and not _PLAIN_DECIMAL.fullmatch(sliver_m2):
        raise ApiError.of(
            codes.SLIVER_M2_INVALID,
            f"sliver_m2 must be a plain number of m² >= 0, not {sliver_m2[:40]!r}",
            [{"location": f"{where}.sliver_m2"}],
        )
    try:
        return RepairOptions.of(repairs, sliver_m2)
    except RepairOptionsError as exc:
        error = codes.REPAIR_UNKNOWN if exc.code == "repair_unknown" else codes.SLIVER_M2_INVALID
        raise ApiError.of(error, str(exc), [{"location": f"{where}.{exc.field}"}]) from exc


def geojson(geometry: Any) -> dict[str, Any] | None:
    """A shapely geometry as GeoJSON, coordinates to the stored precision (7 decimals), only
    its polygons where it has any (an overlay result may carry lines and points along); None
    for an empty or missing one."""
    if geometry is None or geometry.is_empty:
        return None
    parts = shapely.get_parts(geometry)
    while any(p.geom_type in ("MultiPolygon", "GeometryCollection") for p in parts):
        parts = shapely.get_parts(parts)
    polygons = [p for p in parts if p.geom_type == "Polygon" and not p.is_empty]
    shape = shapely.multipolygons(polygons) if polygons else geometry
    rounded = shapely.transform(shape, lambda xy: xy.round(COORDINATE_DECIMALS))
    return dict(mapping(rounded))


def problem_json(problem: Problem, with_geometry: bool) -> dict[str, Any]:
    """A problem as the 422 lists it; with `with_geometry` its area as GeoJSON too (`geometry`,
    for an editor to draw; absent where the problem has no area)."""
    out = problem.as_dict()
    if with_geometry and (shape := geojson(problem.geometry)) is not None:
        out["geometry"] = shape
    return out
