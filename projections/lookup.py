"""Point-in-jurisdiction lookups over the bitemporal unit versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed
from psycopg_pool import ConnectionPool

from domain.levels import LevelScheme


@dataclass(frozen=True)
class UnitHit:
    """The version of one unit that holds a point on a date."""

    level: str
    code: str
    name: str
    valid_from: date
    valid_to: date | None
    on_boundary: bool


def _believed(as_recorded: datetime | None) -> SQL:
    # Two statements rather than one with an OR: each keeps its own index-friendly plan.
    if as_recorded is None:
        return SQL("upper_inf(recorded)")
    return SQL("recorded @> %(as_recorded)s::timestamptz")


def _units_at_sql(as_recorded: datetime | None) -> Composed:
    # One row per level: a point exactly on a shared boundary touches both neighbours; the one
    # whose interior holds the point wins, then the lowest code, so the answer is stable.
    return SQL(
        "SELECT DISTINCT ON (level) level, code, name, lower(valid) AS valid_from, "
        "upper(valid) AS valid_to, "
        "NOT ST_Contains(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)) AS on_boundary "
        "FROM unit_versions "
        "WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)) "
        "AND valid @> %(day)s::date AND {believed} "
        "ORDER BY level, on_boundary, code"
    ).format(believed=_believed(as_recorded))


class LookupEngine:
    """Answers "which units hold this point on this date" from the read model."""

    def __init__(self, pool: ConnectionPool, levels: LevelScheme) -> None:
        self.pool = pool
        self.levels = levels

    def units_at(
        self, lon: float, lat: float, day: date, as_recorded: datetime | None = None
    ) -> list[UnitHit]:
        """Every level's unit holding the point on `day`, top down."""
        params = {"lon": lon, "lat": lat, "day": day, "as_recorded": as_recorded}
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(_units_at_sql(as_recorded), params, prepare=True).fetchall()
        hits = [UnitHit(**row) for row in rows]
        return sorted(hits, key=lambda hit: self._rank(hit.level))

    def _rank(self, level: str) -> int:
        return self.levels.rank(level) if level in self.levels else len(self.levels.names)
