"""The family repairs reach the grids of `lay_grids`/`regrid` and the parts of a `split`.

Before, `repair_change_set` fitted only `establish` and `redraw` territories, while a grid's or
a part's gap got a hint naming `snap_to_neighbours`, which could not fix it. Now the repair
fits them (a grid to its community, a part to the unit split) and reports each repair; a
problem no repair reaches (a gap left by a dissolve) gets no hint.
"""

from __future__ import annotations

from typing import Any

import pytest
import shapely

from api.operations import parse_change_set
from domain.errors import InvalidChangeSet, Problem
from domain.geometry import area_m2, from_wkb_hex
from domain.register import JurisdictionRegister
from domain.repair import RepairOptions, repair_change_set, repairable_units, with_hint
from tests.unit.test_operations import base_map, box, unit

SNAP = RepairOptions(clip_to_parent=True, snap_to_neighbours=True, sliver_m2=50_000)


def request(*operations: dict[str, Any], effective: str = "2016-01-01") -> Any:
    body = {"effective": effective, "reason": "test", "operations": list(operations)}
    return parse_change_set(body)


def refused(register: JurisdictionRegister, change_set: Any) -> list[Problem]:
    with pytest.raises(InvalidChangeSet) as caught:
        register.apply_change_set(change_set, actor="tester")
    repairable = repairable_units(register, change_set)
    return [with_hint(p, repairable) for p in caught.value.problems]


#: K1 is box(114.00, 22.50, 114.01, 22.52): the grids leave a strip 0.0001° (11 m) wide
#: between them (about 22,800 m²), and G1 reaches 0.00003° (3 m) west of the city's edge.
GAPPY_GRIDS = {
    "op": "lay_grids",
    "community": "K1",
    "grids": [
        {"code": "G1", "name": "G1", "geometry": box(113.99997, 22.50, 114.0049, 22.52)},
        {"code": "G2", "name": "G2", "geometry": box(114.005, 22.50, 114.01, 22.52)},
    ],
}


def test_a_gap_between_new_grids_is_hinted_and_the_repair_closes_it():
    register = base_map()
    change_set = request(GAPPY_GRIDS)
    problems = {p.code: p.as_dict() for p in refused(register, change_set)}
    assert "snap_to_neighbours" in problems["coverage_gap"]["hint"]
    assert "clip_to_parent" in problems["child_outside_parent"]["hint"]

    repaired, repairs = repair_change_set(register, change_set, SNAP)
    kinds = {(r.code, r.repair) for r in repairs}
    assert kinds == {("G1", "clip_to_parent"), ("G2", "snap_to_neighbours")} or kinds == {
        ("G1", "clip_to_parent"),
        ("G1", "snap_to_neighbours"),
    }
    gap = next(r for r in repairs if r.repair == "snap_to_neighbours")
    assert gap.level == "grid" and "gap" in gap.message
    assert gap.area_m2 == pytest.approx(area_m2(shapely.box(114.0049, 22.50, 114.005, 22.52)), 1e-3)
    register.apply_change_set(repaired, actor="tester")
    assert unit(register, "G1").exists_on(repaired.effective)


def test_a_regrid_is_fitted_without_the_grids_it_replaces():
    register = base_map()
    even = request(
        {
            **GAPPY_GRIDS,
            "grids": [
                {"code": "G1", "name": "G1", "geometry": box(114.00, 22.50, 114.005, 22.52)},
                {"code": "G2", "name": "G2", "geometry": box(114.005, 22.50, 114.01, 22.52)},
            ],
        }
    )
    register.apply_change_set(even, actor="tester")
    # North/south now: G3 overlaps G4 by a strip 0.0001° high; no repair against G1 or G2.
    regrid = request(
        {
            "op": "regrid",
            "community": "K1",
            "grids": [
                {"code": "G3", "name": "G3", "geometry": box(114.00, 22.50, 114.01, 22.5101)},
                {"code": "G4", "name": "G4", "geometry": box(114.00, 22.51, 114.01, 22.52)},
            ],
        },
        effective="2017-01-01",
    )
    codes = [p.code for p in refused(register, regrid)]
    assert codes == ["siblings_overlap"]
    repaired, repairs = repair_change_set(register, regrid, SNAP)
    assert [(r.code, r.repair, r.message.split(":")[0]) for r in repairs] == [
        ("G4", "snap_to_neighbours", "snapped to its neighbour G3")
    ]
    register.apply_change_set(repaired, actor="tester")


def test_the_parts_of_a_split_are_fitted_to_the_unit_split():
    register = base_map()
    # S2 is box(114.01, 22.50, 114.02, 22.54): S5 stops 0.0001° short of S6, and S6 reaches
    # 0.00003° east into D2.
    split = request(
        {
            "op": "split",
            "unit": "S2",
            "mode": "full",
            "reassign_children": "by_location",
            "parts": [
                {"code": "S5", "name": "S5", "geometry": box(114.01, 22.50, 114.02, 22.5199)},
                {"code": "S6", "name": "S6", "geometry": box(114.01, 22.52, 114.02003, 22.54)},
            ],
        }
    )
    problems = {p.code: p.as_dict() for p in refused(register, split)}
    assert "snap_to_neighbours" in problems["split_leaves_gap"]["hint"]
    assert "clip_to_parent" in problems["split_part_outside"]["hint"]
    assert "coverage_gap" not in problems  # the split's own problems say it
    repaired, repairs = repair_change_set(register, split, SNAP)
    assert {(r.code, r.repair) for r in repairs} == {
        ("S6", "clip_to_parent"),
        ("S5", "snap_to_neighbours"),
    } or {(r.code, r.repair) for r in repairs} == {
        ("S6", "clip_to_parent"),
        ("S6", "snap_to_neighbours"),
    }
    register.apply_change_set(repaired, actor="tester")
    assert not unit(register, "S2").exists_on(split.effective)


def test_a_family_problem_no_repair_reaches_gets_no_hint():
    register = base_map()
    change_set = request(GAPPY_GRIDS)
    repairable = repairable_units(register, change_set)
    assert repairable == {"G1", "G2", "K1"}
    elsewhere = Problem("coverage_gap", "the children of S3 leave 9 m² uncovered", units=("S3",))
    assert "hint" not in with_hint(elsewhere, repairable).as_dict()
    assert "hint" in with_hint(elsewhere).as_dict()  # an import sets every territory
    invalid = Problem("geometry_invalid", "a bowtie", units=("G1",))
    assert "make_valid" in with_hint(invalid, set()).as_dict()["hint"]


def test_a_split_off_part_is_clipped_and_the_unit_keeps_the_rest():
    register = base_map()
    # S4, the north half of S2 (with K4 in it), reaches 0.00003° east of S2 into D2.
    split = request(
        {
            "op": "split",
            "unit": "S2",
            "mode": "split_off",
            "reassign_children": "by_location",
            "parts": [
                {"code": "S4", "name": "S4", "geometry": box(114.01, 22.52, 114.02003, 22.54)},
            ],
        }
    )
    codes = {p.code for p in refused(register, split)}
    assert "split_part_outside" in codes
    repaired, repairs = repair_change_set(register, split, SNAP)
    assert [(r.code, r.repair) for r in repairs] == [("S4", "clip_to_parent")]
    register.apply_change_set(repaired, actor="tester")
    s4 = unit(register, "S4").version_on(split.effective)
    assert s4 is not None
    assert from_wkb_hex(s4.geometry).equals(shapely.box(114.01, 22.52, 114.02, 22.54))
