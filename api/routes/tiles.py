"""Mapbox vector tiles of a level on a date, built by PostGIS (ST_AsMVT).

Tiles are kept in memory per process (`AnswerCache`, `JL_TILE_CACHE_MIB`) for the read-model
position `ReadModelWatch` announces; the handler is `async` so that a hit never waits for the
thread pool. While the position is unknown, or the request must see a write the watch has not
heard of yet, every tile comes from the database.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from starlette.concurrency import run_in_threadpool

from api import error_codes as codes
from api.caching import etag, matches, read_position
from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES, ApiError
from api.params import DateQuery, Whole
from api.shared import check_level
from projections.features import read_at_least

router = APIRouter(tags=["tiles"])

MVT = "application/vnd.mapbox-vector-tile"
TileKey = tuple[str, dt.date, int, int, int]


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
async def tile(
    request: Request,
    services: ServicesDep,
    level: str,
    z: Annotated[Whole, Path(ge=0, le=24)],
    x: Annotated[Whole, Path(ge=0)],
    y: Annotated[Whole, Path(ge=0)],
    date: DateQuery = None,
) -> Response:
    """Web Mercator (z/x/y) tiles; one layer named after the level, with code and name.

    The ETag changes whenever the read model does, so clients and proxies may cache tiles and
    revalidate cheaply.
    """
    check_level(services, level, "path.level")
    if x >= 2**z or y >= 2**z:
        raise ApiError.of(
            codes.TILE_OUT_OF_RANGE,
            f"tile {z}/{x}/{y} does not exist: x and y must be below {2**z} at zoom {z}",
            [{"location": "path.x", "message": "out of range"}],
        )
    day = date or services.settings.today()
    position = read_position(services)
    tagged = position if position is not None else await run_in_threadpool(services.worker.position)
    tag = etag(tagged, level, day, z, x, y)
    headers = {"ETag": tag, "Cache-Control": "public, max-age=60", "Vary": "Accept-Encoding"}
    if matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    key: TileKey = (level, day, z, x, y)
    cache = services.caches.tiles
    content = cache.get(position, key) if position is not None else None
    # Says whether memory answered (hit), or the database because the entry was missing or
    # no cache may be used now (off).
    headers["X-Cache"] = "off" if position is None else "hit" if content is not None else "miss"
    if content is None:
        if position is not None:
            read_at_least(position)
        content = await run_in_threadpool(services.features.tile, level, day, z, x, y)
        if position is not None:
            cache.put(position, key, content, len(content) + 200)
    return Response(content=content, media_type=MVT, headers=headers)
