"""Point-in-jurisdiction lookups: single, batch, and through time."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, status
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES, ApiError
from api.params import CrsQuery, DateQuery, LatQuery, LonQuery, RecordedQuery
from api.requests import read_json
from api.schemas import (
    BatchRequest,
    BatchResponse,
    BatchResult,
    HistoryPeriod,
    HistoryResponse,
    InputPoint,
    LookupResponse,
    Office,
    Point,
    Responsible,
    UnitRef,
)
from domain.coordinates import to_wgs84
from projections.lookup import OfficeHit, UnknownMatter

router = APIRouter(tags=["lookup"])


def check_lon_lat(lon: float, lat: float, where: str = "query") -> None:
    """Reject coordinates outside lon/lat ranges, spotting the common swapped-axes mistake."""
    details = []
    if not -180 <= lon <= 180:
        details.append({"location": f"{where}.lon", "message": f"lon {lon} is outside -180..180"})
    if not -90 <= lat <= 90:
        hint = " (did you swap lon and lat?)" if -90 <= lon <= 90 else ""
        details.append(
            {"location": f"{where}.lat", "message": f"lat {lat} is outside -90..90{hint}"}
        )
    if details:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "coordinates_out_of_range",
            "; ".join(d["message"] for d in details),
            details,
        )


def utc(instant: dt.datetime | None) -> dt.datetime | None:
    """Instants without a zone are read as UTC."""
    if instant is not None and instant.tzinfo is None:
        return instant.replace(tzinfo=dt.UTC)
    return instant


def office_model(hit: OfficeHit) -> Office:
    """The API shape of an office."""
    location = Point(lon=hit.location[0], lat=hit.location[1]) if hit.location else None
    return Office(
        kind=hit.kind,
        code=hit.code,
        name=hit.name,
        unit=hit.unit,
        address=hit.address or None,
        location=location,
        serves=list(hit.serves),
    )


@router.get(
    "/v1/lookup",
    response_model=LookupResponse,
    summary="Which units and offices are responsible for a point on a date",
    responses=ERROR_RESPONSES,
)
def lookup(
    services: ServicesDep,
    lon: LonQuery,
    lat: LatQuery,
    date: DateQuery = None,
    as_recorded: RecordedQuery = None,
    crs: CrsQuery = "wgs84",
    matter: Annotated[
        str | None,
        Query(max_length=100, description="A matter (事项) code: also answer who handles it."),
    ] = None,
) -> LookupResponse:
    """Every level's unit holding the point, top down, with their offices.

    A point outside every unit gets `"units": []`. A point exactly on a shared boundary
    resolves to one unit per level, flagged `on_boundary`.
    """
    check_lon_lat(lon, lat)
    wgs_lon, wgs_lat = to_wgs84(lon, lat, crs)
    day = date or dt.date.today()
    instant = utc(as_recorded)
    try:
        result = services.lookup.lookup(wgs_lon, wgs_lat, day, instant, matter)
    except UnknownMatter as exc:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "matter_not_found",
            str(exc),
            [{"location": "query.matter", "message": str(exc)}],
        ) from exc
    responsible = None
    if result.responsible is not None:
        r = result.responsible
        responsible = Responsible(
            matter=r.matter,
            name=r.name,
            office_kind=r.office_kind,
            level=r.level,
            office=office_model(r.office) if r.office else None,
        )
    return LookupResponse(
        date=day,
        point=Point(lon=round(wgs_lon, 7), lat=round(wgs_lat, 7)),
        input=InputPoint(lon=lon, lat=lat, crs=crs),
        as_recorded=instant,
        units=[UnitRef.model_validate(hit) for hit in result.units],
        offices=[office_model(o) for o in result.offices],
        responsible=responsible,
    )


@router.post(
    "/v1/lookup/batch",
    response_model=BatchResponse,
    summary="Look up many points (up to the batch limit) in one pass",
    responses={**ERROR_RESPONSES, 413: ERROR_RESPONSES[422]},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}
            },
        }
    },
)
async def lookup_batch(request: Request, services: ServicesDep) -> BatchResponse:
    """Results come back in input order, each with the point's `id`."""
    body = await read_json(request)
    batch = BatchRequest.model_validate(body) if isinstance(body, dict) else None
    if batch is None:
        raise ApiError(422, "body_not_object", "the body must be a JSON object")
    limit = services.settings.max_batch_points
    if len(batch.points) > limit:
        raise ApiError(
            status.HTTP_413_CONTENT_TOO_LARGE,
            "batch_too_large",
            f"{len(batch.points)} points; at most {limit} per batch",
            [{"location": "body.points", "message": f"at most {limit} points"}],
        )
    for index, point in enumerate(batch.points):
        check_lon_lat(point.lon, point.lat, f"body.points[{index}]")
    coordinates = [to_wgs84(p.lon, p.lat, batch.crs) for p in batch.points]
    day = batch.date or dt.date.today()
    hits = await run_in_threadpool(services.lookup.batch, coordinates, day, utc(batch.as_recorded))
    return BatchResponse(
        date=day,
        results=[
            BatchResult(id=point.id, units=[UnitRef.model_validate(h) for h in found])
            for point, found in zip(batch.points, hits, strict=True)
        ],
    )


@router.get(
    "/v1/lookup/history",
    response_model=HistoryResponse,
    summary="A point's jurisdictions through time",
    responses=ERROR_RESPONSES,
)
def lookup_history(
    services: ServicesDep, lon: LonQuery, lat: LatQuery, crs: CrsQuery = "wgs84"
) -> HistoryResponse:
    """Periods during which the same units held the point, oldest first."""
    check_lon_lat(lon, lat)
    wgs_lon, wgs_lat = to_wgs84(lon, lat, crs)
    periods = services.lookup.history(wgs_lon, wgs_lat)
    return HistoryResponse(
        point=Point(lon=round(wgs_lon, 7), lat=round(wgs_lat, 7)),
        input=InputPoint(lon=lon, lat=lat, crs=crs),
        periods=[
            HistoryPeriod(
                valid_from=start, valid_to=end, units=[UnitRef.model_validate(u) for u in units]
            )
            for start, end, units in periods
        ],
    )
