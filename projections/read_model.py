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
from psycopg.sql import SQL, Composed, Identifier, Placeholder

from projections.freshness import READ_MODEL_CHANNEL


@dataclass(frozen=True, eq=False)
class VersionTable:
    """A bitemporal table: one row per version of a thing, valid over `valid`,
    believed over `recorded`. `key` identifies the thing; `expressions` wraps values that need
    a conversion in SQL (geometry from WKB)."""

    name: str
    key: str
    columns: tuple[str, ...]
    expressions: dict[str, str] = field(default_factory=dict)

    @cached_property
    def close_sql(self) -> Composed:
        """Stop believing the current version of a thing over a valid range (where it was
        believed before this instant; see `drop_sql` for the rest)."""
        return SQL(
            "UPDATE {table} SET recorded = tstzrange(lower(recorded), %(at)s) "
            "WHERE {key} = %(key)s AND valid = daterange(%(start)s, %(end)s) "
            "AND upper_inf(recorded) AND lower(recorded) < %(at)s"
        ).format(table=Identifier(self.name), key=Identifier(self.key))

    @cached_property
    def drop_sql(self) -> Composed:
        """Remove a version superseded at the very instant it was recorded.

        Two events of one change set share a timestamp; a version opened by the first and
        closed by the second was never believed at any instant, so it leaves no row rather
        than an empty range.
        """
        return SQL(
            "DELETE FROM {table} WHERE {key} = %(key)s AND valid = daterange(%(start)s, %(end)s) "
            "AND upper_inf(recorded) AND lower(recorded) >= %(at)s"
        ).format(table=Identifier(self.name), key=Identifier(self.key))

    @cached_property
    def open_sql(self) -> Composed:
        """Insert a version believed from `at` (until `until`, or for now)."""
        values = [
            SQL(self.expressions.get(column, "{}")).format(Placeholder(column))
            for column in self.columns
        ]
        return SQL(
            "INSERT INTO {table} ({key}, {columns}, valid, recorded, change_set, position) "
            "VALUES (%(key)s, {values}, daterange(%(start)s, %(end)s), tstzrange(%(at)s, "
            "%(until)s), "
            "%(change_set)s, %(position)s)"
        ).format(
            table=Identifier(self.name),
            key=Identifier(self.key),
            columns=SQL(", ").join(Identifier(c) for c in self.columns),
            values=SQL(", ").join(values),
        )


@dataclass(frozen=True, eq=False)
class AppendTable:
    """A table that only grows: one row per fact."""

    name: str
    columns: tuple[str, ...]

    @cached_property
    def insert_sql(self) -> Composed:
        """Insert one fact."""
        return SQL("INSERT INTO {table} ({columns}) VALUES ({values})").format(
            table=Identifier(self.name),
            columns=SQL(", ").join(Identifier(c) for c in self.columns),
            values=SQL(", ").join(Placeholder(c) for c in self.columns),
        )


UNIT_VERSIONS = VersionTable(
    "unit_versions",
    "unit_id",
    ("code", "level", "name", "name_en", "parent_code", "geom", "provenance"),
    {"geom": "ST_GeomFromWKB(decode({}, 'hex'), 4326)"},
)
OFFICE_VERSIONS = VersionTable(
    "office_versions",
    "code",
    ("kind", "name", "unit_code", "address", "address_text", "serves"),
    {"address": "ST_GeomFromText({}, 4326)"},
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

    def apply(self, effects: Sequence[EventEffects | None], tracking: Tracking) -> None:
        """Apply the effects of consecutive events and record `tracking`, atomically.

        The batch is first reduced to its net effect (`BatchWrites`), so a version opened and
        closed within one batch is written once, already closed, and each kind of statement
        goes to the server once per table, pipelined.
        """
        writes = BatchWrites.of(effects)
        with self.datastore.transaction(commit=True) as cursor:
            writes.write(cursor)
            self._insert_tracking(cursor, tracking)
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
    inserts: dict[VersionTable, list[dict[str, Any]]] = field(default_factory=dict)
    appends: dict[AppendTable, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, effects: Sequence[EventEffects | None]) -> BatchWrites:
        """Fold the events' effects in order into net writes."""
        writes = cls()
        opened: dict[tuple[str, str, date, date | None], tuple[VersionTable, dict[str, Any]]] = {}
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
                elif earlier[1]["at"] < item.recorded_at:
                    earlier[1]["until"] = item.recorded_at
                    writes.inserts.setdefault(row.table, []).append(earlier[1])
                # else: superseded at the instant it was recorded, never believed: no row.
            for row in item.opened:
                key = (row.table.name, row.key, row.start, row.end)
                params = {
                    "key": row.key,
                    "start": row.start,
                    "end": row.end,
                    "at": item.recorded_at,
                    "until": None,
                    "change_set": item.change_set,
                    "position": item.position,
                    **row.values,
                }
                opened[key] = (row.table, params)
            for append_table, values in item.appended:
                writes.appends.setdefault(append_table, []).append(values)
        for version_table, params in opened.values():
            writes.inserts.setdefault(version_table, []).append(params)
        return writes

    def write(self, cursor: Cursor[DictRow]) -> None:
        """Closes first: a version closed here may overlap, in valid time, one inserted here."""
        for table, rows in self.closes.items():
            cursor.executemany(table.close_sql, rows)
            cursor.executemany(table.drop_sql, rows)
        for table, rows in self.inserts.items():
            cursor.executemany(table.open_sql, rows)
        for append_table, rows in self.appends.items():
            cursor.executemany(append_table.insert_sql, rows)


def announce(cursor: Cursor[DictRow], position: int) -> None:
    """Tell this database's listeners the read model's new position (delivered on commit)."""
    cursor.execute("SELECT pg_notify(%s, %s)", (READ_MODEL_CHANNEL, str(position)))
