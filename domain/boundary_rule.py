"""Which unit answers for a point on one level: the one rule every lookup engine follows.

A point may touch several units of a level: on a shared edge it touches both neighbours, and in
a digitising sliver (within the overlap tolerance) two siblings both hold it. Exactly one unit
answers, so that every engine (SQL, the in-memory index, a bulk job) gives the same answer:

1. a unit holding the point in its interior beats one whose boundary it only touches;
2. among equals, the lowest code wins (deterministic, and unmoved by changes elsewhere).

"Holds", "interior" and "touches" are exact: the unit's stored coordinates, tested with GEOS's
robust predicates (the in-memory index through shapely, SQL through `ST_Relate`, never PostGIS's
own inexact point-in-polygon shortcut near an edge). Geometry an engine derives to go faster
(SQL's subdivided pieces, the index's overlap zones) is rounded where it was cut, so it only
filters: within `ROUNDING_MARGIN` of its edges the unit's own geometry decides.

The answer says `on_boundary` when the winner only touches the point. Engines order by
`PREFERENCE` (SQL composes its ORDER BY from it) or call `preference` / `array_order`; the
property tests compare the engines answer by answer on random registers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

import numpy as np

#: Degrees within which a point is too near the edge of a derived geometry (a subdivided
#: piece, an overlay's overlap zone) for it to settle anything: far above the rounding of a cut
#: (about 1e-14 degrees at these coordinates), far below what anyone draws (0.1 mm).
ROUNDING_MARGIN = 1e-9

#: The sort keys, most significant first, all ascending (False sorts before True).
PREFERENCE: tuple[str, ...] = ("on_boundary", "code")


class Candidate(Protocol):
    """Anything with a level, a code and whether the point is only on its boundary."""

    @property
    def level(self) -> str: ...  # noqa: D102

    @property
    def code(self) -> str: ...  # noqa: D102

    @property
    def on_boundary(self) -> bool: ...  # noqa: D102


C = TypeVar("C", bound=Candidate)


def preference(on_boundary: bool, code: str) -> tuple[bool, str]:
    """The sort key of a candidate: smaller wins."""
    return (on_boundary, code)


def choose(candidates: Iterable[C]) -> dict[str, C]:
    """The winner of each level among `candidates` (level -> unit)."""
    chosen: dict[str, C] = {}
    for candidate in sorted(candidates, key=lambda c: preference(c.on_boundary, c.code)):
        chosen.setdefault(candidate.level, candidate)
    return chosen


def array_order(
    group: np.ndarray[Any, Any], on_boundary: np.ndarray[Any, Any], code_rank: np.ndarray[Any, Any]
) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Indices sorting candidates by group (a point), then by `preference`; the first of each
    group wins. `code_rank` orders codes as strings do (rank 0 = lowest code)."""
    return np.lexsort((code_rank, on_boundary, group))
