"""`move_area`: a piece of territory passes from one unit to its neighbour (issue 18).

On the small map of `tests.unit.test_operations` (K1 south and K2 north in street S1, K3 and K4
in S2), with grids laid in K1 and K2: both units change together, their new shared edge is the
same vertices on both sides, grids inside the piece follow it, a grid the new line cuts is
reported with its m² and the part that crossed, and the operation's own rules refuse what it
cannot mean.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import shapely
from shapely.geometry import Polygon, mapping

from domain.geometry import area_m2
from domain.register import JurisdictionRegister
from tests.unit.helpers import apply
from tests.unit.test_operations import (
    assert_served_once,
    base_map,
    box,
    codes,
    geodesic_m2,
    links,
    office,
    parent_on,
    problems,
    shape_on,
    unit,
)

BEFORE = date(2016, 12, 31)
DAY = date(2017, 1, 1)


def with_grids() -> JurisdictionRegister:
    """The base map with three grids in K1 (two in its south half, one in its north half)
    and one grid covering K2."""
    register = base_map()
    apply(
        register,
        "2016-01-01",
        {
            "op": "lay_grids",
            "community": "K1",
            "grids": [
                {"code": "G1", "geometry": box(114.00, 22.50, 114.005, 22.51)},
                {"code": "G2", "geometry": box(114.005, 22.50, 114.01, 22.51)},
                {"code": "G3", "geometry": box(114.00, 22.51, 114.01, 22.52)},
            ],
        },
        {
            "op": "lay_grids",
            "community": "K2",
            "grids": [{"code": "G4", "geometry": box(114.00, 22.52, 114.01, 22.54)}],
        },
    )
    return register


def move(from_unit: str, to_unit: str, geometry: dict[str, Any]) -> dict[str, Any]:
    return {"op": "move_area", "from_unit": from_unit, "to_unit": to_unit, "geometry": geometry}


def test_the_piece_passes_with_the_grids_inside_it():
    register = with_grids()
    apply(register, DAY.isoformat(), move("K1", "K2", box(114.00, 22.51, 114.01, 22.52)))
    assert shape_on(register, "K1", DAY).equals(shapely.box(114.00, 22.50, 114.01, 22.51))
    assert shape_on(register, "K2", DAY).equals(shapely.box(114.00, 22.51, 114.01, 22.54))
    assert shape_on(register, "K1", BEFORE).equals(shapely.box(114.00, 22.50, 114.01, 22.52))
    assert (parent_on(register, "G3", BEFORE), parent_on(register, "G3", DAY)) == ("K1", "K2")
    assert parent_on(register, "G1", DAY) == parent_on(register, "G2", DAY) == "K1"
    assert links(register, "K1") == [("redraw", "successor", "K2", DAY)]
    assert links(register, "K2") == [("redraw", "predecessor", "K1", DAY)]
    # The communities keep their street and workstation.
    assert assert_served_once(register, DAY) == assert_served_once(register, BEFORE)


def test_an_off_grid_diagonal_cut_keeps_the_shared_edge_shared():
    """A piece drawn by hand: its edges cross K1's at points off the stored grid, and it
    reaches into K2 (only the part inside K1 moves). The two new shapes come from one
    snap-rounded overlay: no gap, no overlap, every vertex on the grid."""
    register = base_map()
    piece = Polygon(
        [
            (113.9990001234, 22.5149998765),
            (114.0100904321, 22.5120001111),
            (114.0100904321, 22.5250003333),
            (113.9990001234, 22.5250003333),
            (113.9990001234, 22.5149998765),
        ]
    )
    apply(register, DAY.isoformat(), move("K1", "K2", dict(mapping(piece))))
    k1, k2 = shape_on(register, "K1", DAY), shape_on(register, "K2", DAY)
    assert shapely.intersection(k1, k2).area == 0
    assert shapely.intersection(k1.boundary, k2.boundary).length > 0.01
    before = shapely.union(shape_on(register, "K1", BEFORE), shape_on(register, "K2", BEFORE))
    assert area_m2(shapely.symmetric_difference(before, shapely.union(k1, k2))) < 0.01
    for shape in (k1, k2):
        coords = shapely.get_coordinates(shape)
        assert (coords.round(7) == coords).all()
    # And K3, which the piece also reached into, did not change.
    assert len(unit(register, "K3").versions()) == 1


def test_a_grid_the_new_line_cuts_is_reported_with_the_part_that_crossed():
    register = with_grids()
    cut = box(114.00, 22.505, 114.01, 22.52)  # G3 whole, and the north halves of G1 and G2
    found = problems(register, DAY.isoformat(), move("K1", "K2", cut))
    assert codes(found) == ["child_straddles", "child_straddles"]
    first = found[0]
    assert first.units == ("G1", "K1", "K2")
    assert first.location == "operations[0].geometry"
    half = geodesic_m2(box(114.00, 22.505, 114.005, 22.51))
    assert first.area_m2 == pytest.approx(half, rel=0.001)
    assert first.extra["sides_m2"] == {
        "K1": pytest.approx(half, rel=0.001),
        "K2": pytest.approx(half, rel=0.001),
    }
    point = first.extra["location_point"]
    assert 114.00 < point["lon"] < 114.005 and 22.505 < point["lat"] < 22.51
    assert first.geometry.equals(shapely.box(114.00, 22.505, 114.005, 22.51))
    assert "straddles the new boundary" in first.message and "G1" in first.message
    assert len(unit(register, "K1").versions()) == 1


def test_splitting_the_cut_grid_first_lets_the_move_through():
    register = with_grids()
    apply(
        register,
        DAY.isoformat(),
        {
            "op": "split",
            "unit": "G1",
            "mode": "split_off",
            "parts": [{"code": "G1N", "geometry": box(114.00, 22.505, 114.005, 22.51)}],
        },
        # Each move sees the map as the operations before it left it.
        move("K1", "K2", box(114.00, 22.51, 114.01, 22.52)),
        move("K1", "K2", box(114.00, 22.505, 114.005, 22.51)),
    )
    assert parent_on(register, "G1N", DAY) == parent_on(register, "G3", DAY) == "K2"
    assert parent_on(register, "G1", DAY) == parent_on(register, "G2", DAY) == "K1"


def test_a_whole_community_in_the_piece_changes_street_with_its_workstation():
    register = base_map()
    apply(register, DAY.isoformat(), move("S2", "S1", box(114.01, 22.50, 114.02, 22.52)))
    grown = shapely.union(
        shapely.box(114.00, 22.50, 114.01, 22.54), shapely.box(114.01, 22.50, 114.02, 22.52)
    )
    assert shape_on(register, "S1", DAY).equals(grown)
    assert parent_on(register, "K3", DAY) == "S1"
    assert office(register, "W2").unit.value_on(DAY) == "S1"
    assert assert_served_once(register, DAY)["K3"] == "W2"


def test_a_workstation_left_serving_two_streets_is_reported():
    register = base_map()
    found = problems(register, DAY.isoformat(), move("S1", "S2", box(114.00, 22.50, 114.01, 22.52)))
    assert codes(found) == ["workstation_straddles"]


def test_what_a_move_cannot_mean_is_refused():
    register = with_grids()
    day = DAY.isoformat()
    # Over K3 and K4 mostly (what it covers of K2 is not counted: it is K2's already).
    outside = problems(register, day, move("K1", "K2", box(114.008, 22.515, 114.02, 22.54)))
    assert codes(outside) == ["move_area_outside"]
    assert outside[0].area_m2 is not None and outside[0].area_m2 > 1_000_000
    assert "location_point" in outside[0].extra
    everything = problems(register, day, move("K1", "K2", box(114.00, 22.50, 114.01, 22.52)))
    assert codes(everything) == ["move_area_takes_all"]
    assert "merge" in everything[0].message
    detached = problems(register, day, move("K1", "K3", box(114.00, 22.50, 114.005, 22.51)))
    assert codes(detached) == ["move_area_not_neighbours"]
    # Two pieces, one along K2 and one in K1's far corner: the far one would be an exclave.
    two = {
        "type": "MultiPolygon",
        "coordinates": [
            box(114.00, 22.515, 114.01, 22.52)["coordinates"],
            box(114.00, 22.50, 114.002, 22.502)["coordinates"],
        ],
    }
    exclave = problems(register, day, move("K1", "K2", two))
    assert codes(exclave) == ["move_area_not_neighbours"]
    assert exclave[0].geometry.equals(shapely.box(114.00, 22.50, 114.002, 22.502))
    levels = problems(register, day, move("K1", "S2", box(114.005, 22.50, 114.01, 22.51)))
    assert codes(levels) == ["move_area_levels"]
    same = problems(register, day, move("K1", "K1", box(114.005, 22.50, 114.01, 22.51)))
    assert codes(same) == ["move_area_same_unit"]
    unknown = problems(register, day, move("K1", "K99", box(114.005, 22.50, 114.01, 22.51)))
    assert [(p.code, p.location) for p in unknown] == [("unit_unknown", "operations[0].to_unit")]
    before = problems(register, "2014-01-01", move("K1", "K2", box(114.0, 22.51, 114.01, 22.52)))
    assert set(codes(before)) == {"unit_not_live"}


def test_the_log_of_legal_acts_names_both_units_without_the_geometry():
    register = with_grids()
    receipt = apply(register, DAY.isoformat(), move("K1", "K2", box(114.0, 22.51, 114.01, 22.52)))
    record = register.find_change_set(receipt.id)
    assert record is not None
    assert record.operations == [{"op": "move_area", "from_unit": "K1", "to_unit": "K2"}]
    assert set(receipt.units) == {"K1", "K2", "G3"}
