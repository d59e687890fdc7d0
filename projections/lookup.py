"""Point-in-jurisdiction lookups over the bitemporal read model.

A lookup finds the subdivided pieces holding the point (one GiST index probe on geometry and
date), joins them back to their versions, and resolves each level to one unit: a point on a
shared boundary touches both neighbours; the one whose interior holds it wins, then the lowest
code, and the answer says `on_boundary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed

from domain.boundary_rule import choose
from domain.levels import LevelScheme
from domain.offices import WORKSTATION
from projections.routing import ConnectionSource


@dataclass(frozen=True)
class UnitHit:
    """The version of one unit that holds a point on a date."""

    level: str
    code: str
    name: str
    valid_from: date
    valid_to: date | None
    on_boundary: bool


@dataclass(frozen=True)
class OfficeHit:
    """An office responsible for a point on a date."""

    kind: str
    code: str
    name: str
    unit: str
    address: str
    location: tuple[float, float] | None
    serves: tuple[str, ...] = ()


@dataclass(frozen=True)
class Responsible:
    """The one office handling a matter at a point on a date (None if nobody does)."""

    matter: str
    name: str
    office_kind: str
    level: str
    office: OfficeHit | None


@dataclass(frozen=True)
class LookupResult:
    """Everything a lookup answers."""

    units: list[UnitHit]
    offices: list[OfficeHit] = field(default_factory=list)
    responsible: Responsible | None = None


class UnknownMatter(LookupError):
    """No such matter in the catalogue on that date."""

    def __init__(self, matter: str, day: date) -> None:
        self.matter = matter
        super().__init__(f"no matter {matter!r} in the catalogue on {day}")


def believed(as_recorded: datetime | None, alias: str = "") -> SQL:
    """The recorded-time filter: as currently recorded, or as recorded at an instant."""
    prefix = f"{alias}." if alias else ""
    # Two statements rather than one with an OR: each keeps its own index-friendly plan.
    if as_recorded is None:
        return SQL(f"upper_inf({prefix}recorded)")
    return SQL(f"{prefix}recorded @> %(as_recorded)s::timestamptz")


def _units_at_sql(as_recorded: datetime | None) -> Composed:
    return SQL(
        "WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g), "
        "pieces AS ("
        "  SELECT p.unit_id, lower(p.valid) AS vf, lower(p.recorded) AS rf, "
        "         bool_or(ST_Contains(p.geom, pt.g)) AS inside_piece "
        "  FROM unit_version_parts p, pt "
        "  WHERE ST_Intersects(p.geom, pt.g) AND p.valid @> %(day)s::date AND {believed} "
        "  GROUP BY 1, 2, 3) "
        "SELECT DISTINCT ON (v.level) v.level, v.code, v.name, lower(v.valid) AS valid_from, "
        "  upper(v.valid) AS valid_to, "
        "  CASE WHEN pieces.inside_piece THEN false ELSE NOT ST_Contains(v.geom, pt.g) END "
        "    AS on_boundary "
        "FROM pieces JOIN unit_versions v ON v.unit_id = pieces.unit_id "
        "  AND lower(v.valid) = pieces.vf AND lower(v.recorded) = pieces.rf, pt "
        "ORDER BY v.level, on_boundary, v.code"
    ).format(believed=believed(as_recorded, "p"))


def _offices_sql(as_recorded: datetime | None) -> Composed:
    # Offices of the units found, except workstations, which answer through coverage: a
    # street has many workstations, but only the one serving the point's community counts.
    # Two indexed halves rather than one OR, which no index can serve.
    return SQL(
        "SELECT kind, code, name, unit_code, address_text, ST_X(address) AS lon, "
        "ST_Y(address) AS lat, serves FROM office_versions o "
        "WHERE o.unit_code = ANY(%(units)s) AND o.kind <> %(workstation)s "
        "AND o.valid @> %(day)s::date AND {office_believed} "
        "UNION ALL "
        "SELECT o.kind, o.code, o.name, o.unit_code, o.address_text, ST_X(o.address), "
        "ST_Y(o.address), o.serves FROM coverage_versions c JOIN office_versions o "
        "ON o.code = c.workstation AND o.valid = c.valid AND o.recorded = c.recorded "
        "WHERE c.community = ANY(%(units)s) AND c.valid @> %(day)s::date AND {coverage_believed} "
        "ORDER BY code"
    ).format(
        office_believed=believed(as_recorded, "o"), coverage_believed=believed(as_recorded, "c")
    )


def _matter_sql(as_recorded: datetime | None) -> Composed:
    return SQL(
        "SELECT matter, name, office_kind, level FROM matter_versions m "
        "WHERE m.matter = %(matter)s AND m.valid @> %(day)s::date AND {believed}"
    ).format(believed=believed(as_recorded, "m"))


class LookupEngine:
    """Answers "who is responsible for this point on this date" from the read model."""

    def __init__(self, pool: ConnectionSource, levels: LevelScheme) -> None:
        self.pool = pool
        self.levels = levels

    def units_at(
        self, lon: float, lat: float, day: date, as_recorded: datetime | None = None
    ) -> list[UnitHit]:
        """Every level's unit holding the point on `day`, top down."""
        return self.lookup(lon, lat, day, as_recorded).units

    def lookup(
        self,
        lon: float,
        lat: float,
        day: date,
        as_recorded: datetime | None = None,
        matter: str | None = None,
    ) -> LookupResult:
        """Units top down, their offices, and with `matter` the office that handles it."""
        params: dict[str, Any] = {
            "lon": lon,
            "lat": lat,
            "day": day,
            "as_recorded": as_recorded,
            "workstation": WORKSTATION,
            "matter": matter,
        }
        # Prepared (generic) plans only for current beliefs: PostgreSQL's generic plan for
        # "recorded @> $instant" misjudges how many rows it keeps and scans the whole range
        # index (22 ms instead of 0.4 ms per lookup on a 70,000-office register).
        prepare = as_recorded is None
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(_units_at_sql(as_recorded), params, prepare=prepare).fetchall()
            units = sorted((UnitHit(**row) for row in rows), key=lambda h: self._rank(h.level))
            offices: list[OfficeHit] = []
            if units:
                params["units"] = [u.code for u in units]
                office_rows = cursor.execute(_offices_sql(as_recorded), params, prepare=prepare)
                offices = [office_from_row(row) for row in office_rows.fetchall()]
            responsible = None
            if matter is not None:
                matter_rows = cursor.execute(_matter_sql(as_recorded), params, prepare=prepare)
                found = matter_rows.fetchone()
                if found is None:
                    raise UnknownMatter(matter, day)
                matter_row = (found["matter"], found["name"], found["office_kind"], found["level"])
                responsible = responsible_office(matter_row, units, offices)
        return LookupResult(units, order_offices(offices, units), responsible)

    def batch(
        self,
        points: Sequence[tuple[float, float]],
        day: date,
        as_recorded: datetime | None = None,
    ) -> list[list[UnitHit]]:
        """Units for many points in one statement; results in input order."""
        lons = [p[0] for p in points]
        lats = [p[1] for p in points]
        statement = SQL(
            "WITH pts AS ("
            "  SELECT ord, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS g "
            "  FROM unnest(%(lons)s::float8[], %(lats)s::float8[]) WITH ORDINALITY AS t(lon, "
            "lat, ord)), "
            "pieces AS ("
            "  SELECT pts.ord, p.unit_id, lower(p.valid) AS vf, lower(p.recorded) AS rf, "
            "         bool_or(ST_Contains(p.geom, pts.g)) AS inside_piece "
            "  FROM unit_version_parts p JOIN pts ON ST_Intersects(p.geom, pts.g) "
            "  WHERE p.valid @> %(day)s::date AND {believed} GROUP BY 1, 2, 3, 4) "
            "SELECT DISTINCT ON (pieces.ord, v.level) pieces.ord, v.level, v.code, v.name, "
            "  lower(v.valid) AS valid_from, upper(v.valid) AS valid_to, "
            "  CASE WHEN pieces.inside_piece THEN false "
            "       ELSE NOT ST_Contains(v.geom, (SELECT g FROM pts WHERE pts.ord = "
            "pieces.ord)) END "
            "    AS on_boundary "
            "FROM pieces JOIN unit_versions v ON v.unit_id = pieces.unit_id "
            "  AND lower(v.valid) = pieces.vf AND lower(v.recorded) = pieces.rf "
            "ORDER BY pieces.ord, v.level, on_boundary, v.code"
        ).format(believed=believed(as_recorded, "p"))
        results: list[list[UnitHit]] = [[] for _ in points]
        params = {"lons": lons, "lats": lats, "day": day, "as_recorded": as_recorded}
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            for row in cursor.execute(statement, params).fetchall():
                index = row.pop("ord") - 1
                results[index].append(UnitHit(**row))
        for hits in results:
            hits.sort(key=lambda h: self._rank(h.level))
        return results

    def history(self, lon: float, lat: float) -> list[tuple[date, date | None, list[UnitHit]]]:
        """The point's jurisdictions through time: periods with the units holding it."""
        statement = SQL(
            "WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g), "
            "pieces AS ("
            "  SELECT p.unit_id, lower(p.valid) AS vf, lower(p.recorded) AS rf, "
            "         bool_or(ST_Contains(p.geom, pt.g)) AS inside_piece "
            "  FROM unit_version_parts p, pt "
            "  WHERE ST_Intersects(p.geom, pt.g) AND upper_inf(p.recorded) GROUP BY 1, 2, 3) "
            "SELECT v.level, v.code, v.name, lower(v.valid) AS valid_from, "
            "  upper(v.valid) AS valid_to, "
            "  CASE WHEN pieces.inside_piece THEN false ELSE NOT ST_Contains(v.geom, pt.g) END "
            "    AS on_boundary "
            "FROM pieces JOIN unit_versions v ON v.unit_id = pieces.unit_id "
            "  AND lower(v.valid) = pieces.vf AND lower(v.recorded) = pieces.rf, pt"
        )
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            versions = [
                UnitHit(**row) for row in cursor.execute(statement, {"lon": lon, "lat": lat})
            ]
        return self._periods(versions)

    def _periods(self, versions: list[UnitHit]) -> list[tuple[date, date | None, list[UnitHit]]]:
        days = sorted(
            {v.valid_from for v in versions} | {v.valid_to for v in versions if v.valid_to}
        )
        if not days:
            return []
        periods: list[tuple[date, date | None, list[UnitHit]]] = []
        for start, end in zip(days, [*days[1:], None], strict=True):
            live = [
                v
                for v in versions
                if v.valid_from <= start and (v.valid_to is None or start < v.valid_to)
            ]
            chosen = choose(live)
            units = sorted(chosen.values(), key=lambda h: self._rank(h.level))
            if not units:
                continue
            if periods and periods[-1][1] == start and _same_units(periods[-1][2], units):
                periods[-1] = (periods[-1][0], end, periods[-1][2])
            else:
                periods.append((start, end, units))
        return periods

    def _rank(self, level: str) -> int:
        return self.levels.rank(level) if level in self.levels else len(self.levels.names)


def _same_units(a: list[UnitHit], b: list[UnitHit]) -> bool:
    return [(u.code, u.name) for u in a] == [(u.code, u.name) for u in b]


def office_from_row(row: dict[str, Any]) -> OfficeHit:
    """An office from a row of `_offices_sql`'s columns."""
    location = (row["lon"], row["lat"]) if row["lon"] is not None else None
    return OfficeHit(
        kind=row["kind"],
        code=row["code"],
        name=row["name"],
        unit=row["unit_code"],
        address=row["address_text"],
        location=location,
        serves=tuple(row["serves"]),
    )


def order_offices(offices: list[OfficeHit], units: list[UnitHit]) -> list[OfficeHit]:
    """Offices top down with their units (the workstation with the community)."""
    rank = {u.code: i for i, u in enumerate(units)}
    community = max(rank.values(), default=0)

    def key(office: OfficeHit) -> tuple[int, str]:
        if office.kind == WORKSTATION:
            return (
                min((rank[c] for c in office.serves if c in rank), default=community),
                office.code,
            )
        return (rank.get(office.unit, len(rank)), office.code)

    return sorted(offices, key=key)


def responsible_office(
    matter: tuple[str, str, str, str], units: list[UnitHit], offices: list[OfficeHit]
) -> Responsible:
    """Who handles a matter (code, name, office kind, level) among a point's offices."""
    code, name, office_kind, level = matter
    unit = next((u for u in units if u.level == level), None)
    office = None
    if unit is not None:
        if office_kind == WORKSTATION:
            candidates = [o for o in offices if o.kind == WORKSTATION]
        else:
            candidates = [o for o in offices if o.kind == office_kind and o.unit == unit.code]
        office = candidates[0] if candidates else None
    return Responsible(code, name, office_kind, level, office)
