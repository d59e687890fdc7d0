"""Helpers several kinds of operation share: lineage links, areas, and the offices of a unit
that ends (what becomes of the units they serve: `domain.operations.service_areas`)."""

from __future__ import annotations

from typing import Any

from shapely.geometry import MultiPolygon

from domain.geometry import GeometryError, as_valid_territory
from domain.geometry import area_m2 as geodesic_area_m2
from domain.offices import Office
from domain.units import Unit
from domain.workspace import Workspace


def link(code: str, role: str, kind: str) -> dict[str, str]:
    """A lineage link to unit `code`: its `role` (predecessor, successor) and kind of change."""
    return {"code": code, "role": role, "kind": kind}


def area_m2(ws: Workspace, geometry: Any) -> float:
    """The geodesic area of a lon/lat geometry in square metres (the same figure anywhere, and
    the one `/v1/changes` reports); `ws` is kept so every operation measures one way."""
    del ws
    return geodesic_area_m2(geometry)


def valid_territory(ws: Workspace, geometry: Any, location: str) -> MultiPolygon | None:
    """The geometry as a valid territory, or None with the problem recorded."""
    try:
        return as_valid_territory(geometry, location)
    except GeometryError as exc:
        ws.problems.append(exc.problem)
        return None


def move_offices(ws: Workspace, unit: Unit, successor: str | None) -> None:
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
