"""domain/repair.py on constructed cases: what each repair does, and how much it changes.

Areas are compared to 1e-6: `area_m2` cuts a large geometry into coarser pieces than a small
one (domain.geometry.DENSIFY_PARTS), which moves its figure by about that much.
"""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from domain.errors import Problem
from domain.geometry import area_m2
from domain.repair import (
    RepairOptions,
    RepairOptionsError,
    describe,
    fit_family,
    make_valid_territory,
    point_on,
    with_hint,
)

#: A parent 0.02 x 0.01 degrees (about 2 km x 1.1 km) at Shenzhen's latitude.
PARENT = MultiPolygon([box(114.0, 22.5, 114.02, 22.51)])
WEST = MultiPolygon([box(114.0, 22.5, 114.01, 22.51)])
EAST = MultiPolygon([box(114.01, 22.5, 114.02, 22.51)])
SNAP = RepairOptions(snap_to_neighbours=True)


def m2(west: float, south: float, east: float, north: float) -> float:
    return area_m2(box(west, south, east, north))


def test_options_parse_names_repeated_or_comma_separated():
    options = RepairOptions.of(["snap_to_neighbours, make_valid", "MAKE_VALID"], "12.5")
    assert options == RepairOptions(
        make_valid=True, clip_to_parent=False, snap_to_neighbours=True, sliver_m2=12.5
    )
    assert options.names == ["make_valid", "snap_to_neighbours"]
    assert RepairOptions.of([]) == RepairOptions()
    assert not RepairOptions.of([]).fits_families


@pytest.mark.parametrize(
    ("repairs", "sliver", "code"),
    [
        (["tidy"], 0, "repair_unknown"),
        (["make_valid,clip"], 0, "repair_unknown"),
        ([], -1, "sliver_m2_invalid"),
        ([], "nan", "sliver_m2_invalid"),
        ([], "inf", "sliver_m2_invalid"),
        ([], "lots", "sliver_m2_invalid"),
        ([], True, "sliver_m2_invalid"),
    ],
)
def test_bad_options_name_the_field(repairs: list[str], sliver: object, code: str):
    with pytest.raises(RepairOptionsError) as caught:
        RepairOptions.of(repairs, sliver)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert caught.value.field == ("repair" if code == "repair_unknown" else "sliver_m2")


def test_make_valid_turns_a_bowtie_into_its_two_triangles():
    bowtie = Polygon([(114.0, 22.5), (114.01, 22.51), (114.01, 22.5), (114.0, 22.51)])
    assert not bowtie.is_valid
    fixed, changed = make_valid_territory(bowtie)
    left = Polygon([(114.0, 22.5), (114.005, 22.505), (114.0, 22.51)])
    right = Polygon([(114.01, 22.5), (114.005, 22.505), (114.01, 22.51)])
    assert fixed.is_valid and len(fixed.geoms) == 2
    assert fixed.symmetric_difference(MultiPolygon([left, right])).area < 1e-15
    assert changed == pytest.approx(0, abs=1e-6)  # what a GIS draws, nothing more or less
    assert area_m2(fixed) == pytest.approx(area_m2(left) + area_m2(right), rel=1e-6)


def test_make_valid_keeps_polygons_only_and_measures_what_went():
    # A box with a spike: the spike has no area, so nothing is lost but the line.
    spiked = Polygon(
        [(114.0, 22.5), (114.01, 22.5), (114.01, 22.51), (114.005, 22.51), (114.005, 22.52),
         (114.005, 22.51), (114.0, 22.51)]
    )  # fmt: skip
    assert not spiked.is_valid
    fixed, changed = make_valid_territory(spiked)
    assert fixed.equals(MultiPolygon([box(114.0, 22.5, 114.01, 22.51)]))
    assert changed == pytest.approx(0, abs=1e-6)


def test_clip_to_parent_removes_exactly_the_part_outside():
    child = MultiPolygon([box(113.999, 22.5, 114.01, 22.512)])
    result, fixes = fit_family(PARENT, {"A": child}, {}, RepairOptions(clip_to_parent=True))
    assert result["A"].equals(WEST)
    [fix] = fixes
    assert (fix.code, fix.repair, fix.kind) == ("A", "clip_to_parent", "clipped")
    outside = m2(113.999, 22.5, 114.0, 22.512) + m2(114.0, 22.51, 114.01, 22.512)
    assert area_m2(fix.piece) == pytest.approx(outside, rel=1e-6)
    assert describe(fix, 0).startswith(f"clipped to its parent: {outside:.1f} m²")


def test_snap_leaves_a_small_overlap_to_the_sibling_on_the_map():
    # A reaches 0.0001 degrees (about 10 m) into the fixed B: about 11,400 m².
    a = MultiPolygon([box(114.0, 22.5, 114.0101, 22.51)])
    overlap = m2(114.01, 22.5, 114.0101, 22.51)
    options = RepairOptions(snap_to_neighbours=True, sliver_m2=overlap + 1)
    result, fixes = fit_family(PARENT, {"A": a}, {"B": EAST}, options)
    assert result["A"].equals(WEST)
    [fix] = fixes
    assert (fix.kind, fix.other) == ("overlap", "B")
    assert area_m2(fix.piece) == pytest.approx(overlap, rel=1e-6)
    assert "left to B" in describe(fix, options.sliver_m2)


def test_a_piece_larger_than_sliver_m2_is_left_for_the_invariants():
    a = MultiPolygon([box(114.0, 22.5, 114.0101, 22.51)])
    overlap = m2(114.01, 22.5, 114.0101, 22.51)
    options = RepairOptions(snap_to_neighbours=True, sliver_m2=overlap - 1)
    result, fixes = fit_family(PARENT, {"A": a}, {"B": EAST}, options)
    assert result["A"].equals(a) and fixes == []


def test_snap_closes_a_gap_with_the_child_sharing_the_longest_edge():
    # A stops 0.0002 degrees short of B (a gap of about 22,800 m²) and of the parent's north.
    a = MultiPolygon([box(114.0, 22.5, 114.0098, 22.5099)])
    gap = m2(114.0098, 22.5, 114.01, 22.51) + m2(114.0, 22.5099, 114.0098, 22.51)
    options = RepairOptions(snap_to_neighbours=True, sliver_m2=gap + 1)
    result, fixes = fit_family(PARENT, {"A": a}, {"B": EAST}, options)
    assert result["A"].symmetric_difference(WEST).area < 1e-15
    [fix] = fixes
    assert fix.kind == "gap" and area_m2(fix.piece) == pytest.approx(gap, rel=1e-6)


def test_without_full_coverage_no_gap_is_closed():
    a = MultiPolygon([box(114.0, 22.5, 114.0098, 22.51)])
    options = RepairOptions(snap_to_neighbours=True, sliver_m2=1e9)
    result, fixes = fit_family(PARENT, {"A": a}, {"B": EAST}, options, full_coverage=False)
    assert result["A"].equals(a) and fixes == []


def test_with_sliver_m2_zero_snap_closes_only_what_is_narrower_than_a_metre():
    # 0.000005 degrees of longitude is about 0.5 m at 22.5 degrees north; 0.0001 is 10 m.
    thin = MultiPolygon([box(114.0, 22.5, 114.010005, 22.51)])
    result, fixes = fit_family(PARENT, {"A": thin}, {"B": EAST}, SNAP)
    assert result["A"].equals(WEST)
    assert [f.kind for f in fixes] == ["overlap"]
    assert "narrower than 1 m" in describe(fixes[0], 0)
    wide = MultiPolygon([box(114.0, 22.5, 114.0101, 22.51)])
    result, fixes = fit_family(PARENT, {"A": wide}, {"B": EAST}, SNAP)
    assert result["A"].equals(wide) and fixes == []


def test_two_children_of_the_file_the_later_one_gives_way_and_the_family_holds():
    a = MultiPolygon([box(113.9999, 22.5, 114.0101, 22.5101)])  # past the west and north edges
    b = MultiPolygon([box(114.01, 22.5, 114.0199, 22.51)])  # short of the east edge
    options = RepairOptions(clip_to_parent=True, snap_to_neighbours=True, sliver_m2=20_000)
    result, fixes = fit_family(PARENT, {"B": b, "A": a}, {}, options)
    kinds = sorted((f.code, f.kind) for f in fixes)
    assert kinds == [("A", "clipped"), ("B", "gap"), ("B", "overlap")]
    assert result["A"].equals(MultiPolygon([box(114.0, 22.5, 114.0101, 22.51)]))
    assert area_m2(result["A"].intersection(result["B"])) == 0
    assert area_m2(PARENT.difference(shapely.union_all(list(result.values())))) < 1e-6


def test_the_point_of_a_repair_lies_on_its_area():
    piece = box(114.01, 22.5, 114.0101, 22.51)
    lon, lat = point_on(piece)
    assert piece.covers(shapely.Point(lon, lat))


def test_hints_name_the_repair_that_would_fix_a_problem():
    for code, repair in [
        ("geometry_invalid", "make_valid"),
        ("child_outside_parent", "clip_to_parent"),
        ("siblings_overlap", "snap_to_neighbours"),
        ("coverage_gap", "snap_to_neighbours"),
    ]:
        hinted = with_hint(Problem(code, "..."))
        assert repair in hinted.as_dict()["hint"]
    assert "hint" not in with_hint(Problem("code_taken", "...")).as_dict()
