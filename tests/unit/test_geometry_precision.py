"""Reaching the stored precision (1e-7 degrees) never turns a valid geometry invalid, keeps
shared edges shared across a layer, is deterministic, and leaves what rounding alone handled
byte for byte as before; areas are geodesic."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, box, shape

from domain.geometry import (
    GeometryError,
    area_m2,
    as_valid_territory,
    parse_territory,
    round_coordinates,
    snap_layer,
    snap_to_grid,
    to_wkb_hex,
)

DATA = Path(__file__).parents[2] / "jurisdictions" / "demo" / "data" / "shenzhen"
GEOD = Geod(ellps="WGS84")
EPS = 4e-8  # below half a grid cell: rounding moves it onto the grid line


def hole_near_shell() -> Polygon:
    """A hole two of whose vertices lie 4e-8 degrees inside the shell's west edge: valid as
    given, but rounding puts a hole edge on the shell edge (invalid)."""
    shell = [(114.0, 22.5), (114.01, 22.5), (114.01, 22.51), (114.0, 22.51), (114.0, 22.5)]
    hole = [
        (114.0 + EPS, 22.504),
        (114.003, 22.504),
        (114.003, 22.506),
        (114.0 + EPS, 22.506),
        (114.0 + EPS, 22.504),
    ]
    return Polygon(shell, [hole])


def pinched() -> Polygon:
    """A shell whose top vertex dips to 4e-8 degrees above its own bottom edge: rounding makes
    the ring touch itself (a self-intersection)."""
    return Polygon(
        [(114.0, 22.5), (114.01, 22.5), (114.01, 22.51), (114.005, 22.5 + EPS), (114.0, 22.51)]
    )


def naive(geometry: Polygon) -> MultiPolygon:
    return round_coordinates(MultiPolygon([geometry]))


@pytest.mark.parametrize("make", [hole_near_shell, pinched])
def test_a_geometry_rounding_breaks_was_refused_and_now_goes_in_valid(make):
    geometry = make()
    assert geometry.is_valid
    assert not naive(geometry).is_valid  # what the register stored before, and refused
    territory, snap = snap_to_grid(geometry, "here")
    assert territory.is_valid and isinstance(territory, MultiPolygon)
    assert snap is not None and "snap-rounded" in snap.message
    # Every vertex is on the stored grid.
    assert round_coordinates(territory).equals_exact(territory, 0)
    # Hardly any area moved: the hole's strip 4e-8 degrees wide, or the pinch's thin
    # triangles (4 mm high along 1 km: about 2.3 m²); the note says how much.
    assert 0 < snap.area_changed_m2 < 3.0
    assert area_m2(territory) == pytest.approx(area_m2(geometry), abs=snap.area_changed_m2 + 0.01)
    # Through the GeoJSON door too (change sets).
    parsed = parse_territory(shapely.geometry.mapping(geometry), "operations[0].geometry")
    assert to_wkb_hex(parsed) == to_wkb_hex(territory)


def test_snapping_is_deterministic_and_idempotent():
    first, _ = snap_to_grid(hole_near_shell(), "x")
    second, _ = snap_to_grid(hole_near_shell(), "x")
    assert to_wkb_hex(first) == to_wkb_hex(second)
    again, snap = snap_to_grid(first, "x")  # a stored geometry sent back
    assert snap is None and to_wkb_hex(again) == to_wkb_hex(first)


def test_what_rounding_alone_handles_is_stored_as_before():
    geometry = box(114.000000012, 22.500000049, 114.010000051, 22.51)
    territory, snap = snap_to_grid(geometry, "x")
    assert snap is None
    assert to_wkb_hex(territory) == to_wkb_hex(naive(geometry))


def test_a_geometry_invalid_as_given_is_still_refused():
    bowtie = Polygon([(114.0, 22.5), (114.01, 22.51), (114.01, 22.5), (114.0, 22.51)])
    with pytest.raises(GeometryError) as caught:
        as_valid_territory(bowtie, "features[3].geometry")
    assert caught.value.problem.code == "geometry_invalid"
    assert caught.value.problem.location == "features[3].geometry"


def test_a_sliver_below_the_grid_is_empty_not_invalid():
    sliver = box(114.0, 22.5, 114.01, 22.5 + 2e-8)
    with pytest.raises(GeometryError) as caught:
        as_valid_territory(sliver, "x")
    assert caught.value.problem.code == "geometry_empty"


def test_a_neighbour_takes_the_vertices_snapping_put_on_a_shared_edge():
    # A's hole lies 4e-8 inside A's east edge, which B shares exactly: snapping A nodes that
    # edge at two new vertices, and B's copy of the edge must take them too (no T-junction).
    shell = [(114.0, 22.5), (114.01, 22.5), (114.01, 22.51), (114.0, 22.51), (114.0, 22.5)]
    hole = [
        (114.01 - EPS, 22.504),
        (114.007, 22.504),
        (114.007, 22.506),
        (114.01 - EPS, 22.506),
        (114.01 - EPS, 22.504),
    ]
    a = Polygon(shell, [hole])
    b = box(114.01, 22.5, 114.02, 22.51)
    c = box(114.02, 22.5, 114.03, 22.51)  # B's other neighbour, untouched
    assert a.is_valid and not naive(a).is_valid
    results = snap_layer([a, b, c], ["a", "b", "c"])
    (a2, note_a), (b2, note_b), (c2, note_c) = results  # type: ignore[misc]
    assert note_a is not None and note_b is None and note_c is None
    assert a2.is_valid and b2.is_valid
    new_vertices = {(114.01, 22.504), (114.01, 22.506)}
    assert new_vertices <= set(map(tuple, shapely.get_coordinates(a2)))
    assert new_vertices <= set(map(tuple, shapely.get_coordinates(b2)))
    # Still neighbours: no overlap, and the shared boundary is all of B's west edge that A
    # still has (A lost the strip between the new vertices, which was its hole).
    assert a2.intersection(b2).area == 0
    shared = a2.boundary.intersection(b2.boundary)
    assert shared.length == pytest.approx(0.01 - 0.002, abs=1e-9)
    assert b2.area == b.area  # B's shape did not change, only its vertices
    assert to_wkb_hex(c2) == to_wkb_hex(naive(c))


def test_real_shenzhen_layers_go_in_unchanged_and_shared_edges_stay_shared():
    for name in ("shenzhen_districts.geojson", "shenzhen_longgang_dapeng_split_derived.geojson"):
        features = json.loads((DATA / name).read_text())["features"]
        geometries = [shape(f["geometry"]) for f in features]
        results = snap_layer(geometries, [f"features[{i}]" for i in range(len(features))])
        snapped = []
        for geometry, result in zip(geometries, results, strict=True):
            assert not isinstance(result, GeometryError), result
            territory, note = result
            assert note is None and territory.is_valid
            assert to_wkb_hex(territory) == to_wkb_hex(
                round_coordinates(
                    MultiPolygon([geometry]) if isinstance(geometry, Polygon) else geometry
                )
            )
            snapped.append(territory)
        # Neighbours overlap no more after than before (in m², geodesic).
        for i, first in enumerate(geometries):
            for j in range(i + 1, len(geometries)):
                before = area_m2(first.intersection(geometries[j]))
                after = area_m2(snapped[i].intersection(snapped[j]))
                assert after == pytest.approx(before, abs=1.0), (name, i, j)


def test_areas_are_geodesic_in_any_country():
    # A 0.1-degree box in Paris, New York, Shenzhen and Sydney: the ellipsoid's figure (the
    # former EPSG:4547 figure overstated Paris by 60%).
    for west, south in ((2.3, 48.8), (-74.0, 40.7), (114.0, 22.5), (151.1, -33.9)):
        cell = box(west, south, west + 0.1, south + 0.1)
        expected = abs(GEOD.geometry_area_perimeter(cell)[0])
        assert area_m2(cell) == pytest.approx(expected, rel=1e-4)


def test_areas_of_overlay_results_count_polygons_only_and_subtract_holes():
    outer = box(114.0, 22.5, 114.01, 22.51)
    inner = box(114.002, 22.502, 114.004, 22.504)
    ring = outer.difference(inner)
    assert area_m2(ring) == pytest.approx(area_m2(outer) - area_m2(inner), rel=1e-9)
    mixed = shapely.GeometryCollection([inner, outer.boundary, shapely.Point(114, 22)])
    assert area_m2(mixed) == pytest.approx(area_m2(inner), rel=1e-9)
    touching = box(114.01, 22.5, 114.02, 22.51).intersection(outer)  # a shared edge
    assert area_m2(touching) == 0.0
    assert area_m2(shapely.Polygon()) == 0.0


def hole_along_an_edge(polygon: Polygon) -> Polygon:
    """The polygon with a thin hole one of whose edges runs 4e-8 degrees inside one of the
    shell's real edges: valid as drawn, and the first such edge where rounding breaks it."""
    ring = np.asarray(polygon.exterior.coords)
    for a, b in itertools.pairwise(ring):
        along = b - a
        length = float(np.hypot(*along))
        if length < 2e-3:
            continue
        normal = np.array([-along[1], along[0]]) / length
        if not polygon.contains(shapely.Point(a + along / 2 + normal * 1e-5)):
            normal = -normal
        p1, p2 = a + along * 0.3 + normal * EPS, a + along * 0.7 + normal * EPS
        width = min(length * 0.2, 3e-4)
        hole = [p1, p2, p2 + normal * width, p1 + normal * width, p1]
        holes = [*(r.coords for r in polygon.interiors), hole]
        made = Polygon(polygon.exterior.coords, holes)
        if made.is_valid and not naive(made).is_valid:
            return made
    raise AssertionError("no edge to build the case on")


def test_a_real_district_rounding_would_break_goes_in_and_its_neighbours_stay_put():
    features = json.loads((DATA / "shenzhen_districts.geojson").read_text())["features"]
    geometries = [shape(f["geometry"]) for f in features]
    futian = next(i for i, f in enumerate(features) if f["properties"]["adcode"] == "440304")
    parts = list(geometries[futian].geoms)
    main = max(range(len(parts)), key=lambda i: parts[i].area)
    parts[main] = hole_along_an_edge(parts[main])
    holed = MultiPolygon(parts)
    assert holed.is_valid and not round_coordinates(holed).is_valid  # refused before
    layer = [holed if i == futian else g for i, g in enumerate(geometries)]
    results = snap_layer(layer, [f"features[{i}]" for i in range(len(layer))])
    snapped = []
    for i, result in enumerate(results):
        assert not isinstance(result, GeometryError), result
        territory, note = result
        assert territory.is_valid
        assert (note is not None) == (i == futian)
        snapped.append(territory)
    # The strip between the hole and the shell (4e-8 degrees wide) is what moved, as noted.
    note = results[futian][1]  # type: ignore[index]
    assert note is not None and 0 < note.area_changed_m2 < 20
    changed = abs(area_m2(snapped[futian]) - area_m2(holed))
    assert changed == pytest.approx(note.area_changed_m2, abs=0.05)
    for i, geometry in enumerate(layer):
        if i != futian:
            before = area_m2(holed.intersection(geometry))
            after = area_m2(snapped[futian].intersection(snapped[i]))
            assert after == pytest.approx(before, abs=1.0), features[i]["properties"]["name_en"]


def test_areas_of_several_rings_are_the_sum_of_their_parts():
    # Parts far apart (either side of the prime meridian, and across Europe), holes of either
    # orientation: the rings are measured in one call, and must add up as measured one by one
    # (to 1e-7: a large geometry's edges are cut more coarsely than the 0.001 degrees here).
    def alone(polygon: Polygon) -> float:  # densified as area_m2 does: edges straight in lon/lat
        dense = shapely.segmentize(shapely.orient_polygons(polygon), 0.001)
        return abs(GEOD.geometry_area_perimeter(dense)[0])

    london = box(-0.05, 51.45, -0.01, 51.5)
    greenwich = box(0.01, 51.45, 0.05, 51.5)
    rome = box(12.4, 41.85, 12.55, 41.95)
    assert area_m2(MultiPolygon([london, greenwich, rome])) == pytest.approx(
        alone(london) + alone(greenwich) + alone(rome), rel=1e-7
    )
    holes = [
        [(12.42, 41.86), (12.45, 41.86), (12.45, 41.9), (12.42, 41.86)],
        [(12.5, 41.9), (12.5, 41.93), (12.53, 41.93), (12.5, 41.9)],  # the other way round
    ]
    holed = Polygon(rome.exterior.coords, holes)
    expected = alone(rome) - sum(alone(Polygon(h)) for h in holes)
    assert area_m2(holed) == pytest.approx(expected, rel=1e-7)
    assert area_m2(MultiPolygon([holed, london])) == pytest.approx(
        expected + alone(london), rel=1e-7
    )


def test_a_shared_vertex_half_way_between_grid_points_stays_shared():
    # numpy rounds half-way values to even, GEOS's snap-rounding rounds them up: A (snapped)
    # and B (rounded) would put their shared edge one grid cell apart without the layer snap.
    candidates = 114.0 + np.arange(1, 2000, 2) * 5e-8
    snapped_x = shapely.get_coordinates(
        shapely.set_precision(shapely.points(candidates, np.full_like(candidates, 22.5)), 1e-7)
    )[:, 0]
    x = float(candidates[np.flatnonzero(snapped_x != np.round(candidates, 7))[0]])
    shell = [(113.99, 22.5), (x, 22.5), (x, 22.51), (113.99, 22.51), (113.99, 22.5)]
    hole = [
        (113.99 + EPS, 22.504),
        (113.995, 22.504),
        (113.995, 22.506),
        (113.99 + EPS, 22.506),
        (113.99 + EPS, 22.504),
    ]
    a = Polygon(shell, [hole])
    b = box(x, 22.5, 114.02, 22.51)
    assert a.is_valid and not naive(a).is_valid
    alone, _ = snap_to_grid(a, "a")
    # Had each gone its own way, their edges would lie a grid cell apart (an overlap or gap).
    assert alone.boundary.intersection(naive(b).boundary).length < 1e-6
    (a2, note_a), (b2, note_b) = snap_layer([a, b], ["a", "b"])  # type: ignore[misc]
    assert note_a is not None and note_b is None
    assert a2.is_valid and b2.is_valid
    assert a2.intersection(b2).area == 0
    assert a2.boundary.intersection(b2.boundary).length == pytest.approx(0.01, abs=1e-12)
