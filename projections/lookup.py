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
from functools import cache
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Composed, Identifier, Literal

from domain.boundary_rule import PREFERENCE, ROUNDING_MARGIN, choose
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
    """The recorded-time filter: as currently recorded, or as recorded at an instant.

    The one `as_recorded` rule of the read model. Version tables (units, offices, matters)
    keep when each version was believed (`recorded`, a range); append tables (history,
    lineage, the change-set log) keep when each fact was recorded (`recorded_at`), for which
    see `recorded_by`. Both read the instant from the parameter ``%(as_recorded)s``.
    """
    prefix = f"{alias}." if alias else ""
    # Two statements rather than one with an OR: each keeps its own index-friendly plan.
    if as_recorded is None:
        return SQL(f"upper_inf({prefix}recorded)")
    return SQL(f"{prefix}recorded @> %(as_recorded)s::timestamptz")


def recorded_by(as_recorded: datetime | None, alias: str = "") -> SQL:
    """`believed` for append tables: every fact, or those recorded by the instant (facts are
    never withdrawn, so what the register knew then is what it had recorded by then)."""
    prefix = f"{alias}." if alias else ""
    if as_recorded is None:
        return SQL("true")
    return SQL(f"{prefix}recorded_at <= %(as_recorded)s::timestamptz")


#: The DE-9IM matrix of a polygon and a point in its interior.
INSIDE = "0FFFFFFF2"

#: The points of a lookup (`ord`: the place in the input, from 1), from two arrays.
MANY_POINTS = SQL(
    "SELECT ord, lon, lat, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS g "
    "FROM unnest(%(lons)s::float8[], %(lats)s::float8[]) WITH ORDINALITY AS t(lon, lat, ord)"
)

#: One point, from two numbers: the same statement as a batch of one, but planned for one
#: row, so PostgreSQL keeps its generic plan (a prepared statement over an array of unknown
#: length is estimated at 100 points and re-planned on every call: twice the latency).
ONE_POINT = SQL(
    "SELECT 1::bigint AS ord, lon, lat, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS g "
    "FROM (SELECT %(lon)s::float8 AS lon, %(lat)s::float8 AS lat) AS t"
)


def _candidates_sql(points: SQL, when: SQL | Composed, *, choose_one: bool) -> Composed:
    """The unit versions holding each of `points` whose pieces pass `when`, and whether the
    point only touches each. One GiST probe per point on the subdivided pieces; a version's
    whole geometry is tested only for a point near a piece's edge (often inside the unit).

    The pieces only find and, away from their edges, settle: `ST_Subdivide` rounds the
    points where it cuts an edge, so a piece's edge strays from the unit's by rounding, and a
    point on the unit's edge may lie a hair inside or outside a piece. Within
    `ROUNDING_MARGIN` of a piece's edge the unit's own geometry decides, by GEOS (`ST_Relate`:
    PostGIS's own point-in-polygon shortcut is not exact, GEOS's orientation test is, and the
    in-memory index asks GEOS too), so both engines decide every point by the same exact test
    of the same stored coordinates (`domain.boundary_rule`).

    `choose_one`: keep one version per point and level, by the boundary rule (`PREFERENCE`),
    in input order; otherwise every candidate (history chooses per period)."""
    preference = SQL(", ").join(Identifier(key) for key in PREFERENCE)
    return SQL(
        "WITH pts AS ({points}), "
        "pieces AS ("
        "  SELECT pts.ord, pts.lon, pts.lat, p.unit_id, lower(p.valid) AS vf, "
        "         lower(p.recorded) AS rf, "
        "         bool_or(ST_Contains(p.geom, pts.g) "
        "           AND NOT ST_DWithin(ST_Boundary(p.geom), pts.g, {rounding})) AS inside_piece "
        "  FROM unit_version_parts p JOIN pts ON ST_DWithin(p.geom, pts.g, {rounding}) "
        "  WHERE {when} GROUP BY 1, 2, 3, 4, 5, 6), "
        "related AS ("
        "  SELECT pieces.ord, v.level, v.code, v.name, v.valid, "
        "    CASE WHEN pieces.inside_piece THEN {inside} "
        "      ELSE ST_Relate(v.geom, ST_SetSRID(ST_MakePoint(pieces.lon, pieces.lat), 4326)) "
        "    END AS matrix "
        "  FROM pieces JOIN unit_versions v ON v.unit_id = pieces.unit_id "
        "    AND lower(v.valid) = pieces.vf AND lower(v.recorded) = pieces.rf) "
        "SELECT {distinct} ord, level, code, name, lower(valid) AS valid_from, "
        "  upper(valid) AS valid_to, left(matrix, 1) <> '0' AS on_boundary "
        "FROM related "
        # The point meets the unit's interior (first cell) or its boundary (fourth cell).
        "WHERE left(matrix, 1) = '0' OR substr(matrix, 4, 1) = '0' {order}"
    ).format(
        points=points,
        when=when,
        rounding=Literal(ROUNDING_MARGIN),
        inside=Literal(INSIDE),
        distinct=SQL("DISTINCT ON (ord, level)") if choose_one else SQL(""),
        order=SQL("ORDER BY ord, level, {}").format(preference) if choose_one else SQL(""),
    )


def _units_at_sql(points: SQL, as_recorded: datetime | None) -> Composed:
    """Each point's unit per level on `%(day)s`. A single lookup is a batch of one."""
    when = SQL("p.valid @> %(day)s::date AND {believed}").format(
        believed=believed(as_recorded, "p")
    )
    return _candidates_sql(points, when, choose_one=True)


@cache
def _units_at_bytes(one: bool, current: bool) -> bytes:
    """`_units_at_sql` as the bytes sent, composed once (composing costs ~12 µs a call)."""
    as_recorded = None if current else datetime.min
    return _units_at_sql(ONE_POINT if one else MANY_POINTS, as_recorded).as_bytes(None)


@cache
def _history_bytes(current: bool) -> bytes:
    """The point's versions of every date, as currently recorded or as recorded at
    ``%(as_recorded)s``, as the bytes sent."""
    as_recorded = None if current else datetime.min
    return _candidates_sql(ONE_POINT, believed(as_recorded, "p"), choose_one=False).as_bytes(None)


def _offices_sql(as_recorded: datetime | None, many: bool = False) -> Composed:
    """The offices of the units ``%(units)s`` (one point's), ordered by code; `many`: of many
    points' unit sets at once (``%(sets)s[i]`` is the set of ``%(units)s[i]``), each row with
    its ``set_id``, ordered by set and code. One rule for a lookup and a batch."""
    # Offices of the units found that serve their whole unit, and offices with a service area
    # (workstations, new-area committees) through coverage: a street has many workstations,
    # but only the one serving the point's community counts, and a district's new-area
    # committee only serves the new area's streets. Two indexed halves rather than one OR,
    # which no index can serve.
    wanted = SQL("unnest(%(sets)s::int[], %(units)s::text[]) AS w(set_id, code)")
    from_o: Composable
    from_c: Composable
    if many:
        set_id, order = SQL("w.set_id, "), SQL("ORDER BY set_id, code")
        from_o = SQL("{} JOIN office_versions o ON o.unit_code = w.code").format(wanted)
        from_c = SQL("{} JOIN coverage_versions c ON c.community = w.code").format(wanted)
        match_o = match_c = SQL("true")
    else:
        set_id, order = SQL(""), SQL("ORDER BY code")
        from_o, from_c = SQL("office_versions o"), SQL("coverage_versions c")
        match_o, match_c = SQL("o.unit_code = ANY(%(units)s)"), SQL("c.community = ANY(%(units)s)")
    return SQL(
        "SELECT {set_id}o.kind, o.code, o.name, o.unit_code, o.address_text, "
        "ST_X(o.address) AS lon, ST_Y(o.address) AS lat, o.serves FROM {from_o} "
        "WHERE {match_o} AND o.kind <> %(workstation)s "
        "AND cardinality(o.serves) = 0 "
        "AND o.valid @> %(day)s::date AND {office_believed} "
        "UNION ALL "
        "SELECT {set_id}o.kind, o.code, o.name, o.unit_code, o.address_text, ST_X(o.address), "
        "ST_Y(o.address), o.serves FROM {from_c} JOIN office_versions o "
        "ON o.code = c.workstation AND o.valid = c.valid AND o.recorded = c.recorded "
        "WHERE {match_c} AND c.valid @> %(day)s::date AND {coverage_believed} "
        "{order}"
    ).format(
        set_id=set_id,
        from_o=from_o,
        from_c=from_c,
        match_o=match_o,
        match_c=match_c,
        order=order,
        office_believed=believed(as_recorded, "o"),
        coverage_believed=believed(as_recorded, "c"),
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
            "day": day,
            "as_recorded": as_recorded,
            "workstation": WORKSTATION,
            "matter": matter,
        }
        prepare = as_recorded is None
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            units = self._units(cursor, [lon], [lat], day, as_recorded)[0]
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

    def lookups(
        self,
        units: list[list[UnitHit]],
        day: date,
        as_recorded: datetime | None = None,
        matter: str | None = None,
    ) -> list[LookupResult]:
        """`lookup`'s answers for points whose units are known (`batch`): the offices of
        every distinct unit set in one statement, the matter read once, whatever the number
        of points. Points with the same units (boundary flags too) share one answer."""
        params: dict[str, Any] = {
            "day": day,
            "as_recorded": as_recorded,
            "workstation": WORKSTATION,
            "matter": matter,
        }
        keys = [tuple(u.code for u in found) for found in units]
        # Each distinct set of codes, numbered in order of first appearance.
        set_of = {key: n for n, key in enumerate(dict.fromkeys(keys))}
        params["sets"] = [n for key, n in set_of.items() for _ in key]
        params["units"] = [code for key in set_of for code in key]
        offices: dict[int, list[OfficeHit]] = {}
        matter_row = None
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            if params["units"]:
                for row in cursor.execute(_offices_sql(as_recorded, many=True), params):
                    offices.setdefault(row.pop("set_id"), []).append(office_from_row(row))
            if matter is not None:
                found = cursor.execute(_matter_sql(as_recorded), params).fetchone()
                if found is None:
                    raise UnknownMatter(matter, day)
                matter_row = (found["matter"], found["name"], found["office_kind"], found["level"])
        # Offices and the responsible office follow from the codes; a point's own units also
        # say whether it lies on their boundary.
        answers: dict[tuple[tuple[str, bool], ...], LookupResult] = {}
        results = []
        for hits, key in zip(units, keys, strict=True):
            flagged = tuple((u.code, u.on_boundary) for u in hits)
            answer = answers.get(flagged)
            if answer is None:
                ordered = order_offices(offices.get(set_of[key], []), hits)
                responsible = None
                if matter_row is not None:
                    responsible = responsible_office(matter_row, hits, ordered)
                answer = answers[flagged] = LookupResult(hits, ordered, responsible)
            results.append(answer)
        return results

    def first_day(self, as_recorded: datetime | None = None) -> date | None:
        """The first day any unit is valid (as recorded at `as_recorded`): where the register
        begins; None if it holds no unit."""
        statement = SQL("SELECT min(lower(valid)) AS first FROM unit_versions WHERE {}").format(
            believed(as_recorded)
        )
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            row = cursor.execute(statement, {"as_recorded": as_recorded}).fetchone()
        first: date | None = row["first"] if row else None
        return first

    def batch(
        self,
        points: Sequence[tuple[float, float]],
        day: date,
        as_recorded: datetime | None = None,
    ) -> list[list[UnitHit]]:
        """Units for many points in one statement; results in input order."""
        lons = [p[0] for p in points]
        lats = [p[1] for p in points]
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            return self._units(cursor, lons, lats, day, as_recorded)

    def history(
        self, lon: float, lat: float, as_recorded: datetime | None = None
    ) -> list[tuple[date, date | None, list[UnitHit]]]:
        """The point's jurisdictions through time: periods with the units holding it (as
        recorded at `as_recorded`, if given)."""
        params = {"lon": lon, "lat": lat, "as_recorded": as_recorded}
        statement = _history_bytes(as_recorded is None)
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(statement, params, prepare=as_recorded is None).fetchall()
        return self._periods([UnitHit(**_without_ord(row)) for row in rows])

    def _units(
        self,
        cursor: psycopg.Cursor[dict[str, Any]],
        lons: Sequence[float],
        lats: Sequence[float],
        day: date,
        as_recorded: datetime | None,
    ) -> list[list[UnitHit]]:
        """Each point's units top down, in input order (the one statement of every lookup)."""
        params: dict[str, Any] = {"day": day, "as_recorded": as_recorded}
        if len(lons) == 1:
            params["lon"], params["lat"] = lons[0], lats[0]
        else:
            params["lons"], params["lats"] = lons, lats
        # Prepared (generic) plans only for current beliefs: PostgreSQL's generic plan for
        # "recorded @> $instant" misjudges how many rows it keeps and scans the whole range
        # index (22 ms instead of 0.4 ms per lookup on a 70,000-office register).
        prepare = as_recorded is None
        results: list[list[UnitHit]] = [[] for _ in lons]
        statement = _units_at_bytes(len(lons) == 1, as_recorded is None)
        for row in cursor.execute(statement, params, prepare=prepare):
            results[_pop_ord(row)].append(UnitHit(**row))
        for hits in results:
            hits.sort(key=lambda h: self._rank(h.level))
        return results

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


def _pop_ord(row: dict[str, Any]) -> int:
    """The row's point (0-based), taken out of the row."""
    return int(row.pop("ord")) - 1


def _without_ord(row: dict[str, Any]) -> dict[str, Any]:
    _pop_ord(row)
    return row


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

    # An office serving two of the point's units (a district and one of its streets) is one
    # office: once, in both engines.
    unique = list({o.code: o for o in offices}.values())
    return sorted(unique, key=key)


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
