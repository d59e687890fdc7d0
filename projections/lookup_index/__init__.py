"""Lookups from memory: the read model's current beliefs, held once per machine.

A lookup in SQL costs a round trip, a plan and a join; yet lookups ask about a handful of dates
against boundaries that change a few times a year. So the server holds every currently believed
unit version (with its geometry), office, coverage and matter, and answers with shapely
(STRtree and prepared geometry), giving exactly the answers of `LookupEngine` (the tests compare
the two point by point, boundaries included). The parts:

- `columns`: unit versions column by column, append-only (version numbers never change);
- `epoch`: what is live in one period, indexed, and the resolving of points;
- `snapshot`: the beliefs at one position and its cache of epochs;
- `loading`: reading a snapshot in full, or refreshing one by the projection's change log;
- `refresher`: `LookupIndex`, the process's current snapshot and its background thread.
"""

from projections.lookup_index.columns import OPEN, Dated, UnitColumns
from projections.lookup_index.epoch import MANY_POINTS, Epoch, LevelIndex, Resolved
from projections.lookup_index.loading import load_snapshot, refresh
from projections.lookup_index.refresher import LookupIndex
from projections.lookup_index.snapshot import BUILD_AFTER, Snapshot

__all__ = [
    "BUILD_AFTER",
    "MANY_POINTS",
    "OPEN",
    "Dated",
    "Epoch",
    "LevelIndex",
    "LookupIndex",
    "Resolved",
    "Snapshot",
    "UnitColumns",
    "load_snapshot",
    "refresh",
]
