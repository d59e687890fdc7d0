"""A small synthetic city with every kind of thing, built through change sets.

Geometry (lon 114.00-114.20, lat 22.50-22.70), all boxes that tile exactly:

    city C  = D1 (west, 114.00-114.10) + D2 (east, 114.10-114.20)
    D1      = S1 (south, 22.50-22.60) + S2 (north, 22.60-22.70);  D2 = S9 (all of it)
    S1      = M1 (114.00-114.04) + M2 (114.04-114.07) + M4 (114.07-114.10)
    S2      = M3;  S9 = M9
    M1      = grids G1 (south half) + G2 (north half)

Workstations: W1 serves M1 and M4 ("one station, many committees"), W3 serves M2, W2 serves
M3, W9 serves M9. On 2016-12-26 street S1 splits off S3 (the part holding M2): M2 and its
workstation W3 follow to S3 by location. The matter "elderly-card" moves on 2016-01-01 from
the street office to the residents' committee.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from api.operations import parse_change_set
from domain.register import JurisdictionRegister, Receipt

BEIJING = timezone(timedelta(hours=8))


def box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    """A GeoJSON Polygon box."""
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def unit(code: str, level: str, parent: str | None, geometry: dict[str, Any]) -> dict[str, Any]:
    """An establish operation."""
    return {
        "op": "establish",
        "code": code,
        "level": level,
        "name": f"{code} name",
        "parent": parent,
        "geometry": geometry,
    }


def office(code: str, kind: str, unit_code: str) -> dict[str, Any]:
    """An open_office operation."""
    return {
        "op": "open_office",
        "code": code,
        "kind": kind,
        "name": f"{code} office",
        "unit": unit_code,
        "address": {"lon": 114.05, "lat": 22.55, "text": f"{code} road 1"},
    }


def workstation(code: str, *serves: str) -> dict[str, Any]:
    """An open_workstation operation."""
    return {
        "op": "open_workstation",
        "code": code,
        "name": f"{code} workstation",
        "serves": list(serves),
        "address": {"lon": 114.02, "lat": 22.52, "text": f"{code} st"},
    }


FOUNDING: dict[str, Any] = {
    "effective": "2015-01-01",
    "reason": "founding",
    "document": "doc-1",
    "operations": [
        unit("C", "city", None, box(114.0, 22.5, 114.2, 22.7)),
        unit("D1", "district", "C", box(114.0, 22.5, 114.1, 22.7)),
        unit("D2", "district", "C", box(114.1, 22.5, 114.2, 22.7)),
        unit("S1", "street", "D1", box(114.0, 22.5, 114.1, 22.6)),
        unit("S2", "street", "D1", box(114.0, 22.6, 114.1, 22.7)),
        unit("S9", "street", "D2", box(114.1, 22.5, 114.2, 22.7)),
        unit("M1", "community", "S1", box(114.0, 22.5, 114.04, 22.6)),
        unit("M2", "community", "S1", box(114.04, 22.5, 114.07, 22.6)),
        unit("M4", "community", "S1", box(114.07, 22.5, 114.1, 22.6)),
        unit("M3", "community", "S2", box(114.0, 22.6, 114.1, 22.7)),
        unit("M9", "community", "S9", box(114.1, 22.5, 114.2, 22.7)),
        workstation("W1", "M1", "M4"),
        workstation("W3", "M2"),
        workstation("W2", "M3"),
        workstation("W9", "M9"),
        office("SO1", "street_office", "S1"),
        office("SO2", "street_office", "S2"),
        office("RC1", "residents_committee", "M1"),
        office("RC2", "residents_committee", "M2"),
        {
            "op": "lay_grids",
            "community": "M1",
            "grids": [
                {
                    "code": "G1",
                    "name": "grid 1",
                    "officer": "Zhang San",
                    "geometry": box(114.0, 22.5, 114.04, 22.55),
                },
                {
                    "code": "G2",
                    "name": "grid 2",
                    "officer": "Li Si",
                    "geometry": box(114.0, 22.55, 114.04, 22.6),
                },
            ],
        },
        {
            "op": "assign_matter",
            "matter": "elderly-card",
            "name": "老年人优待证",
            "office_kind": "street_office",
            "level": "street",
        },
    ],
}

MATTER_MOVE: dict[str, Any] = {
    "effective": "2016-01-01",
    "reason": "one kind of matter, one level",
    "operations": [
        {
            "op": "assign_matter",
            "matter": "elderly-card",
            "name": "老年人优待证",
            "office_kind": "residents_committee",
            "level": "community",
        },
    ],
}

STREET_SPLIT: dict[str, Any] = {
    "effective": "2016-12-26",
    "reason": "S3 split off from S1",
    "document": "split notice",
    "operations": [
        {
            "op": "split",
            "unit": "S1",
            "mode": "split_off",
            "reassign_children": "by_location",
            "parts": [
                {"code": "S3", "name": "S3 name", "geometry": box(114.04, 22.5, 114.07, 22.6)}
            ],
        },
    ],
}


def recorded(day: str) -> datetime:
    """Morning of the effective day, Beijing time: as_recorded tests can aim before or after."""
    return datetime.fromisoformat(f"{day}T09:00:00+08:00")


def build(register: JurisdictionRegister) -> list[Receipt]:
    """Apply the scenario's change sets in order."""
    receipts = []
    for body in (FOUNDING, MATTER_MOVE, STREET_SPLIT):
        receipts.append(
            register.apply_change_set(
                parse_change_set(body), actor="scenario", recorded_at=recorded(body["effective"])
            )
        )
    return receipts


def load_districts(register: JurisdictionRegister) -> list[Receipt]:
    """Only the demo's city and districts (2015, 2017, 2018): fast, and real geometry."""
    from jurisdictions.demo.shenzhen import ACTOR, district_change_sets

    return [
        register.apply_change_set(
            parse_change_set(change_set.body),
            actor=ACTOR,
            idempotency_key=change_set.key,
            recorded_at=change_set.recorded_at,
        )
        for change_set in district_change_sets()
    ]
