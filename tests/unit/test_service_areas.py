"""An office's service area follows the units it serves by name (issue 16).

On the map of `test_operations` (D1 = S1 + S2, D2 = S3), a new-area committee NA belongs to
district D1 and serves named streets of it. When a served street is split, merged, recoded,
dissolved or transferred, the committee's `serves` changes in the same change set, and the
receipt's notes say how (a dry run's too).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from api.operations import parse_change_set
from domain import invariants
from domain.errors import Problem
from domain.register import JurisdictionRegister
from domain.units import Unit
from domain.workspace import Workspace
from tests.unit.helpers import apply, in_memory_register
from tests.unit.test_operations import (
    NORTH_S2,
    SOUTH_S2,
    base_map,
    base_operations,
    box,
    codes,
    office,
    problems,
)

DAY = date(2017, 1, 1)
BEFORE = date(2016, 12, 31)


def committee(register: JurisdictionRegister, *serves: str) -> None:
    apply(
        register,
        "2016-01-01",
        {
            "op": "open_office",
            "code": "NA",
            "kind": "new_area_committee",
            "name": "New area committee",
            "unit": "D1",
            "serves": list(serves),
        },
    )


def served(register: JurisdictionRegister, day: date = DAY) -> tuple[str, ...]:
    return office(register, "NA").serves_on(day)


def notes_of(notes: tuple[Problem, ...]) -> list[tuple[str, tuple[str, ...]]]:
    return [(n.code, n.units) for n in notes]


SPLIT_OFF_S2 = {
    "op": "split",
    "unit": "S2",
    "mode": "split_off",
    "reassign_children": "by_location",
    "parts": [
        {"code": "S2", "name": "S2 south", "geometry": SOUTH_S2},
        {"code": "S4", "name": "S4 north", "geometry": NORTH_S2},
    ],
}


def test_a_split_served_street_passes_its_service_to_its_parts_a_dry_run_says_so():
    register = base_map()
    committee(register, "S2")
    dry = apply(register, DAY.isoformat(), SPLIT_OFF_S2, dry_run=True)
    assert notes_of(dry.notes) == [("service_area_passed", ("S2", "S4", "NA"))]
    assert dry.notes[0].extra == {
        "office": "NA",
        "serves_before": ["S2"],
        "serves_after": ["S2", "S4"],
    }
    assert "also serves S4 north (S4): S2 south (S2), which it serves, was split" in (
        dry.notes[0].message
    )
    assert served(register) == ("S2",), "a dry run stores nothing"
    stored = apply(register, DAY.isoformat(), SPLIT_OFF_S2)
    assert notes_of(stored.notes) == notes_of(dry.notes)
    assert served(register) == ("S2", "S4")
    assert served(register, BEFORE) == ("S2",), "the history stays as it was"


def test_a_full_split_serves_every_new_part():
    register = base_map()
    committee(register, "S1", "S2")
    apply(
        register,
        DAY.isoformat(),
        {
            "op": "split",
            "unit": "S2",
            "mode": "full",
            "reassign_children": "by_location",
            "parts": [
                {"code": "S5", "name": "S5", "geometry": SOUTH_S2},
                {"code": "S6", "name": "S6", "geometry": NORTH_S2},
            ],
        },
    )
    assert served(register) == ("S1", "S5", "S6")


def test_merged_into_a_new_street_serves_it():
    register = base_map()
    committee(register, "S1", "S2")
    receipt = apply(
        register,
        DAY.isoformat(),
        {"op": "merge", "units": ["S1", "S2"], "into": {"code": "S7", "name": "Merged"}},
    )
    assert served(register) == ("S7",)
    assert [n.code for n in receipt.notes] == ["service_area_passed", "service_area_passed"]


def test_merged_into_a_street_it_did_not_serve_grows_the_area_with_a_note():
    register = base_map()
    committee(register, "S2")
    receipt = apply(
        register, DAY.isoformat(), {"op": "merge", "units": ["S1", "S2"], "absorb_into": "S1"}
    )
    assert served(register) == ("S1",)
    assert notes_of(receipt.notes) == [("office_area_extended", ("S2", "S1", "NA"))]
    assert "its area grows" in receipt.notes[0].message


def test_a_recoded_street_is_served_under_its_new_code():
    register = base_map()
    committee(register, "S1", "S2")
    receipt = apply(register, DAY.isoformat(), {"op": "recode", "unit": "S2", "code": "S9"})
    assert served(register) == ("S1", "S9")
    assert served(register, BEFORE) == ("S1", "S2")
    assert notes_of(receipt.notes) == [("service_area_passed", ("S2", "S9", "NA"))]


def test_a_dissolved_street_passes_its_service_to_the_street_that_took_its_territory():
    register = base_map()
    committee(register, "S1", "S2")
    receipt = apply(
        register,
        DAY.isoformat(),
        {"op": "redraw", "unit": "S1", "geometry": box(114.00, 22.50, 114.02, 22.54)},
        {"op": "transfer", "unit": "K3", "parent": "S1"},
        {"op": "transfer", "unit": "K4", "parent": "S1"},
        {"op": "assign_coverage", "workstation": "W1", "communities": ["K3", "K4"]},
        {"op": "close_office", "code": "SO2"},
        {"op": "dissolve", "unit": "S2"},
    )
    assert served(register) == ("S1",)
    assert notes_of(receipt.notes) == [("service_area_passed", ("S2", "S1", "NA"))]


def transfer_s2_to_d2() -> list[dict[str, Any]]:
    """S2 (with its communities and workstations) passes from district D1 to D2."""
    return [
        {"op": "redraw", "unit": "D1", "geometry": box(114.00, 22.50, 114.01, 22.54)},
        {"op": "redraw", "unit": "D2", "geometry": box(114.01, 22.50, 114.04, 22.54)},
        {"op": "transfer", "unit": "S2", "parent": "D2"},
    ]


def test_a_street_transferred_out_of_the_district_is_no_longer_served_with_a_note():
    register = base_map()
    committee(register, "S1", "S2")
    dry = apply(register, DAY.isoformat(), *transfer_s2_to_d2(), dry_run=True)
    assert notes_of(dry.notes) == [("office_area_reduced", ("S2", "NA"))]
    note = dry.notes[0]
    assert "no longer serves S2 name (S2): it is now in D2 name (D2), outside D1" in note.message
    assert note.extra["serves_before"] == ["S1", "S2"]
    assert note.extra["serves_after"] == ["S1"]
    apply(register, DAY.isoformat(), *transfer_s2_to_d2())
    assert served(register) == ("S1",)
    assert served(register, BEFORE) == ("S1", "S2")


D1_WITHOUT_S4 = [
    (114.00, 22.50),
    (114.02, 22.50),
    (114.02, 22.52),
    (114.01, 22.52),
    (114.01, 22.54),
    (114.00, 22.54),
]
D2_WITH_S4 = [
    (114.01, 22.52),
    (114.02, 22.52),
    (114.02, 22.50),
    (114.04, 22.50),
    (114.04, 22.54),
    (114.01, 22.54),
]


def polygon(ring: list[tuple[float, float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[list(p) for p in [*ring, ring[0]]]]}


def test_a_part_transferred_out_in_the_same_change_set_is_dropped_the_rest_passes():
    register = base_map()
    committee(register, "S1", "S2")
    receipt = apply(
        register,
        DAY.isoformat(),
        SPLIT_OFF_S2,
        {"op": "redraw", "unit": "D1", "geometry": polygon(D1_WITHOUT_S4)},
        {"op": "redraw", "unit": "D2", "geometry": polygon(D2_WITH_S4)},
        {"op": "transfer", "unit": "S4", "parent": "D2"},
    )
    assert served(register) == ("S1", "S2")
    assert sorted(n.code for n in receipt.notes) == ["office_area_reduced"]
    assert receipt.notes[0].units == ("S4", "NA")


def test_an_office_left_with_none_of_its_streets_is_refused_not_widened():
    register = base_map()
    committee(register, "S2")
    found = problems(register, DAY.isoformat(), *transfer_s2_to_d2())
    assert codes(found) == ["office_area_empty"]
    assert found[0].units == ("NA", "S2")
    assert served(register) == ("S2",)


def lenient_map() -> JurisdictionRegister:
    """The same map where units need not cover their parent: a street may end alone."""
    register = in_memory_register()
    apply(register, "2015-01-01", *base_operations())
    return register


def test_a_street_dissolved_with_no_successor_leaves_the_area_with_a_note():
    register = lenient_map()
    committee(register, "S1", "S2")
    receipt = apply(
        register,
        DAY.isoformat(),
        *({"op": "dissolve", "unit": k} for k in ("K3", "K4")),
        {"op": "close_office", "code": "SO2"},
        {"op": "dissolve", "unit": "S2"},
    )
    assert served(register) == ("S1",)
    assert notes_of(receipt.notes) == [("office_area_reduced", ("S2", "NA"))]
    assert "passes its territory to no unit" in receipt.notes[0].message


def test_an_office_whose_only_street_ends_with_no_successor_is_refused_unless_closed():
    register = lenient_map()
    committee(register, "S2")
    ending = [
        *({"op": "dissolve", "unit": k} for k in ("K3", "K4")),
        {"op": "close_office", "code": "SO2"},
        {"op": "dissolve", "unit": "S2"},
    ]
    found = problems(register, DAY.isoformat(), *ending)
    assert codes(found) == ["office_area_empty"]
    assert served(register) == ("S2",)
    apply(register, DAY.isoformat(), *ending, {"op": "close_office", "code": "NA"})
    assert not office(register, "NA").open_on(DAY)


def test_the_invariant_catches_a_path_that_forgets_to_pass_the_service_on():
    """A served street that ends without its service passed on is a problem, not a silent
    shrink: the invariant reads every office that names a unit that ended or moved."""
    register = base_map()
    committee(register, "S1", "S2")
    request = parse_change_set(
        {
            "effective": DAY.isoformat(),
            "reason": "test",
            "operations": [{"op": "rename", "unit": "S2", "name": "x"}],
        }
    )
    ws = Workspace(register, request, "tester", uuid.uuid4(), None)
    s2 = ws.unit("S2")
    assert s2 is not None
    ws.emit(s2, Unit.Dissolved)  # as a forgetful operation would
    found = [p for p in invariants.check(ws) if p.code == "office_serves_outside"]
    assert [p.units for p in found] == [("NA", "S2")]
    assert "which does not exist then" in found[0].message


def test_workstations_still_pass_their_coverage_as_before():
    register = base_map()
    committee(register, "S2")
    apply(register, DAY.isoformat(), SPLIT_OFF_S2)
    assert office(register, "W2").serves_on(DAY) == ("K3",)
    assert office(register, "W3").serves_on(DAY) == ("K4",)
    assert office(register, "W3").unit.value_on(DAY) == "S4"
