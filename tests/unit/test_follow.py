"""Children following a moved boundary (`domain.follow`): stay, transfer, or straddle."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import box

from domain.follow import Child, follow_children
from domain.geometry import area_m2

# Two neighbours A (west) and B (east); A's grids: a1 south-west, a2 north-west, a3 east half.
A = box(0.0, 0.0, 0.02, 0.02)
B = box(0.02, 0.0, 0.04, 0.02)


def child(code: str, geometry: shapely.Geometry, parent: str = "A") -> Child:
    return Child(code, f"{code} name", "grid", parent, geometry)


GRIDS = [
    child("a1", box(0.0, 0.0, 0.01, 0.01)),
    child("a2", box(0.0, 0.01, 0.01, 0.02)),
    child("a3", box(0.01, 0.0, 0.02, 0.02)),
]


def test_unmoved_children_stay():
    result = follow_children(GRIDS, {"A": A, "B": B}, 5.0)
    assert result.stays == ["a1", "a2", "a3"]
    assert result.moves == [] and result.straddles == []


def test_a_child_wholly_in_the_moved_piece_goes_with_it():
    # A's east half passes to B: a3 lies wholly in it.
    after = {"A": box(0.0, 0.0, 0.01, 0.02), "B": box(0.01, 0.0, 0.04, 0.02)}
    result = follow_children(GRIDS, after, 5.0)
    assert result.stays == ["a1", "a2"]
    assert [(m.child.code, m.to) for m in result.moves] == [("a3", "B")]
    move = result.moves[0]
    assert move.area_m2 == pytest.approx(area_m2(box(0.01, 0.0, 0.02, 0.02)))
    assert box(0.01, 0.0, 0.02, 0.02).contains(shapely.Point(move.point.lon, move.point.lat))


def test_a_child_the_new_line_cuts_is_reported_with_both_sides_never_guessed():
    # The new line runs through a3 (x = 0.015): a3 is half in A, half in B.
    after = {"A": box(0.0, 0.0, 0.015, 0.02), "B": box(0.015, 0.0, 0.04, 0.02)}
    result = follow_children(GRIDS, after, 5.0)
    assert result.moves == []
    (straddle,) = result.straddles
    assert straddle.child.code == "a3"
    sides = dict(straddle.shares)
    assert set(sides) == {"A", "B"}
    assert sides["A"] == pytest.approx(sides["B"], rel=0.01)
    assert "a3 (a3 name) of A straddles" in straddle.message
    assert "m² in A" in straddle.message and "m² in B" in straddle.message
    # The point is on the part that crossed (now in B).
    assert box(0.015, 0.0, 0.02, 0.02).contains(
        shapely.Point(straddle.point.lon, straddle.point.lat)
    )


def test_a_sliver_within_the_tolerance_does_not_move_or_cut_a_child():
    # A's edge moves 1e-8 degrees (1 mm; about 2.5 m² along its 2.2 km): nobody moves.
    after = {"A": box(0.0, 0.0, 0.02 - 1e-8, 0.02), "B": box(0.02 - 1e-8, 0.0, 0.04, 0.02)}
    result = follow_children(GRIDS, after, 5.0)
    assert result.stays == ["a1", "a2", "a3"]


def test_children_of_an_ended_parent_go_to_the_unit_holding_them():
    after = {"B": box(0.0, 0.0, 0.04, 0.02)}  # A ended, B took all of it
    result = follow_children(GRIDS, after, 5.0)
    assert sorted((m.child.code, m.to) for m in result.moves) == [
        ("a1", "B"),
        ("a2", "B"),
        ("a3", "B"),
    ]


def test_a_child_left_outside_every_unit_says_how_much():
    after = {"A": box(0.0, 0.0, 0.01, 0.02)}  # A shrank, nobody took its east half
    (straddle,) = follow_children(GRIDS, after, 5.0).straddles
    assert straddle.child.code == "a3"
    assert straddle.shares == ()
    assert straddle.outside_m2 > 1e6
    assert "outside every unit" in straddle.message
