"""The import reader (projections/layer_files.py) on real files.

Trusted files written by GDAL (pyogrio) in several CRSs and geometry types are read exactly as
GDAL reads them; hostile files are refused or reported per feature, and no message names a
server path, SQL text or the content of a file the upload pointed at.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import MultiPolygon, Point, box

from projections.layer_files import LayerError, UnsupportedFile, read_layer
from tests.geopackages import Table, blob, build

ROOT = Path(__file__).resolve().parents[2]
SHENZHEN = ROOT / "jurisdictions" / "demo" / "data" / "shenzhen"
NATURAL_EARTH = (
    Path(pyogrio.__file__).parent
    / "tests"
    / "fixtures"
    / "naturalearth_lowres"
    / "naturalearth_lowres.shp"
)
GRID = MultiPolygon([box(114.0, 22.5, 114.04, 22.56)])


def _gdal(path: Path, layer: str | None = None) -> tuple[list[dict[str, Any]], list[Any]]:
    """What GDAL reads: properties and geometries in lon/lat (as the old reader did)."""
    meta, _, geometries, values = pyogrio.raw.read(path, layer=layer)
    crs = CRS.from_user_input(meta["crs"]) if meta["crs"] else None
    transformer = (
        Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        if crs is not None and crs.to_epsg() != 4326
        else None
    )
    shapes = []
    for wkb in geometries:
        geometry = shapely.force_2d(shapely.from_wkb(wkb)) if wkb is not None else None
        if geometry is not None and transformer is not None:
            geometry = shapely.transform(
                geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
            )
        shapes.append(geometry)
    rows = [
        {name: _plain(column[i]) for name, column in zip(meta["fields"], values, strict=True)}
        for i in range(len(geometries))
    ]
    return rows, shapes


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and np.isnan(value) else value


def _assert_same_as_gdal(path: Path, layer: str | None = None, tolerance: float = 1e-9) -> None:
    mine = read_layer(path, layer)
    rows, shapes = _gdal(path, layer)
    assert len(mine) == len(rows) > 0
    for feature, row, geometry in zip(mine, rows, shapes, strict=True):
        assert feature.problems == ()
        assert feature.properties == row
        if geometry is None:
            assert feature.geometry is None
        else:
            assert feature.geometry is not None
            assert feature.geometry.geom_type == geometry.geom_type
            assert shapely.equals_exact(feature.geometry, geometry, tolerance)


def _write(
    path: Path, geometries: list[Any], fields: dict[str, list[Any]], crs: str, driver: str
) -> Path:
    to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    moved = [
        shapely.to_wkb(
            shapely.transform(g, lambda xy: np.column_stack(to_crs.transform(xy[:, 0], xy[:, 1])))
        )
        if g is not None
        else None
        for g in geometries
    ]
    kinds = {g.geom_type for g in geometries if g is not None}
    pyogrio.raw.write(
        str(path),
        np.array(moved, dtype=object),
        [
            np.array(values, dtype=object if isinstance(values[0], str) else None)
            for values in fields.values()
        ],
        list(fields),
        driver=driver,
        geometry_type=kinds.pop() if len(kinds) == 1 else "Unknown",
        crs=crs,
    )
    return path


def _districts() -> tuple[list[Any], dict[str, list[Any]]]:
    meta, _, geometries, values = pyogrio.raw.read(SHENZHEN / "shenzhen_districts.geojson")
    fields = dict(zip(meta["fields"], values, strict=True))
    shapes = [shapely.from_wkb(g) for g in geometries]
    return shapes, {"code": list(fields["adcode"]), "name": list(fields["name_zh"])}


# Read as GDAL reads ------------------------------------------------------------------------------


def test_the_real_shenzhen_files_read_as_gdal_reads_them():
    for name in ("shenzhen_districts", "shenzhen_city", "shenzhen_longgang_dapeng_split_derived"):
        _assert_same_as_gdal(SHENZHEN / f"{name}.geojson", tolerance=0)


@pytest.mark.parametrize("driver", ["GPKG", "GeoJSON"])
@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:4490", "EPSG:4547", "EPSG:3857", "EPSG:32650"])
def test_gdal_written_layers_in_several_crs_read_as_gdal_reads_them(
    tmp_path: Path, driver: str, crs: str
):
    shapes, fields = _districts()
    fields["rank"] = list(range(len(shapes)))
    fields["share"] = [i / 7 for i in range(len(shapes))]
    suffix = "gpkg" if driver == "GPKG" else "geojson"
    path = _write(tmp_path / f"districts.{suffix}", shapes, fields, crs, driver)
    _assert_same_as_gdal(path)
    # and the geometries are the districts again, in lon/lat
    for feature, original in zip(read_layer(path), shapes, strict=True):
        assert shapely.hausdorff_distance(feature.geometry, original) < 1e-7


@pytest.mark.parametrize("driver", ["GPKG", "GeoJSON"])
def test_polygons_nulls_and_missing_geometries_read_as_gdal_reads_them(tmp_path: Path, driver: str):
    geometries = [box(114.0, 22.5, 114.04, 22.56), None, box(114.04, 22.5, 114.08, 22.56)]
    fields: dict[str, list[Any]] = {"code": ["G1", "G2", "G3"], "name": ["grid 1", None, "grid 3"]}
    suffix = "gpkg" if driver == "GPKG" else "geojson"
    _assert_same_as_gdal(_write(tmp_path / f"g.{suffix}", geometries, fields, "EPSG:4547", driver))


@pytest.mark.skipif(not NATURAL_EARTH.exists(), reason="pyogrio's Natural Earth fixture is absent")
@pytest.mark.parametrize("driver", ["GPKG", "GeoJSON"])
def test_natural_earth_countries_read_as_gdal_reads_them(tmp_path: Path, driver: str):
    meta, _, geometries, values = pyogrio.raw.read(NATURAL_EARTH)
    path = tmp_path / ("countries.gpkg" if driver == "GPKG" else "countries.geojson")
    pyogrio.raw.write(
        str(path),
        geometries,
        values,
        meta["fields"],
        driver=driver,
        geometry_type="MultiPolygon",
        crs="EPSG:4326",
        promote_to_multi=True,
    )
    _assert_same_as_gdal(path)


def test_a_small_hand_built_geopackage_reads_as_gdal_reads_it(tmp_path: Path):
    rows: list[tuple[dict[str, Any], Any]] = [
        ({"code": "G1", "name": "grid 1"}, blob(GRID)),
        ({"code": "G2", "name": None}, None),
    ]
    _assert_same_as_gdal(build(tmp_path / "small.gpkg", [Table("grids", rows)]), tolerance=0)


def test_several_tables_need_a_layer_and_the_chosen_one_is_read(tmp_path: Path):
    path = tmp_path / "two.gpkg"
    pyogrio.raw.write(
        str(path),
        np.array([shapely.to_wkb(GRID)], dtype=object),
        [np.array(["G1"], dtype=object)],
        ["code"],
        layer="grids",
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs="EPSG:4326",
    )
    other = MultiPolygon([box(114.1, 22.5, 114.2, 22.6)])
    pyogrio.raw.write(
        str(path),
        np.array([shapely.to_wkb(other)], dtype=object),
        [np.array(["X"], dtype=object)],
        ["code"],
        layer="old grids",
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs="EPSG:4326",
        append=True,
    )
    with pytest.raises(LayerError, match=r"2 feature tables .*'grids', 'old grids'.*layer"):
        read_layer(path)
    _assert_same_as_gdal(path, "old grids")
    assert read_layer(path, "old grids")[0].properties == {"code": "X"}
    with pytest.raises(LayerError, match="no feature table 'planet'"):
        read_layer(path, "planet")


def test_the_name_plays_no_part(tmp_path: Path):
    """GeoJSON named .gpkg is read as GeoJSON, a GeoPackage named .geojson as a GeoPackage."""
    geojson = tmp_path / "grids.gpkg"
    geojson.write_text(json.dumps(_collection({"code": "G1"}, GRID.__geo_interface__)))
    assert read_layer(geojson)[0].properties == {"code": "G1"}
    gpkg = build(tmp_path / "grids.geojson", [Table("grids", [({"code": "G1"}, blob(GRID))])])
    assert read_layer(gpkg)[0].properties == {"code": "G1", "name": None}


# Refused formats -------------------------------------------------------------------------------

SECRET = "root:x:0:0:secret-line-of-a-server-file"


def _vrt(source: str) -> str:
    return (
        "<OGRVRTDataSource><OGRVRTLayer name='x'><SrcDataSource>"
        f"CSV:{source}</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "empty"),
        (b"  \n ", "blank"),
        ("VRT", "VRT"),
        ("VRT-vsicurl", "VRT"),
        (b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"></kml>', "KML"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML"),
        (b"<gml:FeatureCollection/>", "XML"),
        (b"PK\x03\x04\x14\x00\x00\x00", "ZIP"),
        (b"\x00\x00\x27\x0a\x00\x00\x00\x00", "shapefile"),
        (b"code,name,wkt\nG1,grid,POLYGON((0 0,1 0,1 1,0 0))\n", "not JSON"),
        (b"[1, 2, 3]", "JSON array"),
        (b'{"type": "Topology", "objects": {}}', "'Topology'"),
        (b"\xff\xfe{\x00}\x00", "UTF-16"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"\x89PNG\r\n\x1a\n\x00", "binary"),
        (b" " * 5000 + b"<html><body>hi</body></html>", "HTML"),
    ],
)
def test_other_formats_are_refused_saying_what_they_are(tmp_path: Path, content: Any, says: str):
    secret = tmp_path / "secret.csv"
    secret.write_text(f"{SECRET}\n")
    if content == "VRT":
        content = _vrt(str(secret)).encode()
    elif content == "VRT-vsicurl":
        content = _vrt("/vsicurl/http://127.0.0.1:9/secret.csv").encode()
    path = tmp_path / "layer.geojson"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFile, match=says) as caught:
        read_layer(path)
    assert str(tmp_path) not in str(caught.value) and SECRET not in str(caught.value)


def test_an_sqlite_database_that_is_not_a_geopackage_is_refused(tmp_path: Path):
    path = tmp_path / "notes.gpkg"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    db.close()
    with pytest.raises(UnsupportedFile, match="SQLite database but not a GeoPackage"):
        read_layer(path)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"type": "FeatureCollection", "features": [', "not valid JSON"),
        (
            '{"type": "FeatureCollection", "features": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "nested too deeply",
        ),
        ('{"type": "FeatureCollection", "features": {}}', "no 'features' list"),
        ('{"type": "Polygon", "coordinates": []}', "bare GeoJSON Polygon"),
        (
            '{"type": "FeatureCollection", "features": [], "x": ' + "9" * 5000 + "}",
            "number too long",
        ),
    ],
)
def test_broken_json_is_unreadable(tmp_path: Path, text: str, says: str):
    path = tmp_path / "layer.geojson"
    path.write_text(text)
    with pytest.raises(LayerError, match=says):
        read_layer(path)


def test_white_space_before_the_json_is_allowed(tmp_path: Path):
    path = tmp_path / "layer.geojson"
    path.write_bytes(
        b"\xef\xbb\xbf" + b"\n" * 5000 + json.dumps(_collection({"code": "G1"}, None)).encode()
    )
    assert read_layer(path)[0].properties == {"code": "G1"}


def test_latin1_text_is_not_utf8(tmp_path: Path):
    path = tmp_path / "layer.geojson"
    path.write_bytes('{"type": "Feature", "properties": {"name": "Zürich"}}'.encode("latin-1"))
    with pytest.raises(LayerError, match="not UTF-8"):
        read_layer(path)


# CRS -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crs", "says"),
    [
        ({"type": "name", "properties": {"name": "EPSG:99999"}}, "unknown"),
        ({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::5714"}}, "Vertical CRS"),
        ({"type": "name", "properties": {"name": "EPSG:4978"}}, "Geocentric CRS"),
        (
            {"type": "name", "properties": {"name": "+proj=longlat +init=/etc/passwd:root"}},
            "not an EPSG",
        ),
        (
            {"type": "link", "properties": {"href": "http://127.0.0.1:9/crs", "type": "proj4"}},
            "not followed",
        ),
        ({"type": "name"}, "not an object"),
        ({"type": "ogcwkt", "properties": {"wkt": 'LOCAL_CS["x"]'}}, "not understood"),
    ],
)
def test_geojson_crs_that_cannot_be_placed_on_the_earth(tmp_path: Path, crs: Any, says: str):
    path = tmp_path / "layer.geojson"
    path.write_text(json.dumps({**_collection({"code": "G1"}, GRID.__geo_interface__), "crs": crs}))
    with pytest.raises(LayerError, match=says):
        read_layer(path)


def test_geojson_crs_forms_gdal_understands(tmp_path: Path):
    moved = shapely.transform(
        GRID,
        lambda xy: np.column_stack(
            Transformer.from_crs(4326, 3857, always_xy=True).transform(xy[:, 0], xy[:, 1])
        ),
    )
    for crs in (
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        {"type": "name", "properties": {"name": "EPSG:3857"}},
        {"type": "name", "properties": {"name": "http://www.opengis.net/def/crs/EPSG/0/3857"}},
        {"type": "EPSG", "properties": {"code": 3857}},
    ):
        path = tmp_path / "layer.geojson"
        path.write_text(
            json.dumps({**_collection({"code": "G1"}, moved.__geo_interface__), "crs": crs})
        )
        (feature,) = read_layer(path)
        assert shapely.equals_exact(feature.geometry, GRID, 1e-9), crs


LOCAL_CS = (
    'LOCAL_CS["site grid",LOCAL_DATUM["site",0],UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]'
)
PASSWD_PROJ4 = (
    'PROJCS["evil",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Mercator_1SP"],'
    'PARAMETER["central_meridian",0],UNIT["metre",1],EXTENSION["PROJ4","+init=/etc/passwd:root"]]'
)


@pytest.mark.parametrize(
    ("srs_id", "srs", "says"),
    [
        (900, ("LOCAL", 1, LOCAL_CS), "Engineering CRS"),
        (901, ("NONE", 901, PASSWD_PROJ4), "PROJ string or an extension"),
        (902, ("NONE", 902, "undefined"), "undefined"),
        (903, ("NONE", 903, "GEOGCS[broken"), "not valid WKT"),
        (-1, None, "undefined Cartesian"),
        (77, None, "not in gpkg_spatial_ref_sys"),
    ],
)
def test_geopackage_crs_that_cannot_be_placed_on_the_earth(
    tmp_path: Path, srs_id: int, srs: Any, says: str
):
    path = build(
        tmp_path / "g.gpkg",
        [Table("grids", [({"code": "G1"}, blob(GRID, srs_id))], srs_id=srs_id)],
        srs={srs_id: srs} if srs else None,
    )
    with pytest.raises(LayerError, match=says) as caught:
        read_layer(path)
    assert "root:" not in str(caught.value) and str(tmp_path) not in str(caught.value)


def test_a_geopackage_crs_known_only_by_its_wkt_is_used(tmp_path: Path):
    wkt = CRS.from_epsg(4547).to_wkt("WKT1_GDAL")
    moved = shapely.transform(
        GRID,
        lambda xy: np.column_stack(
            Transformer.from_crs(4326, 4547, always_xy=True).transform(xy[:, 0], xy[:, 1])
        ),
    )
    path = build(
        tmp_path / "g.gpkg",
        [Table("grids", [({"code": "G1"}, blob(moved, 100000))], srs_id=100000)],
        srs={100000: ("my office", 1, wkt)},
    )
    _assert_same_as_gdal(path)
    assert shapely.hausdorff_distance(read_layer(path)[0].geometry, GRID) < 1e-7


# Hostile content in a valid format: problems per feature --------------------------------------


def _collection(properties: dict[str, Any], geometry: Any) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": properties, "geometry": geometry}],
    }


def _problems(path: Path) -> list[tuple[str, str]]:
    return [(p.code, p.location) for f in read_layer(path) for p in f.problems]


RING = [[114.0, 22.5], [114.04, 22.5], [114.04, 22.56], [114.0, 22.5]]


def _polygon(first: str, last: str | None = None) -> str:
    """A Polygon as JSON text whose first (and last) position is written as given."""
    return (
        '{"type": "Polygon", "coordinates": [[['
        + first
        + "], [114.04, 22.5], [114.04, 22.56], ["
        + (first if last is None else last)
        + "]]]}"
    )


@pytest.mark.parametrize(
    ("geometry_text", "code"),
    [
        (
            _polygon("NaN, 22.5"),
            "coordinate_not_finite",
        ),
        (
            _polygon("114, Infinity"),
            "coordinate_not_finite",
        ),
        (
            _polygon("-Infinity, 22.5"),
            "coordinate_not_finite",
        ),
        (
            _polygon("1e400, 22.5"),
            "coordinate_not_finite",
        ),
        (
            _polygon("9" * 400 + ", 22.5"),
            "coordinate_not_finite",
        ),
        (
            _polygon("1e300, 22.5"),
            "coordinates_out_of_range",
        ),
        (
            _polygon("22.5, 114"),
            "coordinates_out_of_range",
        ),
        ('{"type": "Point", "coordinates": [114, 22.5]}', "geometry_wrong_type"),
        ('{"type": "GeometryCollection", "geometries": []}', "geometry_wrong_type"),
        ('{"type": "Polygon", "coordinates": [[["114", "22.5"]]]}', "geometry_malformed"),
        (
            '{"type": "Polygon", "coordinates": [[[true, false], [1, 2], [3, 4], [true, false]]]}',
            "geometry_malformed",
        ),
        (
            '{"type": "Polygon", "coordinates": [[[114, 22.5], [114.04, 22.5], [114.04, 22.56]]]}',
            "ring_too_short",
        ),
        (
            _polygon("114, 22.5", "114, 22.56"),
            "ring_not_closed",
        ),
        (
            '{"type": "MultiPolygon", "coordinates": ' + "[" * 50 + "]" * 50 + "}",
            "geometry_malformed",
        ),
        ('{"type": "Polygon", "coordinates": []}', "geometry_empty"),
        ('"POLYGON ((114 22.5, 114.04 22.5, 114.04 22.56, 114 22.5))"', "geometry_not_object"),
    ],
)
def test_bad_geojson_geometries_are_problems_of_their_feature(
    tmp_path: Path, geometry_text: str, code: str
):
    path = tmp_path / "layer.geojson"
    good = json.dumps(
        {
            "type": "Feature",
            "properties": {"code": "G0"},
            "geometry": {"type": "Polygon", "coordinates": [RING]},
        }
    )
    path.write_text(
        '{"type": "FeatureCollection", "features": [' + good + ', {"type": "Feature", '
        '"properties": {"code": "G1"}, "geometry": ' + geometry_text + "}]}"
    )
    assert _problems(path) == [(code, "features[1].geometry")]


def test_reprojected_coordinates_off_the_earth_are_a_problem(tmp_path: Path):
    feature = _collection(
        {"code": "G1"},
        {"type": "Polygon", "coordinates": [[[0, 1e9], [1, 1e9], [1, 2e9], [0, 1e9]]]},
    )
    path = tmp_path / "layer.geojson"
    path.write_text(
        json.dumps({**feature, "crs": {"type": "name", "properties": {"name": "EPSG:4547"}}})
    )
    assert _problems(path) == [("coordinates_out_of_range", "features[0].geometry")]
    far = _collection(
        {"code": "G1"}, {"type": "Polygon", "coordinates": [[[0, 0], [1e13, 0], [1, 1], [0, 0]]]}
    )
    path.write_text(
        json.dumps({**far, "crs": {"type": "name", "properties": {"name": "EPSG:3857"}}})
    )
    assert _problems(path) == [("coordinates_out_of_range", "features[0].geometry")]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ({"zh": "网格"}, "field_wrong_type"),
        (["G1", "G2"], "field_wrong_type"),
        (float("nan"), "field_wrong_type"),
        ("G\ud800", "text_invalid"),
    ],
)
def test_property_values_that_are_not_scalars_are_problems(tmp_path: Path, value: Any, code: str):
    path = tmp_path / "layer.geojson"
    text = json.dumps(_collection({"code": "G1", "name": value}, GRID.__geo_interface__))
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    assert _problems(path) == [(code, "features[0].properties.name")]


def test_features_that_are_not_features(tmp_path: Path):
    path = tmp_path / "layer.geojson"
    path.write_text(
        json.dumps(
            {"type": "FeatureCollection", "features": [1, {"type": "Point"}, {"properties": []}]}
        )
    )
    assert _problems(path) == [
        ("feature_malformed", "features[0]"),
        ("feature_malformed", "features[1]"),
        ("field_wrong_type", "features[2]"),
    ]


def test_a_single_feature_is_a_layer_of_one(tmp_path: Path):
    path = tmp_path / "layer.json"
    path.write_text(
        json.dumps(
            {"type": "Feature", "properties": {"code": "G1"}, "geometry": GRID.__geo_interface__}
        )
    )
    _assert_same_as_gdal(path)


def test_geopackage_geometries_that_are_not_polygons_or_are_damaged(tmp_path: Path):
    ring = [(114.0, 22.5), (float("nan"), 22.5), (114.04, 22.56), (114.0, 22.5)]
    nan_polygon = struct.pack("<BIII", 1, 3, 1, 4) + b"".join(struct.pack("<2d", *p) for p in ring)
    huge_count = struct.pack("<BII", 1, 3, 1) + struct.pack("<I", 0x7FFFFFFF) + b"\0" * 32
    rows: list[tuple[dict[str, Any], Any]] = [
        ({"code": "G1"}, blob(GRID)),
        ({"code": "P"}, blob(Point(114, 22.5))),
        ({"code": "NAN"}, blob(nan_polygon, envelope=False)),
        ({"code": "FAR"}, blob(box(500, 22.5, 501, 23))),
        ({"code": "WKB"}, shapely.to_wkb(GRID)),  # plain WKB, no GeoPackage header
        ({"code": "ENV"}, b"GP\x00\x0f" + b"\0" * 40),  # envelope type 7
        ({"code": "EXT"}, b"GP\x00\x21" + b"\0" * 40),  # extended geometry
        ({"code": "CUT"}, blob(huge_count, envelope=False)),
        ({"code": "TXT"}, "POLYGON((0 0, 1 0, 1 1, 0 0))"),
        ({"code": "BIN", "name": b"\x00\x01"}, blob(GRID)),
    ]
    path = build(tmp_path / "g.gpkg", [Table("grids", rows, geometry_type="GEOMETRY")])
    problems = _problems(path)
    assert problems == [
        ("geometry_wrong_type", "features[1].geometry"),
        ("coordinate_not_finite", "features[2].geometry"),
        ("coordinates_out_of_range", "features[3].geometry"),
        ("geometry_malformed", "features[4].geometry"),
        ("geometry_malformed", "features[5].geometry"),
        ("geometry_malformed", "features[6].geometry"),
        ("geometry_malformed", "features[7].geometry"),
        ("geometry_malformed", "features[8].geometry"),
        ("field_wrong_type", "features[9].properties.name"),
    ]
    assert "(fid 2)" in read_layer(path)[1].problems[0].message


# A GeoPackage is read as data only -------------------------------------------------------------

CANARY_SQL = """
CREATE TABLE canary (what TEXT);
CREATE TRIGGER grids_read AFTER UPDATE ON grids BEGIN INSERT INTO canary VALUES ('update'); END;
CREATE TRIGGER grids_insert AFTER INSERT ON grids BEGIN INSERT INTO canary VALUES ('insert'); END;
CREATE VIEW secret_view AS SELECT fid, geom, 'VIEW-CONTENT' AS code, 'v' AS name FROM grids;
INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id)
  VALUES ('secret_view', 'features', 'secret_view', 4326);
INSERT INTO gpkg_geometry_columns VALUES ('secret_view', 'geom', 'MULTIPOLYGON', 4326, 0, 0);
"""


def test_a_geopackage_with_a_trigger_and_a_view_is_read_as_data(tmp_path: Path):
    path = build(
        tmp_path / "g.gpkg",
        [Table("grids", [({"code": "G1", "name": "a"}, blob(GRID))])],
        extra_sql=CANARY_SQL,
    )
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    features = read_layer(path)  # the view is not a table: only `grids` is offered
    assert [f.properties for f in features] == [{"code": "G1", "name": "a"}]
    with pytest.raises(LayerError, match="no feature table 'secret_view'; it has 'grids'"):
        read_layer(path, "secret_view")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not (tmp_path / "g.gpkg-journal").exists() and not (tmp_path / "g.gpkg-wal").exists()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM canary").fetchone() == (0,)
    db.close()


def test_a_geopackage_whose_only_layer_is_a_view_or_whose_metadata_is_a_view(tmp_path: Path):
    only_view = build(
        tmp_path / "v.gpkg",
        [Table("grids", [({"code": "G1"}, blob(GRID))])],
        extra_sql=CANARY_SQL + "DELETE FROM gpkg_contents WHERE table_name = 'grids';",
    )
    with pytest.raises(LayerError, match=r"no feature table with a geometry column.*'secret_view'"):
        read_layer(only_view)
    metadata_view = build(
        tmp_path / "m.gpkg",
        [Table("grids", [({"code": "G1"}, blob(GRID))])],
        extra_sql="ALTER TABLE gpkg_contents RENAME TO real_contents; "
        "CREATE VIEW gpkg_contents AS SELECT * FROM real_contents;",
    )
    with pytest.raises(LayerError, match="no gpkg_contents table"):
        read_layer(metadata_view)


def test_the_connection_runs_only_plain_reads_of_tables(tmp_path: Path):
    """Defence in depth: even SQL the reader never sends is refused on its connection."""
    from projections.layer_files import _open_geopackage

    path = build(
        tmp_path / "g.gpkg",
        [Table("grids", [({"code": "G1", "name": "a"}, blob(GRID))])],
        extra_sql=CANARY_SQL,
    )
    connection = _open_geopackage(path)
    try:
        assert connection.execute("SELECT code FROM grids").fetchall() == [("G1",)]
        for statement in (
            "SELECT * FROM secret_view",
            "SELECT load_extension('/tmp/x.so')",
            "SELECT upper(code) FROM grids",
            "ATTACH DATABASE ':memory:' AS other",
            "INSERT INTO grids (code) VALUES ('X')",
            "UPDATE grids SET code = 'X'",
            "PRAGMA writable_schema = ON",
            "CREATE TABLE x (a)",
        ):
            with pytest.raises(sqlite3.DatabaseError):
                connection.execute(statement).fetchall()
    finally:
        connection.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM canary").fetchone() == (0,)
    db.close()


def test_virtual_tables_are_not_read(tmp_path: Path):
    path = build(
        tmp_path / "v.gpkg",
        [Table("grids", [({"code": "G1"}, blob(GRID))])],
        extra_sql="CREATE VIRTUAL TABLE notes USING fts5(geom, code);"
        "INSERT INTO gpkg_contents (table_name, data_type, srs_id) "
        "VALUES ('notes', 'features', 4326);"
        "INSERT INTO gpkg_geometry_columns VALUES ('notes', 'geom', 'POLYGON', 4326, 0, 0);",
    )
    with pytest.raises(LayerError, match="no feature table 'notes'; it has 'grids'"):
        read_layer(path, "notes")


def test_attribute_tables_are_not_layers(tmp_path: Path):
    path = build(
        tmp_path / "a.gpkg",
        [],
        extra_sql="CREATE TABLE people (fid INTEGER PRIMARY KEY, code TEXT);"
        "INSERT INTO gpkg_contents (table_name, data_type) VALUES ('people', 'attributes');",
    )
    with pytest.raises(LayerError, match=r"no feature table with a geometry column.*'people'"):
        read_layer(path)


def test_a_damaged_geopackage_is_unreadable_without_sql_in_the_message(tmp_path: Path):
    rows = [({"code": f"G{i}", "name": "x" * 300}, blob(GRID)) for i in range(40)]
    path = build(tmp_path / "g.gpkg", [Table("grids", rows)])
    data = bytearray(path.read_bytes())
    data[1024:4096] = b"\xa5" * 3072  # pages of the schema and the table
    path.write_bytes(bytes(data))
    with pytest.raises(LayerError) as caught:
        read_layer(path)
    message = str(caught.value)
    assert (
        "SELECT" not in message and "sqlite_master" not in message and str(tmp_path) not in message
    )
    cut = tmp_path / "cut.gpkg"
    cut.write_bytes(b"SQLite format 3\x00" + b"\x00" * 20)
    with pytest.raises(LayerError, match="cut short"):
        read_layer(cut)


def test_a_wal_mode_geopackage_is_read_without_writing(tmp_path: Path):
    path = build(
        tmp_path / "w.gpkg",
        [Table("grids", [({"code": "G1"}, blob(GRID))])],
        extra_sql="PRAGMA journal_mode=WAL;",
    )
    before = path.read_bytes()
    assert read_layer(path)[0].properties["code"] == "G1"
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.gpkg"]
