"""The one lookup service: single lookups, batches, map clicks and bulk jobs all ask it.

It decides, in one place, who answers: the in-memory index (`LookupIndex`) when it holds
exactly the read model's position and the request needs nothing newer (the watch's freshness
rule, applied by the index) and asks about current beliefs; otherwise SQL (`LookupEngine`),
which alone answers "as recorded at". Both follow `domain.boundary_rule`, so the choice
changes where an answer comes from, never what it is. Where the answer came from is noted in
the request's read context (`X-Read-From`: memory, primary or replica).

The methods are synchronous, for threads and jobs; the `*_async` ones are for the event loop:
they answer from memory without leaving it when the period is already indexed (no thread
hop), and otherwise run the same synchronous method in a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from anyio import to_thread

from domain.levels import LevelScheme
from projections.lookup import LookupEngine, LookupResult, UnitHit
from projections.lookup_index import LookupIndex, Resolved

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

Period = tuple[date, date | None, list[UnitHit]]


class UnknownLevel(LookupError):
    """A batch asked for a level the scheme does not have."""

    def __init__(self, level: str, position: int, levels: LevelScheme) -> None:
        self.level = level
        self.position = position
        super().__init__(f"no level {level!r}; levels are {', '.join(levels.names)}")


@dataclass(frozen=True)
class BatchResult:
    """Each point's units (top down, on the asked levels), in input order.

    From memory, `resolved` holds the points as the index resolved them (so that renderers
    may share work between points resolved alike); from SQL, `hits` holds the units.
    """

    resolved: Resolved | None
    hits: list[list[UnitHit]] | None

    def __len__(self) -> int:
        if self.resolved is not None:
            return len(self.resolved.found)
        return len(self.hits or ())

    def units(self, i: int) -> list[UnitHit]:
        """Point `i`'s units, top down."""
        if self.resolved is not None:
            return self.resolved.units(i)
        assert self.hits is not None
        return self.hits[i]

    def all_units(self) -> list[list[UnitHit]]:
        """Every point's units, in input order."""
        return [self.units(i) for i in range(len(self))]


class LookupService:
    """Which units (and offices) hold a point on a date, from memory or from SQL."""

    def __init__(
        self, engine: LookupEngine, index: LookupIndex | None, levels: LevelScheme
    ) -> None:
        self.engine = engine
        self.index = index
        self.levels = levels

    # Single points ----------------------------------------------------------------------------

    def lookup(
        self,
        lon: float,
        lat: float,
        day: date,
        as_recorded: datetime | None = None,
        matter: str | None = None,
    ) -> LookupResult:
        """Units top down, their offices, and with `matter` the office that handles it
        (`UnknownMatter` if the catalogue lacks it on `day`)."""
        found = self._from_memory(lon, lat, day, as_recorded, matter, build=True)
        if found is not None:
            return found
        return self.engine.lookup(lon, lat, day, as_recorded, matter)

    async def lookup_async(
        self,
        lon: float,
        lat: float,
        day: date,
        as_recorded: datetime | None = None,
        matter: str | None = None,
    ) -> LookupResult:
        """`lookup` for the event loop: inline when memory answers without indexing (a
        fraction of a millisecond), in a worker thread when it must index or ask SQL."""
        found = self._from_memory(lon, lat, day, as_recorded, matter, build=False)
        if found is not None:
            return found
        return await to_thread.run_sync(self.lookup, lon, lat, day, as_recorded, matter)

    def _from_memory(
        self,
        lon: float,
        lat: float,
        day: date,
        as_recorded: datetime | None,
        matter: str | None,
        *,
        build: bool,
    ) -> LookupResult | None:
        """The index's answer, or None when SQL must answer (or, without `build`, when the
        period is not indexed yet: indexing it is work for a thread)."""
        if self.index is None or as_recorded is not None:
            return None
        if not build and not self.index.has_epoch(day):
            return None
        return self.index.lookup(lon, lat, day, matter)

    # Many points ------------------------------------------------------------------------------

    def wanted_ranks(self, levels: Sequence[str] | None) -> tuple[int, ...] | None:
        """The ranks of `levels` (None: every level); `UnknownLevel` names the first unknown."""
        if not levels:
            return None
        for position, level in enumerate(levels):
            if level not in self.levels:
                raise UnknownLevel(level, position, self.levels)
        return tuple(sorted({self.levels.rank(level) for level in levels}))

    def batch(
        self,
        lons: FloatArray | Sequence[float],
        lats: FloatArray | Sequence[float],
        day: date,
        as_recorded: datetime | None = None,
        levels: Sequence[str] | None = None,
    ) -> BatchResult:
        """Each point's units on `levels` (all by default), in input order."""
        wanted = self.wanted_ranks(levels)
        xs = np.asarray(lons, dtype=np.float64)
        ys = np.asarray(lats, dtype=np.float64)
        if self.index is not None and as_recorded is None:
            resolved = self.index.resolve(xs, ys, day, wanted)
            if resolved is not None:
                return BatchResult(resolved, None)
        points = list(zip(xs.tolist(), ys.tolist(), strict=True))
        hits = self.engine.batch(points, day, as_recorded)
        if wanted is not None:
            keep = {self.levels.names[rank] for rank in wanted}
            hits = [[h for h in found if h.level in keep] for found in hits]
        return BatchResult(None, hits)

    def lookups(
        self,
        lons: FloatArray | Sequence[float],
        lats: FloatArray | Sequence[float],
        day: date,
        as_recorded: datetime | None = None,
        matter: str | None = None,
    ) -> list[LookupResult]:
        """Each point's full answer (units, offices, the office responsible for `matter`),
        exactly as `lookup` gives it: what a batch with offices or a matter needs, so that
        it agrees with single lookups whether memory or SQL answers. `UnknownMatter` before
        any point when the catalogue lacks `matter`.

        Vectorised either way: the units of all points at once (`batch`), then offices once
        per distinct answer (points resolved alike share one `LookupResult`): from the epoch
        in memory, or in one SQL statement for all unit sets (as recorded at an instant)."""
        xs = np.asarray(lons, dtype=np.float64)
        ys = np.asarray(lats, dtype=np.float64)
        found = self.batch(xs, ys, day, as_recorded)
        if found.resolved is None:
            return self.engine.lookups(found.all_units(), day, as_recorded, matter)
        resolved = found.resolved
        epoch = resolved.epoch
        if matter is not None:
            epoch.responsible(matter, day, [], [])  # UnknownMatter before any point
        keys = np.concatenate([resolved.found, resolved.boundary.astype(np.int64)], axis=1)
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        answers = []
        for i in first.tolist():
            units = resolved.units(i)
            offices = epoch.offices(units) if units else []
            responsible = None
            if matter is not None:
                responsible = epoch.responsible(matter, day, units, offices)
            answers.append(LookupResult(units, offices, responsible))
        return [answers[j] for j in inverse.reshape(-1).tolist()]

    async def batch_async(
        self,
        lons: FloatArray | Sequence[float],
        lats: FloatArray | Sequence[float],
        day: date,
        as_recorded: datetime | None = None,
        levels: Sequence[str] | None = None,
    ) -> BatchResult:
        """`batch` in a worker thread (shapely and the database release the GIL, so other
        requests go on meanwhile); unknown levels are refused before any work."""
        self.wanted_ranks(levels)
        return await to_thread.run_sync(self.batch, lons, lats, day, as_recorded, levels)

    # Where the register begins --------------------------------------------------------------

    def first_day(self, as_recorded: datetime | None = None) -> date | None:
        """The first day any unit is valid (as recorded at `as_recorded`; None if none is):
        before it, an empty answer means "nothing recorded yet", not "outside every unit".
        From memory when the index holds the read model's position, so that a lookup
        answered from memory stays in memory."""
        if self.index is not None and as_recorded is None:
            found = self.index.first_day()
            if found is not None:
                return found[0]
        return self.engine.first_day(as_recorded)

    # Through time -----------------------------------------------------------------------------

    def history(self, lon: float, lat: float, as_recorded: datetime | None = None) -> list[Period]:
        """The point's jurisdictions through time (as currently recorded, or as recorded at
        `as_recorded`), oldest first."""
        return self.engine.history(lon, lat, as_recorded)
