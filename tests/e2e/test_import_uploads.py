"""Hostile uploads to `POST /v1/imports` (and `jurisdictions import`), over real HTTP.

An upload reads nothing but itself: a VRT naming a local file or a URL is refused before any
driver sees it (and the URL's server hears nothing), a GeoPackage's views and triggers never
run, the file's name plays no part, and no answer carries a server path, SQL or another
file's lines.
"""

from __future__ import annotations

import http.server
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyogrio.raw
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, box

from tests.conftest import ROOT, DatabaseFactory, LiveServer, free_port, scenario_database
from tests.geopackages import Table, blob, build

pytestmark = pytest.mark.db

FORM = {"level": "grid", "effective": "2020-01-01", "reason": "yearly grid survey"}
#: The grids of community M1 as an editor would send them back (G1/G2 redrawn).
GRIDS = [
    ("G1", "grid 1", MultiPolygon([box(114.0, 22.5, 114.04, 22.56)])),
    ("G2", "grid 2", MultiPolygon([box(114.0, 22.56, 114.04, 22.6)])),
]
NEVER = ["root:x:", "/tmp/", "/etc/", "SELECT", "sqlite_master", "Traceback", "site-packages"]


@pytest.fixture(scope="module")
def server(databases: DatabaseFactory) -> Iterator[tuple[LiveServer, str, str]]:
    url, (editor,) = scenario_database(databases, ("editor", "Editor Wang"))
    live = LiveServer(url, JL_MAX_BODY_BYTES="200000")
    yield live, editor, url
    live.stop()
    databases.drop(url)


class Listener:
    """A local HTTP server that records every request: an upload must make none."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                body = b"code,name\nX,leaked\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET  # noqa: N815 (http.server's naming)

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    running = Listener()
    yield running
    running.stop()


def upload(
    server: tuple[LiveServer, str, str],
    filename: str,
    content: bytes,
    dry_run: bool = True,
    **form: str,
) -> httpx.Response:
    live, editor, _ = server
    return httpx.post(
        f"{live.url}/v1/imports" + ("?dry_run=true" if dry_run else ""),
        headers={"Authorization": f"Bearer {editor}"},
        files={"file": (filename, content)},
        data={**FORM, **form},
        timeout=60,
    )


def assert_refused(response: httpx.Response, status: int, code: str, *leaks: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error
    for text in (*NEVER, *leaks):
        assert text not in response.text, (text, response.text)


def changesets(server: tuple[LiveServer, str, str]) -> int:
    live = server[0]
    return int(httpx.get(f"{live.url}/v1/changesets", timeout=30).json()["total"])


def _vrt(source: str) -> bytes:
    return (
        '<OGRVRTDataSource><OGRVRTLayer name="x">'
        f"<SrcDataSource>{source}</SrcDataSource>"
        "<GeometryType>wkbNone</GeometryType></OGRVRTLayer></OGRVRTDataSource>"
    ).encode()


def test_a_vrt_named_geojson_reads_no_local_file(server: tuple[LiveServer, str, str]):
    before = changesets(server)
    for source in ("CSV:/etc/passwd", "/etc/passwd", "/vsizip//etc/passwd"):
        for name in ("grids.geojson", "grids.gpkg", "grids.vrt", "grids"):
            response = upload(server, name, _vrt(source))
            assert_refused(response, 415, "unsupported_file", "daemon:", "nologin")
            assert "VRT" in response.json()["error"]["message"]
    assert changesets(server) == before


def test_nothing_an_upload_names_is_fetched(
    server: tuple[LiveServer, str, str], listener: Listener, tmp_path: Path
):
    csv = listener.url("secret.csv")
    assert httpx.get(listener.url("probe"), timeout=10).text.startswith("code,name")
    assert listener.requests == ["/probe"]  # the listener hears what reaches it
    listener.requests.clear()
    attempts = {
        "vrt.geojson": _vrt(f"/vsicurl/{csv}"),
        "vrt-csv.geojson": _vrt(f"CSV:/vsicurl/{csv}"),
        "curl-url.geojson": f"/vsicurl/{csv}".encode(),
        "plain-url.geojson": csv.encode(),
        "crs-link.geojson": json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {
                    "type": "link",
                    "properties": {"href": listener.url("crs"), "type": "ogcwkt"},
                },
                "features": [_feature("G1", "grid 1", GRIDS[0][2])],
            }
        ).encode(),
        "crs-url.geojson": json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": listener.url("EPSG/0/4326")}},
                "features": [_feature("G1", "grid 1", GRIDS[0][2])],
            }
        ).encode(),
    }
    srs = 'GEOGCS["x",EXTENSION["PROJ4","+proj=longlat +nadgrids=@' + f"/vsicurl/{csv}" + '"]]'
    gpkg = build(
        tmp_path / "srs.gpkg",
        [Table("grids", [({"code": "G1"}, blob(GRIDS[0][2], 910))], srs_id=910)],
        srs={910: ("NONE", 910, srs)},
    )
    attempts["srs.gpkg"] = gpkg.read_bytes()
    for name, content in attempts.items():
        response = upload(server, name, content)
        assert 400 <= response.status_code < 500, (name, response.text)
        assert_refused(response, response.status_code, response.json()["error"]["code"], "leaked")
    assert listener.requests == []


def _feature(code: str, name: str, geometry: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, "parent": "M1"},
        "geometry": shapely.geometry.mapping(geometry),
    }


def _gdal_geopackage(path: Path, crs: str = "EPSG:4547") -> Path:
    """The M1 grids as QGIS would save them: written by GDAL, in a Gauss-Kruger CRS."""
    to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    moved = [
        shapely.to_wkb(
            shapely.transform(g, lambda xy: np.column_stack(to_crs.transform(xy[:, 0], xy[:, 1])))
        )
        for _, _, g in GRIDS
    ]
    pyogrio.raw.write(
        str(path),
        np.array(moved, dtype=object),
        [
            np.array(column, dtype=object)
            for column in zip(*((c, n, "M1") for c, n, _ in GRIDS), strict=True)
        ],
        ["code", "name", "parent"],
        layer="grids",
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs=crs,
    )
    return path


TRIGGER_AND_VIEW = """
CREATE TABLE canary (what TEXT);
CREATE TRIGGER grids_changed AFTER UPDATE ON grids BEGIN INSERT INTO canary VALUES ('u'); END;
CREATE TRIGGER grids_added AFTER INSERT ON grids BEGIN INSERT INTO canary VALUES ('i'); END;
CREATE VIEW grids_view AS
  SELECT fid, geom, 'VIEWCODE' AS code, 'VIEW-CONTENT' AS name, 'M1' AS parent FROM grids;
INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id)
  SELECT 'grids_view', 'features', 'grids_view', srs_id FROM gpkg_contents
  WHERE table_name = 'grids';
INSERT INTO gpkg_geometry_columns
  SELECT 'grids_view', column_name, geometry_type_name, srs_id, z, m FROM gpkg_geometry_columns
  WHERE table_name = 'grids';
"""


def test_a_gdal_geopackage_with_a_trigger_and_a_view_is_read_as_data(
    server: tuple[LiveServer, str, str], tmp_path: Path
):
    path = _gdal_geopackage(tmp_path / "grids.gpkg")
    with sqlite3.connect(path) as db:
        db.executescript(TRIGGER_AND_VIEW)
    db.close()
    content = path.read_bytes()
    before = changesets(server)
    dry = upload(server, "grids.gpkg", content)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert sorted(report["redrawn"]) == ["G1", "G2"] and report["established"] == []
    assert "VIEW" not in dry.text
    asked = upload(server, "grids.gpkg", content, layer="grids_view")
    assert_refused(asked, 422, "file_unreadable", "VIEW-CONTENT", "VIEWCODE")
    assert "'grids'" in asked.json()["error"]["message"]
    assert changesets(server) == before


def test_the_file_name_plays_no_part(server: tuple[LiveServer, str, str], tmp_path: Path):
    """Decided by content: GeoJSON named .gpkg is read as GeoJSON, a GeoPackage named .geojson
    (or with no name at all) as a GeoPackage."""
    geojson = json.dumps(
        {"type": "FeatureCollection", "features": [_feature(c, n, g) for c, n, g in GRIDS]}
    ).encode()
    gpkg = _gdal_geopackage(tmp_path / "grids.gpkg").read_bytes()
    for name, content in (("grids.gpkg", geojson), ("grids.geojson", gpkg), ("upload", gpkg)):
        response = upload(server, name, content)
        assert response.status_code == 200, (name, response.text)
        assert sorted(response.json()["redrawn"]) == ["G1", "G2"]


def test_hostile_content_in_a_valid_format_is_a_422_naming_feature_and_field(
    server: tuple[LiveServer, str, str], tmp_path: Path
):
    before = changesets(server)
    polygon = json.dumps(shapely.geometry.mapping(GRIDS[0][2]))
    nan = polygon.replace("114.0,", "NaN,", 1)
    assert "NaN" in nan
    collection = (
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        '{"code": "G1", "name": "grid 1", "parent": "M1"}, "geometry": %s}, {"type": "Feature", '
        '"properties": {"code": "G2", "name": {"zh": "x"}, "parent": "M1"}, "geometry": %s}]}'
    )
    response = upload(server, "g.geojson", (collection % (nan, polygon)).encode(), dry_run=False)
    assert_refused(response, 422, "invalid_import")
    details = {(d["code"], d["location"]) for d in response.json()["error"]["details"]}
    assert details == {
        ("coordinate_not_finite", "features[0].geometry"),
        ("field_wrong_type", "features[1].properties.name"),
    }
    local = 'LOCAL_CS["site grid",LOCAL_DATUM["site",0],UNIT["metre",1]]'
    gpkg = build(
        tmp_path / "local.gpkg",
        [Table("grids", [({"code": "G1"}, blob(GRIDS[0][2], 999))], srs_id=999)],
        srs={999: ("NONE", 999, local)},
    )
    response = upload(server, "local.gpkg", gpkg.read_bytes(), dry_run=False)
    assert_refused(response, 422, "file_unreadable")
    assert "Engineering CRS" in response.json()["error"]["message"]
    twice = json.dumps(
        {"type": "FeatureCollection", "features": [_feature(*GRIDS[0]), _feature(*GRIDS[0])]}
    )
    response = upload(server, "twice.geojson", twice.encode(), dry_run=False)
    assert_refused(response, 422, "invalid_import")
    assert [d["code"] for d in response.json()["error"]["details"]] == ["code_repeated"]
    assert changesets(server) == before


def test_the_cli_reads_with_the_same_reader(server: tuple[LiveServer, str, str], tmp_path: Path):
    _, _, url = server
    vrt = tmp_path / "grids.geojson"
    vrt.write_bytes(_vrt("CSV:/etc/passwd"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jurisdictions.cli",
            "import",
            str(vrt),
            "--level",
            "grid",
            "--effective",
            "2020-01-01",
            "--reason",
            "survey",
        ],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "VRT" in result.stderr and "root:x:" not in result.stderr + result.stdout
    gpkg = _gdal_geopackage(tmp_path / "grids.gpkg")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jurisdictions.cli",
            "import",
            str(gpkg),
            "--level",
            "grid",
            "--effective",
            "2020-01-01",
            "--reason",
            "survey",
            "--layer",
            "grids",
            "--json",
        ],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(result.stdout)["redrawn"]) == ["G1", "G2"]


def test_properties_the_import_does_not_read_may_be_anything(server: tuple[LiveServer, str, str]):
    """DataV-style files carry `center` arrays and `parent` objects: only the fields the
    import reads (code, name, parent) must be plain values."""
    features = []
    for code, name, geometry in GRIDS:
        feature = _feature(code, name, geometry)
        feature["properties"].update(
            {"center": [114.02, 22.53], "acroutes": [100000, 440000], "meta": {"a": None}}
        )
        features.append(feature)
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    response = upload(server, "datav.json", body)
    assert response.status_code == 200, response.text
    assert sorted(response.json()["redrawn"]) == ["G1", "G2"]
