"""Keeping the read model's tables fast after bulk writes.

A rebuild or a demo load writes hundreds of thousands of rows at once. Until PostgreSQL has
vacuumed them (visibility map, hint bits) and analysed them (statistics for the planner), a
lookup can take 20 ms instead of 1 ms: its index scans revisit every fresh row's heap page,
and the planner, blind, picks the wrong index. Autovacuum catches up eventually, unless it is
off (as on some managed and test servers), so bulk writers tidy up themselves.
"""

from __future__ import annotations

import psycopg
from psycopg.sql import SQL, Identifier

from projections.read_model import READ_MODEL_TABLES

#: From this many events projected at once, the writer vacuums and analyses the read model.
BULK_EVENTS = 5_000


def tidy_read_model(conninfo: str) -> None:
    """VACUUM (ANALYZE) every read-model table; readers are never blocked by it."""
    with psycopg.connect(conninfo, autocommit=True) as conn:  # VACUUM needs no transaction
        for table in READ_MODEL_TABLES:
            conn.execute(SQL("VACUUM (ANALYZE) {}").format(Identifier(table)))
