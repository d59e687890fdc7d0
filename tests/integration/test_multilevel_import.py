"""A community moves with its grids: children following a moved boundary, and several levels
of one GeoPackage imported as one change set (issue 15, item 4), on the scenario city.

Set-up (2020-01-01): community M1 (114.00-114.04 x 22.50-22.60) is regridded into four
grids, then its east half splits off as M5, each grid following to the half that holds it:

    M1 = Ga (south, 114.00-114.02) + Gc (north, 114.00-114.02)
    M5 = Gb (south, 114.02-114.04) + Gd (north, 114.02-114.04)

The imports (2021-01-01) move a piece of M1 into its neighbour M5.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import MultiPolygon, box, mapping

from api.operations import parse_change_set
from jurisdictions.bootstrap import Services, running
from jurisdictions.commands import ImportOutcome, import_layer, import_layers
from jurisdictions.settings import Settings
from projections.imports import ImportScopeError, LayerError
from projections.multilevel import LayerSpec, parse_layers
from tests import scenario
from tests.geopackages import Table, blob, build

pytestmark = pytest.mark.db

SET_UP = "2020-01-01"
DAY = date(2021, 1, 1)

GA = box(114.00, 22.50, 114.02, 22.55)
GC = box(114.00, 22.55, 114.02, 22.60)
M5 = box(114.02, 22.50, 114.04, 22.60)


def grid(code: str, geometry: shapely.Geometry) -> dict[str, Any]:
    return {"code": code, "name": f"grid {code}", "geometry": mapping(geometry)}


REGRID = {
    "effective": SET_UP,
    "reason": "M1 regridded",
    "operations": [
        {
            "op": "regrid",
            "community": "M1",
            "grids": [
                grid("Ga", GA),
                grid("Gb", box(114.02, 22.50, 114.04, 22.55)),
                grid("Gc", GC),
                grid("Gd", box(114.02, 22.55, 114.04, 22.60)),
            ],
        }
    ],
}
SPLIT = {
    "effective": SET_UP,
    "reason": "M5 split off from M1",
    "operations": [
        {
            "op": "split",
            "unit": "M1",
            "mode": "split_off",
            "reassign_children": "by_location",
            "parts": [{"code": "M5", "name": "M5 name", "geometry": mapping(M5)}],
        }
    ],
}

#: A piece of M1 passing to M5: all of Ga (so Ga goes with it) and the east half of Gc (so
#: the new line cuts Gc).
PIECE = shapely.union(GA, box(114.01, 22.55, 114.02, 22.60))
#: Only Ga's piece: every grid either stays or goes whole.
CLEAN_PIECE = GA


def communities(piece: shapely.Geometry) -> list[tuple[str, str, MultiPolygon]]:
    """M1 and M5 with `piece` moved from M1 to M5."""
    m1 = box(114.00, 22.50, 114.02, 22.60).difference(piece)
    m5 = M5.union(piece)
    return [("M1", "M1 name", _multi(m1)), ("M5", "M5 name", _multi(m5))]


def _multi(geometry: shapely.Geometry) -> MultiPolygon:
    geometry = shapely.normalize(shapely.simplify(geometry, 0))
    if isinstance(geometry, MultiPolygon):
        return geometry
    return MultiPolygon([geometry])


def geojson(path: Path, rows: list[tuple[str, str, MultiPolygon]], **extra: str) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"code": code, "name": name, **extra},
            "geometry": mapping(geometry),
        }
        for code, name, geometry in rows
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.fixture
def city(settings: Settings) -> Iterator[Services]:
    with running(settings, "cli") as services:
        scenario.build(services.register)
        for body in (REGRID, SPLIT):
            services.register.apply_change_set(parse_change_set(body), actor="set-up")
        services.catch_up()
        yield services


def run(services: Services, path: Path, **options: Any) -> ImportOutcome:
    return import_layer(
        services,
        path,
        level="community",
        effective=DAY,
        reason="boundary moved",
        actor="test",
        **{"dry_run": True, **options},
    )


def codes(outcome: ImportOutcome) -> list[str]:
    return sorted({p.code for p in outcome.problems})


def parent_of(services: Services, code: str) -> str | None:
    unit = services.queries.unit_on(code, DAY)
    assert unit is not None
    return str(unit["parent"]) if unit["parent"] is not None else None


def test_without_following_the_grids_are_left_behind_and_a_note_says_how_to_fix_it(
    city: Services, tmp_path: Path
):
    outcome = run(city, geojson(tmp_path / "m.geojson", communities(PIECE)))
    assert "child_outside_parent" in codes(outcome)
    assert "coverage_gap" in codes(outcome)
    report = outcome.report()
    assert report["children"] == "keep" and report["followed"] == []
    (note,) = [n for n in report["notes"] if n["code"] == "children_left_behind"]
    assert "children=follow" in note["message"]
    assert "Ga to M5" in note["message"] and "Gc" in note["message"]
    assert sorted(note["units"]) == ["Ga", "Gc"]


def test_following_transfers_the_grid_inside_the_moved_piece_and_reports_the_cut_one(
    city: Services, tmp_path: Path
):
    outcome = run(city, geojson(tmp_path / "m.geojson", communities(PIECE)), children="follow")
    report = outcome.report()
    assert [(f["code"], f["from"], f["to"]) for f in report["followed"]] == [("Ga", "M1", "M5")]
    followed = report["followed"][0]
    assert followed["name"] == "grid Ga" and followed["level"] == "grid"
    point = shapely.Point(followed["location_point"]["lon"], followed["location_point"]["lat"])
    assert GA.contains(point)
    (straddle,) = [p for p in report["problems"] if p["code"] == "child_straddles"]
    assert straddle["units"][:2] == ["Gc", "M1"] and "M5" in straddle["units"]
    assert straddle["name"] == "grid Gc" and straddle["parent"] == "M1"
    sides = straddle["sides_m2"]
    assert set(sides) == {"M1", "M5"}
    assert sides["M1"] == pytest.approx(sides["M5"], rel=0.01)  # the line cuts Gc in half
    assert "m² in M1" in straddle["message"] and "m² in M5" in straddle["message"]
    point = shapely.Point(straddle["location_point"]["lon"], straddle["location_point"]["lat"])
    assert box(114.01, 22.55, 114.02, 22.60).contains(point)  # on the part that crossed
    assert not outcome.report()["applied"]


def test_a_clean_move_commits_with_the_grid_following(city: Services, tmp_path: Path):
    path = geojson(tmp_path / "m.geojson", communities(CLEAN_PIECE))
    dry = run(city, path, children="follow")
    assert dry.problems == [], dry.report()["problems"]
    assert sorted(dry.report()["redrawn"]) == ["M1", "M5"]
    assert [f["code"] for f in dry.report()["followed"]] == ["Ga"]
    done = run(city, path, children="follow", dry_run=False)
    assert done.report()["applied"], done.report()
    assert parent_of(city, "Ga") == "M5"
    assert parent_of(city, "Gc") == "M1"
    # Before the move, Ga was M1's.
    before = city.queries.unit_on("Ga", date(2020, 6, 1))
    assert before is not None and before["parent"] == "M1"


def layers_file(path: Path, piece: shapely.Geometry) -> Path:
    """A GeoPackage with a communities table and a grids table: Gc cut along the new line
    into Gc (stays with M1) and a new grid Ge (east half, under M5); Ga is not in it."""
    rows = [({"code": c, "name": n}, blob(g)) for c, n, g in communities(piece)]
    grids = [
        (
            {"code": "Gc", "name": "grid Gc", "parent": "M1"},
            blob(_multi(box(114.00, 22.55, 114.01, 22.60))),
        ),
        (
            {"code": "Ge", "name": "grid Ge", "parent": "M5"},
            blob(_multi(box(114.01, 22.55, 114.02, 22.60))),
        ),
    ]
    columns = {"code": "TEXT", "name": "TEXT", "parent": "TEXT"}
    return build(
        path,
        [Table("communities", rows), Table("grids", grids, columns=columns)],
    )


def test_communities_and_grids_of_one_geopackage_are_one_change_set(city: Services, tmp_path: Path):
    path = layers_file(tmp_path / "both.gpkg", PIECE)
    specs = parse_layers(["grids:grid", "communities:community"], city.settings.level_scheme)
    assert [s.level for s in specs] == ["community", "grid"]  # planned from the top
    outcome = import_layers(
        city,
        path,
        specs,
        effective=DAY,
        reason="M1 and M5 with grids",
        actor="t",
        children="follow",
    )
    report = outcome.report()
    assert outcome.problems == [], report["problems"]
    assert report["applied"]
    assert sorted(report["redrawn"]) == ["Gc", "M1", "M5"]
    assert report["established"] == ["Ge"]
    assert [f["code"] for f in report["followed"]] == ["Ga"]
    assert report["layers"] == [
        {"table": "communities", "level": "community"},
        {"table": "grids", "level": "grid"},
    ]
    assert parent_of(city, "Ga") == "M5" and parent_of(city, "Ge") == "M5"
    assert parent_of(city, "Gc") == "M1"
    # One change set for both levels.
    log = city.queries.change_set(report["change_set"])
    assert log is not None
    ops = [(entry["op"], entry.get("unit", entry.get("code"))) for entry in log["operations"]]
    assert ops == [
        ("redraw", "M1"),
        ("redraw", "M5"),
        ("redraw", "Gc"),
        ("establish", "Ge"),
        ("transfer", "Ga"),
    ]


def test_layer_problems_name_their_table(city: Services, tmp_path: Path):
    rows = [({"code": c, "name": n}, blob(g)) for c, n, g in communities(CLEAN_PIECE)]
    grids = [({"code": "", "name": "nameless"}, blob(_multi(GA)))]
    path = build(tmp_path / "bad.gpkg", [Table("communities", rows), Table("grids", grids)])
    specs = [LayerSpec("communities", "community"), LayerSpec("grids", "grid")]
    outcome = import_layers(
        city, path, specs, effective=DAY, reason="r", actor="test", dry_run=True
    )
    assert [(p.code, p.location) for p in outcome.problems] == [
        ("code_missing", "layers.grids.features[0]")
    ]


def test_bad_layer_options_are_refused_before_reading(city: Services, tmp_path: Path):
    levels = city.settings.level_scheme
    for items, needle in [
        (["communities"], "not table:level"),
        (["a:community,b:community"], "named twice"),
        (["a:community,a:grid"], "named twice"),
        (["a:province"], "unknown level"),
        ([" , "], "no table:level"),
    ]:
        with pytest.raises(ImportScopeError, match=needle) as caught:
            parse_layers(items, levels)
        assert caught.value.code == "layers_invalid"
    path = geojson(tmp_path / "m.geojson", communities(PIECE))
    specs = [LayerSpec("a", "community"), LayerSpec("b", "grid")]
    with pytest.raises(LayerError, match="one GeoPackage"):
        import_layers(city, path, specs, effective=DAY, reason="r", actor="t", dry_run=True)
    with pytest.raises(ImportScopeError) as caught:
        run(city, path, children="maybe")
    assert caught.value.code == "children_invalid"


def test_a_new_edge_that_misses_the_grid_edge_by_a_sliver_is_followed_when_asked(
    city: Services, tmp_path: Path
):
    # The new line runs 1e-6 degrees (about 11 cm) north of the edge between Ga and Gc: Ga
    # passes to M5 whole, and a sliver of Gc (about 230 m²) passes with it.
    line = 22.55 + 1e-6
    piece = box(114.00, 22.50, 114.02, line)
    path = geojson(tmp_path / "m.geojson", communities(piece))
    strict = run(city, path, children="follow")
    (straddle,) = [p for p in strict.report()["problems"] if p["code"] == "child_straddles"]
    assert straddle["units"][0] == "Gc" and 150 < straddle["sides_m2"]["M5"] < 300

    outcome = run(city, path, children="follow", sliver_m2=500.0, dry_run=False)
    report = outcome.report()
    assert outcome.problems == [], report["problems"]
    assert [f["code"] for f in report["followed"]] == ["Ga"]
    edges = {(e["code"], e["change"], e["parent"]) for e in report["edges_followed"]}
    assert edges == {("Gc", "clipped", "M1"), ("Ga", "extended", "M5")}
    for edge in report["edges_followed"]:
        assert 150 < edge["area_m2"] < 300 and "m² along the new edge" in edge["message"]
        point = shapely.Point(edge["location_point"]["lon"], edge["location_point"]["lat"])
        assert box(114.00, 22.55, 114.02, line).buffer(1e-7).contains(point)
    assert parent_of(city, "Ga") == "M5" and parent_of(city, "Gc") == "M1"
    ga = city.queries.unit_on("Ga", DAY)
    assert ga is not None
    assert shapely.geometry.shape(ga["geometry"]).bounds[3] == pytest.approx(line)
