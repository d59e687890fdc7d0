"""Temporal queries on the real PostGIS: lookups with offices and matters, corrections seen
through `as_recorded`, histories, lineage, diffs, exports and layers."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pyogrio
import pyogrio.raw
import pytest
import shapely

from api.operations import parse_change_set
from jurisdictions.bootstrap import Services
from projections.layer_files import read_layer
from projections.layers import ensure_layer_views, export_layer
from projections.lookup import UnitHit
from tests import scenario
from tests.scenario import load_districts

pytestmark = pytest.mark.db

IN_M1 = (114.02, 22.52)  # grid G1 of community M1, street S1, district D1
IN_M2 = (114.05, 22.55)  # community M2: street S1 until 2016-12-26, then S3


@pytest.fixture
def city(services: Services) -> Services:
    scenario.build(services.register)
    services.worker.catch_up()
    return services


def codes(hits: list[UnitHit]) -> list[str]:
    return [h.code for h in hits]


def test_lookup_gives_every_level_and_the_responsible_offices(city: Services):
    result = city.lookup.lookup(*IN_M1, date(2020, 1, 1))
    assert codes(result.units) == ["C", "D1", "S1", "M1", "G1"]
    offices = {(o.kind, o.code) for o in result.offices}
    assert offices == {
        ("street_office", "SO1"),
        ("workstation", "W1"),
        ("residents_committee", "RC1"),
        ("grid_officer", "G1/officer"),
    }
    workstation = next(o for o in result.offices if o.kind == "workstation")
    assert workstation.serves == ("M1", "M4")  # one station, many committees
    assert workstation.address == "W1 st" and workstation.location == (114.02, 22.52)


def test_a_matter_resolves_to_the_office_of_its_level_on_each_date(city: Services):
    before = city.lookup.lookup(*IN_M1, date(2015, 6, 1), matter="elderly-card").responsible
    after = city.lookup.lookup(*IN_M1, date(2016, 6, 1), matter="elderly-card").responsible
    assert before is not None and before.office is not None
    assert (before.level, before.office.code) == ("street", "SO1")
    assert after is not None and after.office is not None
    assert (after.level, after.office.code) == ("community", "RC1")


def test_a_point_changes_street_with_the_split(city: Services):
    assert codes(city.lookup.units_at(*IN_M2, date(2016, 12, 25)))[:3] == ["C", "D1", "S1"]
    after = city.lookup.lookup(*IN_M2, date(2016, 12, 26))
    assert codes(after.units) == ["C", "D1", "S3", "M2"]
    # The workstation followed its community to the new street.
    assert [o.code for o in after.offices if o.kind == "workstation"] == ["W3"]


def test_a_point_on_a_shared_boundary_resolves_deterministically(city: Services):
    # x = 114.04 is the boundary between M1 and M2 (and their streets after the split).
    hits = city.lookup.units_at(114.04, 22.58, date(2020, 1, 1))
    community = next(h for h in hits if h.level == "community")
    assert community.on_boundary
    assert community.code == "M1"  # lowest code among the two that touch it
    again = city.lookup.units_at(114.04, 22.58, date(2020, 1, 1))
    assert [h.code for h in again] == [h.code for h in hits]
    inside = city.lookup.units_at(*IN_M1, date(2020, 1, 1))
    assert not any(h.on_boundary for h in inside)


def test_a_backdated_correction_is_seen_through_as_recorded(city: Services):
    # The register said S2 had its 2015 shape; in 2020 someone corrects 2015-2016: part of it
    # was really recorded wrongly. The correction is not a real-world change.
    register = city.register
    correction = {
        "effective": "2020-03-01",
        "reason": "digitising error in the 2015 boundary",
        "operations": [
            {"op": "rename", "unit": "S2", "name": "S2 renamed"},
            {
                "op": "correct",
                "unit": "M3",
                "valid_from": "2015-01-01",
                "valid_to": "2016-01-01",
                "name": "M3 as it really was called",
            },
        ],
    }
    register.apply_change_set(
        parse_change_set(correction), actor="auditor", recorded_at=scenario.recorded("2020-03-01")
    )
    city.worker.catch_up()
    point, day = (114.05, 22.65), date(2015, 6, 1)
    now = city.lookup.units_at(*point, day)
    then = city.lookup.units_at(*point, day, datetime(2019, 1, 1, tzinfo=UTC))
    community_now = next(h for h in now if h.level == "community")
    community_then = next(h for h in then if h.level == "community")
    assert community_now.name == "M3 as it really was called"
    assert community_then.name == "M3 name"
    # Outside the corrected period nothing moved.
    later = city.lookup.units_at(*point, date(2017, 1, 1))
    assert next(h for h in later if h.level == "community").name == "M3 name"
    history = city.queries.unit_history("M3")
    assert [h["event"] for h in history] == ["established", "corrected"]
    assert history[-1]["actor"] == "auditor"


def test_point_history_across_the_2017_district_split(services: Services):
    load_districts(services.register)
    services.worker.catch_up()
    periods = services.lookup.history(114.029, 22.679)
    districts = [
        (start, end, next(u.code for u in units if u.level == "district"))
        for start, end, units in periods
    ]
    assert districts[0] == (date(2015, 1, 1), date(2017, 1, 7), "440306")
    assert districts[1][0] == date(2017, 1, 7) and districts[1][2] == "440309"


def test_lineage_of_a_street_split(city: Services):
    lineage = city.queries.lineage("S3")
    assert [
        (e["predecessor"], e["successor"], e["kind"], e["effective"])
        for e in lineage["predecessors"]
    ] == [("S1", "S3", "split_off", date(2016, 12, 26))]
    successors = city.queries.lineage("S1")["successors"]
    assert ("S1", "S3", "split_off") in [
        (e["predecessor"], e["successor"], e["kind"]) for e in successors
    ]
    grids = city.queries.lineage("G1")
    assert grids == {"predecessors": [], "successors": []}


def test_lineage_is_transitive(city: Services):
    register = city.register
    body = {
        "effective": "2018-01-01",
        "reason": "S3 split again",
        "operations": [
            {
                "op": "split",
                "unit": "S3",
                "mode": "full",
                "reassign_children": "none",
                "parts": [
                    {
                        "code": "S4",
                        "name": "S4",
                        "geometry": scenario.box(114.04, 22.5, 114.07, 22.55),
                    },
                    {
                        "code": "S5",
                        "name": "S5",
                        "geometry": scenario.box(114.04, 22.55, 114.07, 22.6),
                    },
                ],
            },
            {
                "op": "split",
                "unit": "M2",
                "mode": "full",
                "reassign_children": "none",
                "parts": [
                    {
                        "code": "M5",
                        "name": "M5",
                        "geometry": scenario.box(114.04, 22.5, 114.07, 22.55),
                    },
                    {
                        "code": "M6",
                        "name": "M6",
                        "geometry": scenario.box(114.04, 22.55, 114.07, 22.6),
                    },
                ],
            },
            {"op": "transfer", "unit": "M5", "parent": "S4"},
            {"op": "transfer", "unit": "M6", "parent": "S5"},
            {"op": "open_workstation", "code": "W6", "name": "W6", "serves": ["M6"]},
            {"op": "open_workstation", "code": "W5", "name": "W5", "serves": ["M5"]},
        ],
    }
    register.apply_change_set(parse_change_set(body), actor="t")
    city.worker.catch_up()
    lineage = city.queries.lineage("S4")
    assert [(e["predecessor"], e["depth"]) for e in lineage["predecessors"]] == [
        ("S3", 1),
        ("S1", 2),
    ]


def test_the_diff_between_two_dates(city: Services):
    changes = city.queries.changes(date(2015, 1, 1), date(2020, 1, 1))
    assert [c["code"] for c in changes["established"]] == ["S3"]
    assert changes["ended"] == []
    redrawn = {c["code"]: c for c in changes["redrawn"]}
    assert set(redrawn) == {"S1"}
    # S1 lost the territory of M2 (0.03 x 0.1 degrees, about 30 km²) and gained nothing.
    assert redrawn["S1"]["area_gained_m2"] == 0
    assert 30e6 < redrawn["S1"]["area_lost_m2"] < 35e6
    assert [
        {k: c[k] for k in ("code", "level", "parent_before", "parent_after", "parent_name_after")}
        for c in changes["transferred"]
    ] == [
        {
            "code": "M2",
            "level": "community",
            "parent_before": "S1",
            "parent_after": "S3",
            "parent_name_after": "S3 name",
        }
    ]
    assert changes["transferred"][0]["reason"] == "S3 split off from S1"
    streets_only = city.queries.changes(date(2015, 1, 1), date(2020, 1, 1), "street")
    assert streets_only["transferred"] == []


def test_the_demo_diff_lists_the_new_districts(services: Services):
    load_districts(services.register)
    services.worker.catch_up()
    changes = services.queries.changes(date(2015, 1, 1), date(2026, 1, 1), "district")
    assert [c["code"] for c in changes["established"]] == ["440309", "440310", "440311"]
    assert {c["code"] for c in changes["redrawn"]} == {"440306", "440307"}


def test_export_to_geopackage_reads_back(city: Services, tmp_path: Path):
    path = tmp_path / "streets.gpkg"
    count = export_layer(city.settings.conninfo, "street", date(2020, 1, 1), path, "gpkg")
    assert count == 4
    info = pyogrio.read_info(path)
    assert info["features"] == 4 and info["geometry_type"] == "MultiPolygon"
    assert info["crs"] == "EPSG:4326"
    _, _, geometry, fields = pyogrio.raw.read(path)
    names = list(info["fields"])
    rows = sorted(zip(*fields, strict=True))
    assert [r[names.index("code")] for r in rows] == ["S1", "S2", "S3", "S9"]
    s3 = next(r for r in rows if r[names.index("code")] == "S3")
    assert s3[names.index("valid_from")] == "2016-12-26"
    assert s3[names.index("parent")] == "D1"
    assert len(geometry) == 4
    # GeoPackage 1.2 (user_version 10200), which GDAL 3.6 and QGIS 3.22 read without warning.
    with sqlite3.connect(path) as gpkg:
        assert gpkg.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # "GPKG"
        assert gpkg.execute("PRAGMA user_version").fetchone()[0] == 10200


@pytest.mark.parametrize("file_format", ["gpkg", "geojson"])
def test_an_export_reads_back_through_the_import_reader_as_gdal_reads_it(
    city: Services, tmp_path: Path, file_format: str
):
    """Export, edit in QGIS, import: the import reader sees what GDAL sees in our own files."""
    path = tmp_path / f"streets.{file_format}"
    export_layer(city.settings.conninfo, "street", date(2020, 1, 1), path, file_format)
    features = read_layer(path)
    info = pyogrio.read_info(path)
    _, _, geometry, fields = pyogrio.raw.read(path)
    assert [f.problems for f in features] == [()] * 4
    assert [list(f.properties) for f in features] == [list(info["fields"])] * 4
    for feature, wkb, values in zip(features, geometry, zip(*fields, strict=True), strict=True):
        # GDAL's GeoJSON driver guesses dates from strings; the planner reads text either way.
        assert list(feature.properties.values()) == [None if v is None else str(v) for v in values]
        assert shapely.equals_exact(feature.geometry, shapely.from_wkb(wkb), 0)


@pytest.mark.parametrize("file_format", ["geojson", "shp"])
def test_export_to_other_formats(city: Services, tmp_path: Path, file_format: str):
    path = tmp_path / f"communities.{file_format}"
    count = export_layer(city.settings.conninfo, "community", date(2015, 6, 1), path, file_format)
    assert count == 5
    assert pyogrio.read_info(path)["features"] == 5


def test_layer_views_and_the_sql_function(city: Services, database_url: str):
    ensure_layer_views(database_url, city.settings.level_scheme)
    with psycopg.connect(database_url) as conn:
        today = conn.execute("SELECT code FROM layer_street ORDER BY code").fetchall()
        in_2015 = conn.execute(
            "SELECT code FROM units_on('street', '2015-06-01') ORDER BY code"
        ).fetchall()
    assert [r[0] for r in today] == ["S1", "S2", "S3", "S9"]
    assert [r[0] for r in in_2015] == ["S1", "S2", "S9"]


def test_history_lookup_is_one_index_probe(city: Services, database_url: str):
    with psycopg.connect(database_url) as conn:
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "EXPLAIN SELECT unit_id FROM unit_version_parts WHERE ST_Intersects(geom, "
                "ST_SetSRID(ST_MakePoint(114.02, 22.52), 4326)) AND valid @> '2020-01-01'::date "
                "AND upper_inf(recorded)"
            )
        )
    assert "unit_version_parts_current_gix" in plan or "Seq Scan" not in plan
