"""A stalled projection, kept in the database so that no process can hide it.

When the projection cannot apply an event, every later event waits behind it (the read model
is a prefix of the log, by design). That must never be silent: the worker records the event's
position, its topic and a short reason in ``read_model_stall`` (migration 0008), `/readyz` and
`jurisdictions status` read it from there (the API runs as several processes and only one of
them projects), and the row goes in the transaction that applies past the event.

The reason is the exception's class and the first line of its message, with paths removed:
enough for an operator to recognise the failure (the full traceback is in the projecting
process's log), no SQL text or server detail for the HTTP clients that read `/readyz`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

STALL_TABLE = "read_model_stall"

#: The longest reason kept (a first line can still be long).
MAX_REASON = 300

#: Absolute file paths, removed from reasons.
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][\w.@+-]+){2,}[/\\]?")

_RECORD = SQL(
    "INSERT INTO {table} AS s (application_name, position, event_topic, reason) "
    "VALUES (%(app)s, %(position)s, %(topic)s, %(reason)s) "
    "ON CONFLICT (application_name) DO UPDATE SET "
    "since = CASE WHEN s.position = EXCLUDED.position THEN s.since ELSE now() END, "
    "attempts = CASE WHEN s.position = EXCLUDED.position THEN s.attempts + 1 ELSE 1 END, "
    "position = EXCLUDED.position, event_topic = EXCLUDED.event_topic, "
    "reason = EXCLUDED.reason, last_attempt = now() "
    "RETURNING position, event_topic, reason, since, last_attempt, attempts"
).format(table=Identifier(STALL_TABLE))
_READ = SQL(
    "SELECT position, event_topic, reason, since, last_attempt, attempts FROM {table} "
    "WHERE application_name = %s"
).format(table=Identifier(STALL_TABLE))
_CLEAR_PAST = SQL("DELETE FROM {table} WHERE application_name = %s AND position <= %s").format(
    table=Identifier(STALL_TABLE)
)
_CLEAR = SQL("DELETE FROM {table} WHERE application_name = %s").format(
    table=Identifier(STALL_TABLE)
)


@dataclass(frozen=True)
class Stall:
    """The event the projection cannot apply, and since when it has been trying."""

    #: The notification id of the event (the read model holds everything before it).
    position: int
    event_topic: str
    reason: str
    since: datetime
    last_attempt: datetime
    attempts: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "position": self.position,
            "event_topic": self.event_topic,
            "reason": self.reason,
            "since": self.since.isoformat(),
            "last_attempt": self.last_attempt.isoformat(),
            "attempts": self.attempts,
        }


def short_reason(error: BaseException) -> str:
    """The class of `error` and the first line of its message, without paths."""
    lines = str(error).strip().splitlines()
    first = _PATH.sub("<path>", lines[0]) if lines else ""
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def record(
    cursor: Cursor[DictRow], application: str, position: int, topic: str, reason: str
) -> Stall:
    """Record (or count another attempt at) a stall at `position`."""
    cursor.execute(
        _RECORD, {"app": application, "position": position, "topic": topic, "reason": reason}
    )
    row = cursor.fetchone()
    assert row is not None
    return _stall(row)


def read(cursor: Cursor[DictRow], application: str) -> Stall | None:
    """The recorded stall, or None when the projection is not stuck."""
    cursor.execute(_READ, (application,))
    row = cursor.fetchone()
    return None if row is None else _stall(row)


def clear(cursor: Cursor[DictRow], application: str, applied_up_to: int | None = None) -> None:
    """Forget a stall the projection has moved past (any, without `applied_up_to`)."""
    if applied_up_to is None:
        cursor.execute(_CLEAR, (application,))
    else:
        cursor.execute(_CLEAR_PAST, (application, applied_up_to))


def _stall(row: DictRow) -> Stall:
    return Stall(
        position=int(row["position"]),
        event_topic=str(row["event_topic"]),
        reason=str(row["reason"]),
        since=row["since"],
        last_attempt=row["last_attempt"],
        attempts=int(row["attempts"]),
    )
