"""The read model's current beliefs as of one position, and its epochs.

Time is cut into *epochs*: the days between two consecutive dates at which anything starts or
ends. What is live in an epoch is indexed together (`Epoch`), built on first use and kept in a
small LRU keyed by the epoch's first day, so a lookup costs the same however long the history
behind it. A refresh (`loading.refresh`) hands the epochs that no change touched on to the next
snapshot, and drops the others.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from domain.levels import LevelScheme
from projections.lookup_index.columns import OPEN, BoolArray, Dated, IntArray, UnitColumns
from projections.lookup_index.epoch import Epoch

#: A period is indexed once single lookups have asked about it this often: one asked about
#: now and then (a historian's random dates) is cheaper in SQL than indexed and evicted.
BUILD_AFTER = 3

#: The key of the epoch before every date of the register.
BEFORE_ALL = 0


@dataclass(eq=False)
class Snapshot:
    """Every currently believed row the lookups need, as of one read-model position."""

    position: int
    #: The read model's rebuild generation the position belongs to (`change_log.Marker`).
    generation: int
    levels: LevelScheme
    #: Unit versions (shared with the snapshots before and after this one).
    units: UnitColumns
    #: Which of the versions [0, len(alive)) this snapshot believes.
    alive: BoolArray
    #: Believed version numbers of each unit id.
    versions_of: dict[str, list[int]]
    #: Offices serving their whole unit by code; coverage (the units served by workstations
    #: and other offices with a service area) by office; matters by name.
    office_rows: dict[str, list[Dated]]
    coverage_rows: dict[str, list[Dated]]
    matter_rows: dict[str, list[Dated]]
    #: Where two same-level versions (above the lowest level) overlap, with when.
    overlap_zones: dict[tuple[int, int], Dated]
    max_epochs: int
    #: How long the full load this snapshot descends from took (for /readyz).
    load_seconds: float = 0.0
    #: The days on which anything starts or ends: the epochs' first days (worked out here).
    bounds: list[int] = field(init=False)
    _epochs: OrderedDict[int, Epoch] = field(default_factory=OrderedDict)
    _asked: dict[int, int] = field(default_factory=dict)
    #: Days (ordinals) last asked about in epochs a refresh made stale (see `inherit`).
    stale: list[int] = field(default_factory=list)
    _last_day: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.bounds = bounds_of(
            self.units, self.alive, self.office_rows, self.coverage_rows, self.matter_rows
        )

    # Columns as this snapshot sees them (tests, benchmarks) -----------------------------------

    def first_day(self) -> date | None:
        """The first day any believed unit is valid (None if none is): where the register
        begins, as `LookupEngine.first_day` answers it from SQL."""
        size = len(self.alive)
        starts = self.units.start[:size][self.alive]
        return date.fromordinal(int(starts.min())) if starts.size else None

    @property
    def size(self) -> int:
        """Version numbers in use, superseded ones included."""
        return len(self.alive)

    @property
    def versions(self) -> int:
        """Believed unit versions."""
        return int(np.count_nonzero(self.alive))

    @property
    def level(self) -> IntArray:
        """Level rank per version."""
        return self.units.level[: self.size]

    @property
    def start(self) -> IntArray:
        """First day per version (ordinal)."""
        return self.units.start[: self.size]

    @property
    def end(self) -> IntArray:
        """Day after the last per version (ordinal)."""
        return self.units.end[: self.size]

    @property
    def geoms(self) -> Any:
        """Geometry per version."""
        return self.units.geoms[: self.size]

    @property
    def code(self) -> list[str]:
        """Unit code per version."""
        return self.units.code[: self.size]

    # Epochs -----------------------------------------------------------------------------------

    def epoch_span(self, day: int) -> tuple[int, int]:
        """The first day of `day`'s epoch (its key) and the day after its last."""
        i = bisect.bisect_right(self.bounds, day)
        first = self.bounds[i - 1] if i else BEFORE_ALL
        after = self.bounds[i] if i < len(self.bounds) else OPEN + 1
        return first, after

    def _key(self, day: date) -> int:
        return self.epoch_span(day.toordinal())[0]

    @property
    def epochs_indexed(self) -> int:
        """How many periods are indexed now."""
        return len(self._epochs)

    def indexed(self) -> Iterator[tuple[int, Epoch]]:
        """The indexed epochs by key, least recently used first."""
        return iter(list(self._epochs.items()))

    def has_epoch(self, day: date) -> bool:
        """Whether `day`'s epoch is indexed already (answering costs no indexing)."""
        return self._key(day) in self._epochs

    def hot_epoch(self, day: date, *, eager: bool) -> Epoch | None:
        """`day`'s epoch if indexed, or worth indexing now: `eager` (a large batch pays for
        it), or asked about `BUILD_AFTER` times. None: answer this one from SQL."""
        key = self._key(day)
        if key not in self._epochs:
            asked = self._asked[key] = self._asked.get(key, 0) + 1
            if not eager and asked < BUILD_AFTER:
                return None
        return self.epoch(day)

    def epoch(self, day: date) -> Epoch:
        """The index of everything live on `day` (built on first use, then cached)."""
        key = self._key(day)
        self._last_day[key] = day.toordinal()  # where a change splits it, the part in use
        found = self._epochs.get(key)  # no lock on the hot path: OrderedDict calls are atomic
        if found is not None:
            with contextlib.suppress(KeyError):  # evicted meanwhile: still valid to use
                self._epochs.move_to_end(key)
            return found
        with self._lock:  # one builder at a time; others wait for it rather than build twice
            found = self._epochs.get(key)
            if found is None:
                found = self._build(day.toordinal())
                self._epochs[key] = found
                while len(self._epochs) > self.max_epochs:
                    self._epochs.popitem(last=False)
            return found

    def _build(self, day: int) -> Epoch:
        return Epoch.build(
            self.units,
            self.alive,
            len(self.levels.names),
            day,
            overlaps=self.overlap_zones.values(),
            offices=_flat(self.office_rows),
            coverage=_flat(self.coverage_rows),
            matters=_flat(self.matter_rows),
        )

    def inherit(self, earlier: Snapshot, changed: list[tuple[int, int]]) -> None:
        """Take over `earlier`'s epochs that none of the `changed` validity ranges touches
        (their live sets, hence their indexes, are the same here), and its ask counts.
        The days last asked about in the touched ones, most recently used last, are kept in
        `stale`."""
        starts = np.array([c[0] for c in changed], dtype=np.int64)
        ends = np.array([c[1] for c in changed], dtype=np.int64)
        for key, epoch in earlier.indexed():
            first, after = earlier.epoch_span(key)
            if not np.any((starts < after) & (first < ends)):
                self._epochs[key] = epoch
            else:
                self.stale.append(earlier._last_day.get(key, max(first, 1)))
        self._asked.update(earlier._asked)
        self._last_day.update(earlier._last_day)

    def reindex_stale(self, most: int) -> int:
        """Build again the `most` most recently used epochs a change made stale (before the
        snapshot answers, so that the first lookup after a change does not pay for it);
        returns how many were built."""
        days = list(dict.fromkeys(reversed(self.stale)))[:most]
        for day in days:
            self.epoch(date.fromordinal(day))
        self.stale.clear()
        return len(days)


def _flat(rows: dict[str, list[Dated]]) -> Iterator[Dated]:
    for found in rows.values():
        yield from found


def bounds_of(units: UnitColumns, alive: BoolArray, *rows: dict[str, list[Dated]]) -> list[int]:
    """Every date at which something believed starts or ends, in order."""
    size = len(alive)
    dates = {int(v) for v in np.unique(units.start[:size][alive]).tolist()}
    dates |= {int(v) for v in np.unique(units.end[:size][alive]).tolist()}
    for keyed in rows:
        for found in keyed.values():
            for d in found:
                dates.add(d.start)
                dates.add(d.end)
    dates.discard(OPEN)
    return sorted(dates)
