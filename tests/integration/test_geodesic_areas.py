"""The domain's m² (`domain.geometry.area_m2`, pyproj's Geod) are PostGIS's m²
(`ST_Area(geom::geography)`, what `/v1/changes` reports): one area everywhere, in any country."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import shapely
from shapely.geometry import box, shape

from domain.geometry import area_m2
from tests.conftest import DatabaseFactory

pytestmark = pytest.mark.db

DATA = Path(__file__).parents[2] / "jurisdictions" / "demo" / "data" / "shenzhen"


def real_polygons() -> list[tuple[str, shapely.Geometry]]:
    out = []
    for name in ("shenzhen_city.geojson", "shenzhen_districts.geojson"):
        for feature in json.loads((DATA / name).read_text())["features"]:
            label = feature["properties"].get("name_en") or feature["properties"].get("adcode")
            out.append((str(label), shape(feature["geometry"])))
    return out


def test_areas_agree_with_postgis_geography(databases: DatabaseFactory):
    shapes = [
        *real_polygons(),
        # A thin overlay result as the invariants measure them, and boxes far from China,
        # where the former EPSG:4547 figures were off by 1% (New York) to 60% (Paris).
        ("sliver", box(114.0, 22.5, 114.05, 22.5000005)),
        ("Paris", box(2.3, 48.8, 2.4, 48.9)),
        ("New York", box(-74.0, 40.7, -73.9, 40.8)),
        ("Sydney", box(151.1, -33.9, 151.2, -33.8)),
    ]
    with psycopg.connect(databases.fresh()) as conn:
        for label, geometry in shapes:
            row = conn.execute(
                "SELECT ST_Area(ST_GeomFromWKB(%s, 4326)::geography)",
                (shapely.to_wkb(geometry),),
            ).fetchone()
            assert row is not None
            assert area_m2(geometry) == pytest.approx(row[0], rel=1e-4), (
                label
            )  # 0.01%: well within 0.1%
