"""Reads from PostgreSQL streaming replicas, writes to the primary, read-your-writes kept.

A replica replays the primary's WAL, read model and tracking table included, so it knows how
far its read model has got. A read that must see a change (the position a write answered
with, sent back as ``X-Min-Position``, or the last write this process made) goes to a replica
only once that replica's tracking row has reached the position; otherwise, or when no replica
answers, it goes to the primary. A replica that fails is left alone for a few seconds.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from projections.tracking import read_position

LOGGER = logging.getLogger(__name__)


class ConnectionSource(Protocol):
    """What the queries need: a pool, or a router over pools."""

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A connection for one unit of work."""
        ...


class ReadContext:
    """Per request: the position its reads must see, and where they went (for a header)."""

    def __init__(self, min_position: int = 0) -> None:
        self.min_position = min_position
        self.read_from = "primary"


#: The current request's read context (a mutable holder, so a worker thread's choice is seen
#: by the middleware that copied the context into it).
read_context: contextvars.ContextVar[ReadContext | None] = contextvars.ContextVar(
    "read_context", default=None
)


class ReadRouter:
    """A drop-in for a connection pool (``.connection()``) that picks primary or replica."""

    def __init__(
        self,
        primary: ConnectionPool,
        replicas: list[ConnectionPool],
        tracking_table: str,
        application_name: str,
        max_wait: float = 2.0,
        cool_down: float = 5.0,
    ) -> None:
        self.primary = primary
        self.replicas = replicas
        self.max_wait = max_wait
        self.cool_down = cool_down
        self._next = itertools.cycle(range(len(replicas))) if replicas else None
        self._down_until: dict[int, float] = {}
        self._last_write = 0
        self._tracking_table = tracking_table
        self._application = application_name

    def wrote(self, position: int) -> None:
        """Remember a write of this process: its later reads must see it."""
        self._last_write = max(self._last_write, position)

    def needed_position(self) -> int:
        """The position the current request's reads must see."""
        context = read_context.get()
        return max(context.min_position if context else 0, self._last_write)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection to a replica that has caught up, or to the primary."""
        context = read_context.get()
        needed = self.needed_position()
        for index in self._candidates():
            replica = self.replicas[index]
            try:
                with replica.connection(timeout=1.0) as conn:
                    if self._caught_up(conn, needed):
                        if context is not None:
                            context.read_from = "replica"
                        yield conn
                        return
            except (psycopg.OperationalError, PoolTimeout) as exc:
                LOGGER.warning("replica %d unavailable (%s); reading from the primary", index, exc)
                self._down_until[index] = time.monotonic() + self.cool_down
        if context is not None:
            context.read_from = "primary"
        with self.primary.connection() as conn:
            yield conn

    def _candidates(self) -> list[int]:
        if self._next is None:
            return []
        first = next(self._next)
        order = [(first + i) % len(self.replicas) for i in range(len(self.replicas))]
        now = time.monotonic()
        return [i for i in order if self._down_until.get(i, 0) <= now]

    def _caught_up(self, conn: psycopg.Connection[Any], needed: int) -> bool:
        if needed <= 0:
            return True
        deadline = time.monotonic() + self.max_wait
        pause = 0.005
        while True:
            position = read_position(conn, self._tracking_table, self._application)
            if position >= needed:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def close(self) -> None:
        """Close every pool."""
        self.primary.close()
        for replica in self.replicas:
            replica.close()
