"""Point-in-jurisdiction lookups."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.dependencies import ServicesDep
from api.errors import ApiError
from api.schemas import ErrorResponse, LookupResponse, Point, UnitRef

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


@router.get(
    "/v1/lookup",
    response_model=LookupResponse,
    summary="Which units and offices are responsible for a point on a date",
    responses={422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
def lookup(
    services: ServicesDep,
    lon: Annotated[float, Query(description="Longitude in degrees (WGS84).", allow_inf_nan=False)],
    lat: Annotated[float, Query(description="Latitude in degrees (WGS84).", allow_inf_nan=False)],
    date: Annotated[
        dt.date | None,
        Query(description="YYYY-MM-DD; the versions valid that day. Default: today."),
    ] = None,
    as_recorded: Annotated[
        dt.datetime | None,
        Query(description="ISO 8601 instant: answer with what the register knew then."),
    ] = None,
) -> LookupResponse:
    """Every level's unit holding the point, top down; a point outside every unit gets none."""
    check_lon_lat(lon, lat)
    day = date or dt.date.today()
    if as_recorded is not None and as_recorded.tzinfo is None:
        as_recorded = as_recorded.replace(tzinfo=dt.UTC)
    hits = services.lookup.units_at(lon, lat, day, as_recorded)
    return LookupResponse(
        date=day,
        point=Point(lon=lon, lat=lat),
        units=[UnitRef.model_validate(hit, from_attributes=True) for hit in hits],
        offices=[],
    )
