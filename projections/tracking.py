"""The read model's position: the last event of the register it has applied.

Every reader of the position (the watch, the replica router, the lookup index's loader) reads
it with this one query, from the tracking table the `eventsourcing` library keeps for the
read-model view, in whatever transaction it already holds.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.sql import SQL, Composed, Identifier


def position_sql(tracking_table: str) -> Composed:
    """The query of the position, with the register's name as its one parameter."""
    return SQL("SELECT notification_id FROM {} WHERE application_name = %s").format(
        Identifier(tracking_table)
    )


def read_position(conn: psycopg.Connection[Any], tracking_table: str, application: str) -> int:
    """The read model's position as `conn` sees it (0 before anything was applied)."""
    row = conn.execute(position_sql(tracking_table), (application,)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0
