"""Which keys each projection batch touched: the lookup index's way to refresh by difference.

A batch writes its rows, its tracking record and, here, the keys of the things whose versions
it opened or closed (unit ids, office codes, matter names), all in one transaction. A reader
holding the read model as of position P reads the keys touched in (P, Q] together with
position Q (one repeatable-read transaction) and reloads only those things.

The log is short-lived: rows older than `KEEP_POSITIONS` positions are pruned, and the single
marker row says from which position on the log is complete (`horizon`) and how many times the
read model was rebuilt (`generation`: a rebuild restarts positions from zero). A reader whose
position lies before the horizon, or who read another generation, reloads everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import Connection, Cursor

#: Kinds of keys, by the version table whose rows they name.
KIND_OF_TABLE = {"unit_versions": "unit", "office_versions": "office", "matter_versions": "matter"}

#: How many positions of changes are kept (a snapshot older than that reloads in full).
KEEP_POSITIONS = 50_000


@dataclass(frozen=True)
class Marker:
    """The log's reach: complete after `horizon`, within read-model `generation`."""

    generation: int
    horizon: int


def record(cursor: Cursor[Any], position: int, touched: Mapping[str, Iterable[str]]) -> None:
    """Note the keys a batch ending at `position` touched (in the batch's transaction), and
    prune what is older than `KEEP_POSITIONS` now and then."""
    for kind, keys in touched.items():
        found = sorted(set(keys))
        if found:
            cursor.execute(
                "INSERT INTO read_model_changes (position, kind, keys) VALUES (%s, %s, %s)",
                (position, kind, found),
            )
    # Prune in steps of KEEP_POSITIONS, so most batches only compare two numbers.
    cursor.execute(
        "WITH moved AS (UPDATE read_model_change_log SET horizon = %(cut)s "
        "WHERE horizon < %(cut)s - %(keep)s RETURNING horizon) "
        "DELETE FROM read_model_changes WHERE position <= (SELECT horizon FROM moved)",
        {"cut": position - KEEP_POSITIONS, "keep": KEEP_POSITIONS},
    )


def restart(cursor: Cursor[Any]) -> None:
    """The read model was emptied (a rebuild): a new generation, complete from zero."""
    cursor.execute("TRUNCATE read_model_changes")
    cursor.execute("UPDATE read_model_change_log SET generation = generation + 1, horizon = 0")


def marker(conn: Connection[Any]) -> Marker:
    """The log's reach, in `conn`'s transaction."""
    row = conn.execute("SELECT generation, horizon FROM read_model_change_log").fetchone()
    return Marker(int(row[0]), int(row[1])) if row else Marker(0, 1 << 62)


def touched_since(conn: Connection[Any], after: int, until: int) -> dict[str, set[str]]:
    """The keys touched by batches in (after, until], by kind."""
    found: dict[str, set[str]] = {kind: set() for kind in KIND_OF_TABLE.values()}
    rows = conn.execute(
        "SELECT kind, keys FROM read_model_changes WHERE position > %s AND position <= %s",
        (after, until),
    ).fetchall()
    for kind, keys in rows:
        found.setdefault(kind, set()).update(keys)
    return found
