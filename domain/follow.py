"""Children following a moved boundary by location.

When a unit's boundary moves (a redraw, a new neighbour carved out of it, its ending) and its
children are not redrawn in the same change, each child goes where its territory now lies:
a child wholly inside its parent's new territory stays, a child wholly inside another unit of
the parent's level is transferred to it (the moved piece of territory passes with the children
inside it), and a child the new line cuts is reported with the m² on each side, never guessed:
only the editor knows whether to split it, redraw it or move the line. This is the rule
`split` follows with ``reassign_children="by_location"``, for any boundary move.

Pure shapely: the caller says which parents moved and what the parent level looks like after
the change; `follow_children` says who goes where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shapely.strtree import STRtree

from domain.geometry import area_m2

#: "keep": children stay with their parent (a moved boundary that leaves them outside is a
#: problem); "follow": children follow by location.
CHILDREN_MODES = ("keep", "follow")


@dataclass(frozen=True)
class Child:
    """A child of a moved parent, as the map has it before the change."""

    code: str
    name: str
    level: str
    parent: str
    geometry: Any


@dataclass(frozen=True)
class Point:
    """A point to open in a GIS (lon/lat), on the area a follow entry is about."""

    lon: float
    lat: float

    def as_dict(self) -> dict[str, float]:
        """JSON form, to 7 decimals as the register stores coordinates."""
        return {"lon": round(self.lon, 7), "lat": round(self.lat, 7)}


@dataclass(frozen=True)
class Move:
    """A child wholly inside another unit after the change: it is transferred there."""

    child: Child
    to: str
    area_m2: float
    point: Point


@dataclass(frozen=True)
class Straddle:
    """A child the new line cuts: m² of it in each unit after the change (and outside all)."""

    child: Child
    shares: tuple[tuple[str, float], ...]
    outside_m2: float
    point: Point

    @property
    def message(self) -> str:
        """What is wrong and how to fix it, with names and figures."""
        parts = ", ".join(f"{m2:.0f} m² in {code}" for code, m2 in self.shares)
        if self.outside_m2 > 0:
            parts += f", {self.outside_m2:.0f} m² outside every unit"
        return (
            f"{self.child.level} {self.child.code} ({self.child.name}) of {self.child.parent} "
            f"straddles the new boundary ({parts}): it cannot follow one parent; split or "
            f"redraw it in the same import (add its level), or move the line to its edge"
        )


@dataclass
class Following:
    """Where each child of the moved parents goes."""

    moves: list[Move] = field(default_factory=list)
    straddles: list[Straddle] = field(default_factory=list)
    stays: list[str] = field(default_factory=list)


def follow_children(
    children: list[Child], parents_after: dict[str, Any], tolerance_m2: float
) -> Following:
    """Decide, for each child of a moved parent, where it goes.

    `parents_after` maps every unit of the parents' level after the change to its territory
    (a parent that ends is missing from it). A child stays when no more than `tolerance_m2`
    of it lies outside its parent's new territory, moves to the unit that holds it within the
    same tolerance, and straddles otherwise.
    """
    codes = sorted(parents_after)
    shapes = [parents_after[c] for c in codes]
    tree = STRtree(shapes)
    result = Following()
    for child in children:
        geometry = child.geometry
        own = parents_after.get(child.parent)
        if own is not None and _outside(geometry, own) <= tolerance_m2:
            result.stays.append(child.code)
            continue
        nearby = [codes[i] for i in tree.query(geometry, predicate="intersects")]
        holders = [c for c in nearby if _outside(geometry, parents_after[c]) <= tolerance_m2]
        if holders:
            moved = geometry if own is None else geometry.difference(own)
            point = _point(moved if not moved.is_empty else geometry)
            result.moves.append(Move(child, holders[0], area_m2(geometry), point))
            continue
        shares = []
        for code in nearby:
            share = area_m2(geometry.intersection(parents_after[code]))
            if share > tolerance_m2:
                shares.append((code, share))
        shares.sort(key=lambda item: (-item[1], item[0]))
        outside = max(0.0, area_m2(geometry) - sum(m2 for _, m2 in shares))
        crossed = geometry if own is None else geometry.difference(own)
        result.straddles.append(
            Straddle(
                child,
                tuple(shares),
                outside if outside > tolerance_m2 else 0.0,
                _point(crossed if not crossed.is_empty else geometry),
            )
        )
    return result


def _outside(geometry: Any, holder: Any) -> float:
    """m² of `geometry` outside `holder`."""
    if holder.contains(geometry):
        return 0.0
    return area_m2(geometry.difference(holder))


def _point(geometry: Any) -> Point:
    """A point inside the geometry (on its largest piece), for a GIS to zoom to."""
    point = geometry.representative_point()
    return Point(float(point.x), float(point.y))
