"""Children following a moved boundary by location.

When a unit's boundary moves (a redraw, a new neighbour carved out of it, its ending) and its
children are not redrawn in the same change, each child goes where its territory now lies:
a child wholly inside its parent's new territory stays, a child wholly inside another unit of
the parent's level is transferred to it (the moved piece of territory passes with the children
inside it), and a child the new line cuts is reported with the m² on each side, never guessed:
only the editor knows whether to split it, redraw it or move the line. This is the rule
`split` follows with ``reassign_children="by_location"``, for any boundary move.

Real layers are not drawn on each other: a new community edge drawn in QGIS misses the grid
edges by a few metres. With `sliver_m2` > 0 a child the new line cuts only by a sliver (at most
`sliver_m2` of it across) follows its edge instead: it is clipped to the unit holding the rest
of it (`Clip`), and a sliver of a parent's new territory left uncovered by its children (at
most `sliver_m2`) goes to the child sharing the longest border with it (`Extend`). Both are
listed, with m² and a point; anything larger stays a straddle (or the register's gap).

Pure shapely: the caller says which parents moved and what the parent level looks like after
the change; `follow_children` says who goes where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.strtree import STRtree

from domain.geometry import GeometryError, area_m2, as_valid_territory

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


@dataclass(frozen=True)
class Clip:
    """A child cut by the new line only by a sliver: clipped to the unit holding the rest."""

    child: Child
    to: str
    geometry: MultiPolygon
    removed_m2: float
    point: Point


@dataclass(frozen=True)
class Extend:
    """A sliver of a parent's new territory no child covers, given to the child next to it."""

    child: Child
    parent: str
    geometry: MultiPolygon
    added_m2: float
    point: Point


@dataclass
class Following:
    """Where each child of the moved parents goes."""

    moves: list[Move] = field(default_factory=list)
    straddles: list[Straddle] = field(default_factory=list)
    stays: list[str] = field(default_factory=list)
    clips: list[Clip] = field(default_factory=list)
    extends: list[Extend] = field(default_factory=list)


def follow_children(
    children: list[Child],
    parents_after: dict[str, Any],
    tolerance_m2: float,
    sliver_m2: float = 0.0,
    closed: frozenset[str] = frozenset(),
) -> Following:
    """Decide, for each child of a moved parent, where it goes.

    `parents_after` maps every unit of the parents' level after the change to its territory
    (a parent that ends is missing from it). A child stays when no more than `tolerance_m2`
    of it lies outside its parent's new territory, moves to the unit that holds it within the
    same tolerance, is clipped when at most `sliver_m2` of it lies outside the unit holding
    most of it, and straddles otherwise. Slivers of a parent's territory its children leave
    uncovered (at most `sliver_m2` each) extend the child next to them, except in `closed`
    parents (whose children the caller does not all know).
    """
    codes = sorted(parents_after)
    shapes = [parents_after[c] for c in codes]
    shapely.prepare(shapes)  # many children are tested against few parents
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
        total = area_m2(geometry)
        outside = max(0.0, total - sum(m2 for _, m2 in shares))
        crossed = geometry if own is None else geometry.difference(own)
        if shares and total - shares[0][1] <= sliver_m2:
            main = shares[0][0]
            clipped = _territory(geometry.intersection(parents_after[main]))
            if clipped is not None:
                removed = geometry.difference(parents_after[main])
                point = _point(removed if not removed.is_empty else geometry)
                result.clips.append(Clip(child, main, clipped, total - shares[0][1], point))
                continue
        result.straddles.append(
            Straddle(
                child,
                tuple(shares),
                outside if outside > tolerance_m2 else 0.0,
                _point(crossed if not crossed.is_empty else geometry),
            )
        )
    if sliver_m2 > 0:
        _extend(children, parents_after, result, tolerance_m2, sliver_m2, closed)
    return result


def _extend(
    children: list[Child],
    parents_after: dict[str, Any],
    result: Following,
    tolerance_m2: float,
    sliver_m2: float,
    closed: frozenset[str],
) -> None:
    """Give each uncovered sliver of a moved parent to the child sharing most border with it."""
    shapes: dict[str, dict[str, Any]] = {}
    by_code = {c.code: c for c in children}
    for code in result.stays:
        child = by_code[code]
        shapes.setdefault(child.parent, {})[code] = child.geometry
    for move in result.moves:
        shapes.setdefault(move.to, {})[move.child.code] = move.child.geometry
    for clip in result.clips:
        shapes.setdefault(clip.to, {})[clip.child.code] = clip.geometry
    for parent, members in sorted(shapes.items()):
        if parent in closed or parent not in parents_after:
            continue
        gap = parents_after[parent].difference(shapely.union_all(list(members.values())))
        for piece in shapely.get_parts(gap):
            if not isinstance(piece, Polygon):
                continue
            added = area_m2(piece)
            if added <= tolerance_m2 or added > sliver_m2:
                continue
            border = {
                code: piece.boundary.intersection(shape.boundary).length
                for code, shape in members.items()
            }
            code, length = max(border.items(), key=lambda item: (item[1], item[0]))
            grown = _territory(members[code].union(piece)) if length > 0 else None
            if grown is None:
                continue
            members[code] = grown
            result.extends.append(Extend(by_code[code], parent, grown, added, _point(piece)))


def _territory(geometry: Any) -> MultiPolygon | None:
    """The polygons of an overlay result as a valid territory at the stored precision."""
    polygons = [p for p in shapely.get_parts(geometry) if isinstance(p, Polygon)]
    if not polygons:
        return None
    try:
        return as_valid_territory(shapely.union_all(polygons), "children")
    except GeometryError:
        return None


def _outside(geometry: Any, holder: Any) -> float:
    """m² of `geometry` outside `holder`."""
    if holder.contains(geometry):
        return 0.0
    return area_m2(geometry.difference(holder))


def _point(geometry: Any) -> Point:
    """A point inside the geometry (on its largest piece), for a GIS to zoom to."""
    point = geometry.representative_point()
    return Point(float(point.x), float(point.y))
