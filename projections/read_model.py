"""The read model's writer: PostGIS rows and the tracking record, in one transaction.

`ReadModelView` is an `eventsourcing` tracking recorder, so the position of the last event
applied lives in the same database and the same transaction as the rows it produced: after a
crash the projection resumes exactly where the last committed batch ended, with nothing lost
and nothing applied twice.

The tables themselves are created by the Alembic migrations (see ``migrations/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from domain.units import UnitVersion

#: The tables a rebuild empties; the order respects nothing in particular (no foreign keys).
READ_MODEL_TABLES = ("unit_versions", "change_set_log")


@dataclass(frozen=True)
class VersionRow:
    """One valid-time version of a unit, as a row to open or close."""

    unit_id: str
    version: UnitVersion


@dataclass(frozen=True)
class EventEffects:
    """What one event does to the read model: versions no longer believed, and new ones.

    `recorded_at` is the event's timestamp: closed rows stop being believed then, opened rows
    start. Time columns always come from events, never from the clock, so a rebuild writes
    exactly the rows the live projection wrote.
    """

    position: int
    recorded_at: datetime
    change_set: str
    closed: tuple[VersionRow, ...] = ()
    opened: tuple[VersionRow, ...] = ()
    change_set_entry: dict[str, object] | None = None


class ReadModelView(PostgresTrackingRecorder):
    """Writes batches of event effects together with the tracking record."""

    def apply(self, effects: Sequence[EffectsOrNone], tracking: Tracking) -> None:
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
            for table in READ_MODEL_TABLES:
                cursor.execute(SQL("TRUNCATE {}").format(Identifier(table)))
            cursor.execute(
                SQL("DELETE FROM {} WHERE application_name = %s").format(
                    Identifier(self.tracking_table_name)
                ),
                (application_name,),
            )


EffectsOrNone = EventEffects | None

_CLOSE = SQL(
    "UPDATE unit_versions SET recorded = tstzrange(lower(recorded), %(at)s) "
    "WHERE unit_id = %(unit_id)s AND valid = daterange(%(start)s, %(end)s) "
    "AND upper_inf(recorded) AND lower(recorded) < %(at)s"
)
# A version superseded at the very instant it was recorded (two events of one change set)
# was never believed at any instant: it leaves no row rather than an empty range.
_DROP = SQL(
    "DELETE FROM unit_versions "
    "WHERE unit_id = %(unit_id)s AND valid = daterange(%(start)s, %(end)s) "
    "AND upper_inf(recorded) AND lower(recorded) >= %(at)s"
)
_OPEN = SQL(
    "INSERT INTO unit_versions (unit_id, code, level, name, name_en, parent_code, valid, "
    "recorded, geom, change_set, position) VALUES (%(unit_id)s, %(code)s, %(level)s, "
    "%(name)s, %(name_en)s, %(parent)s, daterange(%(start)s, %(end)s), "
    "tstzrange(%(at)s, NULL), ST_GeomFromWKB(decode(%(geometry)s, 'hex'), 4326), "
    "%(change_set)s, %(position)s)"
)
_LOG = SQL(
    "INSERT INTO change_set_log (id, effective, recorded_at, actor, reason, document, "
    "operations, units, events, position) VALUES (%(id)s, %(effective)s, %(recorded_at)s, "
    "%(actor)s, %(reason)s, %(document)s, %(operations)s, %(units)s, %(events)s, %(position)s)"
)


def _apply_one(cursor: Cursor[DictRow], effects: EventEffects) -> None:
    for row in effects.closed:
        params = _params(row, effects)
        cursor.execute(_CLOSE, params, prepare=True)
        cursor.execute(_DROP, params, prepare=True)
    for row in effects.opened:
        cursor.execute(_OPEN, _params(row, effects), prepare=True)
    if effects.change_set_entry is not None:
        cursor.execute(_LOG, effects.change_set_entry, prepare=True)


def _params(row: VersionRow, effects: EventEffects) -> dict[str, object]:
    version = row.version
    return {
        "unit_id": row.unit_id,
        "code": version.code,
        "level": version.level,
        "name": version.name,
        "name_en": version.name_en,
        "parent": version.parent,
        "start": version.period.start,
        "end": version.period.end,
        "at": effects.recorded_at,
        "geometry": version.geometry,
        "change_set": effects.change_set,
        "position": effects.position,
    }
