"""Feature collections and vector tiles for GIS clients, straight from PostGIS.

Collections are the levels (units valid on a date) and the workstations' service areas, which
are derived, never edited: the union of the communities a workstation serves on that date.

PostgreSQL writes each GeoJSON Feature as text, so a page reaches the client without being
parsed and re-serialised in Python. Queries with a box find their candidates through the
spatial index first (a materialised CTE): asked for `level = ...` directly, a planner without
statistics (autovacuum off) scans every unit of the level instead.

`AnswerCache` holds tiles and pages for one read-model position at a time; the routes key it
with the position `ReadModelWatch` announces and never use it while that is unknown.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from typing import Any, Generic, TypeVar

from psycopg.sql import SQL, Composable, Composed, Identifier, Literal

from domain.offices import WORKSTATION
from projections.freshness import ReadModelWatch
from projections.routing import ConnectionSource, read_context

SERVICE_AREAS = "workstations"

V = TypeVar("V")


@dataclass(frozen=True)
class FeatureQuery:
    """What a client asked for: a date or a date range, a box, a page."""

    day: date | None = None
    period: tuple[date | None, date | None] | None = None
    bbox: tuple[float, float, float, float] | None = None
    limit: int = 10
    offset: int = 0
    #: The register's today (settings.today()), for questions that need one date and gave none.
    today: date | None = None

    def unpaged(self) -> FeatureQuery:
        """The same question without its page: what a `PageIndex` is kept under."""
        return replace(self, limit=0, offset=0)


@dataclass(frozen=True)
class PageIndex:
    """The keys (code, first day) of every feature a query matches, in page order.

    Kept per read-model position, it answers `numberMatched` and turns any page, however
    deep its offset, into a fetch of that page's rows by key: no OFFSET walking the rows before
    it, no count over the whole collection again, no GeoJSON built for rows not sent.
    """

    codes: tuple[str, ...]
    starts: tuple[date, ...]

    def __len__(self) -> int:
        return len(self.codes)

    def size(self) -> int:
        """About how many bytes it holds (for the cache's budget)."""
        return 200 + sum(len(code) for code in self.codes) + 120 * len(self.codes)


@dataclass(frozen=True)
class FeaturePage:
    """A page of features: GeoJSON Feature objects joined by commas (UTF-8), and counts."""

    features: bytes
    returned: int
    total: int

    def parsed(self) -> list[dict[str, Any]]:
        """The features as dicts (for callers that edit them)."""
        return list(json.loads(b"[" + self.features + b"]"))


ENVELOPE = SQL("ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)")

#: Properties of a unit feature (dates come out as ISO text, NULL as null).
UNIT_PROPERTIES = SQL(
    "json_build_object('code', code, 'name', name, 'name_en', name_en, 'level', level, "
    "'parent', parent_code, 'valid_from', lower(valid), 'valid_to', upper(valid), "
    "'provenance', provenance)"
)


def _feature_sql(identifier: Composable, geometry: Composable, properties: Composable) -> Composed:
    """A GeoJSON Feature as text, built by concatenation (the geometry is not parsed again)."""
    return SQL(
        """'{{"type":"Feature","id":' || to_json({})::text || ',"geometry":' """
        """|| coalesce({}, 'null') || ',"properties":' || {}::text || '}}'"""
    ).format(identifier, geometry, properties)


def _params(query: FeatureQuery, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "day": query.day,
        "start": query.period[0] if query.period else None,
        "end": query.period[1] if query.period else None,
        "limit": query.limit,
        "offset": query.offset,
        **extra,
    }
    if query.bbox is not None:
        params.update(zip(("w", "s", "e", "n"), query.bbox, strict=True))
    return params


class FeatureStore:
    """Items of the OGC collections and Mapbox vector tiles."""

    def __init__(self, pool: ConnectionSource) -> None:
        self.pool = pool
        # The tile statement of each level as bytes, rendered once: psycopg would render the
        # composed statement again on every request (about 50 us of a tile's ~1 ms of Python).
        self._tile_statements: dict[str, bytes] = {}

    def extent(self, level: str) -> tuple[list[float] | None, date | None]:
        """Bounding box and first date of a level (or of the service areas)."""
        if level == SERVICE_AREAS:
            statement = SQL(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), first "
                "FROM (SELECT ST_Extent(u.geom) AS e, min(lower(o.valid)) AS first "
                "FROM office_versions o JOIN unit_versions u ON u.code = ANY(o.serves) "
                "WHERE o.kind = %(kind)s AND upper_inf(o.recorded) AND upper_inf(u.recorded)) x"
            )
        else:
            statement = SQL(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), first "
                "FROM (SELECT ST_Extent(geom) AS e, min(lower(valid)) AS first FROM unit_versions "
                "WHERE level = %(level)s AND upper_inf(recorded)) x"
            )
        with self.pool.connection() as conn:
            row = conn.execute(statement, {"level": level, "kind": WORKSTATION}).fetchone()
        if row is None or row[0] is None:
            return None, None
        return [row[0], row[1], row[2], row[3]], row[4]

    def items(
        self, level: str, query: FeatureQuery, code: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """GeoJSON features of a collection (as dicts) and how many match in all."""
        page = self.page(level, query, code)
        return page.parsed(), page.total

    def page(
        self,
        level: str,
        query: FeatureQuery,
        code: str | None = None,
        index: PageIndex | None = None,
    ) -> FeaturePage:
        """A page of a collection's features as GeoJSON text, and how many match in all.

        A level's pages come through its `PageIndex` (`index`, or built here when not given);
        one code, and the service areas (few, and aggregated), are read in one statement."""
        if level != SERVICE_AREAS and code is None:
            return self._indexed_page(level, query, index or self.index(level, query))
        if level == SERVICE_AREAS:
            statement, params = self._service_areas(query, code)
        else:
            statement, params = self._units(level, query, code)
        with self.pool.connection() as conn:
            rows = conn.execute(statement, params, prepare=True).fetchall()
        features = b",".join(row[0].encode() for row in rows)
        return FeaturePage(features, len(rows), int(rows[0][1]) if rows else 0)

    def index(self, level: str, query: FeatureQuery) -> PageIndex | None:
        """The keys of every unit of `level` the query matches, in page order (None for the
        service areas, which are paged in SQL)."""
        if level == SERVICE_AREAS:
            return None
        statement = _keys_sql(query.bbox is not None, query.period is not None)
        with self.pool.connection() as conn:
            rows = conn.execute(statement, _params(query, level=level), prepare=True).fetchall()
        return PageIndex(tuple(row[0] for row in rows), tuple(row[1] for row in rows))

    def _indexed_page(
        self, level: str, query: FeatureQuery, index: PageIndex | None
    ) -> FeaturePage:
        if index is None:  # only the service areas have none
            raise ValueError(f"{level} is not paged by an index")
        end = query.offset + query.limit
        codes, starts = index.codes[query.offset : end], index.starts[query.offset : end]
        if not codes:
            return FeaturePage(b"", 0, len(index))
        statement = _by_keys_sql(query.period is not None)
        params = {"level": level, "codes": list(codes), "starts": list(starts)}
        with self.pool.connection() as conn:
            rows = conn.execute(statement, params, prepare=True).fetchall()
        features = b",".join(row[0].encode() for row in rows)
        return FeaturePage(features, len(rows), len(index))

    def _units(
        self, level: str, query: FeatureQuery, code: str | None
    ) -> tuple[Composed, dict[str, Any]]:
        statement = _units_sql(query.bbox is not None, query.period is not None, code is not None)
        return statement, _params(query, level=level, code=code)

    def _service_areas(
        self, query: FeatureQuery, code: str | None
    ) -> tuple[Composed, dict[str, Any]]:
        day = query.day or (query.period[1] if query.period and query.period[1] else query.today)
        if day is None:
            msg = "a service-area query needs a date: pass today (the register's) in the query"
            raise ValueError(msg)
        extra = SQL("AND o.code = %(code)s") if code is not None else SQL("")
        box = SQL("AND u.geom && {}").format(ENVELOPE) if query.bbox is not None else SQL("")
        properties = SQL(
            "json_build_object('code', o.code, 'name', o.name, 'street', o.unit_code, "
            "'serves', o.serves, 'valid_from', lower(o.valid), 'valid_to', upper(o.valid))"
        )
        feature = _feature_sql(
            SQL("o.code"), SQL("ST_AsGeoJSON(ST_Multi(ST_Union(u.geom)), 7)"), properties
        )
        statement = SQL(
            "SELECT {feature}, count(*) OVER () "
            "FROM office_versions o JOIN unit_versions u ON u.code = ANY(o.serves) "
            "WHERE o.kind = {kind} AND o.valid @> %(day)s::date AND upper_inf(o.recorded) "
            "AND u.valid @> %(day)s::date AND upper_inf(u.recorded) {extra} {box} "
            "GROUP BY o.code, o.name, o.unit_code, o.serves, o.valid "
            "ORDER BY o.code LIMIT %(limit)s OFFSET %(offset)s"
        ).format(feature=feature, kind=Literal(WORKSTATION), extra=extra, box=box)
        params = _params(query, code=code)
        params["day"] = day
        return statement, params

    def tile(self, level: str, day: date, z: int, x: int, y: int) -> bytes:
        """One Mapbox vector tile of a level on a date (layer named after the level)."""
        params = {"z": z, "x": x, "y": y, "level": level, "day": day}
        with self.pool.connection() as conn:
            statement = self._tile_statements.get(level)
            if statement is None:
                statement = _tile_sql(level).as_bytes(conn)
                if len(self._tile_statements) < 64:  # the levels of a scheme, not unbounded
                    self._tile_statements[level] = statement
            # Binary: the tile's bytes as they are, not as hex text to decode.
            cursor = conn.execute(statement, params, prepare=True, binary=True)
            row = cursor.fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""


# Statements (composed once per shape: composing costs about as much as a small query) ------


@lru_cache(maxsize=16)
def _units_sql(boxed: bool, versions: bool, by_code: bool) -> Composed:
    """Features of one level: with a box or not, over a period or on a day, one code or all."""
    time = (
        SQL("valid && daterange(%(start)s, %(end)s, '[]')")
        if versions
        else SQL("valid @> %(day)s::date")
    )
    identifier = SQL("code || '@' || lower(valid)::text") if versions else SQL("code")
    feature = _feature_sql(identifier, SQL("ST_AsGeoJSON(geom, 7)"), UNIT_PROPERTIES)
    same_code = SQL("AND code = %(code)s") if by_code else SQL("")
    if not boxed:
        return SQL(
            "SELECT {feature}, count(*) OVER () FROM unit_versions "
            "WHERE upper_inf(recorded) AND level = %(level)s AND {time} {code} "
            "ORDER BY code, lower(valid) LIMIT %(limit)s OFFSET %(offset)s"
        ).format(feature=feature, time=time, code=same_code)
    # The box picks the candidates through the spatial index; the level filters them.
    return SQL(
        "WITH boxed AS MATERIALIZED (SELECT code, name, name_en, level, parent_code, valid, "
        "provenance, geom FROM unit_versions WHERE upper_inf(recorded) AND {time} "
        "AND geom && {envelope}) "
        "SELECT {feature}, count(*) OVER () FROM boxed "
        "WHERE level = %(level)s {code} AND ST_Intersects(geom, {envelope}) "
        "ORDER BY code, lower(valid) LIMIT %(limit)s OFFSET %(offset)s"
    ).format(feature=feature, time=time, code=same_code, envelope=ENVELOPE)


def _time_sql(versions: bool) -> Composed | SQL:
    return (
        SQL("valid && daterange(%(start)s, %(end)s, '[]')")
        if versions
        else SQL("valid @> %(day)s::date")
    )


@lru_cache(maxsize=8)
def _keys_sql(boxed: bool, versions: bool) -> Composed:
    """The keys of a level's features on a day or over a period, in a box or not, in page
    order. Only keys are sorted (no geometry); the "C" collation compares codes as bytes."""
    order = SQL('ORDER BY code COLLATE "C", lower(valid)')
    if not boxed:
        return SQL(
            "SELECT code, lower(valid) FROM unit_versions "
            "WHERE upper_inf(recorded) AND level = %(level)s AND {time} {order}"
        ).format(time=_time_sql(versions), order=order)
    # The box picks the candidates through the spatial index; the level filters them.
    return SQL(
        "WITH boxed AS MATERIALIZED (SELECT code, level, valid, geom FROM unit_versions "
        "WHERE upper_inf(recorded) AND {time} AND geom && {envelope}) "
        "SELECT code, lower(valid) FROM boxed "
        "WHERE level = %(level)s AND ST_Intersects(geom, {envelope}) {order}"
    ).format(time=_time_sql(versions), envelope=ENVELOPE, order=order)


@lru_cache(maxsize=4)
def _by_keys_sql(versions: bool) -> Composed:
    """The features of the given keys, in the order given (one index probe each)."""
    identifier = SQL("u.code || '@' || lower(u.valid)::text") if versions else SQL("u.code")
    feature = _feature_sql(identifier, SQL("ST_AsGeoJSON(u.geom, 7)"), UNIT_PROPERTIES)
    return SQL(
        "SELECT {feature} FROM unnest(%(codes)s::text[], %(starts)s::date[]) "
        "WITH ORDINALITY AS k(key_code, key_start, n) "
        "JOIN unit_versions u ON u.code = k.key_code AND lower(u.valid) = k.key_start "
        "AND upper_inf(u.recorded) AND u.level = %(level)s ORDER BY k.n"
    ).format(feature=feature)


#: Zooms whose tiles start from each version's own pixels (`unit_versions.tile_pixels_<z>`,
#: generated by PostgreSQL: migration 0010): the version through `ST_AsMVTGeom` once over the
#: whole world at that zoom; NULL (clipped per tile) where the version is too large to lie
#: inside one tile of the zoom (migration 0010). Other zooms clip and snap every unit per tile.
TILE_PIXEL_ZOOMS = range(11, 15)
#: Pixels across a tile, and the buffer kept around it (as tipg and most servers do).
TILE_EXTENT = 4096
TILE_BUFFER = 64


@lru_cache(maxsize=32)
def _tile_sql(level: str, stored_pixels: bool = True) -> Composed:
    """A Mapbox vector tile of `level` (the layer's name); `stored_pixels=False`: every unit
    clipped and snapped here, as tests compare against.

    At a zoom with stored pixels, a unit lying inside the tile (with its buffer) is its
    stored pixels moved by the tile's offset: `ST_AsMVTGeom` of the whole world at that zoom
    snaps exactly as that of the tile does (the same resolution, offsets a whole number of
    pixels apart), so only units crossing the tile's edge are clipped here. One statement for
    every zoom (the zoom picks its column), so each connection prepares it once.
    """
    mvt_geom: Composable = SQL(
        "ST_AsMVTGeom(ST_Transform(b.geom, 3857), bounds.g, {extent}, {buffer}, true)"
    ).format(extent=Literal(TILE_EXTENT), buffer=Literal(TILE_BUFFER))
    pixels: Composable = SQL("NULL::geometry")
    if stored_pixels:
        pixels = SQL("CASE %(z)s {} END").format(
            SQL(" ").join(
                SQL("WHEN {} THEN u.{}").format(Literal(z), Identifier(f"tile_pixels_{z}"))
                for z in TILE_PIXEL_ZOOMS
            )
        )
        # The tile's buffered box in the world's pixels (x and y count from the north-west);
        # no stored pixels (another zoom) or a unit crossing the box: clipped.
        e = Literal(TILE_EXTENT)
        # In float8: x * 4096 leaves the integers at zoom 19 (evaluated at every zoom).
        low, high = Literal(-TILE_BUFFER), Literal(TILE_EXTENT + TILE_BUFFER)
        left, top = SQL("%(x)s::float8 * {}").format(e), SQL("%(y)s::float8 * {}").format(e)
        inside = SQL(
            "ST_XMin(b.pixels) >= {left} + {low} AND ST_XMax(b.pixels) <= {left} + {high} "
            "AND ST_YMin(b.pixels) >= {top} + {low} AND ST_YMax(b.pixels) <= {top} + {high}"
        ).format(left=left, top=top, low=low, high=high)
        moved = SQL("ST_Translate(b.pixels, -{left}, -{top})").format(left=left, top=top)
        mvt_geom = SQL("CASE WHEN {inside} THEN {moved} ELSE {clipped} END").format(
            inside=inside, moved=moved, clipped=mvt_geom
        )
    return SQL(
        "WITH bounds AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS g), "
        # Candidates through the spatial index, whatever the statistics say (see above): the
        # OFFSET 0 keeps the level's filter out of this scan, as a materialised CTE would,
        # without copying every candidate into a tuple store (a fifth of a tile's work).
        "boxed AS ("
        "  SELECT u.code, u.name, u.level, u.parent_code, u.valid, u.geom, {pixels} AS pixels "
        "  FROM unit_versions u, bounds WHERE upper_inf(u.recorded) "
        "    AND u.valid @> %(day)s::date AND u.geom && ST_Transform(bounds.g, 4326) OFFSET 0), "
        # OFFSET 0 again: the geometry is made once per unit, not again for the filter below.
        "tile AS ("
        "  SELECT {mvt_geom} AS geom, "
        "    b.code, b.name, b.level, b.parent_code AS parent, "
        "    lower(b.valid)::text AS valid_from, "
        "    coalesce(upper(b.valid)::text, '') AS valid_to "
        "  FROM boxed b, bounds WHERE b.level = %(level)s OFFSET 0) "
        "SELECT ST_AsMVT(tile.*, {layer}, {extent}, 'geom') FROM tile WHERE geom IS NOT NULL"
    ).format(pixels=pixels, mvt_geom=mvt_geom, layer=Literal(level), extent=Literal(TILE_EXTENT))


# Caching ---------------------------------------------------------------------------------------


def cacheable_position(watch: ReadModelWatch, needed_position: Callable[[], int]) -> int | None:
    """The position answers may be cached under for this request, or None: not while the watch
    does not know it, nor when the request must see something newer (its `X-Min-Position`, or
    this process's last write) than the watch has heard of yet."""
    return watch.servable(needed_position())


def read_at_least(position: int) -> None:
    """This request's reads must see `position` (a replica answers only once it has replayed
    that far), so that what it stores under `position` is never older."""
    context = read_context.get()
    if context is not None:
        context.min_position = max(context.min_position, position)


class AnswerCache(Generic[V]):
    """Answers read at one read-model position, least recently used dropped beyond a size.

    It holds a single position: a `get` at any other position misses, a `put` from an older one
    is refused and one from a newer position empties the cache first. Thread-safe (hits come
    from the event loop, fills from the thread pool).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._position = -1
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, position: int, key: Hashable) -> V | None:
        """The answer stored for `key` at `position`, if any."""
        with self._lock:
            entry = self._entries.get(key) if position == self._position else None
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, position: int, key: Hashable, value: V, size: int) -> None:
        """Keep `value` (about `size` bytes), read at `position` or later."""
        if size > self.max_bytes:
            return
        with self._lock:
            if position < self._position:
                return
            if position > self._position:
                self._entries.clear()
                self._bytes = 0
                self._position = position
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def __len__(self) -> int:
        return len(self._entries)
