"""Reading many aggregates' stored events in one query (the register reads one at a time).

An import of a whole layer changes thousands of units in one change set; the register's
repository reads each unit with its own query, and the round trips dominate the dry run. This
reads the events of every unit the import names in one query, for
`JurisdictionRegister.preloaded`. The table is the event store's own (`eventsourcing`'s
PostgreSQL recorder: originator id and version, topic, state).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg import sql

#: The event store's table (the register's name, as `eventsourcing` derives it).
EVENTS_TABLE = "jurisdictionregister_events"


def stored_events(conninfo: str, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[StoredEvent]]:
    """Every stored event of each aggregate of `ids`, in version order (an id with none maps
    to an empty list: no such aggregate)."""
    wanted = list(dict.fromkeys(ids))
    out: dict[uuid.UUID, list[StoredEvent]] = {i: [] for i in wanted}
    if not wanted:
        return out
    query = sql.SQL(
        "SELECT originator_id, originator_version, topic, state FROM {} "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(sql.Identifier(EVENTS_TABLE))
    with psycopg.connect(conninfo) as conn, conn.cursor() as cursor:
        cursor.execute(query, (wanted,))
        for originator, version, topic, state in cursor:
            out[originator].append(StoredEvent(originator, version, topic, bytes(state)))
    return out
