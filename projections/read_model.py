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


@dataclass(frozen=True)
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
        """Stop believing the current version of a thing over a valid range."""
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
        """Insert a newly believed version."""
        values = [
            SQL(self.expressions.get(column, "{}")).format(Placeholder(column))
            for column in self.columns
        ]
        return SQL(
            "INSERT INTO {table} ({key}, {columns}, valid, recorded, change_set, position) "
            "VALUES (%(key)s, {values}, daterange(%(start)s, %(end)s), tstzrange(%(at)s, NULL), "
            "%(change_set)s, %(position)s)"
        ).format(
            table=Identifier(self.name),
            key=Identifier(self.key),
            columns=SQL(", ").join(Identifier(c) for c in self.columns),
            values=SQL(", ").join(values),
        )


@dataclass(frozen=True)
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
        """Apply the effects of consecutive events and record `tracking`, atomically."""
        with self.datastore.transaction(commit=True) as cursor:
            for item in effects:
                if item is not None:
                    _apply_one(cursor, item)
            self._insert_tracking(cursor, tracking)

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


def _apply_one(cursor: Cursor[DictRow], effects: EventEffects) -> None:
    common = {
        "at": effects.recorded_at,
        "change_set": effects.change_set,
        "position": effects.position,
    }
    for row in effects.closed:
        params = {"key": row.key, "start": row.start, "end": row.end, **common}
        cursor.execute(row.table.close_sql, params, prepare=True)
        cursor.execute(row.table.drop_sql, params, prepare=True)
    for row in effects.opened:
        params = {"key": row.key, "start": row.start, "end": row.end, **common, **row.values}
        cursor.execute(row.table.open_sql, params, prepare=True)
    for table, values in effects.appended:
        cursor.execute(table.insert_sql, values, prepare=True)
