"""The read model's writer: PostGIS rows and the tracking record, in one transaction.

`ReadModelView` is an `eventsourcing` tracking recorder, so the position of the last event
applied lives in the same database and the same transaction as the rows it produced: after a
crash the projection resumes exactly where the last committed batch ended, with nothing lost
and nothing applied twice.

Two shapes of table: *version tables* (units, offices, matters) hold bitemporal versions that
are opened and closed; *append tables* (history, lineage, the change-set log) only grow. The
tables themselves are created by the Alembic migrations (see ``migrations/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from projections import change_log, stall
from projections.freshness import READ_MODEL_CHANNEL

#: The valid range [start, end) matched by its bounds (see `VersionTable.close_sql`).
_SAME_VALID = SQL(
    "lower(valid) = %(start)s::date AND upper(valid) IS NOT DISTINCT FROM %(end)s::date"
)


@dataclass(frozen=True, eq=False)
class VersionTable:
    """A bitemporal table: one row per version of a thing, valid over `valid`,
    believed over `recorded`. `key` identifies the thing; `geometries` are the columns given as
    hex WKB or WKT in lon/lat (EPSG:4326)."""

    name: str
    key: str
    columns: tuple[str, ...]
    geometries: frozenset[str] = frozenset()

    @cached_property
    def close_sql(self) -> Composed:
        """Stop believing the current version of a thing over a valid range (where it was
        believed before this instant; see `drop_sql` for the rest).

        The valid range is matched by its bounds, not by range equality: PostgreSQL takes
        `valid = ...` as nearly unique and served it from the (level, valid) GiST index, which
        on a register where most units share their founding range scanned them all (130 ms per
        closed version on 290,000 units); by its bounds, the key's own index finds the row.
        """
        return SQL(
            "UPDATE {table} SET recorded = tstzrange(lower(recorded), %(at)s) "
            "WHERE {key} = %(key)s AND {same_valid} "
            "AND upper_inf(recorded) AND lower(recorded) < %(at)s"
        ).format(table=Identifier(self.name), key=Identifier(self.key), same_valid=_SAME_VALID)

    @cached_property
    def drop_sql(self) -> Composed:
        """Remove a version superseded at the very instant it was recorded.

        Two events of one change set share a timestamp; a version opened by the first and
        closed by the second was never believed at any instant, so it leaves no row rather
        than an empty range.
        """
        return SQL(
            "DELETE FROM {table} WHERE {key} = %(key)s AND {same_valid} "
            "AND upper_inf(recorded) AND lower(recorded) >= %(at)s"
        ).format(table=Identifier(self.name), key=Identifier(self.key), same_valid=_SAME_VALID)

    @cached_property
    def copy_sql(self) -> Composed:
        """Insert versions (rows of `copy_row`), in COPY's text format: one statement per
        table and batch, no per-row statement for the server to execute."""
        columns = (self.key, *self.columns, "valid", "recorded", "change_set", "position")
        return SQL("COPY {table} ({columns}) FROM STDIN").format(
            table=Identifier(self.name), columns=SQL(", ").join(Identifier(c) for c in columns)
        )

    def copy_row(
        self, row: VersionRow, at: datetime, until: datetime | None, change_set: str, position: int
    ) -> tuple[Any, ...]:
        """A version believed from `at` (until `until`, or for now), as `copy_sql` reads it.

        Ranges are written as their canonical text (``[start,end)``), geometries as EWKB/EWKT
        (``SRID=4326;`` in front): what the server parses is what ``daterange(..)`` and
        ``ST_GeomFromWKB(.., 4326)`` would have built, without a function call per row.
        """
        values = row.values
        return (
            row.key,
            *(_with_srid(values[c]) if c in self.geometries else values[c] for c in self.columns),
            f"[{row.start.isoformat()},{'' if row.end is None else row.end.isoformat()})",
            f"[{at.isoformat()},{'' if until is None else until.isoformat()})",
            change_set,
            position,
        )


def _with_srid(geometry: str | None) -> str | None:
    return None if geometry is None else "SRID=4326;" + geometry


@dataclass(frozen=True, eq=False)
class AppendTable:
    """A table that only grows: one row per fact."""

    name: str
    columns: tuple[str, ...]

    @cached_property
    def copy_sql(self) -> Composed:
        """Insert facts (rows of `copy_row`), in COPY's text format."""
        return SQL("COPY {table} ({columns}) FROM STDIN").format(
            table=Identifier(self.name),
            columns=SQL(", ").join(Identifier(c) for c in self.columns),
        )

    def copy_row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """One fact, as `copy_sql` reads it."""
        return tuple(values[c] for c in self.columns)


UNIT_VERSIONS = VersionTable(
    "unit_versions",
    "unit_id",
    ("code", "level", "name", "name_en", "parent_code", "geom", "provenance"),
    frozenset({"geom"}),
)
OFFICE_VERSIONS = VersionTable(
    "office_versions",
    "code",
    ("kind", "name", "unit_code", "address", "address_text", "serves"),
    frozenset({"address"}),
)
MATTER_VERSIONS = VersionTable("matter_versions", "matter", ("name", "office_kind", "level"))
UNIT_EVENTS = AppendTable(
    "unit_events",
    (
        "code",
        "event",
        "operation",
        "effective",
        "recorded_at",
        "actor",
        "reason",
        "document",
        "change_set",
        "position",
        "details",
    ),
)
LINEAGE_EDGES = AppendTable(
    "lineage_edges",
    ("predecessor", "successor", "kind", "effective", "recorded_at", "change_set", "position"),
)
CHANGE_SET_LOG = AppendTable(
    "change_set_log",
    (
        "id",
        "effective",
        "recorded_at",
        "actor",
        "reason",
        "document",
        "operations",
        "units",
        "events",
        "position",
    ),
)

#: Every table a rebuild empties (derived tables kept by triggers included).
READ_MODEL_TABLES = (
    "unit_versions",
    "unit_version_parts",
    "office_versions",
    "coverage_versions",
    "matter_versions",
    "unit_events",
    "lineage_edges",
    "change_set_log",
)


@dataclass(frozen=True)
class VersionRow:
    """One version of a thing in a version table, to open or to close."""

    table: VersionTable
    key: str
    start: date
    end: date | None
    values: dict[str, Any]

    @cached_property
    def identity(self) -> tuple[Any, ...]:
        """The row by content (lists as tuples): rows of equal identity are one version."""
        values = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in self.values.items())
        return (self.table.name, self.key, self.start, self.end, values)


@dataclass(frozen=True)
class EventEffects:
    """What one event does to the read model.

    `recorded_at` is the event's timestamp: closed versions stop being believed then, opened
    ones start. Time columns always come from events, never from the clock, so a rebuild
    writes exactly the rows the live projection wrote.
    """

    position: int
    recorded_at: datetime
    change_set: str
    closed: tuple[VersionRow, ...] = ()
    opened: tuple[VersionRow, ...] = ()
    appended: tuple[tuple[AppendTable, dict[str, Any]], ...] = ()

    def is_empty(self) -> bool:
        """Whether the event changes nothing in the read model."""
        return not (self.closed or self.opened or self.appended)


class ReadModelView(PostgresTrackingRecorder):
    """Writes batches of event effects together with the tracking record."""

    def apply(
        self, effects: Sequence[EventEffects | None] | BatchWrites, tracking: Tracking
    ) -> None:
        """Apply the effects of consecutive events and record `tracking`, atomically.

        The batch is first reduced to its net effect (`BatchWrites`; a caller that writes on
        another thread passes it already reduced), so a version opened and closed within one
        batch is written once, already closed, and each table gets one COPY.
        """
        writes = effects if isinstance(effects, BatchWrites) else BatchWrites.of(effects)
        with self.datastore.transaction(commit=True) as cursor:
            writes.write(cursor)
            change_log.record(cursor, tracking.notification_id, writes.touched())
            self._insert_tracking(cursor, tracking)
            # Applied past a recorded stall: it is over, in the same transaction.
            stall.clear(cursor, tracking.application_name, tracking.notification_id)
            announce(cursor, tracking.notification_id)

    def reset(self, application_name: str) -> None:
        """Empty the read model and forget the position, in one transaction.

        Deleting the tracking row, not truncating the table: truncation would also remove the
        library's ``__migration__`` row and trigger its legacy-table migration on next start.
        """
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL("TRUNCATE {}").format(SQL(", ").join(Identifier(t) for t in READ_MODEL_TABLES))
            )
            change_log.restart(cursor)
            cursor.execute(
                SQL("DELETE FROM {} WHERE application_name = %s").format(
                    Identifier(self.tracking_table_name)
                ),
                (application_name,),
            )
            announce(cursor, 0)


@dataclass
class BatchWrites:
    """The net writes of consecutive events, grouped by statement."""

    closes: dict[VersionTable, list[dict[str, Any]]] = field(default_factory=dict)
    inserts: dict[VersionTable, list[tuple[Any, ...]]] = field(default_factory=dict)
    appends: dict[AppendTable, list[tuple[Any, ...]]] = field(default_factory=dict)

    @classmethod
    def of(cls, effects: Sequence[EventEffects | None]) -> BatchWrites:
        """Fold the events' effects in order into net writes."""
        writes = cls()
        opened: dict[tuple[str, str, date, date | None], tuple[VersionRow, EventEffects]] = {}
        for item in effects:
            if item is None:
                continue
            for row in item.closed:
                key = (row.table.name, row.key, row.start, row.end)
                earlier = opened.pop(key, None)
                if earlier is None:
                    # Believed since an earlier batch: close (or drop) it in the database.
                    params = {
                        "key": row.key,
                        "start": row.start,
                        "end": row.end,
                        "at": item.recorded_at,
                    }
                    writes.closes.setdefault(row.table, []).append(params)
                elif earlier[1].recorded_at < item.recorded_at:
                    writes._insert(earlier[0], earlier[1], until=item.recorded_at)
                # else: superseded at the instant it was recorded, never believed: no row.
            for row in item.opened:
                opened[(row.table.name, row.key, row.start, row.end)] = (row, item)
            for append_table, values in item.appended:
                writes.appends.setdefault(append_table, []).append(append_table.copy_row(values))
        for row, item in opened.values():
            writes._insert(row, item, until=None)
        return writes

    def _insert(self, row: VersionRow, opener: EventEffects, until: datetime | None) -> None:
        self.inserts.setdefault(row.table, []).append(
            row.table.copy_row(row, opener.recorded_at, until, opener.change_set, opener.position)
        )

    def touched(self) -> dict[str, set[str]]:
        """The keys of the things whose versions these writes open or close, by kind."""
        found: dict[str, set[str]] = {}
        for table, params in self.closes.items():
            found.setdefault(change_log.KIND_OF_TABLE[table.name], set()).update(
                str(p["key"]) for p in params
            )
        for table, rows in self.inserts.items():
            found.setdefault(change_log.KIND_OF_TABLE[table.name], set()).update(
                str(r[0]) for r in rows
            )
        return found

    def write(self, cursor: Cursor[DictRow]) -> None:
        """Closes first: a version closed here may overlap, in valid time, one inserted here.

        Inserts go by COPY, one per table: in a rebuild nearly every write is an insert.
        """
        for table, params in self.closes.items():
            cursor.executemany(table.close_sql, params)
            cursor.executemany(table.drop_sql, params)
        copies: list[tuple[Composed, list[tuple[Any, ...]]]] = [
            *((t.copy_sql, rows) for t, rows in self.inserts.items()),
            *((t.copy_sql, rows) for t, rows in self.appends.items()),
        ]
        for statement, rows in copies:
            with cursor.copy(statement) as copy:
                for values in rows:
                    copy.write_row(values)


def announce(cursor: Cursor[DictRow], position: int) -> None:
    """Tell this database's listeners the read model's new position (delivered on commit)."""
    cursor.execute("SELECT pg_notify(%s, %s)", (READ_MODEL_CHANNEL, str(position)))
