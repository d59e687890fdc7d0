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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
from eventsourcing import persistence
from eventsourcing.persistence import Notification, Tracking

from domain.register import JurisdictionRegister
from projections import stall
from projections.maintenance import BULK_EVENTS, tidy_read_model
from projections.projection import RegisterProjection
from projections.read_model import BatchWrites, EventEffects, ReadModelView
from projections.stall import Stall

LOGGER = logging.getLogger(__name__)

#: Advisory lock key of the read-model writer (an arbitrary constant, fixed forever).
PROJECTION_LOCK_KEY = 7_301_955_021

Progress = Callable[[int, int], None]

#: Events in the first batch of a catch-up; later ones double up to the batch size.
FIRST_BATCH_SIZE = 500

#: Errors of the database connection, not of an event: retried, never recorded as a stall.
TRANSIENT: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
)

#: The longest wait, in seconds, between two attempts at an event that cannot be applied.
STALL_RETRY_MAX = 60.0


class ProjectionBusy(RuntimeError):
    """Another process holds the projection lock."""


class ProjectionStalled(RuntimeError):
    """An event cannot be applied; the read model holds everything before it.

    The stall is recorded in the database (`projections.stall`) before this is raised;
    `error` is what applying the event raised.
    """

    def __init__(self, found: Stall, error: BaseException) -> None:
        self.stall = found
        self.error = error
        super().__init__(
            f"the projection is stalled at event {found.position} ({found.event_topic}): "
            f"{found.reason}"
        )


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
        #: Whether a stall may be recorded (by any process): a complete catch-up clears it.
        self._maybe_stalled = True

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

        An event that cannot be applied stops the catch-up there: the events before it are
        applied, the stall is recorded in the database (`projections.stall`) and
        `ProjectionStalled` names it. A batch that fails to write is tried again event by event
        to find which one it is. A lost database connection is no stall: it is raised as is.
        """
        limit = batch_size or self.batch_size
        size = min(limit, FIRST_BATCH_SIZE)
        done = 0
        target = self.head()
        start = self.position() + 1
        first = start
        with ThreadPoolExecutor(1, thread_name_prefix="read-model-writer") as writer:
            written: Future[None] | None = None
            in_flight: Sequence[Notification] = ()
            while True:
                notifications = self.register.recorder.select_notifications(start, size)
                if not notifications:
                    if written is None:
                        break
                    # Let the last batch commit, then look again from the committed position:
                    # events stored meanwhile are caught up too.
                    self._settle(written, in_flight)
                    written, in_flight = None, ()
                    start = self.position() + 1
                    continue
                effects: list[EventEffects | None] = []
                for index, notification in enumerate(notifications):
                    try:
                        event = self.register.mapper.to_domain_event(notification)
                        effects.append(self.projection.effects_of(event, notification.id))
                    except TRANSIENT:
                        raise
                    except Exception as exc:
                        # What came before it is applied first, so the position is exact.
                        if written is not None:
                            self._settle(written, in_flight)
                            written = None
                        self._one_by_one(notifications[:index])
                        raise self._stalled(notification, exc) from exc
                last = notifications[-1].id
                writes = BatchWrites.of(effects)  # here: the writer thread only waits on I/O
                if written is not None and not self._settle(written, in_flight):
                    # That batch was applied event by event: work this one out again.
                    written, in_flight = None, ()
                    self.projection.forget()
                    start = self.position() + 1
                    continue
                written = writer.submit(self.view.apply, writes, Tracking(self.register.name, last))
                in_flight = notifications
                start = last + 1
                size = min(limit, size * 2)
                done += len(notifications)
                if progress is not None:
                    progress(done, max(target - first + 1, done))
        self._clear_stall()
        return done

    def _settle(self, written: Future[None], batch: Sequence[Notification]) -> bool:
        """Wait for a batch's write; True if it committed.

        If it failed, its events are applied one by one up to the one that cannot be
        (`ProjectionStalled`); False when they all could (the batch failed for a passing
        reason, and the caller carries on from the position now committed).
        """
        try:
            written.result()
        except TRANSIENT:
            raise  # the database, not the event: the follower reconnects
        except Exception:
            pass
        else:
            return True
        self._one_by_one(batch)
        return False

    def _one_by_one(self, batch: Sequence[Notification]) -> None:
        self.projection.forget()
        reached = self.position()
        for notification in batch:
            if notification.id <= reached:
                continue
            try:
                event = self.register.mapper.to_domain_event(notification)
                effects = self.projection.effects_of(event, notification.id)
                self.view.apply([effects], Tracking(self.register.name, notification.id))
            except TRANSIENT:
                raise
            except Exception as exc:
                raise self._stalled(notification, exc) from exc
        self.projection.forget()

    def _stalled(self, notification: Notification, error: Exception) -> ProjectionStalled:
        """Record the stall at `notification` (durably) and make the exception naming it."""
        with self.view.datastore.transaction(commit=True) as cursor:
            found = stall.record(
                cursor,
                self.register.name,
                notification.id,
                notification.topic,
                stall.short_reason(error),
            )
        self._maybe_stalled = True
        # A partly applied aggregate must not be carried into the next attempt.
        self.projection.forget()
        return ProjectionStalled(found, error)

    def _clear_stall(self) -> None:
        """After a complete catch-up nothing is stuck: forget a stall recorded earlier (by this
        process or another; the event may even be gone from a restored log)."""
        if self._maybe_stalled:
            with self.view.datastore.transaction(commit=True) as cursor:
                stall.clear(cursor, self.register.name)
            self._maybe_stalled = False

    def stalled(self) -> Stall | None:
        """The recorded stall, or None when the projection is not stuck."""
        with self.view.datastore.transaction(commit=False) as cursor:
            return stall.read(cursor, self.register.name)

    def rebuild(self, progress: Progress | None = None, batch_size: int = 5000) -> int:
        """Empty the read model and project every event again, in large batches."""
        with self.exclusive(wait=True), _collector_paused():
            self.view.reset(self.register.name)
            self.projection.forget()
            return self.catch_up(progress, batch_size)

    def follow(self, stop: threading.Event, idle_wait: float = 1.0) -> None:
        """Project new events as they arrive until `stop` is set.

        Waits for the lock first; survives database restarts by reconnecting with backoff.
        A stall (an event that cannot be applied) is logged with its traceback once, then in
        one line per attempt, retried with a wait doubling up to `STALL_RETRY_MAX` seconds
        while this process keeps the lock (other processes would only try the same event): it
        clears by itself once a release that can apply the event runs (docs/operations.md).
        """
        backoff = 0.5
        failure: str | None = None  # the last other failure logged in full
        while not stop.is_set():
            try:
                with self.exclusive(wait=False, stop=stop) as listener:
                    backoff, failure = 0.5, None
                    self._follow_locked(stop, listener, idle_wait)
            except ProjectionBusy:
                stop.wait(2.0)
            except Exception as exc:
                if stop.is_set():
                    return
                summary = stall.short_reason(exc)
                if summary != failure:
                    LOGGER.exception("projection worker failed; retrying in %.1fs", backoff)
                    failure = summary
                else:
                    LOGGER.warning(
                        "projection worker failed again (%s); retrying in %.1fs", summary, backoff
                    )
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _follow_locked(
        self,
        stop: threading.Event,
        listener: psycopg.Connection[tuple[object, ...]],
        idle_wait: float,
    ) -> None:
        """Follow the log while holding the lock; a stall is retried here, with backoff."""
        reported: int | None = None  # the stalled position whose traceback was logged
        wait = 0.5
        while not stop.is_set():
            try:
                if self.catch_up() >= BULK_EVENTS:  # e.g. starting far behind
                    tidy_read_model(self.conninfo)
            except ProjectionStalled as exc:
                found = exc.stall
                if found.position != reported:
                    LOGGER.error(
                        "projection stalled at event %d (%s): %s; the read model waits there "
                        "until a release can apply it (docs/operations.md); retrying",
                        found.position,
                        found.event_topic,
                        found.reason,
                        exc_info=exc.error,
                    )
                    reported = found.position
                else:
                    LOGGER.warning(
                        "projection still stalled at event %d after %d attempts (%s); "
                        "next attempt in %.0f s",
                        found.position,
                        found.attempts,
                        found.reason,
                        wait,
                    )
                stop.wait(wait)
                wait = min(wait * 2, STALL_RETRY_MAX)
                continue
            if reported is not None:
                LOGGER.warning("projection resumed past event %d", reported)
                reported, wait = None, 0.5
            _wait_for_notify(listener, idle_wait)

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
