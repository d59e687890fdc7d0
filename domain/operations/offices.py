"""Offices and community workstations: opening, closing, and which communities they serve."""

from __future__ import annotations

from typing import Any

from domain.commands import (
    Address,
    AssignCoverage,
    ChangeServiceArea,
    CloseOffice,
    CloseWorkstation,
    MergeWorkstations,
    OpenOffice,
    OpenWorkstation,
)
from domain.offices import WORKSTATION, Office
from domain.operations.dispatch import handles
from domain.units import Unit
from domain.workspace import Workspace


def _address(address: Address | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {"lon": address.lon, "lat": address.lat, "text": address.text}


@handles(OpenOffice)
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
    if not _service_area_fits(ws, unit.code, op.serves, f"{op.location}.serves"):
        return
    ws.open_new_office(
        code=op.code,
        kind=op.kind,
        name=op.name,
        unit=unit.code,
        address=_address(op.address),
        serves=op.serves,
    )


def _service_area_fits(ws: Workspace, owner: str, serves: tuple[str, ...], location: str) -> bool:
    """Every served unit is live on the day and inside the office's own unit.

    An office's service area is data, never inferred: a new-area committee belongs to its
    district but serves only the new area's streets, so it names them (and the area follows
    them when they split, merge, are recoded or leave: `service_areas.pass_coverage`); an empty list
    means the whole of its unit.
    """
    fits = True
    for index, code in enumerate(serves):
        where = f"{location}[{index}]"
        if ws.live_unit(code, where) is None:
            fits = False
        elif not ws.inside(code, owner):
            ws.fail(
                "served_outside_unit",
                f"{code} is not inside {owner}, the unit the office belongs to",
                where,
                code,
            )
            fits = False
    return fits


@handles(ChangeServiceArea)
def change_service_area(ws: Workspace, op: ChangeServiceArea) -> None:
    """From the day an office serves exactly these units (workstations: assign_coverage)."""
    office = ws.open_office(op.code, f"{op.location}.code")
    if office is None:
        return
    if office.kind == WORKSTATION:
        ws.fail(
            "office_wrong_kind",
            "change a workstation's communities with assign_coverage",
            f"{op.location}.code",
        )
        return
    owner = office.unit.value_on(ws.day)
    if owner is None or not _service_area_fits(ws, owner, op.serves, f"{op.location}.serves"):
        return
    ws.emit(office, Office.CoverageChanged, serves=list(op.serves))


@handles(CloseOffice)
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


@handles(OpenWorkstation)
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


@handles(CloseWorkstation)
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


@handles(AssignCoverage)
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


@handles(MergeWorkstations)
def merge_workstations(ws: Workspace, op: MergeWorkstations) -> None:
    """Workstations merge: the survivor takes over every community of the others."""
    offices = [
        ws.open_office(code, f"{op.location}.workstations", WORKSTATION) for code in op.workstations
    ]
    if any(o is None for o in offices):
        return
    into = next(o for o in offices if o is not None and o.code == op.into)
    _merge_into(ws, [o for o in offices if o is not None and o is not into], into)
