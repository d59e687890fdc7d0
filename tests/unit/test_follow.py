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


def test_a_child_cut_by_a_sliver_follows_the_new_edge_and_the_sliver_extends_the_neighbour():
    # The new line misses a3's west edge by 1e-6 degrees: a3 passes to B but a sliver of it
    # (about 250 m²) stays in A, where a1 and a2 now leave it uncovered.
    line = 0.01 + 1e-6
    after = {"A": box(0.0, 0.0, line, 0.02), "B": box(line, 0.0, 0.04, 0.02)}
    strict = follow_children(GRIDS, after, 5.0)
    assert [s.child.code for s in strict.straddles] == ["a3"]
    assert strict.clips == [] and strict.extends == []

    result = follow_children(GRIDS, after, 5.0, sliver_m2=500.0)
    assert result.straddles == []
    (clip,) = result.clips
    assert (clip.child.code, clip.to) == ("a3", "B")
    assert 200 < clip.removed_m2 < 300
    assert clip.geometry.equals(box(line, 0.0, 0.02, 0.02))
    extended = sorted((e.child.code, e.parent) for e in result.extends)
    assert extended in ([("a1", "A")], [("a2", "A")])  # one sliver, to one of its neighbours
    (extend,) = result.extends
    assert 200 < extend.added_m2 < 300
    assert extend.geometry.area > extend.child.geometry.area


def test_a_closed_parent_is_not_extended():
    line = 0.01 + 1e-6
    after = {"A": box(0.0, 0.0, line, 0.02), "B": box(line, 0.0, 0.04, 0.02)}
    result = follow_children(GRIDS, after, 5.0, sliver_m2=500.0, closed=frozenset({"A"}))
    assert len(result.clips) == 1 and result.extends == []
