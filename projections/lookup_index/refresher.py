"""`LookupIndex`: this process's current snapshot, refreshed in the background as the model moves.

Freshness: a snapshot remembers the position it was read at, in the same transaction as its
rows. It answers only while `ReadModelWatch` reports that same position and the request needs
nothing newer (`X-Min-Position`, or this process's last write); otherwise the caller asks SQL
while a background thread brings the snapshot to the new position, by difference when it can
(`loading.refresh`), in full otherwise. "As recorded at" always goes to SQL.

A pre-fork server loads the snapshot once in the parent and each worker `adopt`s it: the pages
stay shared, and each worker only adds the differences after the fork.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import numpy as np
from psycopg_pool import ConnectionPool

from domain.levels import LevelScheme
from projections.freshness import ReadModelWatch
from projections.lookup import LookupResult, UnitHit
from projections.lookup_index.columns import FloatArray
from projections.lookup_index.epoch import MANY_POINTS, Resolved
from projections.lookup_index.loading import load_snapshot, refresh
from projections.lookup_index.snapshot import Snapshot
from projections.routing import read_context

LOGGER = logging.getLogger(__name__)


def count_versions(conn: Any) -> int:
    """Currently believed unit versions (the index stands down above its maximum)."""
    row = conn.execute("SELECT count(*) FROM unit_versions WHERE upper_inf(recorded)").fetchone()
    return int(row[0]) if row else 0


#: How many of the periods in use a refresh indexes again before answering (the most recently
#: used ones: typically today's and the one a historian is replaying); others wait for a lookup.
REINDEX_AFTER_CHANGE = 1


class LookupIndex:
    """The current snapshot of this process, refreshed in the background as the model moves."""

    def __init__(
        self,
        pool: ConnectionPool,
        watch: ReadModelWatch,
        levels: LevelScheme,
        tracking_table: str,
        application: str,
        needed_position: Callable[[], int],
        max_versions: int = 2_000_000,
        max_epochs: int = 16,
        preloaded: Snapshot | None = None,
    ) -> None:
        self.pool = pool
        self.watch = watch
        self.levels = levels
        self.tracking_table = tracking_table
        self.application = application
        self.needed_position = needed_position
        self.max_versions = max_versions
        self.max_epochs = max_epochs
        self.disabled_reason = ""
        self.last_load_seconds = 0.0
        #: How the last change reached the snapshot: "full" or "refresh", and in how long.
        self.last_refresh: tuple[str, float] = ("", 0.0)
        self._snapshot: Snapshot | None = None
        if preloaded is not None and preloaded.levels == levels:
            # Loaded by a pre-fork parent: one copy per machine, its pages shared.
            self.adopt(preloaded)
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        watch.subscribe(lambda _position: self._wanted.set())

    # Life cycle -------------------------------------------------------------------------------

    def adopt(self, snapshot: Snapshot) -> None:
        """Start from a snapshot loaded elsewhere (the pre-fork parent): refreshed, not reloaded."""
        self._snapshot = snapshot
        self.last_load_seconds = snapshot.load_seconds

    def start(self) -> None:
        """Load now and whenever the read model moves, in a daemon thread."""
        self._wanted.set()
        self._thread = threading.Thread(target=self._run, name="lookup-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reloading."""
        self._stop.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait_current(self, timeout: float, at_least: int = 0) -> bool:
        """Block until the snapshot matches the announced position, and that position is
        `at_least` (a write just made: its NOTIFY may still be on the way)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snapshot = self.current()
            if snapshot is not None and snapshot.position >= at_least:
                return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wanted.wait()
            self._wanted.clear()
            if self._stop.is_set():
                return
            position = self.watch.position
            snapshot = self._snapshot
            if position is None or (snapshot is not None and snapshot.position == position):
                continue
            try:
                self._load()
            except Exception:
                LOGGER.exception("lookup index failed to load; lookups use SQL")
                self._stop.wait(1.0)
                self._wanted.set()

    def _load(self) -> None:
        started = time.perf_counter()
        with self.pool.connection() as conn:
            earlier = self._snapshot
            snapshot = None
            if earlier is not None:
                snapshot = refresh(conn, earlier, self.tracking_table, self.application)
            how = "refresh"
            if snapshot is None:
                how = "full"
                versions = count_versions(conn)
                if versions > self.max_versions:
                    self.disabled_reason = (
                        f"{versions:,} unit versions exceed JL_LOOKUP_INDEX_MAX_VERSIONS "
                        f"({self.max_versions:,}); lookups use SQL"
                    )
                    self._snapshot = None
                    return
                self._snapshot = None  # the old one is stale: never answer from it again
                snapshot = load_snapshot(
                    conn, self.tracking_table, self.application, self.levels, self.max_epochs
                )
        elapsed = time.perf_counter() - started
        reindexed = 0
        if how == "refresh":
            # Lookups go to SQL (the old snapshot is no longer current) while the periods
            # in use are indexed again; then memory answers them at once.
            reindexed = snapshot.reindex_stale(REINDEX_AFTER_CHANGE)
        self.disabled_reason = ""
        self._snapshot = snapshot
        self.last_refresh = (how, elapsed)
        if how == "full":
            self.last_load_seconds = elapsed
        LOGGER.info(
            "lookup index at position %d (%s): %d unit versions in %.3f s, "
            "%d periods indexed again in %.3f s",
            snapshot.position,
            how,
            snapshot.versions,
            elapsed,
            reindexed,
            time.perf_counter() - started - elapsed,
        )
        if self.watch.position != snapshot.position:
            self._wanted.set()  # moved on while loading

    def has_epoch(self, day: date) -> bool:
        """Whether a lookup on `day` would be answered without indexing first."""
        snapshot = self._snapshot
        return snapshot is not None and snapshot.has_epoch(day)

    def status(self) -> dict[str, Any]:
        """What the index holds, for /readyz."""
        snapshot = self._snapshot
        return {
            "current": self.current() is not None,
            "position": snapshot.position if snapshot else None,
            "unit_versions": snapshot.versions if snapshot else 0,
            "epochs_indexed": snapshot.epochs_indexed if snapshot else 0,
            "load_seconds": round(self.last_load_seconds, 3),
            "disabled_reason": self.disabled_reason,
        }

    # Answers ----------------------------------------------------------------------------------

    def current(self) -> Snapshot | None:
        """The snapshot, if it is exactly what the read model holds and the request needs."""
        snapshot = self._snapshot
        position = self.watch.servable(self.needed_position())
        if snapshot is None or snapshot.position != position:
            return None
        return snapshot

    def resolve(
        self, xs: FloatArray, ys: FloatArray, day: date, wanted: tuple[int, ...] | None = None
    ) -> Resolved | None:
        """Points resolved on `day` (on the `wanted` levels), or None when SQL must answer."""
        snapshot = self.current()
        if snapshot is None:
            return None
        epoch = snapshot.hot_epoch(day, eager=len(xs) >= MANY_POINTS)
        if epoch is None:
            return None
        context = read_context.get()
        if context is not None:
            context.read_from = "memory"
        return epoch.resolve(xs, ys, wanted)

    def first_day(self) -> tuple[date | None] | None:
        """`Snapshot.first_day` of the current snapshot (in a 1-tuple), or None when SQL must
        answer."""
        snapshot = self.current()
        if snapshot is None:
            return None
        return (snapshot.first_day(),)

    def lookup(
        self, lon: float, lat: float, day: date, matter: str | None = None
    ) -> LookupResult | None:
        """As `LookupEngine.lookup` (as currently recorded), or None when SQL must answer."""
        resolved = self.resolve(np.array([lon]), np.array([lat]), day)
        if resolved is None:
            return None
        epoch = resolved.epoch
        units = resolved.units(0)
        offices = epoch.offices(units) if units else []
        responsible = None
        if matter is not None:
            responsible = epoch.responsible(matter, day, units, offices)
        return LookupResult(units, offices, responsible)

    def batch(self, points: Sequence[tuple[float, float]], day: date) -> list[list[UnitHit]] | None:
        """As `LookupEngine.batch` (as currently recorded), or None when SQL must answer."""
        xs = np.array([p[0] for p in points], dtype=np.float64)
        ys = np.array([p[1] for p in points], dtype=np.float64)
        resolved = self.resolve(xs, ys, day)
        if resolved is None:
            return None
        return [resolved.units(i) for i in range(len(points))]
