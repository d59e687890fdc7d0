"""OGC API - Features, Part 1 (core, GeoJSON, OpenAPI 3.0), under /ogc.

One collection per level, plus the workstations' derived service areas. `datetime` as an
instant means "valid on that date" (OGC leaves the meaning to the server); an interval returns
every version valid at some time within it, each with its own id ``code@valid_from``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import error_codes as codes
from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES, ApiError
from api.params import DATETIME_PATTERN, Whole
from api.shared import parse_bbox
from domain.timeline import parse_day, parse_instant
from jurisdictions.bootstrap import Services
from projections.features import (
    SERVICE_AREAS,
    FeaturePage,
    FeatureQuery,
    cacheable_position,
    read_at_least,
)

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"])

GEOJSON = "application/geo+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"


def _documented(media_type: str = "application/json") -> dict[int | str, dict[str, Any]]:
    return {
        200: {"description": "OK", "content": {media_type: {"schema": {"type": "object"}}}},
        400: ERROR_RESPONSES[422] | {"description": "Bad parameter"},
        **ERROR_RESPONSES,
    }


#: A page when the client names no `limit`: large, as desktop GIS read whole layers page by page
#: (measurements in docs/benchmarks.md); `MAX_LIMIT` is the largest page a client may ask for.
DEFAULT_LIMIT = 1_000
MAX_LIMIT = 10_000
DatetimeQuery = Annotated[
    str | None,
    Query(
        description="A date (valid that day), a date-time, or an interval a/b with .. open",
        pattern=DATETIME_PATTERN,
    ),
]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _json(body: dict[str, Any], media_type: str = "application/json") -> JSONResponse:
    return JSONResponse(body, media_type=media_type)


def _collection_ids(services: Services) -> list[str]:
    return [*services.settings.level_scheme.names, SERVICE_AREAS]


def _check_collection(services: Services, collection_id: str) -> None:
    if collection_id not in _collection_ids(services):
        raise ApiError.of(
            codes.COLLECTION_NOT_FOUND,
            f"no collection {collection_id!r}; see /ogc/collections",
        )


def _collection(services: Services, collection_id: str, base: str) -> dict[str, Any]:
    bbox, first = services.features.extent(collection_id)
    title = (
        "Workstation service areas (union of the communities served)"
        if collection_id == SERVICE_AREAS
        else f"Units of level {collection_id}"
    )
    extent: dict[str, Any] = {
        "spatial": {"bbox": [bbox or [-180.0, -90.0, 180.0, 90.0]], "crs": CRS84},
        "temporal": {"interval": [[f"{first}T00:00:00Z" if first else None, None]]},
    }
    return {
        "id": collection_id,
        "title": title,
        "description": f"{title}, valid on the date given by datetime (default: today).",
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent,
        "links": [
            {
                "href": f"{base}/collections/{collection_id}",
                "rel": "self",
                "type": "application/json",
            },
            {"href": f"{base}/collections/{collection_id}/items", "rel": "items", "type": GEOJSON},
        ],
    }


@router.get("", summary="Landing page", responses=_documented())
def landing(request: Request) -> JSONResponse:
    """Links to the API description, conformance and collections."""
    base = _base(request)
    return _json(
        {
            "title": "Jurisdiction Ledger",
            "description": "Administrative units and grids on any date (OGC API - Features).",
            "links": [
                {"href": base, "rel": "self", "type": "application/json"},
                {
                    "href": f"{base}/api",
                    "rel": "service-desc",
                    "type": "application/vnd.oai.openapi+json;version=3.0",
                },
                {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
                {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
            ],
        }
    )


@router.get("/conformance", summary="Conformance classes", responses=_documented())
def conformance() -> JSONResponse:
    """Core, GeoJSON and OpenAPI 3.0."""
    return _json({"conformsTo": CONFORMANCE})


@router.get(
    "/api",
    summary="OpenAPI 3.0 description of the OGC endpoints",
    responses=_documented(OPENAPI_30),
)
def api_description(request: Request) -> JSONResponse:
    """A compact OpenAPI 3.0 document for the OGC API, as the oas30 class asks."""
    return JSONResponse(
        _openapi(_base(request)), media_type="application/vnd.oai.openapi+json;version=3.0"
    )


@router.get(
    "/collections",
    summary="Collections: one per level and the service areas",
    responses=_documented(),
)
def collections(request: Request, services: ServicesDep) -> JSONResponse:
    """Every collection with its extent."""
    base = _base(request)
    return _json(
        {
            "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
            "collections": [_collection(services, cid, base) for cid in _collection_ids(services)],
        }
    )


@router.get("/collections/{collection_id}", summary="One collection", responses=_documented())
def collection(request: Request, services: ServicesDep, collection_id: str) -> JSONResponse:
    """Its extent and links."""
    _check_collection(services, collection_id)
    return _json(_collection(services, collection_id, _base(request)))


def parse_datetime(
    text: str | None, today: dt.date
) -> tuple[dt.date | None, tuple[dt.date | None, dt.date | None] | None]:
    """An OGC `datetime`: an instant (a date) or an interval (``a/b``, ``..`` open); none is
    the register's ``today``."""
    if text is None:
        return today, None

    def one(part: str) -> dt.date | None:
        if part in ("..", ""):
            return None
        try:
            return parse_day(part) if len(part) <= 10 else parse_instant(part).date()
        except ValueError as exc:
            raise ApiError.of(
                codes.DATETIME_INVALID,
                f"datetime {text[:80]!r} is not a date, a date-time or an interval a/b",
                [{"location": "query.datetime", "message": str(exc)}],
            ) from exc

    if "/" in text:
        start, _, end = text.partition("/")
        first, last = one(start), one(end)
        if first is None and last is None:
            raise ApiError.of(codes.DATETIME_INVALID, "datetime ../.. is not an interval")
        if first is not None and last is not None and first > last:
            raise ApiError.of(
                codes.DATETIME_INVALID,
                "datetime interval ends before it starts",
            )
        return None, (first, last)
    return one(text), None


async def _page(
    services: Services, collection_id: str, query: FeatureQuery
) -> tuple[FeaturePage, str]:
    """From the cache while the read-model position is known, else from the database; and
    which it was (the X-Cache header: hit, miss, or off when no cache may be used).

    A miss reads the page through the query's `PageIndex`, kept at the same position, so a
    client walking a layer page by page pays for the matching and counting once."""
    position = cacheable_position(services.watch, services.reads.needed_position)
    if position is None:
        return await run_in_threadpool(services.features.page, collection_id, query), "off"
    cache, key = services.caches.items, (collection_id, query)
    page = cache.get(position, key)
    if page is not None:
        return page, "hit"
    read_at_least(position)
    indexes, unpaged = services.caches.page_indexes, (collection_id, query.unpaged())
    index = indexes.get(position, unpaged)
    if index is None:
        index = await run_in_threadpool(services.features.index, collection_id, query)
        if index is not None:
            indexes.put(position, unpaged, index, index.size())
    page = await run_in_threadpool(services.features.page, collection_id, query, None, index)
    cache.put(position, key, page, len(page.features) + 200)
    return page, "miss"


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection",
    responses=_documented(GEOJSON),
)
async def items(
    request: Request,
    services: ServicesDep,
    collection_id: str,
    bbox: Annotated[str | None, Query(description="west,south,east,north (CRS84)")] = None,
    datetime: Annotated[
        str | None, Query(description="A date (valid that day) or an interval")
    ] = None,
    limit: Annotated[
        Whole,
        Query(
            ge=1,
            le=MAX_LIMIT,
            description=f"Features per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
            # The bounds in JSON Schema's words, which clients read (`ge`/`le` they do not).
            json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT},
        ),
    ] = DEFAULT_LIMIT,
    offset: Annotated[
        Whole,
        Query(
            ge=0,
            le=10_000_000,
            description="Features to skip (the next link sets it)",
            json_schema_extra={"minimum": 0, "maximum": 10_000_000},
        ),
    ] = 0,
) -> Response:
    """Paged with `limit` and `offset`; a `next` link while more remain (and `prev` after the
    first page), `numberMatched` and `numberReturned` on every page.

    Pages are kept in memory per process for the current read-model position (see
    api/routes/tiles.py); the features arrive as GeoJSON text and are not parsed here.
    """
    _check_collection(services, collection_id)
    today = services.settings.today()
    day, period = parse_datetime(datetime, today)
    query = FeatureQuery(
        day=day, period=period, bbox=parse_bbox(bbox), limit=limit, offset=offset, today=today
    )
    page, cached = await _page(services, collection_id, query)
    base = _base(request)
    links = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {
            "href": f"{base}/collections/{collection_id}",
            "rel": "collection",
            "type": "application/json",
        },
    ]
    if offset + page.returned < page.total:
        nxt = request.url.include_query_params(offset=offset + page.returned, limit=limit)
        links.append({"href": str(nxt), "rel": "next", "type": GEOJSON})
    if offset > 0:
        prev = request.url.include_query_params(offset=max(offset - limit, 0), limit=limit)
        links.append({"href": str(prev), "rel": "prev", "type": GEOJSON})
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    tail = {
        "numberMatched": page.total,
        "numberReturned": page.returned,
        "timeStamp": stamp,
        "links": links,
    }
    # The features are spliced in as they came from PostgreSQL; the rest is small.
    body = b"".join(
        (
            b'{"type":"FeatureCollection","features":[',
            page.features,
            b"],",
            json.dumps(tail, ensure_ascii=False, separators=(",", ":"))[1:].encode(),
        )
    )
    return Response(body, media_type=GEOJSON, headers={"X-Cache": cached})


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature by code",
    responses=_documented(GEOJSON),
)
def item(
    request: Request,
    services: ServicesDep,
    collection_id: str,
    feature_id: str,
    datetime: DatetimeQuery = None,
) -> JSONResponse:
    """A unit by code (its version valid on `datetime`), or a version by ``code@valid_from``."""
    _check_collection(services, collection_id)
    code, _, version_start = feature_id.partition("@")
    day, _ = parse_datetime(datetime, services.settings.today())
    if version_start:
        try:
            day = parse_day(version_start)
        except ValueError:
            raise ApiError.of(codes.FEATURE_NOT_FOUND, f"no feature {feature_id!r}") from None
    query = FeatureQuery(day=day, limit=1, today=services.settings.today())
    features, _ = services.features.items(collection_id, query, code=code)
    if not features:
        raise ApiError.of(codes.FEATURE_NOT_FOUND, f"no feature {feature_id!r} on {day}")
    feature = features[0]
    base = _base(request)
    feature["links"] = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {
            "href": f"{base}/collections/{collection_id}",
            "rel": "collection",
            "type": "application/json",
        },
    ]
    return _json(feature, GEOJSON)


def _openapi(base: str) -> dict[str, Any]:
    def get(
        summary: str, parameters: list[dict[str, Any]], media: str = "application/json"
    ) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "parameters": parameters,
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {media: {"schema": {"type": "object"}}},
                    },
                    "400": {"description": "Bad request"},
                    "404": {"description": "Not found"},
                },
            }
        }

    # The parameters live under components.parameters, named as OGC API - Features Part 1's
    # OpenAPI fragments name them, and the paths refer to them: QGIS's OAPIF provider reads the
    # page size only from components.parameters.limit (without it, it asks for 100 a page).
    parameters: dict[str, dict[str, Any]] = {
        "collectionId": {
            "name": "collectionId",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
        },
        "featureId": {
            "name": "featureId",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
        },
        "bbox": {
            "name": "bbox",
            "in": "query",
            "style": "form",
            "explode": False,
            "schema": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
        },
        "datetime": {"name": "datetime", "in": "query", "schema": {"type": "string"}},
        "limit": {
            "name": "limit",
            "in": "query",
            "description": f"Features per page: default {DEFAULT_LIMIT}, at most {MAX_LIMIT}.",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_LIMIT,
                "default": DEFAULT_LIMIT,
            },
        },
        "offset": {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
    }

    def refs(*names: str) -> list[dict[str, Any]]:
        return [{"$ref": f"#/components/parameters/{name}"} for name in names]

    return {
        "openapi": "3.0.3",
        "info": {"title": "Jurisdiction Ledger - OGC API Features", "version": "1.0.0"},
        "servers": [{"url": base}],
        "paths": {
            "/": get("Landing page", []),
            "/conformance": get("Conformance", []),
            "/collections": get("Collections", []),
            "/collections/{collectionId}": get("Collection", refs("collectionId")),
            "/collections/{collectionId}/items": get(
                "Items", refs("collectionId", "bbox", "datetime", "limit", "offset"), GEOJSON
            ),
            "/collections/{collectionId}/items/{featureId}": get(
                "Item", refs("collectionId", "featureId", "datetime"), GEOJSON
            ),
        },
        "components": {"parameters": parameters},
    }
