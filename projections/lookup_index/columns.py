"""The unit versions of the lookup index, column by column, append-only.

Snapshots of successive positions share one `UnitColumns`: a refresh appends the new versions
after the last used slot and tombstones the superseded ones in its own `alive` mask, so version
numbers never change, the epochs of older snapshots stay valid, and the pages written before a
fork (the columns, the geometries) stay shared between workers. Space is reserved up front; when
it runs out the index reloads in full (and compacts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import numpy as np
import shapely

from projections.lookup import UnitHit

#: Day ordinal standing for "open" (no end).
OPEN = date.max.toordinal() + 1

IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
ObjectArray = np.ndarray[Any, np.dtype[np.object_]]


def ordinal(day: date | None) -> int:
    """A day as an ordinal, `OPEN` for none."""
    return OPEN if day is None else day.toordinal()


@dataclass(frozen=True)
class Dated:
    """Something believed valid on the days [start, end) (ordinals)."""

    start: int
    end: int
    value: Any


class UnitRow(NamedTuple):
    """One unit version as read (a tuple: thousands are made per load)."""

    unit_id: str
    rank: int
    code: str
    name: str
    level: str
    parent: str | None
    start: date
    end: date | None
    wkb: bytes


class ColumnsFull(Exception):
    """No room left for appended versions: reload in full."""


class UnitColumns:
    """Unit versions by version number; slots [0, size) are written, the rest reserved."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.size = 0
        self.level: IntArray = np.full(capacity, -1, dtype=np.int64)
        self.start: IntArray = np.zeros(capacity, dtype=np.int64)
        self.end: IntArray = np.zeros(capacity, dtype=np.int64)
        self.geoms: ObjectArray = np.empty(capacity, dtype=object)
        self.unit_id: list[str] = []
        self.code: list[str] = []
        self.parent: list[str | None] = []
        self.hits: list[UnitHit] = []
        self.boundary_hits: list[UnitHit] = []

    @classmethod
    def reserve(cls, count: int) -> UnitColumns:
        """Room for `count` versions and a quarter more (the compaction threshold)."""
        return cls(count + max(1024, count // 4))

    def append(self, rows: Sequence[UnitRow]) -> range:
        """Write `rows` after the last used slot; their version numbers."""
        first, last = self.size, self.size + len(rows)
        if last > self.capacity:
            raise ColumnsFull(f"{last:,} versions exceed the {self.capacity:,} reserved")
        if not rows:
            return range(first, first)
        geoms = shapely.from_wkb([r.wkb for r in rows])
        for column in (self.unit_id, self.code, self.parent, self.hits, self.boundary_hits):
            del column[first:]  # what a failed append left behind
        self.level[first:last] = [r.rank for r in rows]
        self.start[first:last] = [ordinal(r.start) for r in rows]
        self.end[first:last] = [ordinal(r.end) for r in rows]
        self.geoms[first:last] = geoms
        for r in rows:
            self.unit_id.append(r.unit_id)
            self.code.append(r.code)
            self.parent.append(r.parent)
            self.hits.append(UnitHit(r.level, r.code, r.name, r.start, r.end, False))
            self.boundary_hits.append(UnitHit(r.level, r.code, r.name, r.start, r.end, True))
        self.size = last
        return range(first, last)
