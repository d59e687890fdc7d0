"""The published lists: the matter catalogue (清单) and the offices with their service areas.

The reform's point was that every matter has one level and one kind of office, and that the
lists are public; an office's area of responsibility is its service area on a date (the units
it names, or its whole unit when it names none), as the lookup answers it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Composed

from projections.lookup import believed
from projections.routing import ConnectionSource


class PublishedLists:
    """Read-only queries for `/v1/matters` and `/v1/offices`."""

    def __init__(self, pool: ConnectionSource) -> None:
        self.pool = pool

    def _all(self, statement: Composed | SQL, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(statement, params).fetchall()

    # Matters ------------------------------------------------------------------------------

    def matter_history(self, as_recorded: datetime | None = None) -> list[dict[str, Any]]:
        """Every matter's assignments in date order, each with the change set that made it
        (as recorded at `as_recorded`, if given)."""
        statement = SQL(
            "SELECT m.matter, m.name, m.office_kind, m.level, lower(m.valid) AS valid_from, "
            "upper(m.valid) AS valid_to, m.change_set, l.reason, l.document "
            "FROM matter_versions m LEFT JOIN change_set_log l ON l.id = m.change_set "
            "WHERE {believed} ORDER BY m.matter, lower(m.valid)"
        ).format(believed=believed(as_recorded, "m"))
        return self._all(statement, {"as_recorded": as_recorded})

    def matter_codes(self) -> list[str]:
        """Every matter ever catalogued, by code."""
        statement = SQL("SELECT DISTINCT matter FROM matter_versions ORDER BY matter")
        return [r["matter"] for r in self._all(statement, {})]

    # Offices ------------------------------------------------------------------------------

    def offices_on(
        self,
        day: date,
        *,
        kind: str | None = None,
        unit: str | None = None,
        q: str | None = None,
        limit: int = 1000,
        offset: int = 0,
        as_recorded: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Offices open on `day` (as recorded at `as_recorded`, if given), by code; `unit`:
        those whose service area holds that unit."""
        conditions: list[Composable] = [
            SQL("o.valid @> %(day)s::date"),
            believed(as_recorded, "o"),
        ]
        if kind is not None:
            conditions.append(SQL("o.kind = %(kind)s"))
        if unit is not None:
            conditions.append(
                SQL(
                    "(%(unit)s = ANY(o.serves) OR (cardinality(o.serves) = 0 "
                    "AND o.unit_code = %(unit)s))"
                )
            )
        if q is not None:
            conditions.append(SQL("(o.name ILIKE %(pattern)s OR o.code ILIKE %(pattern)s)"))
        statement = SQL(
            "SELECT o.code, o.kind, o.name, o.unit_code AS unit, o.address_text AS address, "
            "ST_X(o.address) AS lon, ST_Y(o.address) AS lat, o.serves, "
            "lower(o.valid) AS valid_from, upper(o.valid) AS valid_to, count(*) OVER () AS total "
            "FROM office_versions o WHERE {where} ORDER BY o.code "
            "LIMIT %(limit)s OFFSET %(offset)s"
        ).format(where=SQL(" AND ").join(conditions))
        pattern = None
        if q is not None:
            escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
        params = {
            "day": day,
            "kind": kind,
            "unit": unit,
            "pattern": pattern,
            "limit": limit,
            "offset": offset,
            "as_recorded": as_recorded,
        }
        rows = self._all(statement, params)
        total = int(rows[0].pop("total")) if rows else 0
        for row in rows[1:]:
            row.pop("total")
        return rows, total

    def office_on(
        self, code: str, day: date, as_recorded: datetime | None = None
    ) -> dict[str, Any] | None:
        """One office's version on `day` with its service area: the units and their union
        (both as recorded at `as_recorded`, if given)."""
        statement = SQL(
            "SELECT o.code, o.kind, o.name, o.unit_code AS unit, o.address_text AS address, "
            "ST_X(o.address) AS lon, ST_Y(o.address) AS lat, o.serves, "
            "lower(o.valid) AS valid_from, upper(o.valid) AS valid_to "
            "FROM office_versions o WHERE o.code = %(code)s AND o.valid @> %(day)s::date "
            "AND {believed}"
        ).format(believed=believed(as_recorded, "o"))
        rows = self._all(statement, {"code": code, "day": day, "as_recorded": as_recorded})
        if not rows:
            return None
        office = rows[0]
        served = list(office["serves"]) or [office["unit"]]
        area = SQL(
            "SELECT array_agg(u.code ORDER BY u.code) AS found, "
            "json_agg(json_build_object('code', u.code, 'name', u.name, 'level', u.level) "
            "ORDER BY u.code) AS units, "
            "ST_AsGeoJSON(ST_Multi(ST_Union(u.geom)), 7)::json AS geometry, "
            "sum(ST_Area(u.geom::geography)) AS area_m2 FROM unit_versions u "
            "WHERE u.code = ANY(%(codes)s) AND u.valid @> %(day)s::date AND {believed}"
        ).format(believed=believed(as_recorded, "u"))
        params = {"codes": served, "day": day, "as_recorded": as_recorded}
        found = self._all(area, params)[0]
        office["service_area"] = {
            "units": found["units"] or [],
            "geometry": found["geometry"],
            "area_m2": found["area_m2"],
        }
        return office

    def office_exists(self, code: str, as_recorded: datetime | None = None) -> bool:
        """Whether an office with `code` was ever registered (by `as_recorded`, if given)."""
        by = SQL("AND lower(recorded) <= %(as_recorded)s::timestamptz") if as_recorded else SQL("")
        statement = SQL(
            "SELECT 1 AS x FROM office_versions WHERE code = %(code)s {by} LIMIT 1"
        ).format(by=by)
        return bool(self._all(statement, {"code": code, "as_recorded": as_recorded}))

    def committees_of(
        self, workstation: str, day: date, as_recorded: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The residents' committees of the communities a workstation serves on `day` (as
        recorded at `as_recorded`, if given)."""
        statement = SQL(
            "SELECT c.code, c.kind, c.name, c.unit_code AS unit FROM office_versions w "
            "JOIN office_versions c ON c.unit_code = ANY(w.serves) AND c.kind <> w.kind "
            "AND c.valid @> %(day)s::date AND {believed_c} "
            "WHERE w.code = %(code)s AND w.valid @> %(day)s::date AND {believed_w} "
            "ORDER BY c.unit_code, c.code"
        ).format(believed_c=believed(as_recorded, "c"), believed_w=believed(as_recorded, "w"))
        params = {"code": workstation, "day": day, "as_recorded": as_recorded}
        return self._all(statement, params)
