"""Moving a shared boundary: a piece of territory passes from one unit to its neighbour.

What GIS staff draw most: "this area now belongs to the next community". With two `redraw`s
the editor must draw both new shapes so that their edges coincide to the centimetre;
`move_area` takes only the piece and works both shapes out from one overlay at the stored
precision (snap-rounded to `GRID_SIZE`, as `domain.geometry.snap_to_grid` does when rounding
alone would break a geometry), so the new shared edge is the same vertices on both sides and
no sliver opens between them.

Children of the giving unit follow the piece by location, as `domain.follow` makes them follow
a moved boundary in imports: a child inside the piece is transferred to the receiving unit
(its own children go with it), a child outside stays, and a child the new line cuts is a
`child_straddles` problem with its m² on each side and the part that crossed, never guessed.
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon

from domain.commands import MoveArea
from domain.geometry import GRID_SIZE, from_wkb_hex, to_wkb_hex
from domain.operations.common import area_m2, link, valid_territory
from domain.operations.dispatch import handles
from domain.operations.territory import follow_workstations
from domain.units import Unit
from domain.workspace import Workspace


@handles(MoveArea)
def move_area(ws: Workspace, op: MoveArea) -> None:
    """The piece (as far as it lies in `from_unit`) leaves it and joins `to_unit`."""
    where = op.location
    if op.from_unit == op.to_unit:
        ws.fail(
            "move_area_same_unit",
            f"from_unit and to_unit are both {op.from_unit}: a piece must pass to another unit",
            f"{where}.to_unit",
            op.from_unit,
        )
        return
    source = ws.live_unit(op.from_unit, f"{where}.from_unit")
    target = ws.live_unit(op.to_unit, f"{where}.to_unit")
    if source is None or target is None:
        return
    if source.level != target.level:
        ws.fail(
            "move_area_levels",
            f"{source.code} is a {source.level} and {target.code} a {target.level}: territory "
            "passes only between units of one level",
            f"{where}.to_unit",
            source.code,
            target.code,
        )
        return
    given_version, taking_version = source.version_on(ws.day), target.version_on(ws.day)
    assert given_version is not None and taking_version is not None
    given = from_wkb_hex(given_version.geometry)
    taking = from_wkb_hex(taking_version.geometry)
    piece = op.geometry
    tolerance = ws.rules.tolerance_m2
    moved = _polygons(shapely.intersection(given, piece, grid_size=GRID_SIZE))
    moved_m2 = area_m2(ws, moved)
    # What the piece covers of `to_unit` is already there: drawing over the shared edge into
    # it is the natural way to make sure the whole piece is taken.
    outside = shapely.difference(shapely.difference(piece, given), taking)
    outside_m2 = area_m2(ws, outside)
    if moved_m2 <= tolerance or outside_m2 > moved_m2:
        ws.fail(
            "move_area_outside",
            f"the piece lies mostly outside {source.code}: {outside_m2:.0f} m² of it is outside "
            f"{source.code} and {target.code}, only {moved_m2:.0f} m² inside {source.code}; draw "
            f"the piece over the part of {source.code} that passes to {target.code}",
            f"{where}.geometry",
            source.code,
            area_m2=outside_m2,
            where=outside,
        )
        return
    remaining = _polygons(shapely.difference(given, piece, grid_size=GRID_SIZE))
    if area_m2(ws, remaining) <= tolerance:
        ws.fail(
            "move_area_takes_all",
            f"the piece takes all of {source.code}, which would keep no territory; to hand "
            f"all of it to {target.code} merge them (absorb_into {target.code}) or dissolve "
            f"{source.code} after moving its children",
            f"{where}.geometry",
            source.code,
            target.code,
            area_m2=moved_m2,
            where=moved,
        )
        return
    # Each piece along an edge, not at a point. Within a grid cell or two: snap-rounding the
    # piece into `from_unit` may move its copy of the shared edge by less than a cell.
    near = shapely.buffer(taking.boundary, 2 * GRID_SIZE)
    detached = [
        part
        for part in moved.geoms
        if area_m2(ws, part) > tolerance
        and shapely.intersection(part.boundary, near).length < 10 * GRID_SIZE
    ]
    if detached:
        apart = MultiPolygon(detached)
        ws.fail(
            "move_area_not_neighbours",
            f"{area_m2(ws, apart):.0f} m² of the piece of {source.code} does not border "
            f"{target.code}, which would get a detached piece; territory passes only to a "
            "neighbour along a shared edge (move it to the unit it borders, or move the units "
            "in between first)",
            f"{where}.geometry",
            source.code,
            target.code,
            area_m2=area_m2(ws, apart),
            where=apart,
        )
        return
    grown = _polygons(shapely.union(taking, moved, grid_size=GRID_SIZE))
    remaining_territory = valid_territory(ws, remaining, f"{where}.geometry")
    grown_territory = valid_territory(ws, grown, f"{where}.geometry")
    if remaining_territory is None or grown_territory is None:
        return
    ws.emit(
        source,
        Unit.Redrawn,
        geometry=to_wkb_hex(remaining_territory),
        lineage=[link(target.code, "successor", "redraw")],
    )
    ws.emit(
        target,
        Unit.Redrawn,
        geometry=to_wkb_hex(grown_territory),
        lineage=[link(source.code, "predecessor", "redraw")],
    )
    for code in (given_version.parent, taking_version.parent, source.code, target.code):
        ws.touch_family(code)
    _children_follow(ws, source, target, moved, f"{where}.geometry")


def _children_follow(
    ws: Workspace, source: Unit, target: Unit, moved: MultiPolygon, location: str
) -> None:
    """Children of `source` inside the moved piece pass to `target`; a cut one is reported."""
    tolerance = ws.rules.tolerance_m2
    shapely.prepare(moved)
    moved_to: dict[str, str] = {}
    for child in ws.children(source, ws.day):
        version = child.version_on(ws.day)
        assert version is not None
        geometry = from_wkb_hex(version.geometry)
        if not moved.intersects(geometry):
            continue
        crossed = shapely.intersection(geometry, moved)
        inside = area_m2(ws, crossed)
        if inside <= tolerance:
            continue
        staying = area_m2(ws, shapely.difference(geometry, moved))
        if staying > tolerance:
            ws.fail(
                "child_straddles",
                f"{child.level} {child.code} ({version.name}) of {source.code} straddles the "
                f"new boundary: {inside:.0f} m² of it lies in the piece passing to "
                f"{target.code}, {staying:.0f} m² stays in {source.code}; split or redraw it "
                "earlier in the same change set, or move the line to its edge",
                location,
                child.code,
                source.code,
                target.code,
                area_m2=inside,
                where=crossed,
                extra={"sides_m2": {source.code: round(staying, 1), target.code: round(inside, 1)}},
            )
            continue
        ws.emit(child, Unit.Transferred, parent=target.code)
        ws.joined.setdefault(target.code, set()).add(child.code)
        moved_to[child.code] = target.code
    if moved_to:
        ws.coverage_units.update({source.code, target.code})
        follow_workstations(ws, source, moved_to)


def _polygons(geometry: Any) -> MultiPolygon:
    """The polygonal parts of an overlay result (snap-rounding may leave collapsed lines)."""
    parts = list(shapely.get_parts(geometry))
    polygons: list[Polygon] = []
    while parts:
        part = parts.pop()
        if isinstance(part, Polygon):
            if not part.is_empty:
                polygons.append(part)
        elif isinstance(part, MultiPolygon | shapely.GeometryCollection):
            parts.extend(shapely.get_parts(part))
    return MultiPolygon(polygons)
