"""Running the projection: catching up, following the log, rebuilding, waiting for a position.

One code path serves all of them: read a batch of notifications after the tracked position,
work out their effects, write effects and tracking in one transaction. Live following uses
small batches (low latency), a rebuild large ones (few transactions).

Only one process may write the read model at a time. Each worker takes a PostgreSQL advisory
lock first, so several API workers (or an API and a CLI rebuild) can run side by side and
exactly one of them projects; if it dies its lock goes with its connection and another takes
over.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
from eventsourcing.persistence import Tracking

from domain.register import JurisdictionRegister
from projections.maintenance import BULK_EVENTS, tidy_read_model
from projections.projection import RegisterProjection
from projections.read_model import BatchWrites, EventEffects, ReadModelView

LOGGER = logging.getLogger(__name__)

#: Advisory lock key of the read-model writer (an arbitrary constant, fixed forever).
PROJECTION_LOCK_KEY = 7_301_955_021

Progress = Callable[[int, int], None]

#: Events in the first batch of a catch-up; later ones double up to the batch size.
FIRST_BATCH_SIZE = 500


class ProjectionBusy(RuntimeError):
    """Another process holds the projection lock."""


class ProjectionWorker:
    """Keeps the read model in step with the register's event log."""

    def __init__(
        self,
        register: JurisdictionRegister,
        view: ReadModelView,
        conninfo: str,
        batch_size: int = 500,
    ) -> None:
        self.register = register
        self.view = view
        self.conninfo = conninfo
        self.batch_size = batch_size
        self.projection = RegisterProjection(register)

    # Positions -----------------------------------------------------------------------------

    def position(self) -> int:
        """The notification id of the last event applied to the read model (0 if none)."""
        return self.view.max_tracking_id(self.register.name) or 0

    def head(self) -> int:
        """The notification id of the last event stored (0 if none)."""
        return self.register.recorder.max_notification_id() or 0

    # Work ----------------------------------------------------------------------------------

    def catch_up(self, progress: Progress | None = None, batch_size: int | None = None) -> int:
        """Apply every event stored so far; returns how many were read.

        While one batch is written (the server's work) the next is read and worked out (this
        process's): a second thread writes, one batch at a time and in order, so every batch
        still commits with its tracking record and a crash leaves a prefix of the log applied.
        Batches start small and double up to `batch_size`, so that writing starts early.
        """
        limit = batch_size or self.batch_size
        size = min(limit, FIRST_BATCH_SIZE)
        done = 0
        target = self.head()
        start = self.position() + 1
        first = start
        with ThreadPoolExecutor(1, thread_name_prefix="read-model-writer") as writer:
            written: Future[None] | None = None
            while True:
                notifications = self.register.recorder.select_notifications(start, size)
                if not notifications:
                    if written is None:
                        break
                    # Let the last batch commit, then look again from the committed position:
                    # events stored meanwhile are caught up too.
                    written.result()
                    written = None
                    start = self.position() + 1
                    continue
                effects: list[EventEffects | None] = []
                for notification in notifications:
                    event = self.register.mapper.to_domain_event(notification)
                    effects.append(self.projection.effects_of(event, notification.id))
                last = notifications[-1].id
                writes = BatchWrites.of(effects)  # here: the writer thread only waits on I/O
                if written is not None:
                    written.result()  # in order; and a failed write stops here
                written = writer.submit(self.view.apply, writes, Tracking(self.register.name, last))
                start = last + 1
                size = min(limit, size * 2)
                done += len(notifications)
                if progress is not None:
                    progress(done, max(target - first + 1, done))
        return done

    def rebuild(self, progress: Progress | None = None, batch_size: int = 5000) -> int:
        """Empty the read model and project every event again, in large batches."""
        with self.exclusive(wait=True), _collector_paused():
            self.view.reset(self.register.name)
            self.projection.forget()
            return self.catch_up(progress, batch_size)

    def follow(self, stop: threading.Event, idle_wait: float = 1.0) -> None:
        """Project new events as they arrive until `stop` is set.

        Waits for the lock first; survives database restarts by reconnecting with backoff.
        """
        backoff = 0.5
        while not stop.is_set():
            try:
                with self.exclusive(wait=False, stop=stop) as listener:
                    backoff = 0.5
                    while not stop.is_set():
                        if self.catch_up() >= BULK_EVENTS:  # e.g. starting far behind
                            tidy_read_model(self.conninfo)
                        _wait_for_notify(listener, idle_wait)
            except ProjectionBusy:
                stop.wait(2.0)
            except Exception:
                if stop.is_set():
                    return
                LOGGER.exception("projection worker failed; retrying in %.1fs", backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    @contextmanager
    def exclusive(
        self, *, wait: bool, stop: threading.Event | None = None
    ) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """Hold the projection lock on a dedicated connection that also LISTENs for events."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            if wait:
                conn.execute("SELECT pg_advisory_lock(%s)", (PROJECTION_LOCK_KEY,))
            else:
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (PROJECTION_LOCK_KEY,)
                ).fetchone()
                if not row or not row[0]:
                    msg = "another process is projecting"
                    raise ProjectionBusy(msg)
            channel = getattr(self.register.recorder, "channel_name", None)
            if channel:
                conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))
            try:
                yield conn
            finally:
                conn.execute("SELECT pg_advisory_unlock_all()")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, for a rebuild.

    A rebuild keeps every aggregate it folds (hundreds of thousands of objects) and allocates
    millions more that die young; each full collection walks all the kept ones again, which
    cost the demo's rebuild more than decoding and folding together. A rebuild makes next to no
    cyclic garbage (20 objects over the demo's 50,026 events): reference counting frees it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _wait_for_notify(conn: psycopg.Connection[tuple[object, ...]], timeout: float) -> None:
    for _ in conn.notifies(timeout=timeout, stop_after=1):
        return
