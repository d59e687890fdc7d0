"""Laying a community's grids, or replacing them (`regrid`), with their grid officers."""

from __future__ import annotations

from domain.commands import LayGrids
from domain.geometry import from_wkb_hex, to_wkb_hex
from domain.offices import GRID_OFFICER
from domain.operations.common import area_m2, link, move_offices
from domain.operations.dispatch import handles
from domain.units import Unit
from domain.workspace import Workspace


@handles(LayGrids)
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
            link(g.code, "predecessor", "regrid")
            for g, geometry in old
            if area_m2(ws, geometry.intersection(plan.geometry)) > tolerance
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
            link(plan.code, "successor", "regrid")
            for plan in op.grids
            if area_m2(ws, geometry.intersection(plan.geometry)) > tolerance
        ]
        ws.emit(grid, Unit.Dissolved, lineage=successors)
        move_offices(ws, grid, None)
    ws.touch_family(community.code)
