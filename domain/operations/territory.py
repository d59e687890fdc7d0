"""Operations on units and their territories: establish, redraw, split, merge, transfer,
rename, recode, dissolve and correct.

Each checks what only it can know (codes free, units live, parts consistent), then queues
events through the `Workspace`; the map-wide rules are `domain.invariants`' job.
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import MultiPolygon

from domain.commands import (
    Correct,
    Dissolve,
    Establish,
    Merge,
    Recode,
    Redraw,
    Rename,
    Split,
    Transfer,
)
from domain.geometry import from_wkb_hex, to_wkb_hex
from domain.offices import WORKSTATION, Office
from domain.operations.common import area_m2, link, move_offices, valid_territory
from domain.operations.dispatch import handles
from domain.operations.service_areas import pass_coverage
from domain.units import Unit, UnitVersion
from domain.workspace import Workspace


@handles(Establish)
def establish(ws: Workspace, op: Establish) -> None:
    """A new unit under a live parent on the level above."""
    levels = ws.rules.levels
    if op.level not in levels:
        ws.fail(
            "level_unknown",
            f"unknown level {op.level!r}; levels are {', '.join(levels.names)}",
            f"{op.location}.level",
        )
        return
    if not ws.code_is_free(op.code, f"{op.location}.code"):
        return
    expected = levels.parent_of(op.level)
    if expected is None and op.parent is not None:
        ws.fail(
            "parent_not_allowed",
            f"level {op.level} is the top level and has no parent",
            f"{op.location}.parent",
        )
        return
    if expected is not None:
        if op.parent is None:
            ws.fail(
                "parent_missing", f"a {op.level} needs a parent {expected}", f"{op.location}.parent"
            )
            return
        parent = ws.live_unit(op.parent, f"{op.location}.parent")
        if parent is None:
            return
        if parent.level != expected:
            ws.fail(
                "parent_wrong_level",
                f"the parent of a {op.level} must be a {expected}, {op.parent} is a {parent.level}",
                f"{op.location}.parent",
                op.parent,
            )
            return
    ws.establish_unit(
        code=op.code,
        level=op.level,
        name=op.name,
        name_en=op.name_en,
        parent=op.parent,
        geometry=to_wkb_hex(op.geometry),
        lineage=_boundary_lineage(ws, op.code, op.parent, None, op.geometry),
        provenance=op.provenance,
    )


def _live_version(ws: Workspace, code: str, location: str) -> tuple[Unit, UnitVersion] | None:
    """The unit and its version on the change set's day, or None (a problem is recorded)."""
    unit = ws.live_unit(code, location)
    if unit is None:
        return None
    version = unit.version_on(ws.day)
    assert version is not None
    return unit, version


@handles(Redraw)
def redraw(ws: Workspace, op: Redraw) -> None:
    """A new territory; neighbours it now overlaps must be redrawn in the same change set."""
    found = _live_version(ws, op.unit, f"{op.location}.unit")
    if found is None:
        return
    unit, version = found
    old = from_wkb_hex(version.geometry)
    lineage = _boundary_lineage(ws, unit.code, version.parent, old, op.geometry)
    ws.emit(unit, Unit.Redrawn, geometry=to_wkb_hex(op.geometry), lineage=lineage)
    ws.touch_family(unit.parent.value_on(ws.day))
    ws.touch_family(unit.code)


def _boundary_lineage(
    ws: Workspace, code: str, parent: str | None, old: Any, new: Any
) -> list[dict[str, str]]:
    """The lineage of a boundary move: territory `code` takes from or gives to its siblings.

    Taken: what `new` covers of a sibling's territory before this change set. Given: what
    `old` loses to a sibling's territory after it, as redrawn or established by any operation
    of the change set, in whatever order they come. So both ends of the edge are recorded,
    each on its own unit's event. `old` is None for a new unit, `new` None for an ending one.
    """
    holder = ws.unit(parent) if parent is not None else None
    if holder is None:
        return []
    planned: dict[str, Any] = {}
    newcomers: set[str] = set()
    for other in ws.request.operations:
        if isinstance(other, Redraw):
            planned[other.unit] = other.geometry
        elif isinstance(other, Establish) and other.parent == parent:
            planned[other.code] = other.geometry
            newcomers.add(other.code)
    gained = new if old is None else (None if new is None else new.difference(old))
    lost = None if old is None else (old if new is None else old.difference(new))
    tolerance = ws.rules.tolerance_m2
    links = []
    siblings = holder.children_ever | ws.joined.get(holder.code, set()) | newcomers
    for sibling in sorted(siblings - {code}):
        before = ws.before_on(sibling, ws.day)
        if gained is not None and before is not None and before.parent == parent:
            held = from_wkb_hex(before.geometry)
            if gained.intersects(held) and area_m2(ws, gained.intersection(held)) > tolerance:
                links.append(link(sibling, "predecessor", "redraw"))
        unit = ws.unit(sibling)
        now = unit.version_on(ws.day) if unit is not None else None
        if sibling in newcomers:
            after = planned[sibling]
        elif now is not None and now.parent == parent:
            after = planned[sibling] if sibling in planned else from_wkb_hex(now.geometry)
        else:
            continue
        if lost is None or not lost.intersects(after):
            continue
        if area_m2(ws, lost.intersection(after)) > tolerance:
            links.append(link(sibling, "successor", "redraw"))
    return links


@handles(Split)
def split(ws: Workspace, op: Split) -> None:
    """Divide a unit's territory; optionally move its children to the part that holds them."""
    where = op.location
    unit = ws.live_unit(op.unit, f"{where}.unit")
    if unit is None:
        return
    version = unit.version_on(ws.day)
    assert version is not None
    original = from_wkb_hex(version.geometry)
    own = [p for p in op.parts if p.code == unit.code]
    new_parts = [p for p in op.parts if p.code != unit.code]
    if op.mode == "full" and own:
        ws.fail(
            "split_full_keeps_code",
            "a full split ends the unit: no part may keep its code",
            f"{where}.parts",
        )
        return
    if not new_parts:
        ws.fail("split_no_parts", "a split needs at least one new part", f"{where}.parts")
        return
    if op.mode == "full" and len(new_parts) < 2:
        ws.fail("split_too_few_parts", "a full split needs at least two parts", f"{where}.parts")
        return
    codes = [p.code for p in new_parts]
    if len(set(codes)) != len(codes):
        ws.fail("codes_repeated", "two parts share a code", f"{where}.parts")
        return
    if not all(ws.code_is_free(p.code, f"{where}.parts") for p in new_parts):
        return
    union_new = shapely.union_all([p.geometry for p in new_parts])
    remainder: MultiPolygon | None = None
    if op.mode == "split_off":
        if own:
            remainder = own[0].geometry
        else:
            remainder = valid_territory(ws, original.difference(union_new), f"{where}.parts")
            if remainder is None:
                ws.fail(
                    "split_nothing_left",
                    f"the parts take all of {unit.code}; use mode full",
                    f"{where}.parts",
                    unit.code,
                )
                return
    pieces = [p.geometry for p in new_parts] + ([remainder] if remainder is not None else [])
    tolerance = ws.rules.tolerance_m2
    beyond = shapely.union_all(pieces).difference(original)
    outside = area_m2(ws, beyond)
    if outside > tolerance:
        ws.fail(
            "split_part_outside",
            f"the parts reach {outside:.0f} m² beyond {unit.code}'s territory",
            f"{where}.parts",
            unit.code,
            area_m2=outside,
            where=beyond,
        )
    uncovered = original.difference(shapely.union_all(pieces))
    gap = area_m2(ws, uncovered)
    if gap > tolerance:
        ws.fail(
            "split_leaves_gap",
            f"the parts leave {gap:.0f} m² of {unit.code} uncovered",
            f"{where}.parts",
            unit.code,
            area_m2=gap,
            where=uncovered,
        )
    kind = "split_off" if op.mode == "split_off" else "split"
    parent = version.parent
    for part in new_parts:
        ws.establish_unit(
            code=part.code,
            level=unit.level,
            name=part.name or f"{version.name} ({part.code})",
            name_en=part.name_en,
            parent=parent,
            geometry=to_wkb_hex(part.geometry),
            lineage=[link(unit.code, "predecessor", kind)],
            provenance=unit.provenance,
        )
    successors = [link(p.code, "successor", kind) for p in new_parts]
    if remainder is not None:
        ws.emit(unit, Unit.Redrawn, geometry=to_wkb_hex(remainder), lineage=successors)
        if own and own[0].name and own[0].name != version.name:
            ws.emit(unit, Unit.Renamed, name=own[0].name, name_en=own[0].name_en or version.name_en)
    else:
        ws.emit(unit, Unit.Dissolved, lineage=successors)
    ws.touch_family(parent)
    ws.touch_family(unit.code)
    pass_coverage(ws, unit, ([unit.code] if remainder is not None else []) + codes, "was split")
    targets = [(p.code, p.geometry) for p in new_parts]
    if remainder is not None:
        targets.append((unit.code, remainder))
    if op.reassign_children == "by_location":
        _reassign_children(ws, unit, targets, f"{where}.reassign_children")
    if op.mode == "full":
        # Offices that did not follow a child (a street office) close with the unit.
        move_offices(ws, unit, None)


def _reassign_children(
    ws: Workspace, unit: Unit, targets: list[tuple[str, MultiPolygon]], location: str
) -> None:
    """Move each child to the piece that holds it; report children that straddle pieces."""
    tolerance = ws.rules.tolerance_m2
    moved_to: dict[str, str] = {}
    for child in ws.children(unit, ws.day):
        child_version = child.version_on(ws.day)
        assert child_version is not None
        geometry = from_wkb_hex(child_version.geometry)
        shares = [(code, area_m2(ws, geometry.intersection(piece))) for code, piece in targets]
        holders = [
            code
            for code, _ in targets
            if area_m2(ws, geometry.difference(dict(targets)[code])) <= tolerance
        ]
        if not holders:
            pieces = ", ".join(
                f"{code}: {area:.0f} m²" for code, area in shares if area > tolerance
            )
            sides = {code: area for code, area in shares if area > tolerance}
            smallest = min(sides, key=lambda code: (sides[code], code), default=None)
            crossed = geometry.intersection(dict(targets)[smallest]) if smallest else None
            ws.fail(
                "child_straddles",
                f"{child.code} straddles the new boundary ({pieces}); "
                "split or transfer it explicitly",
                location,
                child.code,
                *sides,
                area_m2=min(sides.values(), default=0.0),
                where=crossed,
                extra={"sides_m2": {code: round(area, 1) for code, area in sides.items()}},
            )
            continue
        target = holders[0]
        moved_to[child.code] = target
        if target != unit.code:
            ws.emit(child, Unit.Transferred, parent=target)
            ws.joined.setdefault(target, set()).add(child.code)
            ws.touch_family(target)
    follow_workstations(ws, unit, moved_to)


def follow_workstations(ws: Workspace, street: Unit, moved_to: dict[str, str]) -> None:
    """Workstations whose communities all moved to one new unit move with them (a split's, a
    moved boundary's); one whose communities now lie in two streets is reported."""
    for workstation in ws.offices_of(street, WORKSTATION):
        if not workstation.open_on(ws.day) or workstation.unit.value_on(ws.day) != street.code:
            continue
        served = workstation.serves_on(ws.day)
        destinations = {moved_to.get(c, street.code) for c in served}
        if len(destinations) > 1:
            ws.fail(
                "workstation_straddles",
                f"workstation {workstation.code} serves communities now in "
                f"{', '.join(sorted(destinations))}; "
                "reassign its coverage in the same change set",
                "operations",
                workstation.code,
                *served,
            )
        elif destinations and (target := destinations.pop()) != street.code:
            ws.emit(workstation, Office.Reassigned, unit=target)
            ws.offices_joined.setdefault(target, set()).add(workstation.code)
            ws.coverage_units.update({street.code, target})


@handles(Merge)
def merge(ws: Workspace, op: Merge) -> None:
    """Join units: one absorbs the others, or all end and a new unit begins."""
    where = op.location
    units = [ws.live_unit(code, f"{where}.units") for code in op.units]
    if any(u is None for u in units):
        return
    members = [u for u in units if u is not None]
    versions = [u.version_on(ws.day) for u in members]
    parents = {v.parent for v in versions if v is not None}
    levels = {u.level for u in members}
    if len(parents) > 1 or len(levels) > 1:
        ws.fail(
            "merge_mixed",
            "merged units must share a level and a parent",
            f"{where}.units",
            *op.units,
        )
        return
    union = valid_territory(
        ws,
        shapely.union_all([from_wkb_hex(v.geometry) for v in versions if v is not None]),
        f"{where}.units",
    )
    if union is None:
        return
    parent = parents.pop()
    if op.absorb_into is not None:
        survivor = ws.unit(op.absorb_into)
        assert survivor is not None
        absorbed = [u for u in members if u.code != survivor.code]
        ws.emit(
            survivor,
            Unit.Redrawn,
            geometry=to_wkb_hex(union),
            lineage=[link(u.code, "predecessor", "merge") for u in absorbed],
        )
        target = survivor.code
    else:
        assert op.into_code is not None and op.into_name is not None
        if not ws.code_is_free(op.into_code, f"{where}.into.code"):
            return
        ws.establish_unit(
            code=op.into_code,
            level=members[0].level,
            name=op.into_name,
            name_en="",
            parent=parent,
            geometry=to_wkb_hex(union),
            lineage=[link(u.code, "predecessor", "merge") for u in members],
        )
        absorbed = members
        target = op.into_code
    for unit in absorbed:
        pass_coverage(ws, unit, [target], f"was merged into {target}")
        ws.emit(unit, Unit.Dissolved, lineage=[link(target, "successor", "merge")])
        for child in ws.children(unit, ws.day):
            ws.emit(child, Unit.Transferred, parent=target)
            ws.joined.setdefault(target, set()).add(child.code)
        move_offices(ws, unit, target)
        ws.touch_family(unit.code)
    ws.touch_family(parent)
    ws.touch_family(target)


@handles(Transfer)
def transfer(ws: Workspace, op: Transfer) -> None:
    """A unit moves to another parent of the right level."""
    unit = ws.live_unit(op.unit, f"{op.location}.unit")
    parent = ws.live_unit(op.parent, f"{op.location}.parent")
    if unit is None or parent is None:
        return
    expected = ws.rules.levels.parent_of(unit.level)
    if parent.level != expected:
        ws.fail(
            "parent_wrong_level",
            f"the parent of a {unit.level} must be a {expected}, {parent.code} is a {parent.level}",
            f"{op.location}.parent",
            parent.code,
        )
        return
    old_parent = unit.parent.value_on(ws.day)
    if old_parent == parent.code:
        ws.fail(
            "transfer_same_parent",
            f"{unit.code} is already under {parent.code}",
            op.location,
            unit.code,
        )
        return
    ws.emit(unit, Unit.Transferred, parent=parent.code)
    pass_coverage(ws, unit, [unit.code], f"was transferred to {parent.code}", old_parent)
    ws.joined.setdefault(parent.code, set()).add(unit.code)
    ws.touch_family(old_parent)
    ws.touch_family(parent.code)
    ws.coverage_units.update({c for c in (old_parent, parent.code) if c})


@handles(Rename)
def rename(ws: Workspace, op: Rename) -> None:
    """A new name; the code stays.

    The parent's family is not touched: no family rule reads names, so a rename need not
    conflict with a sibling's change (eight editors renaming eight grids of one community all
    succeed). The unit's own version still makes it conflict with any other change of the
    unit, an ending included.
    """
    unit = ws.live_unit(op.unit, f"{op.location}.unit")
    if unit is None:
        return
    current = unit.names.value_on(ws.day) or ("", "")
    ws.emit(
        unit,
        Unit.Renamed,
        name=op.name,
        name_en=op.name_en if op.name_en is not None else current[1],
    )


@handles(Recode)
def recode(ws: Workspace, op: Recode) -> None:
    """The same territory under a new code: the old code ends, the new one begins, linked."""
    unit = ws.live_unit(op.unit, f"{op.location}.unit")
    if unit is None or not ws.code_is_free(op.code, f"{op.location}.code"):
        return
    version = unit.version_on(ws.day)
    assert version is not None
    ws.establish_unit(
        code=op.code,
        level=unit.level,
        name=version.name,
        name_en=version.name_en,
        parent=version.parent,
        geometry=version.geometry,
        lineage=[link(unit.code, "predecessor", "recode")],
        provenance=unit.provenance,
    )
    pass_coverage(ws, unit, [op.code], f"was recoded {op.code}")
    ws.emit(unit, Unit.Dissolved, lineage=[link(op.code, "successor", "recode")])
    for child in ws.children(unit, ws.day):
        ws.emit(child, Unit.Transferred, parent=op.code)
        ws.joined.setdefault(op.code, set()).add(child.code)
    move_offices(ws, unit, op.code)
    ws.touch_family(unit.code)
    ws.touch_family(op.code)


@handles(Dissolve)
def dissolve(ws: Workspace, op: Dissolve) -> None:
    """The unit ends; its offices close with it. Its children must have gone elsewhere."""
    found = _live_version(ws, op.unit, f"{op.location}.unit")
    if found is None:
        return
    unit, version = found
    old = from_wkb_hex(version.geometry)
    lineage = _boundary_lineage(ws, unit.code, version.parent, old, None)
    # Its territory went to the units that took it (lineage successors): so does its service.
    successors = [item["code"] for item in lineage if item["role"] == "successor"]
    pass_coverage(ws, unit, successors, "was dissolved")
    ws.emit(unit, Unit.Dissolved, lineage=lineage)
    move_offices(ws, unit, None)
    ws.touch_family(unit.parent.value_on(ws.day))
    ws.touch_family(unit.code)


@handles(Correct)
def correct(ws: Workspace, op: Correct) -> None:
    """Fix what the register says about a past period, without a change in the world."""
    unit = ws.live_unit(op.unit, f"{op.location}.unit", on=op.valid_from)
    if unit is None:
        return
    ws.emit(
        unit,
        Unit.Corrected,
        effective=op.valid_from,
        valid_to=op.valid_to,
        geometry=to_wkb_hex(op.geometry) if op.geometry is not None else None,
        name=op.name,
        name_en=None,
    )
    ws.earliest = min(ws.earliest, op.valid_from)
    for version in unit.versions():
        ws.touch_family(version.parent)
    ws.touch_family(unit.code)
