"""Every change-set operation on a small, realistic map, on the in-memory event store.

The map (lon 114.00-114.04, lat 22.50-22.54, full coverage required at every level)::

    C (city)
    +-- D1 (district, west half)
    |   +-- S1 (street, 114.00-114.01): K1 (south), K2 (north); workstation W1 serves K1, K2
    |   +-- S2 (street, 114.01-114.02): K3 (south), K4 (north); W2 serves K3, W3 serves K4
    +-- D2 (district, east half)
        +-- S3 (street, all of D2): K5 (south), K6 (north); W4 serves K5, K6

S1 and S2 have street offices SO1 and SO2.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import shapely
from pyproj import Geod
from shapely.geometry import box as shapely_box
from shapely.geometry import mapping

from domain.errors import InvalidChangeSet, Problem
from domain.geometry import from_wkb_hex
from domain.levels import Rules
from domain.matters import CATALOGUE_ID, Catalogue
from domain.offices import GRID_OFFICER, WORKSTATION, Office
from domain.register import JurisdictionRegister
from domain.units import Unit, unit_id
from tests.unit.helpers import apply, in_memory_register

STRICT = Rules()
BASE = date(2015, 1, 1)
GEOD = Geod(ellps="WGS84")


def box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    return dict(mapping(shapely_box(west, south, east, north)))


def establish(
    code: str, level: str, parent: str | None, geometry: dict[str, Any]
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "op": "establish",
        "code": code,
        "level": level,
        "name": f"{code} name",
        "geometry": geometry,
    }
    if parent is not None:
        op["parent"] = parent
    return op


def workstation(code: str, *serves: str) -> dict[str, Any]:
    return {
        "op": "open_workstation",
        "code": code,
        "name": f"{code} workstation",
        "address": {"lon": 114.005, "lat": 22.505, "text": "1 Road"},
        "serves": list(serves),
    }


def base_operations() -> list[dict[str, Any]]:
    """The operations that lay out the map of this module's docstring."""
    return [
        establish("C", "city", None, box(114.00, 22.50, 114.04, 22.54)),
        establish("D1", "district", "C", box(114.00, 22.50, 114.02, 22.54)),
        establish("D2", "district", "C", box(114.02, 22.50, 114.04, 22.54)),
        establish("S1", "street", "D1", box(114.00, 22.50, 114.01, 22.54)),
        establish("S2", "street", "D1", box(114.01, 22.50, 114.02, 22.54)),
        establish("S3", "street", "D2", box(114.02, 22.50, 114.04, 22.54)),
        establish("K1", "community", "S1", box(114.00, 22.50, 114.01, 22.52)),
        establish("K2", "community", "S1", box(114.00, 22.52, 114.01, 22.54)),
        establish("K3", "community", "S2", box(114.01, 22.50, 114.02, 22.52)),
        establish("K4", "community", "S2", box(114.01, 22.52, 114.02, 22.54)),
        establish("K5", "community", "S3", box(114.02, 22.50, 114.04, 22.52)),
        establish("K6", "community", "S3", box(114.02, 22.52, 114.04, 22.54)),
        workstation("W1", "K1", "K2"),
        workstation("W2", "K3"),
        workstation("W3", "K4"),
        workstation("W4", "K5", "K6"),
        {"op": "open_office", "code": "SO1", "kind": "street_office", "name": "SO1", "unit": "S1"},
        {"op": "open_office", "code": "SO2", "kind": "street_office", "name": "SO2", "unit": "S2"},
    ]


def base_map() -> JurisdictionRegister:
    register = in_memory_register(STRICT)
    apply(register, BASE.isoformat(), *base_operations())
    return register


# Reading the register -------------------------------------------------------------------------


def unit(register: JurisdictionRegister, code: str) -> Unit:
    return register.get_unit(code)


def shape_on(register: JurisdictionRegister, code: str, day: date) -> Any:
    version = unit(register, code).version_on(day)
    assert version is not None, f"{code} does not exist on {day}"
    return from_wkb_hex(version.geometry)


def same_shape(geometry: Any, expected: dict[str, Any]) -> bool:
    return bool(shapely.equals(geometry, shapely.geometry.shape(expected)))


def parent_on(register: JurisdictionRegister, code: str, day: date) -> str | None:
    version = unit(register, code).version_on(day)
    assert version is not None, f"{code} does not exist on {day}"
    return version.parent


def links(register: JurisdictionRegister, code: str) -> list[tuple[str, str, str, date]]:
    """The unit's lineage as sorted (kind, role, other, day) tuples: duplicates stay visible."""
    return sorted((x.kind, x.role, x.other, x.day) for x in unit(register, code).lineage)


def office(register: JurisdictionRegister, code: str) -> Office:
    found = register.find_office(code)
    assert found is not None, f"no office {code}"
    return found


def geodesic_m2(geometry: dict[str, Any]) -> float:
    area, _ = GEOD.geometry_area_perimeter(shapely.geometry.shape(geometry))
    return abs(area)


def problems(register: JurisdictionRegister, day: str, *ops: dict[str, Any]) -> list[Problem]:
    before = register.recorder.max_notification_id()
    with pytest.raises(InvalidChangeSet) as caught:
        apply(register, day, *ops)
    assert register.recorder.max_notification_id() == before, "a rejected change set stored"
    return caught.value.problems


def codes(found: list[Problem]) -> list[str]:
    return [p.code for p in found]


def live_children(register: JurisdictionRegister, parent: str, day: date) -> list[str]:
    out = []
    for code in sorted(unit(register, parent).children_ever):
        version = unit(register, code).version_on(day)
        if version is not None and version.parent == parent:
            out.append(code)
    return out


def assert_served_once(register: JurisdictionRegister, day: date) -> dict[str, str]:
    """Every live community is served by exactly one open workstation of its own street."""
    served: dict[str, list[str]] = {}
    streets = [
        code
        for district in live_children(register, "C", day)
        for code in live_children(register, district, day)
    ]
    communities = {k: street for street in streets for k in live_children(register, street, day)}
    for street in streets:
        for code in sorted(unit(register, street).offices_ever):
            found = office(register, code)
            if found.kind != WORKSTATION or not found.open_on(day):
                continue
            owner = found.unit.value_on(day)
            if owner != street:
                assert owner is not None and code in unit(register, owner).offices_ever
                continue
            for community in found.serves_on(day):
                assert communities.get(community) == street, (
                    f"{code} of {street} serves {community} on {day}"
                )
                served.setdefault(community, []).append(code)
    assert sorted(served) == sorted(communities), f"unserved on {day}"
    assert all(len(ws) == 1 for ws in served.values()), served
    return {community: ws[0] for community, ws in served.items()}


# Establish --------------------------------------------------------------------------------------


def test_the_base_map_is_established_as_one_family_tree():
    register = base_map()
    k1 = unit(register, "K1")
    assert (k1.code, k1.level, parent_on(register, "K1", BASE)) == ("K1", "community", "S1")
    assert [(v.period.start, v.period.end) for v in k1.versions()] == [(BASE, None)]
    assert not k1.exists_on(date(2014, 12, 31))
    assert live_children(register, "C", BASE) == ["D1", "D2"]
    assert live_children(register, "S2", BASE) == ["K3", "K4"]
    assert unit(register, "S2").offices_ever == {"SO2", "W2", "W3"}
    assert k1.lineage == []
    assert assert_served_once(register, BASE) == {
        "K1": "W1",
        "K2": "W1",
        "K3": "W2",
        "K4": "W3",
        "K5": "W4",
        "K6": "W4",
    }


def test_establish_records_the_legal_act_and_the_english_name():
    register = base_map()
    receipt = apply(
        register,
        "2016-03-01",
        {
            "op": "redraw",
            "unit": "K5",
            "geometry": box(114.02, 22.50, 114.03, 22.52),
        },
        {
            **establish("K7", "community", "S3", box(114.03, 22.50, 114.04, 22.52)),
            "name_en": "Seventh",
            "provenance": "surveyed",
        },
        {"op": "assign_coverage", "workstation": "W4", "communities": ["K7"]},
    )
    k7 = unit(register, "K7")
    version = k7.version_on(date(2016, 3, 1))
    assert version is not None
    assert (version.name, version.name_en, version.parent) == ("K7 name", "Seventh", "S3")
    assert k7.provenance == "surveyed"
    assert not k7.exists_on(date(2016, 2, 29))
    record = register.find_change_set(receipt.id)
    assert record is not None
    assert (record.effective, record.actor, record.reason) == (date(2016, 3, 1), "tester", "test")
    assert [op["op"] for op in record.operations] == ["redraw", "establish", "assign_coverage"]
    assert "geometry" not in record.operations[1]
    assert set(receipt.units) == {"K5", "K7"}
    assert "K7" in unit(register, "S3").children_ever
    # K7 takes territory K5 had: a boundary move, recorded as lineage.
    assert links(register, "K7") == [("redraw", "predecessor", "K5", date(2016, 3, 1))]
    assert links(register, "K5") == [("redraw", "successor", "K7", date(2016, 3, 1))]
    assert_served_once(register, date(2016, 3, 1))


def test_establish_checks_the_parent_level_and_life():
    register = base_map()
    apply(
        register,
        "2018-01-01",
        {"op": "dissolve", "unit": "K6"},
        {"op": "redraw", "unit": "K5", "geometry": box(114.02, 22.50, 114.04, 22.54)},
    )
    found = problems(
        register,
        "2019-01-01",
        establish("G9", "grid", "K6", box(114.02, 22.52, 114.03, 22.53)),
        establish("K9", "community", "D2", box(114.02, 22.52, 114.03, 22.53)),
        establish("X9", "city", "C", box(114.02, 22.52, 114.03, 22.53)),
        establish("S9", "street", None, box(114.02, 22.52, 114.03, 22.53)),
    )
    assert [(p.code, p.location, p.units) for p in found] == [
        ("unit_not_live", "operations[0].parent", ("K6",)),
        ("parent_wrong_level", "operations[1].parent", ("D2",)),
        ("parent_not_allowed", "operations[2].parent", ()),
        ("parent_missing", "operations[3].parent", ()),
    ]


# Redraw -----------------------------------------------------------------------------------------


def test_moving_a_shared_boundary_redraws_both_neighbours():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
        {"op": "redraw", "unit": "K1", "geometry": box(114.00, 22.50, 114.01, 22.53)},
        {"op": "redraw", "unit": "K2", "geometry": box(114.00, 22.53, 114.01, 22.54)},
    )
    assert same_shape(shape_on(register, "K1", date(2016, 12, 31)), box(114.0, 22.5, 114.01, 22.52))
    assert same_shape(shape_on(register, "K1", day), box(114.00, 22.50, 114.01, 22.53))
    assert same_shape(shape_on(register, "K2", day), box(114.00, 22.53, 114.01, 22.54))
    assert [v.period for v in unit(register, "K2").versions()] == [
        v.period for v in unit(register, "K1").versions()
    ]
    # Territory passed from K2 to K1: both ends of the lineage edge are recorded.
    assert links(register, "K1") == [("redraw", "predecessor", "K2", day)]
    assert links(register, "K2") == [("redraw", "successor", "K1", day)]
    # The parent got the family marker that serialises edits of siblings.
    events = list(register.events.get(unit_id("S1")))
    assert isinstance(events[-1], Unit.ChildrenRevised)
    assert events[-1].effective == day


def test_a_boundary_move_records_lineage_whichever_neighbour_is_redrawn_first():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
        {"op": "redraw", "unit": "K2", "geometry": box(114.00, 22.53, 114.01, 22.54)},
        {"op": "redraw", "unit": "K1", "geometry": box(114.00, 22.50, 114.01, 22.53)},
    )
    assert links(register, "K1") == [("redraw", "predecessor", "K2", day)]
    assert links(register, "K2") == [("redraw", "successor", "K1", day)]


def test_redrawing_one_neighbour_alone_is_rejected_with_the_overlap():
    register = base_map()
    grown = box(114.00, 22.50, 114.01, 22.53)
    found = problems(register, "2017-01-01", {"op": "redraw", "unit": "K1", "geometry": grown})
    assert codes(found) == ["siblings_overlap"]
    assert set(found[0].units) == {"K1", "K2"}
    overlap = geodesic_m2(box(114.00, 22.52, 114.01, 22.53))
    assert found[0].area_m2 == pytest.approx(overlap, rel=0.01)
    assert len(unit(register, "K1").versions()) == 1


# Split ------------------------------------------------------------------------------------------

NORTH_S2 = box(114.01, 22.52, 114.02, 22.54)
SOUTH_S2 = box(114.01, 22.50, 114.02, 22.52)


def test_split_off_keeping_the_own_code_moves_children_and_their_workstation():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
        {
            "op": "split",
            "unit": "S2",
            "mode": "split_off",
            "reassign_children": "by_location",
            "parts": [
                {"code": "S2", "name": "S2 south", "geometry": SOUTH_S2},
                {"code": "S4", "name": "S4 north", "geometry": NORTH_S2},
            ],
        },
    )
    s2 = unit(register, "S2").version_on(day)
    assert s2 is not None and s2.name == "S2 south"
    assert same_shape(shape_on(register, "S2", day), SOUTH_S2)
    assert same_shape(shape_on(register, "S4", day), NORTH_S2)
    assert parent_on(register, "S4", day) == "D1"
    assert parent_on(register, "K4", day) == "S4"
    assert parent_on(register, "K4", date(2016, 12, 31)) == "S2"
    assert parent_on(register, "K3", day) == "S2"
    # The workstation of the community that moved moved with it; the other stayed.
    assert office(register, "W3").unit.value_on(day) == "S4"
    assert office(register, "W3").unit.value_on(date(2016, 12, 31)) == "S2"
    assert office(register, "W2").unit.value_on(day) == "S2"
    assert "W3" in unit(register, "S4").offices_ever
    assert live_children(register, "D1", day) == ["S1", "S2", "S4"]
    assert links(register, "S4") == [("split_off", "predecessor", "S2", day)]
    assert links(register, "S2") == [("split_off", "successor", "S4", day)]
    assert_served_once(register, day)


def test_split_off_without_the_own_code_keeps_the_rest():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
        {
            "op": "split",
            "unit": "S2",
            "mode": "split_off",
            "reassign_children": "by_location",
            "parts": [{"code": "S4", "name": "S4 north", "geometry": NORTH_S2}],
        },
    )
    assert shape_on(register, "S2", day).equals(shapely.geometry.shape(SOUTH_S2))
    s2 = unit(register, "S2").version_on(day)
    assert s2 is not None and s2.name == "S2 name"
    assert links(register, "S4") == [("split_off", "predecessor", "S2", day)]
    assert links(register, "S2") == [("split_off", "successor", "S4", day)]
    assert parent_on(register, "K4", day) == "S4"


def test_a_full_split_ends_the_unit_and_every_part_is_new():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
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
    assert not unit(register, "S2").exists_on(day)
    assert unit(register, "S2").exists_on(date(2016, 12, 31))
    assert (parent_on(register, "K3", day), parent_on(register, "K4", day)) == ("S5", "S6")
    assert office(register, "W2").unit.value_on(day) == "S5"
    assert office(register, "W3").unit.value_on(day) == "S6"
    # The street office of the street that ended does not stay open for a unit that is gone.
    assert office(register, "SO2").open_on(date(2016, 12, 31))
    assert not office(register, "SO2").open_on(day)
    assert links(register, "S2") == [
        ("split", "successor", "S5", day),
        ("split", "successor", "S6", day),
    ]
    assert links(register, "S5") == [("split", "predecessor", "S2", day)]
    assert links(register, "S6") == [("split", "predecessor", "S2", day)]
    assert live_children(register, "D1", day) == ["S1", "S5", "S6"]
    assert_served_once(register, day)


def test_a_full_split_may_not_keep_the_code_and_parts_must_tile_the_unit():
    register = base_map()
    found = problems(
        register,
        "2017-01-01",
        {
            "op": "split",
            "unit": "S2",
            "mode": "full",
            "parts": [
                {"code": "S2", "geometry": SOUTH_S2},
                {"code": "S6", "geometry": NORTH_S2},
            ],
        },
    )
    assert codes(found) == ["split_full_keeps_code"]
    found = problems(
        register,
        "2017-01-01",
        {
            "op": "split",
            "unit": "S2",
            "mode": "full",
            "parts": [
                {"code": "S5", "geometry": box(114.01, 22.50, 114.02, 22.51)},
                {"code": "S6", "geometry": box(114.01, 22.52, 114.03, 22.54)},
            ],
        },
    )
    assert codes(found) == ["split_part_outside", "split_leaves_gap"]
    gap, outside = found[1], found[0]
    assert gap.area_m2 == pytest.approx(geodesic_m2(box(114.01, 22.51, 114.02, 22.52)), rel=0.01)
    assert outside.area_m2 == pytest.approx(
        geodesic_m2(box(114.02, 22.52, 114.03, 22.54)), rel=0.01
    )


def test_a_child_straddling_the_new_boundary_is_reported_not_guessed():
    register = base_map()
    west, east = box(114.00, 22.50, 114.005, 22.54), box(114.005, 22.50, 114.01, 22.54)
    found = problems(
        register,
        "2017-01-01",
        {
            "op": "split",
            "unit": "S1",
            "mode": "full",
            "reassign_children": "by_location",
            "parts": [{"code": "S7", "geometry": west}, {"code": "S8", "geometry": east}],
        },
    )
    straddling = [p for p in found if p.code == "child_straddles"]
    assert sorted(p.units for p in straddling) == [("K1", "S7", "S8"), ("K2", "S7", "S8")]
    half_k1 = geodesic_m2(box(114.00, 22.50, 114.005, 22.52))
    assert straddling[0].area_m2 == pytest.approx(half_k1, rel=0.01)
    assert all(p.location == "operations[0].reassign_children" for p in straddling)
    assert register.find_unit("S7") is None


def test_a_workstation_whose_communities_end_up_in_two_streets_is_reported():
    register = base_map()
    found = problems(
        register,
        "2017-01-01",
        {
            "op": "split",
            "unit": "S1",
            "mode": "split_off",
            "reassign_children": "by_location",
            "parts": [{"code": "S7", "geometry": box(114.00, 22.52, 114.01, 22.54)}],
        },
    )
    assert codes(found) == ["workstation_straddles"]
    assert found[0].units == ("W1", "K1", "K2")


def test_split_and_hand_over_coverage_first_lets_the_workstations_follow():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
        workstation("W5", "K2"),
        {
            "op": "split",
            "unit": "S1",
            "mode": "split_off",
            "reassign_children": "by_location",
            "parts": [{"code": "S7", "geometry": box(114.00, 22.52, 114.01, 22.54)}],
        },
    )
    assert office(register, "W5").unit.value_on(day) == "S7"
    assert office(register, "W1").serves_on(day) == ("K1",)
    assert assert_served_once(register, day)["K2"] == "W5"


def test_splitting_a_community_keeps_every_part_served():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
        {
            "op": "split",
            "unit": "K5",
            "mode": "split_off",
            "parts": [
                {"code": "K7", "name": "East", "geometry": box(114.03, 22.50, 114.04, 22.52)}
            ],
        },
        {
            "op": "split",
            "unit": "K6",
            "mode": "full",
            "parts": [
                {"code": "K8", "geometry": box(114.02, 22.52, 114.03, 22.54)},
                {"code": "K9", "geometry": box(114.03, 22.52, 114.04, 22.54)},
            ],
        },
    )
    assert office(register, "W4").serves_on(day) == ("K5", "K7", "K8", "K9")
    assert office(register, "W4").serves_on(date(2016, 12, 31)) == ("K5", "K6")
    assert links(register, "K7") == [("split_off", "predecessor", "K5", day)]
    assert links(register, "K6") == [
        ("split", "successor", "K8", day),
        ("split", "successor", "K9", day),
    ]
    assert_served_once(register, day)


# Merge ------------------------------------------------------------------------------------------


def test_merge_absorbing_moves_children_and_offices_to_the_survivor():
    register = base_map()
    day = date(2017, 1, 1)
    apply(register, day.isoformat(), {"op": "merge", "units": ["S1", "S2"], "absorb_into": "S1"})
    assert same_shape(shape_on(register, "S1", day), box(114.00, 22.50, 114.02, 22.54))
    assert not unit(register, "S2").exists_on(day)
    assert live_children(register, "S1", day) == ["K1", "K2", "K3", "K4"]
    assert live_children(register, "D1", day) == ["S1"]
    assert {office(register, c).unit.value_on(day) for c in ("W2", "W3", "SO2")} == {"S1"}
    assert links(register, "S1") == [("merge", "predecessor", "S2", day)]
    assert links(register, "S2") == [("merge", "successor", "S1", day)]
    assert_served_once(register, day)


def test_merge_into_a_new_unit_ends_every_member():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
        {"op": "merge", "units": ["S1", "S2"], "into": {"code": "S9", "name": "United"}},
    )
    assert not unit(register, "S1").exists_on(day) and not unit(register, "S2").exists_on(day)
    assert same_shape(shape_on(register, "S9", day), box(114.00, 22.50, 114.02, 22.54))
    assert live_children(register, "S9", day) == ["K1", "K2", "K3", "K4"]
    assert live_children(register, "D1", day) == ["S9"]
    assert office(register, "W1").unit.value_on(day) == "S9"
    assert links(register, "S9") == [
        ("merge", "predecessor", "S1", day),
        ("merge", "predecessor", "S2", day),
    ]
    assert links(register, "S1") == [("merge", "successor", "S9", day)]
    assert_served_once(register, day)


def test_merging_communities_hands_their_coverage_to_the_survivor():
    register = base_map()
    day = date(2017, 1, 1)
    apply(register, day.isoformat(), {"op": "merge", "units": ["K3", "K4"], "absorb_into": "K3"})
    assert same_shape(shape_on(register, "K3", day), box(114.01, 22.50, 114.02, 22.54))
    assert office(register, "W3").serves_on(day) == ()
    assert office(register, "W3").serves_on(date(2016, 12, 31)) == ("K4",)
    assert assert_served_once(register, day) == {
        "K1": "W1",
        "K2": "W1",
        "K3": "W2",
        "K5": "W4",
        "K6": "W4",
    }


def test_merging_communities_into_a_new_one_keeps_it_served():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
        {"op": "merge", "units": ["K1", "K2"], "into": {"code": "K12", "name": "Both"}},
    )
    assert office(register, "W1").serves_on(day) == ("K12",)
    assert assert_served_once(register, day)["K12"] == "W1"


def test_merge_needs_one_level_and_one_parent():
    register = base_map()
    found = problems(
        register,
        "2017-01-01",
        {"op": "merge", "units": ["K2", "K4"], "into": {"code": "K24", "name": "x"}},
    )
    assert codes(found) == ["merge_mixed"]
    assert found[0].units == ("K2", "K4")


def test_merging_grids_moves_nothing_else():
    register = base_map()
    day = date(2017, 1, 1)
    lay_k1_grids(register, "2016-01-01")
    apply(register, day.isoformat(), {"op": "merge", "units": ["G1", "G2"], "absorb_into": "G2"})
    assert same_shape(shape_on(register, "G2", day), box(114.00, 22.50, 114.01, 22.52))
    # The absorbed grid's officer goes to the surviving grid.
    assert office(register, "G1/officer").unit.value_on(day) == "G2"


# Transfer ---------------------------------------------------------------------------------------


def test_transfer_after_a_split_moves_a_community_and_its_coverage():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
        {
            "op": "split",
            "unit": "S2",
            "mode": "split_off",
            "parts": [{"code": "S4", "name": "North", "geometry": NORTH_S2}],
        },
        {"op": "transfer", "unit": "K4", "parent": "S4"},
        workstation("W5", "K4"),
    )
    assert parent_on(register, "K4", day) == "S4"
    assert parent_on(register, "K4", date(2016, 12, 31)) == "S2"
    assert office(register, "W3").serves_on(day) == ()
    assert assert_served_once(register, day)["K4"] == "W5"
    # A transfer passes no territory between units of one level: no lineage of its own.
    assert links(register, "K4") == []
    events = [type(e).__name__ for e in register.events.get(unit_id("K4"))]
    assert events == ["Established", "Transferred"]


def test_transfer_to_a_parent_that_does_not_hold_the_unit_is_rejected():
    register = base_map()
    found = problems(register, "2017-01-01", {"op": "transfer", "unit": "K4", "parent": "S1"})
    assert "child_outside_parent" in codes(found)
    outside = next(p for p in found if p.code == "child_outside_parent")
    assert outside.units == ("K4", "S1")
    assert outside.area_m2 == pytest.approx(geodesic_m2(box(114.01, 22.52, 114.02, 22.54)), 0.01)
    assert codes(
        problems(register, "2017-01-01", {"op": "transfer", "unit": "K4", "parent": "D1"})
    ) == ["parent_wrong_level"]
    assert codes(
        problems(register, "2017-01-01", {"op": "transfer", "unit": "K4", "parent": "S2"})
    ) == ["transfer_same_parent"]


# Rename and recode ------------------------------------------------------------------------------


def test_rename_keeps_the_code_and_the_english_name():
    register = base_map()
    apply(register, "2016-01-01", {"op": "rename", "unit": "K1", "name": "旧", "name_en": "Old"})
    apply(register, "2017-01-01", {"op": "rename", "unit": "K1", "name": "新"})
    k1 = unit(register, "K1")
    named = [(v.period.start, v.name, v.name_en) for v in k1.versions()]
    assert named == [
        (BASE, "K1 name", ""),
        (date(2016, 1, 1), "旧", "Old"),
        (date(2017, 1, 1), "新", "Old"),
    ]
    assert k1.lineage == []


def test_recode_links_old_and_new_and_moves_children_offices_and_coverage():
    register = base_map()
    day = date(2017, 1, 1)
    apply(register, day.isoformat(), {"op": "recode", "unit": "S1", "code": "S1B"})
    assert not unit(register, "S1").exists_on(day)
    old = unit(register, "S1").version_on(date(2016, 12, 31))
    new = unit(register, "S1B").version_on(day)
    assert old is not None and new is not None
    assert (new.name, new.geometry, new.parent, new.level) == (
        old.name,
        old.geometry,
        old.parent,
        old.level,
    )
    assert live_children(register, "S1B", day) == ["K1", "K2"]
    assert office(register, "W1").unit.value_on(day) == "S1B"
    assert office(register, "SO1").unit.value_on(day) == "S1B"
    assert links(register, "S1") == [("recode", "successor", "S1B", day)]
    assert links(register, "S1B") == [("recode", "predecessor", "S1", day)]
    assert_served_once(register, day)


def test_recoding_a_community_keeps_it_served_under_its_new_code():
    register = base_map()
    day = date(2017, 1, 1)
    apply(register, day.isoformat(), {"op": "recode", "unit": "K1", "code": "K1B"})
    assert office(register, "W1").serves_on(day) == ("K1B", "K2")
    assert assert_served_once(register, day)["K1B"] == "W1"
    assert links(register, "K1B") == [("recode", "predecessor", "K1", day)]


def test_recode_to_a_used_code_is_rejected():
    register = base_map()
    found = problems(register, "2017-01-01", {"op": "recode", "unit": "K1", "code": "K2"})
    assert [(p.code, p.units) for p in found] == [("code_taken", ("K2",))]


# Dissolve ---------------------------------------------------------------------------------------


def test_dissolving_a_unit_with_children_left_behind_is_rejected():
    register = base_map()
    found = problems(register, "2017-01-01", {"op": "dissolve", "unit": "S1"})
    assert "parent_not_live" in codes(found)
    orphaned = next(p for p in found if p.code == "parent_not_live")
    assert orphaned.units == ("S1", "K1", "K2")


def test_dissolving_a_community_whose_neighbour_takes_its_territory():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
        {"op": "dissolve", "unit": "K2"},
        {"op": "redraw", "unit": "K1", "geometry": box(114.00, 22.50, 114.01, 22.54)},
    )
    assert not unit(register, "K2").exists_on(day)
    assert office(register, "W1").serves_on(day) == ("K1",)
    assert links(register, "K1") == [("redraw", "predecessor", "K2", day)]
    assert links(register, "K2") == [("redraw", "successor", "K1", day)]
    assert_served_once(register, day)


def test_dissolve_closes_the_units_offices():
    register = base_map()
    day = date(2017, 1, 1)
    lay_k1_grids(register, "2016-01-01")
    apply(
        register,
        day.isoformat(),
        {"op": "dissolve", "unit": "G1"},
        {"op": "redraw", "unit": "G2", "geometry": box(114.00, 22.50, 114.01, 22.52)},
    )
    assert not office(register, "G1/officer").open_on(day)
    assert office(register, "G1/officer").open_on(date(2016, 12, 31))


# Grids ------------------------------------------------------------------------------------------


def lay_k1_grids(register: JurisdictionRegister, day: str) -> None:
    apply(
        register,
        day,
        {
            "op": "lay_grids",
            "community": "K1",
            "grids": [
                {"code": "G1", "geometry": box(114.00, 22.50, 114.005, 22.52), "officer": "王"},
                {"code": "G2", "geometry": box(114.005, 22.50, 114.01, 22.52), "officer": "李"},
            ],
        },
    )


def test_lay_grids_adds_grids_with_their_officers():
    register = base_map()
    lay_k1_grids(register, "2016-01-01")
    day = date(2016, 1, 1)
    assert live_children(register, "K1", day) == ["G1", "G2"]
    assert unit(register, "G1").level == "grid"
    officer = office(register, "G1/officer")
    assert (officer.kind, officer.unit.value_on(day), officer.names.value_on(day)) == (
        GRID_OFFICER,
        "G1",
        "王",
    )
    assert officer.open_on(day) and not officer.open_on(date(2015, 12, 31))
    assert links(register, "G1") == []
    found = problems(
        register,
        "2016-06-01",
        {
            "op": "lay_grids",
            "community": "K1",
            "grids": [{"code": "G9", "geometry": box(114.00, 22.50, 114.01, 22.52)}],
        },
    )
    assert codes(found) == ["grids_exist"]


def test_grids_must_cover_their_community():
    register = base_map()
    found = problems(
        register,
        "2016-01-01",
        {
            "op": "lay_grids",
            "community": "K1",
            "grids": [{"code": "G1", "geometry": box(114.00, 22.50, 114.005, 22.52)}],
        },
    )
    assert [(p.code, p.units) for p in found] == [("coverage_gap", ("K1",))]


def test_regrid_replaces_grids_with_lineage_by_overlap():
    register = base_map()
    lay_k1_grids(register, "2016-01-01")
    day = date(2018, 1, 1)
    apply(
        register,
        day.isoformat(),
        {
            "op": "regrid",
            "community": "K1",
            "grids": [
                {"code": "G3", "geometry": box(114.00, 22.50, 114.0075, 22.52), "officer": "张"},
                {"code": "G4", "geometry": box(114.0075, 22.50, 114.01, 22.52)},
            ],
        },
    )
    assert live_children(register, "K1", day) == ["G3", "G4"]
    assert live_children(register, "K1", date(2017, 12, 31)) == ["G1", "G2"]
    assert links(register, "G3") == [
        ("regrid", "predecessor", "G1", day),
        ("regrid", "predecessor", "G2", day),
    ]
    assert links(register, "G4") == [("regrid", "predecessor", "G2", day)]
    assert links(register, "G1") == [("regrid", "successor", "G3", day)]
    assert links(register, "G2") == [
        ("regrid", "successor", "G3", day),
        ("regrid", "successor", "G4", day),
    ]
    assert not office(register, "G1/officer").open_on(day)
    assert office(register, "G3/officer").open_on(day)
    assert register.find_office("G4/officer") is None


# Offices ----------------------------------------------------------------------------------------


def test_open_and_close_an_office():
    register = base_map()
    apply(
        register,
        "2016-01-01",
        {
            "op": "open_office",
            "code": "RC1",
            "kind": "residents_committee",
            "name": "居委会",
            "unit": "K1",
            "address": {"lon": 114.001, "lat": 22.501, "text": "2 Road"},
        },
    )
    apply(register, "2019-01-01", {"op": "close_office", "code": "RC1"})
    rc1 = office(register, "RC1")
    assert rc1.address == {"lon": 114.001, "lat": 22.501, "text": "2 Road"}
    assert [rc1.open_on(date(y, 6, 1)) for y in (2015, 2016, 2018, 2019)] == [
        False,
        True,
        True,
        False,
    ]
    assert "RC1" in unit(register, "K1").offices_ever
    found = problems(
        register,
        "2020-01-01",
        {"op": "close_office", "code": "RC1"},
        {"op": "close_office", "code": "W1"},
        {"op": "open_office", "code": "W9", "kind": WORKSTATION, "name": "x", "unit": "S1"},
        {"op": "open_office", "code": "RC1", "kind": "x", "name": "x", "unit": "K1"},
    )
    assert codes(found) == [
        "office_closed",
        "use_close_workstation",
        "use_open_workstation",
        "code_taken",
    ]


def test_an_office_serves_the_units_it_names_from_their_dates():
    """A new-area committee belongs to its district but serves only the streets it names."""
    register = base_map()
    committee = {
        "op": "open_office",
        "code": "NA1",
        "kind": "new_area_committee",
        "name": "New area",
        "unit": "C",
        "serves": ["S2"],
    }
    apply(register, "2016-01-01", committee)
    apply(
        register, "2017-01-01", {"op": "change_service_area", "code": "NA1", "serves": ["S2", "S3"]}
    )
    apply(register, "2018-01-01", {"op": "close_office", "code": "NA1"})
    na1 = office(register, "NA1")
    assert [na1.serves_on(date(y, 6, 1)) for y in (2015, 2016, 2017, 2018)] == [
        (),
        ("S2",),
        ("S2", "S3"),
        (),
    ]
    assert [(v.period.start, v.serves) for v in na1.versions()] == [
        (date(2016, 1, 1), ("S2",)),
        (date(2017, 1, 1), ("S2", "S3")),
    ]


def test_a_service_area_is_live_units_inside_the_office_unit():
    register = base_map()
    found = problems(
        register,
        "2016-01-01",
        {
            "op": "open_office",
            "code": "X1",
            "kind": "k",
            "name": "x",
            "unit": "D1",
            "serves": ["S3"],
        },
        {
            "op": "open_office",
            "code": "X2",
            "kind": "k",
            "name": "x",
            "unit": "D1",
            "serves": ["NO"],
        },
        {"op": "change_service_area", "code": "W1", "serves": ["K1"]},
        {"op": "change_service_area", "code": "SO1", "serves": ["K3"]},
        {"op": "change_service_area", "code": "NONE", "serves": []},
    )
    assert [(p.code, p.location) for p in found] == [
        ("served_outside_unit", "operations[0].serves[0]"),
        ("unit_unknown", "operations[1].serves[0]"),
        ("office_wrong_kind", "operations[2].code"),
        ("served_outside_unit", "operations[3].serves[0]"),
        ("office_unknown", "operations[4].code"),
    ]
    # Back to the whole unit: an empty service area.
    apply(register, "2016-01-01", {"op": "change_service_area", "code": "SO1", "serves": ["K1"]})
    apply(register, "2017-01-01", {"op": "change_service_area", "code": "SO1", "serves": []})
    assert office(register, "SO1").serves_on(date(2016, 6, 1)) == ("K1",)
    assert office(register, "SO1").serves_on(date(2017, 6, 1)) == ()


# Workstations -----------------------------------------------------------------------------------


def test_one_station_many_committees():
    register = base_map()
    day = date(2016, 1, 1)
    apply(register, day.isoformat(), workstation("W5", "K1"))
    assert office(register, "W1").serves_on(day) == ("K2",)
    assert office(register, "W1").serves_on(date(2015, 12, 31)) == ("K1", "K2")
    assert assert_served_once(register, day)["K1"] == "W5"
    later = date(2017, 1, 1)
    apply(
        register,
        later.isoformat(),
        {"op": "assign_coverage", "workstation": "W2", "communities": ["K4"]},
    )
    assert office(register, "W2").serves_on(later) == ("K3", "K4")
    assert office(register, "W3").serves_on(later) == ()
    assert_served_once(register, later)
    assert_served_once(register, day)


def test_merge_workstations_the_reform_pilot():
    register = base_map()
    day = date(2017, 1, 1)
    apply(
        register,
        day.isoformat(),
        {"op": "merge_workstations", "workstations": ["W2", "W3"], "into": "W2"},
    )
    w3 = office(register, "W3")
    assert not w3.open_on(day) and w3.successor == "W2"
    assert office(register, "W2").serves_on(day) == ("K3", "K4")
    assert assert_served_once(register, day) == {
        "K1": "W1",
        "K2": "W1",
        "K3": "W2",
        "K4": "W2",
        "K5": "W4",
        "K6": "W4",
    }


def test_close_workstation_hands_its_communities_to_the_successor():
    register = base_map()
    day = date(2017, 1, 1)
    apply(register, day.isoformat(), {"op": "close_workstation", "code": "W3", "successor": "W2"})
    assert not office(register, "W3").open_on(day)
    assert assert_served_once(register, day)["K4"] == "W2"
    found = problems(
        register, "2018-01-01", {"op": "close_workstation", "code": "W2", "successor": "W2"}
    )
    assert codes(found) == ["successor_is_self"]


def test_a_workstation_serves_communities_of_one_street():
    register = base_map()
    found = problems(register, "2017-01-01", workstation("W9", "K1", "K3"))
    assert [(p.code, p.units) for p in found] == [("workstation_streets", ("K1", "K3"))]
    # Handing a community to a workstation of another street leaves it unserved in its own.
    found = problems(
        register,
        "2017-01-01",
        {"op": "assign_coverage", "workstation": "W1", "communities": ["K3"]},
    )
    assert [(p.code, p.units) for p in found] == [
        ("workstation_serves_outside", ("W1", "K3")),
        ("community_unserved", ("K3",)),
    ]
    found = problems(
        register, "2017-01-01", {"op": "close_workstation", "code": "W3", "successor": "W1"}
    )
    assert ("workstation_serves_outside", ("W1", "K4")) in [(p.code, p.units) for p in found]
    found = problems(register, "2017-01-01", workstation("W9", "G1"))
    assert codes(found) == ["unit_unknown"]
    found = problems(register, "2017-01-01", workstation("W9", "S1"))
    assert codes(found) == ["not_a_community"]


def test_establishing_a_community_needs_a_workstation_for_it():
    register = base_map()
    found = problems(
        register,
        "2017-01-01",
        {"op": "redraw", "unit": "K6", "geometry": box(114.02, 22.52, 114.03, 22.54)},
        establish("K7", "community", "S3", box(114.03, 22.52, 114.04, 22.54)),
    )
    assert [(p.code, p.units) for p in found] == [("community_unserved", ("K7",))]


# Matters ----------------------------------------------------------------------------------------


def test_assign_matter_moves_a_matter_between_levels_by_date():
    register = base_map()
    apply(
        register,
        "2016-01-01",
        {
            "op": "assign_matter",
            "matter": "elderly-card",
            "name": "老年卡",
            "office_kind": "street_office",
            "level": "street",
        },
    )
    apply(
        register,
        "2018-01-01",
        {
            "op": "assign_matter",
            "matter": "elderly-card",
            "office_kind": "residents_committee",
            "level": "community",
        },
    )
    catalogue: Any = register.repository.get(CATALOGUE_ID)
    assert isinstance(catalogue, Catalogue)
    assert catalogue.assignment_on("elderly-card", date(2015, 12, 31)) is None
    first = catalogue.assignment_on("elderly-card", date(2017, 12, 31))
    second = catalogue.assignment_on("elderly-card", date(2018, 1, 1))
    assert first is not None and second is not None
    assert (first.office_kind, first.level) == ("street_office", "street")
    assert (second.office_kind, second.level) == ("residents_committee", "community")
    assert catalogue.names["elderly-card"] == "老年卡"
    found = problems(
        register,
        "2019-01-01",
        {"op": "assign_matter", "matter": "x", "office_kind": "y", "level": "galaxy"},
    )
    assert codes(found) == ["level_unknown"]


# Correct ----------------------------------------------------------------------------------------


def test_a_correction_is_not_a_change_in_the_world_and_both_versions_stay():
    register = base_map()
    apply(register, "2018-01-01", {"op": "rename", "unit": "K1", "name": "Later"})
    recorded_before = unit(register, "K1").version
    apply(
        register,
        "2019-06-01",
        {
            "op": "correct",
            "unit": "K1",
            "valid_from": "2015-01-01",
            "valid_to": "2016-07-01",
            "name": "Right",
        },
    )
    k1 = unit(register, "K1")
    assert [(v.period.start, v.name) for v in k1.versions()] == [
        (BASE, "Right"),
        (date(2016, 7, 1), "K1 name"),
        (date(2018, 1, 1), "Later"),
    ]
    # What the register said before the correction is still there, version by version.
    before: Any = register.repository.get(unit_id("K1"), version=recorded_before)
    assert isinstance(before, Unit)
    wrong = before.version_on(date(2015, 6, 1))
    assert wrong is not None and wrong.name == "K1 name"
    corrected = [e for e in register.events.get(unit_id("K1")) if isinstance(e, Unit.Corrected)]
    assert [(e.effective, e.valid_to) for e in corrected] == [(BASE, date(2016, 7, 1))]
    assert k1.lineage == []


def test_a_geometry_correction_is_checked_like_any_change():
    register = base_map()
    apply(
        register,
        "2018-01-01",
        {"op": "redraw", "unit": "K1", "geometry": box(114.00, 22.50, 114.01, 22.53)},
        {"op": "redraw", "unit": "K2", "geometry": box(114.00, 22.53, 114.01, 22.54)},
    )
    period = {"valid_from": "2016-01-01", "valid_to": "2018-01-01"}
    found = problems(
        register,
        "2019-01-01",
        {"op": "correct", "unit": "K1", **period, "geometry": box(114.00, 22.50, 114.01, 22.525)},
    )
    assert codes(found) == ["siblings_overlap"]
    assert "2016-01-01" in found[0].message
    apply(
        register,
        "2019-01-01",
        {"op": "correct", "unit": "K1", **period, "geometry": box(114.00, 22.50, 114.01, 22.525)},
        {"op": "correct", "unit": "K2", **period, "geometry": box(114.00, 22.525, 114.01, 22.54)},
    )
    for day, edge in [(BASE, 22.52), (date(2016, 1, 1), 22.525), (date(2018, 1, 1), 22.53)]:
        assert same_shape(shape_on(register, "K1", day), box(114.00, 22.50, 114.01, edge))
        assert same_shape(shape_on(register, "K2", day), box(114.00, edge, 114.01, 22.54))
    found = problems(
        register,
        "2019-01-01",
        {"op": "correct", "unit": "K1", "valid_from": "2014-01-01", "name": "x"},
    )
    assert codes(found) == ["unit_not_live"]


# Backdated and future-dated ---------------------------------------------------------------------


def move_k1_k2(edge: float) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        {"op": "redraw", "unit": "K1", "geometry": box(114.00, 22.50, 114.01, edge)},
        {"op": "redraw", "unit": "K2", "geometry": box(114.00, edge, 114.01, 22.54)},
    )


def test_a_backdated_change_lands_before_a_later_one_without_undoing_it():
    register = base_map()
    apply(register, "2018-01-01", *move_k1_k2(22.53))
    apply(register, "2019-01-01", {"op": "rename", "unit": "K2", "name": "Renamed"})
    apply(register, "2016-01-01", *move_k1_k2(22.515))
    edges = []
    for v in unit(register, "K2").versions():
        edges.append((v.period.start, round(from_wkb_hex(v.geometry).bounds[1], 4), v.name))
    assert edges == [
        (BASE, 22.52, "K2 name"),
        (date(2016, 1, 1), 22.515, "K2 name"),
        (date(2018, 1, 1), 22.53, "K2 name"),
        (date(2019, 1, 1), 22.53, "Renamed"),
    ]


def test_a_future_change_is_the_planned_map():
    register = base_map()
    apply(register, "2031-07-01", {"op": "merge", "units": ["S1", "S2"], "absorb_into": "S2"})
    assert live_children(register, "D1", date(2031, 6, 30)) == ["S1", "S2"]
    assert live_children(register, "D1", date(2031, 7, 1)) == ["S2"]
    assert parent_on(register, "K1", date(2031, 7, 1)) == "S2"
    assert parent_on(register, "K1", date(2025, 1, 1)) == "S1"
    # A change before the planned one still applies to today's map only.
    apply(register, "2020-01-01", {"op": "rename", "unit": "S1", "name": "Now"})
    s1 = unit(register, "S1")
    assert [(v.period.start, v.period.end, v.name) for v in s1.versions()] == [
        (BASE, date(2020, 1, 1), "S1 name"),
        (date(2020, 1, 1), date(2031, 7, 1), "Now"),
    ]
