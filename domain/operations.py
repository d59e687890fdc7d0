"""What each change-set operation does to the aggregates, one function per operation.

Each function checks what only it can know (codes free, units live, parts consistent), then
queues events through the `Workspace`. Rules that concern the map as a whole (containment,
overlaps, coverage, workstations) are checked afterwards by `domain.invariants`, once, on
the result of all operations together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shapely
from shapely.geometry import MultiPolygon

from domain.geometry import GeometryError, as_valid_territory, from_wkb_hex, metric, to_wkb_hex
from domain.offices import GRID_OFFICER, WORKSTATION, Office
from domain.requests import (
    Address,
    AssignCoverage,
    AssignMatter,
    CloseOffice,
    CloseWorkstation,
    Correct,
    Dissolve,
    Establish,
    LayGrids,
    Merge,
    MergeWorkstations,
    OpenOffice,
    OpenWorkstation,
    Operation,
    Recode,
    Redraw,
    Rename,
    Split,
    Transfer,
)
from domain.units import Unit, UnitVersion
from domain.workspace import Workspace


def apply_operation(ws: Workspace, operation: Operation) -> None:
    """Dispatch one operation."""
    HANDLERS[type(operation)](ws, operation)


def _link(code: str, role: str, kind: str) -> dict[str, str]:
    return {"code": code, "role": role, "kind": kind}


def _address(address: Address | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {"lon": address.lon, "lat": address.lat, "text": address.text}


def _area_m2(ws: Workspace, geometry: Any) -> float:
    return float(metric(geometry, ws.rules.metric_crs).area)


def _territory(ws: Workspace, geometry: Any, location: str) -> MultiPolygon | None:
    try:
        return as_valid_territory(geometry, location)
    except GeometryError as exc:
        ws.problems.append(exc.problem)
        return None


# Units ---------------------------------------------------------------------------------------


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
            if gained.intersects(held) and _area_m2(ws, gained.intersection(held)) > tolerance:
                links.append(_link(sibling, "predecessor", "redraw"))
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
        if _area_m2(ws, lost.intersection(after)) > tolerance:
            links.append(_link(sibling, "successor", "redraw"))
    return links


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
            remainder = _territory(ws, original.difference(union_new), f"{where}.parts")
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
    outside = _area_m2(ws, shapely.union_all(pieces).difference(original))
    if outside > tolerance:
        ws.fail(
            "split_part_outside",
            f"the parts reach {outside:.0f} m² beyond {unit.code}'s territory",
            f"{where}.parts",
            unit.code,
            area_m2=outside,
        )
    gap = _area_m2(ws, original.difference(shapely.union_all(pieces)))
    if gap > tolerance:
        ws.fail(
            "split_leaves_gap",
            f"the parts leave {gap:.0f} m² of {unit.code} uncovered",
            f"{where}.parts",
            unit.code,
            area_m2=gap,
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
            lineage=[_link(unit.code, "predecessor", kind)],
            provenance=unit.provenance,
        )
    successors = [_link(p.code, "successor", kind) for p in new_parts]
    if remainder is not None:
        ws.emit(unit, Unit.Redrawn, geometry=to_wkb_hex(remainder), lineage=successors)
        if own and own[0].name and own[0].name != version.name:
            ws.emit(unit, Unit.Renamed, name=own[0].name, name_en=own[0].name_en or version.name_en)
    else:
        ws.emit(unit, Unit.Dissolved, lineage=successors)
    ws.touch_family(parent)
    ws.touch_family(unit.code)
    _pass_coverage(ws, unit, ([unit.code] if remainder is not None else []) + codes)
    targets = [(p.code, p.geometry) for p in new_parts]
    if remainder is not None:
        targets.append((unit.code, remainder))
    if op.reassign_children == "by_location":
        _reassign_children(ws, unit, targets, f"{where}.reassign_children")
    if op.mode == "full":
        # Offices that did not follow a child (a street office) close with the unit.
        _move_offices(ws, unit, None)


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
        shares = [(code, _area_m2(ws, geometry.intersection(piece))) for code, piece in targets]
        holders = [
            code
            for code, _ in targets
            if _area_m2(ws, geometry.difference(dict(targets)[code])) <= tolerance
        ]
        if not holders:
            pieces = ", ".join(
                f"{code}: {area:.0f} m²" for code, area in shares if area > tolerance
            )
            ws.fail(
                "child_straddles",
                f"{child.code} straddles the new boundary ({pieces}); "
                "split or transfer it explicitly",
                location,
                child.code,
                *[code for code, area in shares if area > tolerance],
                area_m2=min((a for _, a in shares if a > tolerance), default=0.0),
            )
            continue
        target = holders[0]
        moved_to[child.code] = target
        if target != unit.code:
            ws.emit(child, Unit.Transferred, parent=target)
            ws.joined.setdefault(target, set()).add(child.code)
            ws.touch_family(target)
    _follow_workstations(ws, unit, moved_to)


def _follow_workstations(ws: Workspace, street: Unit, moved_to: dict[str, str]) -> None:
    """Workstations whose communities all moved to one new unit move with them."""
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


def _move_offices(ws: Workspace, unit: Unit, successor: str | None) -> None:
    """Offices of an ending unit go to its successor, or close with it."""
    for office in ws.offices_of(unit):
        if not office.open_on(ws.day) or office.unit.value_on(ws.day) != unit.code:
            continue
        if successor is None:
            ws.emit(office, Office.Closed, successor=None)
        else:
            ws.emit(office, Office.Reassigned, unit=successor)
            ws.offices_joined.setdefault(successor, set()).add(office.code)
        ws.coverage_units.add(unit.code)


def _pass_coverage(ws: Workspace, unit: Unit, successors: list[str]) -> None:
    """A served unit that ends, splits or leaves its street passes its coverage on.

    The workstation that served it serves `successors` instead (those nobody serves yet; the
    unit's own code among them if it stays), so a merge, recode, split or dissolution keeps
    the coverage consistent; a transferred community needs a workstation of its new street.
    """
    street_code = unit.parent.value_on(ws.day)
    street = ws.unit(street_code) if street_code is not None else None
    if unit.level != ws.rules.served_level or street is None:
        return
    for station in ws.workstations_serving(unit.code, street, ws.day):
        takes = [
            code
            for code in successors
            if code == unit.code or not ws.workstations_serving(code, street, ws.day)
        ]
        served: list[str] = []
        for code in station.serves_on(ws.day):
            served.extend(takes if code == unit.code else [code])
        ws.emit(station, Office.CoverageChanged, serves=list(dict.fromkeys(served)))
    ws.coverage_units.add(street.code)


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
    union = _territory(
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
            lineage=[_link(u.code, "predecessor", "merge") for u in absorbed],
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
            lineage=[_link(u.code, "predecessor", "merge") for u in members],
        )
        absorbed = members
        target = op.into_code
    for unit in absorbed:
        _pass_coverage(ws, unit, [target])
        ws.emit(unit, Unit.Dissolved, lineage=[_link(target, "successor", "merge")])
        for child in ws.children(unit, ws.day):
            ws.emit(child, Unit.Transferred, parent=target)
            ws.joined.setdefault(target, set()).add(child.code)
        _move_offices(ws, unit, target)
        ws.touch_family(unit.code)
    ws.touch_family(parent)
    ws.touch_family(target)


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
    _pass_coverage(ws, unit, [])
    ws.emit(unit, Unit.Transferred, parent=parent.code)
    ws.joined.setdefault(parent.code, set()).add(unit.code)
    ws.touch_family(old_parent)
    ws.touch_family(parent.code)
    ws.coverage_units.update({c for c in (old_parent, parent.code) if c})


def rename(ws: Workspace, op: Rename) -> None:
    """A new name; the code stays."""
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
    ws.touch_family(unit.parent.value_on(ws.day))


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
        lineage=[_link(unit.code, "predecessor", "recode")],
        provenance=unit.provenance,
    )
    _pass_coverage(ws, unit, [op.code])
    ws.emit(unit, Unit.Dissolved, lineage=[_link(op.code, "successor", "recode")])
    for child in ws.children(unit, ws.day):
        ws.emit(child, Unit.Transferred, parent=op.code)
        ws.joined.setdefault(op.code, set()).add(child.code)
    _move_offices(ws, unit, op.code)
    ws.touch_family(unit.code)
    ws.touch_family(op.code)


def dissolve(ws: Workspace, op: Dissolve) -> None:
    """The unit ends; its offices close with it. Its children must have gone elsewhere."""
    found = _live_version(ws, op.unit, f"{op.location}.unit")
    if found is None:
        return
    unit, version = found
    old = from_wkb_hex(version.geometry)
    lineage = _boundary_lineage(ws, unit.code, version.parent, old, None)
    _pass_coverage(ws, unit, [])
    ws.emit(unit, Unit.Dissolved, lineage=lineage)
    _move_offices(ws, unit, None)
    ws.touch_family(unit.parent.value_on(ws.day))
    ws.touch_family(unit.code)


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


# Grids ---------------------------------------------------------------------------------------


def lay_grids(ws: Workspace, op: LayGrids) -> None:
    """Lay a community's grids, or replace them (`regrid`), with their grid officers."""
    where = op.location
    community = ws.live_unit(op.community, f"{where}.community")
    if community is None:
        return
    grid_level = ws.rules.levels.child_of(community.level)
    if grid_level is None:
        ws.fail(
            "level_has_no_children",
            f"{community.level} units have no child level",
            f"{where}.community",
        )
        return
    existing = ws.children(community, ws.day)
    if existing and not op.replace:
        ws.fail(
            "grids_exist",
            f"{community.code} already has {len(existing)} {grid_level} units; use regrid",
            f"{where}.community",
            community.code,
        )
        return
    codes = [g.code for g in op.grids]
    if len(set(codes)) != len(codes):
        ws.fail("codes_repeated", "two grids share a code", f"{where}.grids")
        return
    if not all(ws.code_is_free(g.code, f"{where}.grids") for g in op.grids):
        return
    tolerance = ws.rules.tolerance_m2
    old = [
        (g, from_wkb_hex(v.geometry)) for g in existing if (v := g.version_on(ws.day)) is not None
    ]
    for plan in op.grids:
        predecessors = [
            _link(g.code, "predecessor", "regrid")
            for g, geometry in old
            if _area_m2(ws, geometry.intersection(plan.geometry)) > tolerance
        ]
        ws.establish_unit(
            code=plan.code,
            level=grid_level,
            name=plan.name,
            name_en="",
            parent=community.code,
            geometry=to_wkb_hex(plan.geometry),
            lineage=predecessors,
            provenance=community.provenance,
        )
        if plan.officer:
            ws.open_new_office(
                code=f"{plan.code}/officer",
                kind=GRID_OFFICER,
                name=plan.officer,
                unit=plan.code,
                address=None,
            )
    for grid, geometry in old:
        successors = [
            _link(plan.code, "successor", "regrid")
            for plan in op.grids
            if _area_m2(ws, geometry.intersection(plan.geometry)) > tolerance
        ]
        ws.emit(grid, Unit.Dissolved, lineage=successors)
        _move_offices(ws, grid, None)
    ws.touch_family(community.code)


# Offices and workstations --------------------------------------------------------------------


def open_office(ws: Workspace, op: OpenOffice) -> None:
    """An office opens for a live unit."""
    unit = ws.live_unit(op.unit, f"{op.location}.unit")
    if unit is None or not ws.code_is_free(op.code, f"{op.location}.code"):
        return
    if op.kind == WORKSTATION:
        ws.fail(
            "use_open_workstation", "open workstations with open_workstation", f"{op.location}.kind"
        )
        return
    ws.open_new_office(
        code=op.code, kind=op.kind, name=op.name, unit=unit.code, address=_address(op.address)
    )


def close_office(ws: Workspace, op: CloseOffice) -> None:
    """An office closes."""
    office = ws.open_office(op.code, f"{op.location}.code")
    if office is None:
        return
    if office.kind == WORKSTATION:
        ws.fail(
            "use_close_workstation",
            "close workstations with close_workstation",
            f"{op.location}.code",
        )
        return
    ws.emit(office, Office.Closed, successor=None)


def _street_of(ws: Workspace, communities: tuple[str, ...], location: str) -> Unit | None:
    """The one street the communities share on the day, or a problem."""
    streets: set[str] = set()
    for code in communities:
        community = ws.live_unit(code, location)
        if community is None:
            return None
        if community.level != ws.rules.served_level:
            ws.fail(
                "not_a_community",
                f"{code} is a {community.level}; workstations serve {ws.rules.served_level} units",
                location,
                code,
            )
            return None
        parent = community.parent.value_on(ws.day)
        if parent is not None:
            streets.add(parent)
    if len(streets) != 1:
        ws.fail(
            "workstation_streets",
            "a workstation serves communities of one street; these are in "
            f"{', '.join(sorted(streets))}",
            location,
            *communities,
        )
        return None
    return ws.unit(streets.pop())


def _take_over(
    ws: Workspace, taker: Office | None, street: Unit, communities: tuple[str, ...]
) -> None:
    """Whoever serves these communities now stops doing so (the taker starts separately)."""
    for code in communities:
        for other in ws.workstations_serving(code, street, ws.day):
            if other is taker:
                continue
            remaining = tuple(c for c in other.serves_on(ws.day) if c not in communities)
            ws.emit(other, Office.CoverageChanged, serves=list(remaining))
    ws.coverage_units.add(street.code)


def open_workstation(ws: Workspace, op: OpenWorkstation) -> None:
    """A workstation opens and takes over the communities it serves."""
    if not ws.code_is_free(op.code, f"{op.location}.code"):
        return
    street = _street_of(ws, op.serves, f"{op.location}.serves")
    if street is None:
        return
    _take_over(ws, None, street, op.serves)
    ws.open_new_office(
        code=op.code,
        kind=WORKSTATION,
        name=op.name,
        unit=street.code,
        address=_address(op.address),
        serves=op.serves,
    )


def close_workstation(ws: Workspace, op: CloseWorkstation) -> None:
    """A workstation closes; its successor takes over all its communities."""
    closing = ws.open_office(op.code, f"{op.location}.code", WORKSTATION)
    successor = ws.open_office(op.successor, f"{op.location}.successor", WORKSTATION)
    if closing is None or successor is None:
        return
    if closing is successor:
        ws.fail(
            "successor_is_self", "a workstation cannot succeed itself", f"{op.location}.successor"
        )
        return
    _merge_into(ws, [closing], successor)


def _merge_into(ws: Workspace, closing: list[Office], into: Office) -> None:
    served = list(into.serves_on(ws.day))
    for office in closing:
        served.extend(c for c in office.serves_on(ws.day) if c not in served)
        ws.emit(office, Office.Closed, successor=into.code)
    ws.emit(into, Office.CoverageChanged, serves=served)
    street = into.unit.value_on(ws.day)
    ws.coverage_units.update({street} if street else set())
    ws.coverage_units.update({u for o in closing if (u := o.unit.value_on(ws.day))})


def assign_coverage(ws: Workspace, op: AssignCoverage) -> None:
    """The workstation takes over these communities."""
    workstation = ws.open_office(op.workstation, f"{op.location}.workstation", WORKSTATION)
    street = _street_of(ws, op.communities, f"{op.location}.communities")
    if workstation is None or street is None:
        return
    _take_over(ws, workstation, street, op.communities)
    served = list(workstation.serves_on(ws.day))
    served.extend(c for c in op.communities if c not in served)
    ws.emit(workstation, Office.CoverageChanged, serves=served)
    ws.coverage_units.add(street.code)


def merge_workstations(ws: Workspace, op: MergeWorkstations) -> None:
    """Workstations merge: the survivor takes over every community of the others."""
    offices = [
        ws.open_office(code, f"{op.location}.workstations", WORKSTATION) for code in op.workstations
    ]
    if any(o is None for o in offices):
        return
    into = next(o for o in offices if o is not None and o.code == op.into)
    _merge_into(ws, [o for o in offices if o is not None and o is not into], into)


# Matters -------------------------------------------------------------------------------------


def assign_matter(ws: Workspace, op: AssignMatter) -> None:
    """A matter is handled by an office kind at a level from the effective date."""
    if op.level not in ws.rules.levels:
        ws.fail("level_unknown", f"unknown level {op.level!r}", f"{op.location}.level")
        return
    catalogue = ws.catalogue()
    from domain.matters import Catalogue

    ws.emit(
        catalogue,
        Catalogue.MatterAssigned,
        matter=op.matter,
        name=op.name,
        office_kind=op.office_kind,
        level=op.level,
    )


HANDLERS: dict[type[Any], Callable[[Workspace, Any], None]] = {
    Establish: establish,
    Redraw: redraw,
    Split: split,
    Merge: merge,
    Transfer: transfer,
    Rename: rename,
    Recode: recode,
    Dissolve: dissolve,
    Correct: correct,
    LayGrids: lay_grids,
    OpenOffice: open_office,
    CloseOffice: close_office,
    OpenWorkstation: open_workstation,
    CloseWorkstation: close_workstation,
    AssignCoverage: assign_coverage,
    MergeWorkstations: merge_workstations,
    AssignMatter: assign_matter,
}
