"""Feature collections and vector tiles for GIS clients, straight from PostGIS.

Collections are the levels (units valid on a date) and the workstations' service areas, which
are derived, never edited: the union of the communities a workstation serves on that date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Composed, Literal

from domain.offices import WORKSTATION
from projections.routing import ConnectionSource

SERVICE_AREAS = "workstations"


@dataclass(frozen=True)
class FeatureQuery:
    """What a client asked for: a date or a date range, a box, a page."""

    day: date | None = None
    period: tuple[date | None, date | None] | None = None
    bbox: tuple[float, float, float, float] | None = None
    limit: int = 10
    offset: int = 0


def _unit_filter(query: FeatureQuery) -> Composable:
    parts: list[Composable] = [SQL("upper_inf(recorded)"), SQL("level = %(level)s")]
    if query.period is not None:
        parts.append(SQL("valid && daterange(%(start)s, %(end)s, '[]')"))
    else:
        parts.append(SQL("valid @> %(day)s::date"))
    if query.bbox is not None:
        parts.append(SQL("geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)"))
        parts.append(SQL("ST_Intersects(geom, ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326))"))
    return SQL(" AND ").join(parts)


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

    def _rows(self, statement: Composed | SQL, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(statement, params).fetchall()

    def extent(self, level: str) -> tuple[list[float] | None, date | None]:
        """Bounding box and first date of a level (or of the service areas)."""
        if level == SERVICE_AREAS:
            statement = SQL(
                "SELECT ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, ST_YMax(e) AS n, first "
                "FROM (SELECT ST_Extent(u.geom) AS e, min(lower(o.valid)) AS first "
                "FROM office_versions o JOIN unit_versions u ON u.code = ANY(o.serves) "
                "WHERE o.kind = %(kind)s AND upper_inf(o.recorded) AND upper_inf(u.recorded)) x"
            )
        else:
            statement = SQL(
                "SELECT ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, ST_YMax(e) AS n, first "
                "FROM (SELECT ST_Extent(geom) AS e, min(lower(valid)) AS first FROM unit_versions "
                "WHERE level = %(level)s AND upper_inf(recorded)) x"
            )
        row = self._rows(statement, {"level": level, "kind": WORKSTATION})[0]
        if row["w"] is None:
            return None, None
        return [row["w"], row["s"], row["e"], row["n"]], row["first"]

    def items(
        self, level: str, query: FeatureQuery, code: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """GeoJSON features of a collection and how many match in all."""
        if level == SERVICE_AREAS:
            return self._service_areas(query, code)
        where: Composable = _unit_filter(query)
        if code is not None:
            where = SQL("{} AND code = %(code)s").format(where)
        statement = SQL(
            "SELECT code, name, name_en, level, parent_code AS parent, lower(valid) AS valid_from, "
            "upper(valid) AS valid_to, provenance, ST_AsGeoJSON(geom, 7) AS geometry, "
            "count(*) OVER () AS total FROM unit_versions WHERE {where} "
            "ORDER BY code, lower(valid) LIMIT %(limit)s OFFSET %(offset)s"
        ).format(where=where)
        rows = self._rows(statement, _params(query, level=level, code=code))
        return [_feature(row, versions=query.period is not None) for row in rows], _total(rows)

    def _service_areas(
        self, query: FeatureQuery, code: str | None
    ) -> tuple[list[dict[str, Any]], int]:
        day = query.day or (query.period[1] if query.period and query.period[1] else date.today())
        extra = SQL("AND o.code = %(code)s") if code is not None else SQL("")
        box = (
            SQL("AND u.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)")
            if query.bbox is not None
            else SQL("")
        )
        statement = SQL(
            "SELECT o.code, o.name, o.unit_code AS street, o.serves, lower(o.valid) AS valid_from, "
            "upper(o.valid) AS valid_to, ST_AsGeoJSON(ST_Multi(ST_Union(u.geom)), 7) AS geometry, "
            "count(*) OVER () AS total "
            "FROM office_versions o JOIN unit_versions u ON u.code = ANY(o.serves) "
            "WHERE o.kind = {kind} AND o.valid @> %(day)s::date AND upper_inf(o.recorded) "
            "AND u.valid @> %(day)s::date AND upper_inf(u.recorded) {extra} {box} "
            "GROUP BY o.code, o.name, o.unit_code, o.serves, o.valid "
            "ORDER BY o.code LIMIT %(limit)s OFFSET %(offset)s"
        ).format(kind=Literal(WORKSTATION), extra=extra, box=box)
        params = _params(query, code=code)
        params["day"] = day
        rows = self._rows(statement, params)
        return [_feature(row, versions=False) for row in rows], _total(rows)

    def tile(self, level: str, day: date, z: int, x: int, y: int) -> bytes:
        """One Mapbox vector tile of a level on a date (layer named after the level)."""
        statement = SQL(
            "WITH bounds AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS g), "
            "tile AS ("
            "  SELECT ST_AsMVTGeom(ST_Transform(u.geom, 3857), bounds.g, 4096, 64, true) AS geom, "
            "    u.code, u.name, u.level, u.parent_code AS parent, lower(u.valid)::text AS "
            "valid_from, "
            "    coalesce(upper(u.valid)::text, '') AS valid_to "
            "  FROM unit_versions u, bounds "
            "  WHERE u.level = %(level)s AND u.valid @> %(day)s::date AND upper_inf(u.recorded) "
            "    AND u.geom && ST_Transform(bounds.g, 4326)) "
            "SELECT ST_AsMVT(tile.*, {layer}, 4096, 'geom') AS mvt FROM tile WHERE geom IS NOT NULL"
        ).format(layer=Literal(level))
        params = {"z": z, "x": x, "y": y, "level": level, "day": day}
        with self.pool.connection() as conn:
            row = conn.execute(statement, params, prepare=True).fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""


def _total(rows: list[dict[str, Any]]) -> int:
    total = int(rows[0].pop("total")) if rows else 0
    for row in rows[1:]:
        row.pop("total")
    return total


def _feature(row: dict[str, Any], *, versions: bool) -> dict[str, Any]:
    geometry = json.loads(row.pop("geometry")) if row.get("geometry") else None
    identifier = row["code"] if not versions else f"{row['code']}@{row['valid_from']}"
    properties = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()}
    return {"type": "Feature", "id": identifier, "geometry": geometry, "properties": properties}
