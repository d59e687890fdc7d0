"""Point-in-jurisdiction lookups: single, batch, and through time."""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api import columnar
from api import error_codes as codes
from api.dependencies import ServicesDep
from api.errors import ERROR_RESPONSES, ApiError, item_error
from api.params import (
    CrsQuery,
    LatQuery,
    LonQuery,
    LookupQuery,
    RecordedQuery,
    parse_query,
    query_parameters,
)
from api.requests import media_type, read_bytes, read_json
from api.schemas import (
    BatchPoint,
    BatchRequest,
    BatchResponse,
    HistoryPeriod,
    HistoryResponse,
    InputPoint,
    LookupResponse,
    Point,
    UnitRef,
)
from api.shared import before_register
from domain.coordinates import to_wgs84
from jurisdictions.bootstrap import Services
from projections.lookup import LookupResult, OfficeHit, UnitHit, UnknownMatter
from projections.lookup_index import Resolved
from projections.lookup_service import BatchResult, UnknownLevel

router = APIRouter(tags=["lookup"])


def check_lon_lat(lon: float, lat: float, where: str = "query") -> None:
    """Reject coordinates outside lon/lat ranges, spotting the common swapped-axes mistake."""
    details = lon_lat_problems(lon, lat, where)
    if details:
        raise ApiError.of(
            codes.COORDINATES_OUT_OF_RANGE,
            "; ".join(d["message"] for d in details),
            details,
        )


def lon_lat_problems(lon: float, lat: float, where: str) -> list[dict[str, str]]:
    """What is wrong with a lon/lat pair (nothing: an empty list)."""
    details = []
    if not -180 <= lon <= 180:
        details.append({"location": f"{where}.lon", "message": f"lon {lon} is outside -180..180"})
    if not -90 <= lat <= 90:
        hint = " (did you swap lon and lat?)" if -90 <= lon <= 90 else ""
        details.append(
            {"location": f"{where}.lat", "message": f"lat {lat} is outside -90..90{hint}"}
        )
    return details


def utc(instant: dt.datetime | None) -> dt.datetime | None:
    """Instants without a zone are read as UTC."""
    if instant is not None and instant.tzinfo is None:
        return instant.replace(tzinfo=dt.UTC)
    return instant


def json_response(body: dict[str, Any]) -> Response:
    """JSON written by orjson: lookups answer in the shape of the schemas, without building
    a pydantic model per unit (the schemas document the contract; tests check both agree)."""
    return Response(orjson.dumps(body), media_type="application/json")


def instant_json(instant: dt.datetime | None) -> str | None:
    """An instant as pydantic writes it (UTC as Z)."""
    if instant is None:
        return None
    text = instant.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def unit_json(hit: UnitHit) -> dict[str, Any]:
    """A `UnitRef`."""
    return {
        "level": hit.level,
        "code": hit.code,
        "name": hit.name,
        "valid_from": hit.valid_from,
        "valid_to": hit.valid_to,
        "on_boundary": hit.on_boundary,
    }


def office_json(hit: OfficeHit) -> dict[str, Any]:
    """An `Office`."""
    location = {"lon": hit.location[0], "lat": hit.location[1]} if hit.location else None
    return {
        "kind": hit.kind,
        "code": hit.code,
        "name": hit.name,
        "unit": hit.unit,
        "address": hit.address or None,
        "location": location,
        "serves": list(hit.serves),
    }


def responsible_json(result: LookupResult) -> dict[str, Any] | None:
    """A `Responsible` (None without a matter)."""
    if result.responsible is None:
        return None
    r = result.responsible
    return {
        "matter": r.matter,
        "name": r.name,
        "office_kind": r.office_kind,
        "level": r.level,
        "office": office_json(r.office) if r.office else None,
    }


class RenderedUnits:
    """Units rendered as JSON, kept per epoch of the lookup index for later requests and
    dropped with the epoch (the projection holds no JSON of the API's)."""

    def __init__(self) -> None:
        # Epochs hash by identity; an entry goes when its epoch does.
        self._by_epoch: weakref.WeakKeyDictionary[Any, dict[Any, dict[int, orjson.Fragment]]]
        self._by_epoch = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many epochs have renderings here."""
        return len(self._by_epoch)

    def of(self, epoch: object, wanted: tuple[int, ...]) -> dict[int, orjson.Fragment]:
        """The renderings for `wanted` levels in `epoch`: lowest unit's number -> JSON."""
        per_epoch = self._by_epoch.get(epoch)
        if per_epoch is None:
            with self._lock:
                per_epoch = self._by_epoch.setdefault(epoch, {})
        rendered = per_epoch.setdefault(wanted, {})
        rendered.setdefault(-1, orjson.Fragment(b"[]"))
        return rendered


RENDERED = RenderedUnits()


def rendered_units(result: BatchResult) -> list[orjson.Fragment] | list[list[dict[str, Any]]]:
    """Each point's units as JSON."""
    if result.resolved is None:
        return [[unit_json(h) for h in found] for found in result.all_units()]
    return rendered_from_memory(result.resolved)


def rendered_from_memory(resolved: Resolved) -> list[orjson.Fragment]:
    """Points resolved through the same lowest unit share one rendering, kept with the
    epoch; the rest are rendered one by one."""
    rendered = RENDERED.of(resolved.epoch, resolved.wanted)
    found_any = (resolved.found >= 0).any(axis=1)
    keys = resolved.through
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    fragments = []
    for key, i in zip(unique.tolist(), first.tolist(), strict=True):
        fragment = rendered.get(key)
        if fragment is None:
            fragment = orjson.Fragment(orjson.dumps([unit_json(h) for h in resolved.units(i)]))
            rendered[key] = fragment
        fragments.append(fragment)
    out = [fragments[k] for k in inverse.tolist()]
    # The rest share the key -1, which renders as []: those holding some unit get their own.
    for i in np.flatnonzero(~resolved.clean & found_any).tolist():
        out[i] = orjson.Fragment(orjson.dumps([unit_json(h) for h in resolved.units(i)]))
    return out


@dataclass(frozen=True)
class ParsedBatch:
    """A batch request: its good points as arrays (WGS84), and the bad ones' answers.

    `slots[k]` is the input position of good point k; `errors` maps an input position to the
    answer of a point that cannot be looked up (its id and error), given in its place.
    """

    envelope: BatchRequest
    ids: list[Any]
    lons: np.ndarray[Any, np.dtype[np.float64]]
    lats: np.ndarray[Any, np.dtype[np.float64]]
    slots: list[int]
    errors: dict[int, dict[str, Any]]


def parse_batch(body: dict[str, Any], limit: int) -> ParsedBatch:
    """Check a batch body: points taken as arrays when plainly well formed, otherwise through
    the `BatchRequest` model, whose errors say which point and field is wrong."""
    points = body.get("points")
    if isinstance(points, list) and len(points) > limit:
        raise ApiError.of(
            codes.BATCH_TOO_LARGE,
            f"{len(points)} points; at most {limit} per batch",
            [{"location": "body.points", "message": f"at most {limit} points"}],
        )
    if not isinstance(points, list):
        BatchRequest.model_validate(body)  # says what is wrong with the points as a whole
        points = []
    batch = BatchRequest.model_validate({**body, "points": []})
    errors: dict[int, dict[str, Any]] = {}
    parsed = _plain_points(points)
    if parsed is None:
        good: list[BatchPoint] = []
        slots = []
        for index, point in enumerate(points):
            try:
                good.append(BatchPoint.model_validate(point))
                slots.append(index)
            except ValidationError as exc:
                if isinstance(point, dict) and point.get("id") is not None:
                    _check_id(point["id"], index)  # a bad id fails all: it names the answer
                errors[index] = {
                    "id": _echoable_id(point),
                    "error": item_error(exc, f"body.points[{index}]"),
                }
        ids = [p.id for p in good]
        lons = np.array([p.lon for p in good], dtype=np.float64)
        lats = np.array([p.lat for p in good], dtype=np.float64)
    else:
        ids, lons, lats = parsed
        slots = list(range(len(ids)))
    return _checked(batch, ids, lons, lats, slots, errors)


def _checked(
    batch: BatchRequest,
    ids: list[Any],
    lons: np.ndarray[Any, np.dtype[np.float64]],
    lats: np.ndarray[Any, np.dtype[np.float64]],
    slots: list[int],
    errors: dict[int, dict[str, Any]],
) -> ParsedBatch:
    """The points' ids and ranges checked (out of range: an error in the point's place), and
    their coordinates converted to WGS84."""
    _check_ids(ids, slots)
    outside = (np.abs(lons) > 180) | (np.abs(lats) > 90)
    if outside.any():
        bad = np.flatnonzero(outside)
        for k in bad.tolist():
            where = f"body.points[{slots[k]}]"
            details = lon_lat_problems(float(lons[k]), float(lats[k]), where)
            message = "; ".join(d["message"] for d in details)
            error = {"code": codes.COORDINATES_OUT_OF_RANGE.code, "message": message}
            errors[slots[k]] = {"id": ids[k], "error": {**error, "details": details}}
        keep = ~outside
        kept = keep.tolist()
        ids = [i for i, k in zip(ids, kept, strict=True) if k]
        slots = [s for s, k in zip(slots, kept, strict=True) if k]
        lons, lats = lons[keep], lats[keep]
    if batch.crs != "wgs84":
        converted = [to_wgs84(x, y, batch.crs) for x, y in zip(lons, lats, strict=True)]
        lons = np.array([c[0] for c in converted], dtype=np.float64)
        lats = np.array([c[1] for c in converted], dtype=np.float64)
    return ParsedBatch(batch, ids, lons, lats, slots, errors)


#: The query parameters of a batch sent as a table (its points are the body's rows).
TABLE_ENVELOPE = ("date", "as_recorded", "crs", "levels")


def parse_table_batch(body: bytes, query: Any, limit: int) -> ParsedBatch:
    """A batch sent as an Arrow IPC stream: columns `lon`, `lat` (numbers) and optionally
    `id` (integers or text); the envelope (date, as_recorded, crs, levels separated by
    commas) in the query. A point with a null or non-finite coordinate gets its error in its
    place, as in JSON."""
    unknown = [name for name in query if name not in TABLE_ENVELOPE]
    if unknown:
        message = f"unknown parameter {unknown[0]!r}; a table batch takes {TABLE_ENVELOPE}"
        raise ApiError.of(
            codes.INVALID_REQUEST,
            message,
            [{"location": f"query.{unknown[0]}", "message": message}],
        )
    envelope: dict[str, Any] = {k: query[k] for k in TABLE_ENVELOPE[:3] if k in query}
    if "levels" in query:
        envelope["levels"] = [level.strip() for level in query["levels"].split(",")]
    try:
        batch = BatchRequest.model_validate({**envelope, "points": []})
    except ValidationError as exc:
        error = item_error(exc, "query")
        raise ApiError.of(codes.INVALID_REQUEST, error["message"], error["details"]) from exc
    try:
        table = columnar.read_points(bytes(body))
    except columnar.BadTable as exc:
        raise ApiError.of(
            codes.INVALID_REQUEST, str(exc), [{"location": exc.location, "message": str(exc)}]
        ) from exc
    if table.num_rows > limit:
        raise ApiError.of(
            codes.BATCH_TOO_LARGE,
            f"{table.num_rows} points; at most {limit} per batch",
            [{"location": "body", "message": f"at most {limit} rows"}],
        )
    ids = table.column("id").to_pylist() if "id" in table.column_names else [None] * table.num_rows
    lons = table.column("lon").to_numpy(zero_copy_only=False).astype(np.float64)
    lats = table.column("lat").to_numpy(zero_copy_only=False).astype(np.float64)
    bad = ~(np.isfinite(lons) & np.isfinite(lats))
    errors: dict[int, dict[str, Any]] = {}
    slots = list(range(table.num_rows))
    if bad.any():
        for index in np.flatnonzero(bad).tolist():
            message = "lon and lat must be finite numbers"
            details = [{"location": f"body[{index}]", "message": message}]
            error = {"code": codes.INVALID_REQUEST.code, "message": message, "details": details}
            errors[index] = {"id": ids[index], "error": error}
        keep = ~bad
        kept = keep.tolist()
        ids = [i for i, k in zip(ids, kept, strict=True) if k]
        slots = [s for s, k in zip(slots, kept, strict=True) if k]
        lons, lats = lons[keep], lats[keep]
    return _checked(batch, ids, lons, lats, slots, errors)


def _echoable_id(point: Any) -> str | int | None:
    """A bad point's id, when it has one that can be written back (else None)."""
    point_id = point.get("id") if isinstance(point, dict) else None
    return point_id if type(point_id) in (str, int) and _writable(point_id) else None


def _check_ids(ids: list[Any], slots: list[int]) -> None:
    """Ids are echoed in the answer, so each must be writable as JSON: no lone surrogate in
    a text (``"\\ud800"``), no integer beyond 64 bits. An id that cannot be written fails
    the whole batch: its answer could not say which point it is."""
    texts = [i for i in ids if type(i) is str]
    whole = [i for i in ids if type(i) is int]
    try:
        "".join(texts).encode("utf-8")
        fine = not whole or (min(whole) >= -(2**63) and max(whole) < 2**64)
    except UnicodeEncodeError:
        fine = False
    if fine:
        return
    for index, point_id in zip(slots, ids, strict=True):
        if not _writable(point_id):
            message = "an id is a text without lone surrogates or an integer of at most 64 bits"
            raise ApiError.of(
                codes.INVALID_REQUEST,
                message,
                [{"location": f"body.points[{index}].id", "message": message}],
            )


def _check_id(point_id: Any, index: int) -> None:
    """Refuse the whole batch for an id that is not a text or a 64-bit integer (a client
    matches answers by id: an item answered under another id would mislead it)."""
    if type(point_id) not in (str, int) or not _writable(point_id):
        message = "an id is a text without lone surrogates or an integer of at most 64 bits"
        raise ApiError.of(
            codes.INVALID_REQUEST,
            message,
            [{"location": f"body.points[{index}].id", "message": message}],
        )


def _writable(point_id: Any) -> bool:
    if type(point_id) is int:
        return -(2**63) <= point_id < 2**64
    if type(point_id) is str:
        try:
            point_id.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


_NUMBERS = {float, int}
_IDS = {str, int, type(None)}


def _plain_points(points: Any) -> tuple[list[Any], Any, Any] | None:
    """Ids, lons and lats if every point is a plain object of finite numbers (else None)."""
    if not isinstance(points, list) or not all(type(p) is dict for p in points):
        return None
    lons = [p.get("lon") for p in points]
    lats = [p.get("lat") for p in points]
    ids = [p.get("id") for p in points]
    if not ({type(v) for v in lons} <= _NUMBERS and {type(v) for v in lats} <= _NUMBERS):
        return None
    if not {type(v) for v in ids} <= _IDS:
        return None
    try:
        xs = np.array(lons, dtype=np.float64)
        ys = np.array(lats, dtype=np.float64)
    except OverflowError:
        return None
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return None
    return ids, xs, ys


@router.get(
    "/v1/lookup",
    response_model=LookupResponse,
    summary="Which units and offices are responsible for a point on a date",
    responses=ERROR_RESPONSES,
    openapi_extra={"parameters": query_parameters(LookupQuery)},
)
async def lookup(request: Request) -> Response:
    """Every level's unit holding the point, top down, with their offices.

    A point outside every unit gets `"units": []`. A point exactly on a shared boundary
    resolves to one unit per level, flagged `on_boundary`.
    """
    services: Services = request.app.state.services
    query = parse_query(LookupQuery, request.query_params)
    lon, lat, crs, matter = query.lon, query.lat, query.crs, query.matter
    check_lon_lat(lon, lat)
    wgs_lon, wgs_lat = to_wgs84(lon, lat, crs)
    day = query.date or services.settings.today()
    instant = utc(query.as_recorded)
    try:
        result = await services.lookup_service.lookup_async(wgs_lon, wgs_lat, day, instant, matter)
    except UnknownMatter as exc:
        known = await run_in_threadpool(services.published.matter_codes)
        message = f"{exc}; known matters: {', '.join(known) or 'none'} (see /v1/matters)"
        raise ApiError.of(
            codes.MATTER_NOT_FOUND,
            message,
            [{"location": "query.matter", "message": message}],
        ) from exc
    responsible = responsible_json(result)
    body = {
        "date": day,
        "point": {"lon": round(wgs_lon, 7), "lat": round(wgs_lat, 7)},
        "input": {"lon": lon, "lat": lat, "crs": crs},
        "as_recorded": instant_json(instant),
        "units": [unit_json(hit) for hit in result.units],
        "offices": [office_json(o) for o in result.offices],
        "responsible": responsible,
        "hint": None,
    }
    if not result.units:
        body["hint"] = await run_in_threadpool(before_register, services, day, instant)
    return json_response(body)


@router.post(
    "/v1/lookup/batch",
    response_model=BatchResponse,
    summary="Look up many points (up to the batch limit) in one pass",
    responses={
        **ERROR_RESPONSES,
        200: {
            "content": {
                columnar.ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
                columnar.PARQUET: {"schema": {"type": "string", "format": "binary"}},
            }
        },
        406: ERROR_RESPONSES[422],
        413: ERROR_RESPONSES[422],
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}
            },
        }
    },
)
async def lookup_batch(request: Request, services: ServicesDep) -> Response:
    """Results come back in input order, each with the point's `id`.

    JSON by default; with `Accept: application/vnd.apache.arrow.stream` (Arrow IPC) or
    `application/vnd.apache.parquet` a table, one row per point (docs/http.md), made straight
    from the index's arrays: the fast way to send large batches.
    """
    fmt = columnar.negotiate(request.headers.get("accept", ""))
    if fmt is None:
        raise _not_acceptable(f"cannot answer in {request.headers.get('accept')!r}")
    limit = services.settings.max_batch_points
    envelope_in = "body"  # where the envelope's fields were sent, for error locations
    if media_type(request) == columnar.ARROW_STREAM:
        envelope_in = "query"
        raw = await read_bytes(request)
        batch = await run_in_threadpool(parse_table_batch, bytes(raw), request.query_params, limit)
    else:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError.of(codes.BODY_NOT_OBJECT, "the body must be a JSON object")
        batch = parse_batch(body, limit)
    envelope = batch.envelope
    day = envelope.date or services.settings.today()
    instant = utc(envelope.as_recorded)
    service = services.lookup_service
    if fmt != "json" and (envelope.offices or envelope.matter is not None):
        raise _not_acceptable("offices and matters are answered in JSON only")
    try:
        if fmt != "json":
            encoded = await _batch_table(services, batch, day, instant, fmt)
            return Response(encoded, media_type=columnar.MEDIA_TYPES[fmt])
        if envelope.offices or envelope.matter is not None:
            service.wanted_ranks(envelope.levels)
            found = await run_in_threadpool(
                service.lookups, batch.lons, batch.lats, day, instant, envelope.matter
            )
            answers = await run_in_threadpool(
                _with_offices,
                batch.ids,
                found,
                envelope.levels,
                envelope.offices,
                envelope.matter,
            )
        else:
            hits = await service.batch_async(batch.lons, batch.lats, day, instant, envelope.levels)
            # Rendering many points takes a while too: not on the event loop either.
            units = await run_in_threadpool(rendered_units, hits)
            answers = [{"id": i, "units": u} for i, u in zip(batch.ids, units, strict=True)]
    except UnknownLevel as exc:
        raise ApiError.of(
            codes.LEVEL_UNKNOWN,
            str(exc),
            [{"location": f"{envelope_in}.levels[{exc.position}]", "message": str(exc)}],
        ) from exc
    except UnknownMatter as exc:
        raise ApiError.of(
            codes.MATTER_NOT_FOUND,
            str(exc),
            [{"location": "body.matter", "message": str(exc)}],
        ) from exc
    hint = await run_in_threadpool(before_register, services, day, instant)
    if not batch.errors:
        return json_response({"date": day, "results": answers, "hint": hint})
    results: list[Any] = [None] * (len(answers) + len(batch.errors))
    for slot, answer in zip(batch.slots, answers, strict=True):
        results[slot] = answer
    for slot, answer in batch.errors.items():
        results[slot] = answer
    return json_response({"date": day, "results": results, "hint": hint})


def _not_acceptable(message: str) -> ApiError:
    types = ", ".join(columnar.FORMATS)
    return ApiError.of(
        codes.NOT_ACCEPTABLE,
        f"{message}; this path answers in {types}",
        [{"location": "header.accept", "message": f"acceptable: {types}"}],
    )


async def _batch_table(
    services: Services,
    batch: ParsedBatch,
    day: dt.date,
    instant: dt.datetime | None,
    fmt: str,
) -> bytes:
    """The batch answered as a table (`api.columnar`) in `fmt`, built off the event loop."""
    service = services.lookup_service
    levels = batch.envelope.levels
    wanted = service.wanted_ranks(levels) or tuple(range(len(service.levels.names)))
    hits = await service.batch_async(batch.lons, batch.lats, day, instant, levels)
    hint = await run_in_threadpool(before_register, services, day, instant)

    def encoded() -> bytes:
        names = service.levels.names
        table = columnar.batch_table(
            hits, batch.ids, batch.slots, batch.errors, names, wanted, day, hint
        )
        return columnar.encode(table, fmt)

    return await run_in_threadpool(encoded)


def _with_offices(
    ids: list[Any],
    found: list[LookupResult],
    levels: list[str] | None,
    offices: bool,
    matter: str | None,
) -> list[dict[str, Any]]:
    """Each point's answer as `/v1/lookup` renders it: units (on `levels`), and offices and
    the responsible office when asked."""
    keep = set(levels) if levels else None
    # Points resolved alike share one result (`LookupService.lookups`): rendered once.
    rendered: dict[int, dict[str, Any]] = {}
    answers = []
    for point_id, result in zip(ids, found, strict=True):
        parts = rendered.get(id(result))
        if parts is None:
            parts = {
                "units": [unit_json(h) for h in result.units if keep is None or h.level in keep]
            }
            if offices:
                parts["offices"] = [office_json(o) for o in result.offices]
            if matter is not None:
                parts["responsible"] = responsible_json(result)
            rendered[id(result)] = parts
        answers.append({"id": point_id, **parts})
    return answers


@router.get(
    "/v1/lookup/history",
    response_model=HistoryResponse,
    summary="A point's jurisdictions through time",
    responses=ERROR_RESPONSES,
)
def lookup_history(
    services: ServicesDep,
    lon: LonQuery,
    lat: LatQuery,
    crs: CrsQuery = "wgs84",
    as_recorded: RecordedQuery = None,
) -> HistoryResponse:
    """Periods during which the same units held the point, oldest first; with `as_recorded`,
    as the register recorded them at that instant."""
    check_lon_lat(lon, lat)
    wgs_lon, wgs_lat = to_wgs84(lon, lat, crs)
    periods = services.lookup_service.history(wgs_lon, wgs_lat, as_recorded)
    return HistoryResponse(
        point=Point(lon=round(wgs_lon, 7), lat=round(wgs_lat, 7)),
        input=InputPoint(lon=lon, lat=lat, crs=crs),
        periods=[
            HistoryPeriod(
                valid_from=start, valid_to=end, units=[UnitRef.model_validate(u) for u in units]
            )
            for start, end, units in periods
        ],
        as_recorded=as_recorded,
    )
