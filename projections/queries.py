"""Temporal queries over the read model: layers on a date, histories, lineage, diffs, the log.

Every query takes the valid date and, where it matters, an `as_recorded` instant; all SQL is
composed with `psycopg.sql` and parameters, never by formatting user text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Composed

from projections.lookup import believed, recorded_by
from projections.routing import ConnectionSource

#: Geometry as GeoJSON with 7 decimals (about 1 cm), as stored in events.
GEOJSON = SQL("ST_AsGeoJSON(geom, 7)::json")


@dataclass(frozen=True)
class Page:
    """A slice of a longer result."""

    items: list[dict[str, Any]]
    total: int


class ReadModelQueries:
    """Read-only queries for the API, the maps and the exports."""

    def __init__(self, pool: ConnectionSource) -> None:
        self.pool = pool

    def _all(self, statement: Composed | SQL, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(statement, params).fetchall()

    # Units on a date -------------------------------------------------------------------------

    def units_on(
        self,
        day: date,
        *,
        level: str | None = None,
        parent: str | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        as_recorded: datetime | None = None,
        geometry: bool = True,
        simplify: float | None = None,
        limit: int | None = None,
        offset: int = 0,
        q: str | None = None,
    ) -> Page:
        """Units valid on `day`, filtered by level, parent, bounding box and name, by code.

        `q` matches part of the Chinese name (西乡, 大浪街道) or the start of the romanised
        name or of one of its words, ignoring case, spaces and apostrophes (xixiang, baoan,
        Bao'an, "long hua").
        """
        conditions: list[Composable] = [
            SQL("valid @> %(day)s::date"),
            believed(as_recorded),
        ]
        if level is not None:
            conditions.append(SQL("level = %(level)s"))
        if parent is not None:
            conditions.append(SQL("parent_code = %(parent)s"))
        if bbox is not None:
            conditions.append(SQL("geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)"))
        if q is not None:
            conditions.append(
                SQL(
                    "(strpos(name, %(q)s) > 0 OR (%(roman)s <> '' AND ("
                    "lower(regexp_replace(name_en, '[^[:alnum:]]', '', 'g')) LIKE %(prefix)s "
                    "OR lower(regexp_replace(name_en, '[^[:alnum:][:space:]]', '', 'g')) "
                    "LIKE %(word)s)))"
                )
            )
        where = SQL(" AND ").join(conditions)
        shape: Composable = SQL("NULL::json")
        if geometry:
            shape = (
                SQL("ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, %(simplify)s), 7)::json")
                if simplify
                else GEOJSON
            )
        statement = SQL(
            "SELECT code, name, name_en, level, parent_code AS parent, lower(valid) AS valid_from, "
            "upper(valid) AS valid_to, provenance, {shape} AS geometry, "
            "count(*) OVER () AS total FROM unit_versions WHERE {where} ORDER BY code "
            "LIMIT %(limit)s OFFSET %(offset)s"
        ).format(shape=shape, where=where)
        params: dict[str, Any] = {
            "day": day,
            "level": level,
            "parent": parent,
            "as_recorded": as_recorded,
            "simplify": simplify,
            "limit": limit,
            "offset": offset,
            **_name_patterns(q),
        }
        if bbox is not None:
            params.update(zip(("w", "s", "e", "n"), bbox, strict=True))
        rows = self._all(statement, params)
        total = int(rows[0]["total"]) if rows else 0
        if not rows and offset:
            total = self._count(where, params)
        for row in rows:
            row.pop("total")
        return Page(rows, total)

    def _count(self, where: Composed, params: dict[str, Any]) -> int:
        statement = SQL("SELECT count(*) AS n FROM unit_versions WHERE {}").format(where)
        return int(self._all(statement, params)[0]["n"])

    def geometries_on(self, day: date, level: str) -> dict[str, str]:
        """Hex WKB geometry of every unit of `level` valid on `day`, by code."""
        statement = SQL(
            "SELECT code, encode(ST_AsBinary(geom), 'hex') AS wkb FROM unit_versions "
            "WHERE level = %(level)s AND valid @> %(day)s::date AND upper_inf(recorded)"
        )
        return {r["code"]: r["wkb"] for r in self._all(statement, {"day": day, "level": level})}

    def children_on(self, day: date, parents: list[str]) -> list[dict[str, Any]]:
        """The units under `parents` valid on `day`: code, name, level, parent and hex WKB
        (the stored bytes, so a child that follows a parent is measured exactly)."""
        statement = SQL(
            "SELECT code, name, level, parent_code AS parent, "
            "encode(ST_AsBinary(geom), 'hex') AS wkb FROM unit_versions "
            "WHERE parent_code = ANY(%(parents)s) AND valid @> %(day)s::date "
            "AND upper_inf(recorded) ORDER BY code"
        )
        return self._all(statement, {"day": day, "parents": list(parents)})

    def unit_on(
        self, code: str, day: date, as_recorded: datetime | None = None
    ) -> dict[str, Any] | None:
        """One unit's version on `day`, with its offices; None if it was not live then."""
        statement = SQL(
            "SELECT code, name, name_en, level, parent_code AS parent, lower(valid) AS valid_from, "
            "upper(valid) AS valid_to, provenance, {geojson} AS geometry, "
            "ST_Area(geom::geography) AS area_m2 FROM unit_versions "
            "WHERE code = %(code)s AND valid @> %(day)s::date AND {believed}"
        ).format(geojson=GEOJSON, believed=believed(as_recorded))
        params = {"code": code, "day": day, "as_recorded": as_recorded}
        rows = self._all(statement, params)
        if not rows:
            return None
        unit = rows[0]
        unit["offices"] = self.offices_of(code, day, as_recorded)
        return unit

    def offices_of(
        self, code: str, day: date, as_recorded: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Offices belonging to a unit on `day`, and for a community its workstation."""
        statement = SQL(
            "SELECT kind, code, name, unit_code AS unit, address_text AS address, serves, "
            "lower(valid) AS valid_from, upper(valid) AS valid_to FROM office_versions "
            "WHERE valid @> %(day)s::date AND {believed} "
            "AND (unit_code = %(code)s OR serves @> ARRAY[%(code)s]::text[]) ORDER BY kind, code"
        ).format(believed=believed(as_recorded))
        return self._all(statement, {"code": code, "day": day, "as_recorded": as_recorded})

    def unit_exists(self, code: str) -> bool:
        """Whether the read model knows the code at all (on any date)."""
        rows = self._all(
            SQL("SELECT 1 AS x FROM unit_versions WHERE code = %(code)s LIMIT 1"), {"code": code}
        )
        return bool(rows)

    def levels_present(self) -> list[str]:
        """Levels that have at least one unit."""
        rows = self._all(SQL("SELECT DISTINCT level FROM unit_versions"), {})
        return [r["level"] for r in rows]

    # History and lineage ---------------------------------------------------------------------

    def unit_history(self, code: str, as_recorded: datetime | None = None) -> list[dict[str, Any]]:
        """Every change to a unit (recorded by `as_recorded`, if given), in the order recorded."""
        statement = SQL(
            "SELECT effective, recorded_at, operation, event, actor, reason, document, "
            "change_set, position, details FROM unit_events WHERE code = %(code)s AND {known} "
            "ORDER BY position"
        ).format(known=recorded_by(as_recorded))
        return self._all(statement, {"code": code, "as_recorded": as_recorded})

    def lineage(
        self, code: str, as_recorded: datetime | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Predecessors and successors of a unit, transitively, with change kind and date
        (only the links recorded by `as_recorded`, if given)."""
        statement = SQL(
            "WITH RECURSIVE up(code, depth) AS ("
            "  SELECT %(code)s::text, 0 UNION "
            "  SELECT e.predecessor, up.depth + 1 FROM lineage_edges e JOIN up ON e.successor = "
            "up.code "
            "  WHERE up.depth < 50 AND {known}), "
            "down(code, depth) AS ("
            "  SELECT %(code)s::text, 0 UNION "
            "  SELECT e.successor, down.depth + 1 FROM lineage_edges e JOIN down ON "
            "e.predecessor = down.code "
            "  WHERE down.depth < 50 AND {known}) "
            "SELECT 'predecessors' AS direction, e.predecessor, e.successor, e.kind, e.effective, "
            "  e.change_set, min(up.depth) AS depth "
            "FROM lineage_edges e JOIN up ON e.successor = up.code WHERE {known} "
            "GROUP BY 1, 2, 3, 4, 5, 6 "
            "UNION ALL "
            "SELECT 'successors', e.predecessor, e.successor, e.kind, e.effective, e.change_set, "
            "  min(down.depth) FROM lineage_edges e JOIN down ON e.predecessor = down.code "
            "WHERE {known} GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 7, 5, 2, 3"
        ).format(known=recorded_by(as_recorded, "e"))
        out: dict[str, list[dict[str, Any]]] = {"predecessors": [], "successors": []}
        for row in self._all(statement, {"code": code, "as_recorded": as_recorded}):
            direction = row.pop("direction")
            row["depth"] = row["depth"] + 1
            out[direction].append(row)
        return out

    def changes(
        self,
        before: date,
        after: date,
        level: str | None = None,
        as_recorded: datetime | None = None,
    ) -> dict[str, list[dict[str, Any]]]:
        """What differs between the map on `before` and on `after` (as recorded at
        `as_recorded`, if given), each change with its names and the acts that made it."""
        level_filter = SQL("AND u.level = %(level)s") if level else SQL("")
        side = (
            "SELECT u.code, u.name, u.level, u.parent_code, u.geom "
            "FROM unit_versions u WHERE u.valid @> {day}::date AND {believed_u} {lf}"
        )
        sides = {
            name: SQL(side).format(
                day=SQL(f"%({name})s"), believed_u=believed(as_recorded, "u"), lf=level_filter
            )
            for name in ("before", "after")
        }
        statement = SQL(
            "WITH a AS ({before}), b AS ({after}) "
            "SELECT coalesce(a.code, b.code) AS code, coalesce(b.level, a.level) AS level, "
            "  a.name AS name_before, b.name AS name_after, "
            "  a.parent_code AS parent_before, b.parent_code AS parent_after, "
            "  (a.code IS NULL) AS established, (b.code IS NULL) AS ended, "
            "  (a.code IS NOT NULL AND b.code IS NOT NULL AND NOT ST_Equals(a.geom, b.geom)) AS "
            "redrawn, "
            "  CASE WHEN a.geom IS NOT NULL AND b.geom IS NOT NULL AND NOT ST_Equals(a.geom, "
            "b.geom) "
            "    THEN ST_Area(ST_Difference(b.geom, a.geom)::geography) END AS area_gained_m2, "
            "  CASE WHEN a.geom IS NOT NULL AND b.geom IS NOT NULL AND NOT ST_Equals(a.geom, "
            "b.geom) "
            "    THEN ST_Area(ST_Difference(a.geom, b.geom)::geography) END AS area_lost_m2 "
            "FROM a FULL JOIN b ON a.code = b.code "
            "WHERE a.code IS NULL OR b.code IS NULL OR a.name <> b.name "
            "  OR a.parent_code IS DISTINCT FROM b.parent_code OR NOT ST_Equals(a.geom, b.geom) "
            "ORDER BY level, code"
        ).format(**sides)
        params = {"before": before, "after": after, "level": level, "as_recorded": as_recorded}
        rows = self._all(statement, params)
        acts = self._acts([row["code"] for row in rows], before, after, as_recorded)
        # Parents' names, for the changed units only (a correlated lookup per unit of both
        # maps was quadratic on a register not yet analysed).
        for side, day in (("before", before), ("after", after)):
            parents = {row[f"parent_{side}"] for row in rows} - {None}
            names = self.names_on(sorted(parents), day, as_recorded)
            for row in rows:
                row[f"parent_name_{side}"] = names.get(row[f"parent_{side}"])
        out: dict[str, list[dict[str, Any]]] = {
            "established": [],
            "ended": [],
            "redrawn": [],
            "renamed": [],
            "transferred": [],
        }
        for row in rows:
            made_by = acts.get(row["code"], [])
            last = made_by[-1] if made_by else {}
            base = {
                "code": row["code"],
                "level": row["level"],
                "name": row["name_after"] if row["name_after"] is not None else row["name_before"],
                "effective": last.get("effective"),
                "change_set": last.get("change_set"),
                "reason": last.get("reason"),
                "document": last.get("document"),
                "acts": made_by,
            }
            if row["established"]:
                out["established"].append(
                    {
                        **base,
                        "parent": row["parent_after"],
                        "parent_name": row["parent_name_after"],
                    }
                )
                continue
            if row["ended"]:
                out["ended"].append(
                    {
                        **base,
                        "parent": row["parent_before"],
                        "parent_name": row["parent_name_before"],
                    }
                )
                continue
            if row["redrawn"]:
                gained, lost = row["area_gained_m2"] or 0.0, row["area_lost_m2"] or 0.0
                out["redrawn"].append(
                    {
                        **base,
                        "area_gained_m2": round(gained, 1),
                        "area_lost_m2": round(lost, 1),
                        "area_moved_m2": round(gained + lost, 1),
                    }
                )
            if row["name_before"] != row["name_after"]:
                out["renamed"].append(
                    {**base, "name_before": row["name_before"], "name_after": row["name_after"]}
                )
            if row["parent_before"] != row["parent_after"]:
                out["transferred"].append(
                    {
                        **base,
                        "parent_before": row["parent_before"],
                        "parent_after": row["parent_after"],
                        "parent_name_before": row["parent_name_before"],
                        "parent_name_after": row["parent_name_after"],
                    }
                )
        return out

    def names_on(
        self, codes: list[str], day: date, as_recorded: datetime | None = None
    ) -> dict[str, str]:
        """The names of units on `day` (as recorded at `as_recorded`), by code."""
        if not codes:
            return {}
        statement = SQL(
            "SELECT code, name FROM unit_versions "
            "WHERE code = ANY(%(codes)s) AND valid @> %(day)s::date AND {believed}"
        ).format(believed=believed(as_recorded))
        params = {"codes": codes, "day": day, "as_recorded": as_recorded}
        return {row["code"]: row["name"] for row in self._all(statement, params)}

    def _acts(
        self, codes: list[str], before: date, after: date, as_recorded: datetime | None
    ) -> dict[str, list[dict[str, Any]]]:
        """Per unit, the change sets effective after `before` and by `after` that changed it,
        in the order recorded: what made each difference between the two maps."""
        if not codes:
            return {}
        statement = SQL(
            "SELECT code, change_set, min(effective) AS effective, min(reason) AS reason, "
            "  min(document) AS document, "
            "  array_agg(DISTINCT operation ORDER BY operation) AS operations, "
            "  min(position) AS first_position "
            "FROM unit_events WHERE code = ANY(%(codes)s) AND effective > %(before)s::date "
            "  AND effective <= %(after)s::date AND {known} "
            "GROUP BY code, change_set ORDER BY code, first_position"
        ).format(known=recorded_by(as_recorded))
        params = {"codes": codes, "before": before, "after": after, "as_recorded": as_recorded}
        found: dict[str, list[dict[str, Any]]] = {}
        for row in self._all(statement, params):
            code = row.pop("code")
            row.pop("first_position")
            found.setdefault(code, []).append(row)
        return found

    # The log of legal acts ---------------------------------------------------------------------

    def change_sets(self, limit: int = 100, offset: int = 0) -> Page:
        """Applied change sets, most recently recorded first."""
        statement = SQL(
            "SELECT id, effective, recorded_at, actor, reason, document, units, events, position, "
            "count(*) OVER () AS total FROM change_set_log ORDER BY position DESC "
            "LIMIT %(limit)s OFFSET %(offset)s"
        )
        rows = self._all(statement, {"limit": limit, "offset": offset})
        total = int(rows[0]["total"]) if rows else 0
        for row in rows:
            row.pop("total")
        return Page(rows, total)

    def change_set(self, change_set: str) -> dict[str, Any] | None:
        """One change set with its operations."""
        statement = SQL(
            "SELECT id, effective, recorded_at, actor, reason, document, operations, units, "
            "events, position FROM change_set_log WHERE id = %(id)s::uuid"
        )
        rows = self._all(statement, {"id": change_set})
        return rows[0] if rows else None


def _name_patterns(q: str | None) -> dict[str, str | None]:
    """The parameters of a name search: the text, and LIKE patterns for the romanised name."""
    if q is None:
        return {"q": None, "roman": None, "prefix": None, "word": None}
    text = q.strip()
    roman = "".join(c for c in text.lower() if c.isascii() and c.isalnum())
    return {"q": text, "roman": roman, "prefix": f"{roman}%", "word": f"% {roman}%"}


def as_feature(unit: dict[str, Any]) -> dict[str, Any]:
    """A unit row as a GeoJSON Feature (geometry out, the rest as properties)."""
    properties = {k: v for k, v in unit.items() if k != "geometry"}
    geometry = unit.get("geometry")
    if isinstance(geometry, str):
        geometry = json.loads(geometry)
    return {"type": "Feature", "id": unit["code"], "geometry": geometry, "properties": properties}
