"""The map pages: folium HTML built per request from the read model, assets served locally."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES
from api.fields import IsoDate
from api.params import DateQuery, LevelQuery
from api.shared import check_level
from domain.errors import UnitNotFound
from jurisdictions.bootstrap import Services
from maps.assets import STATIC_DIR, STATIC_PATH
from maps.choropleth import choropleth_page
from maps.common import PageOptions
from maps.compare import compare_page
from maps.data import ReadModelSource
from maps.edit import edit_page
from maps.layers import extent, layers_page
from maps.unit import UnitUnknown, unit_page

router = APIRouter(tags=["maps"])
router.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="maps-static")

HTML: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/html": {"schema": {"type": "string"}}},
        "description": "The page (HTML; its scripts, styles and tiles all come from this service)",
    }
}
#: The pages answer errors in JSON like every other route (not in the pages' text/html).
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {
        "description": response["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    for code, response in ERROR_RESPONSES.items()
    if code in (422, 503)
}
CACHE = {"Cache-Control": "no-cache"}


def _options(services: Services, request: Request) -> PageOptions:
    return PageOptions(
        levels=services.settings.level_scheme.names,
        tile_url=services.settings.map_tile_url,
        prefix=str(request.scope.get("root_path", "")).rstrip("/"),
        today=services.settings.today(),
    )


def _source(services: Services) -> ReadModelSource:
    return ReadModelSource(services.queries, services.features)


@router.get(
    "/maps",
    response_class=HTMLResponse,
    summary="A map of the layers on a date, with popups, search and a date picker",
    responses={**HTML, **ERRORS},
)
def layers_map(
    request: Request, services: ServicesDep, date: DateQuery = None, level: LevelQuery = None
) -> HTMLResponse:
    """Levels as vector tiles with a layer control; `level` is the finest level drawn at first
    (the others can be ticked on). Click the map for the units and offices at that point."""
    check_level(services, level)
    day = date or services.settings.today()
    page = layers_page(_source(services), _options(services, request), day, level)
    return HTMLResponse(page, headers=CACHE)


@router.get(
    "/maps/compare",
    response_class=HTMLResponse,
    summary="Two dates side by side, changed units highlighted, the list of changes beside",
    responses={**HTML, **ERRORS},
)
def compare_map(
    request: Request,
    services: ServicesDep,
    before: Annotated[IsoDate, Query(description="The earlier date, YYYY-MM-DD.")],
    after: Annotated[IsoDate, Query(description="The later date, YYYY-MM-DD.")],
) -> HTMLResponse:
    """Synchronised maps of the two dates; the changes are those of `/v1/changes`."""
    page = compare_page(_source(services), _options(services, request), before, after)
    return HTMLResponse(page, headers=CACHE)


@router.get(
    "/maps/edit",
    response_class=HTMLResponse,
    summary="The editing page: draw changes, see them checked as you go, submit a change set",
    responses={**HTML, **ERRORS, 404: {**ERRORS[422], "description": "No unit with this code"}},
)
def edit_map(
    request: Request,
    services: ServicesDep,
    date: DateQuery = None,
    unit: Annotated[
        str | None,
        Query(max_length=64, description="A unit's code to open the page on, e.g. 440306."),
    ] = None,
) -> HTMLResponse:
    """The page itself is open; what it submits needs an editor token (asked for on the page,
    kept in the tab's sessionStorage, sent as `Authorization: Bearer`). 404 for a `unit` never
    registered."""
    if unit is not None and not services.queries.unit_exists(unit):
        raise UnitNotFound(unit)
    day = date or services.settings.today()
    page = edit_page(_options(services, request), day, unit)
    return HTMLResponse(page, headers=CACHE)


@router.get(
    "/maps/units/{code}",
    response_class=HTMLResponse,
    summary="One unit and its lineage on a time slider",
    responses={**HTML, **ERRORS, 404: {**ERRORS[422], "description": "No unit with this code"}},
)
def unit_map(
    request: Request,
    services: ServicesDep,
    code: Annotated[str, Path(max_length=64, description="A unit's code, e.g. 440309.")],
    date: Annotated[
        IsoDate | None,
        Query(
            description="YYYY-MM-DD: where the slider starts. Default: today, or the "
            "unit's last day if it has ended."
        ),
    ] = None,
) -> HTMLResponse:
    """Every version of the unit, its predecessors and successors, from its first version on."""
    try:
        page = unit_page(_source(services), _options(services, request), code, date)
    except UnitUnknown:
        raise UnitNotFound(code) from None
    return HTMLResponse(page, headers=CACHE)


@router.get(
    "/maps/jobs/{job_id}",
    response_class=HTMLResponse,
    summary="An aggregate job's counts per unit as a choropleth, two dates side by side",
    responses={**HTML, **ERRORS},
)
def job_map(
    request: Request,
    services: ServicesDep,
    job_id: Annotated[str, Path(pattern="^[0-9a-f]{16}$", description="A job's id.")],
) -> HTMLResponse:
    """The page holds no counts: its script fetches them with the owner's token, given as
    `#token=...` after the address or typed into the page (docs/jobs.md)."""
    options = _options(services, request)
    bounds = extent(_source(services), options.today, options.levels)
    return HTMLResponse(choropleth_page(options, job_id, bounds), headers=CACHE)
