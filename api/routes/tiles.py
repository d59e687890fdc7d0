"""Mapbox vector tiles of a level on a date, built by PostGIS (ST_AsMVT)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES, ApiError
from api.params import DateQuery
from api.routes.units import check_level

router = APIRouter(tags=["tiles"])

MVT = "application/vnd.mapbox-vector-tile"


@router.get(
    "/tiles/{level}/{z}/{x}/{y}.mvt",
    summary="A vector tile of one level on a date",
    response_class=Response,
    responses={
        200: {"content": {MVT: {}}, "description": "The tile (empty when nothing is there)"},
        304: {"description": "Unchanged since the ETag sent"},
        **ERROR_RESPONSES,
    },
)
def tile(
    request: Request,
    services: ServicesDep,
    level: str,
    z: Annotated[int, Path(ge=0, le=24)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    date: DateQuery = None,
) -> Response:
    """Web Mercator (z/x/y) tiles; one layer named after the level, with code and name.

    The ETag changes whenever the read model does, so clients and proxies may cache tiles and
    revalidate cheaply.
    """
    check_level(services, level, "path.level")
    if x >= 2**z or y >= 2**z:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "tile_out_of_range",
            f"tile {z}/{x}/{y} does not exist: x and y must be below {2**z} at zoom {z}",
            [{"location": "path.x", "message": "out of range"}],
        )
    day = date or dt.date.today()
    position = services.worker.position()
    etag = (
        '"' + hashlib.sha1(f"{position}/{level}/{day}/{z}/{x}/{y}".encode()).hexdigest()[:20] + '"'
    )
    headers = {"ETag": etag, "Cache-Control": "public, max-age=60", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    content = services.features.tile(level, day, z, x, y)
    return Response(content=content, media_type=MVT, headers=headers)
