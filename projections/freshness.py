"""How far the read model has got, as this process knows it, pushed by PostgreSQL NOTIFY.

The projection announces every committed batch on `READ_MODEL_CHANNEL` (inside the same
transaction, so the announcement is delivered only once the rows are visible). A
`ReadModelWatch` listens on its own connection and keeps the latest position; caches in this
process (the in-memory lookup index, tile caches) ask it whether what they hold is current.

While the watch is not connected its position is `None`: nothing may be served from a cache
then, because a change could be missed. On reconnecting it reads the position afresh.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg.sql import SQL, Identifier

from projections.tracking import read_position

LOGGER = logging.getLogger(__name__)

#: The NOTIFY channel of the read model; the payload is the position just committed.
READ_MODEL_CHANNEL = "jl_read_model"

Subscriber = Callable[[int | None], None]


def servable_position(announced: int | None, needed: int) -> int | None:
    """`announced` if a cache at that position may answer a request needing `needed`."""
    if announced is None or needed > announced:
        return None
    return announced


class ReadModelWatch:
    """The read model's position in this process: a LISTEN connection in a daemon thread."""

    def __init__(self, conninfo: str, tracking_table: str, application_name: str) -> None:
        self.conninfo = conninfo
        self._tracking_table = tracking_table
        self._application = application_name
        self._position: int | None = None
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        #: Notified on every announcement; writers block on it in `wait_for`.
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def position(self) -> int | None:
        """The last position announced, or None while not listening (then nothing is known)."""
        return self._position

    def servable(self, needed: int = 0) -> int | None:
        """The position a cache may answer at for a request that must see `needed`, or None.

        The one freshness rule of every cache in the process (lookup index, tiles, pages): only
        while the watch hears the database (else a change could be missed), and only if the
        request needs nothing newer (its `X-Min-Position`, or this process's last write) than
        the watch has heard of.
        """
        return servable_position(self._position, needed)

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until the read model has announced `position` (or more); False on timeout.

        Driven by the NOTIFY the projection sends with each committed batch, so a writer waiting
        to read its own write costs no query. The watch must be running (`start`).
        """
        with self._changed:
            return self._changed.wait_for(
                lambda: self._position is not None and self._position >= position, timeout
            )

    @property
    def running(self) -> bool:
        """Whether `start` was called and `stop` not yet."""
        return self._thread is not None and not self._stop.is_set()

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber(position)` on every change, `None` when the watch loses track."""
        with self._lock:
            self._subscribers.append(subscriber)

    def start(self) -> None:
        """Listen in the background."""
        self._thread = threading.Thread(target=self._run, name="read-model-watch", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the watch knows the position (tests and start-up)."""
        return self._connected.wait(timeout)

    def stop(self) -> None:
        """Stop listening (the thread ends within a second)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _announce(self, position: int | None) -> None:
        if position == self._position:
            return
        with self._changed:
            self._position = position
            self._changed.notify_all()
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(position)
            except Exception:  # a subscriber's bug must not stop the watch
                LOGGER.exception("read-model watch subscriber failed")

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(SQL("LISTEN {}").format(Identifier(READ_MODEL_CHANNEL)))
                    # Read after LISTEN: a batch committed in between is both read and announced.
                    self._announce(read_position(conn, self._tracking_table, self._application))
                    self._connected.set()
                    backoff = 0.2
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=1.0):
                            self._announce(int(notify.payload))
                            if self._stop.is_set():
                                break
                        # Proves the connection alive; a silent loss would otherwise go unseen.
                        conn.execute("SELECT 1")
            except Exception as exc:
                if self._stop.is_set():
                    break
                LOGGER.warning("read-model watch lost its connection (%s); retrying", exc)
            self._connected.clear()
            self._announce(None)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)
