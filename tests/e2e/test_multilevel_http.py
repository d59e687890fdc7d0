"""The `layers` and `children` options of `POST /v1/imports` over real HTTP: each mistake is
its own 4xx code naming the form field, and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from shapely.geometry import MultiPolygon, box

from tests.conftest import DatabaseFactory, LiveServer, scenario_database
from tests.geopackages import Table, blob, build

pytestmark = pytest.mark.db

M1 = {
    "type": "Feature",
    "properties": {"code": "M1", "name": "M1 name"},
    "geometry": {
        "type": "Polygon",
        "coordinates": [
            [[114.0, 22.5], [114.04, 22.5], [114.04, 22.6], [114.0, 22.6], [114.0, 22.5]]
        ],
    },
}
GEOJSON = json.dumps({"type": "FeatureCollection", "features": [M1]}).encode()


@pytest.fixture(scope="module")
def server(databases: DatabaseFactory) -> Iterator[tuple[LiveServer, str]]:
    url, (editor,) = scenario_database(databases, ("editor", "Editor Wang"))
    live = LiveServer(url)
    yield live, editor
    live.stop()
    databases.drop(url)


def send(server: tuple[LiveServer, str], body: bytes, **form: str) -> httpx.Response:
    live, editor = server
    return httpx.post(
        f"{live.url}/v1/imports",
        headers={"Authorization": f"Bearer {editor}"},
        files={"file": ("upload", body)},
        data={"effective": "2020-01-01", "reason": "levels", **form},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("form", "code", "where"),
    [
        ({}, "layers_invalid", "form.layers"),
        ({"level": "community", "layers": "a:community"}, "layers_invalid", "form.layers"),
        ({"layers": "communities"}, "layers_invalid", "form.layers"),
        ({"layers": "a:community,b:community"}, "layers_invalid", "form.layers"),
        ({"level": "community", "children": "maybe"}, "children_invalid", "form.children"),
        (
            {"level": "community", "children": "follow", "children_sliver_m2": "nan"},
            "children_invalid",
            "form.children_sliver_m2",
        ),
    ],
)
def test_bad_options_are_422_naming_the_field(server, form, code, where):
    answer = send(server, GEOJSON, **form)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["details"] == [{"location": where}]


def test_several_layers_need_a_geopackage(server):
    answer = send(server, GEOJSON, layers="a:community,b:grid")
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "file_unreadable"
    assert "one GeoPackage" in answer.json()["error"]["message"]


def test_a_table_the_geopackage_lacks_and_replace_with_several_layers(server, tmp_path: Path):
    shape = MultiPolygon([box(114.0, 22.5, 114.04, 22.6)])
    path = build(
        tmp_path / "two.gpkg",
        [
            Table("communities", [({"code": "M1", "name": "M1 name"}, blob(shape))]),
            Table("grids", [({"code": "G1", "name": "grid 1"}, blob(shape))]),
        ],
    )
    missing = send(server, path.read_bytes(), layers="communities:community,streets:street")
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "file_unreadable"
    assert "'streets'" in missing.json()["error"]["message"]
    replace = send(
        server,
        path.read_bytes(),
        layers="communities:community,grids:grid",
        mode="replace",
        replace_parents="S1",
    )
    assert replace.status_code == 422
    assert replace.json()["error"]["code"] == "layers_invalid"
    # A dry run of both tables: one report, problems located in their table.
    answer = httpx.post(
        f"{server[0].url}/v1/imports",
        params={"dry_run": "true"},
        headers={"Authorization": f"Bearer {server[1]}"},
        files={"file": ("upload", path.read_bytes())},
        data={
            "effective": "2020-01-01",
            "reason": "r",
            "layers": "grids:grid,communities:community",
        },
        timeout=60,
    )
    report = answer.json()
    assert report["layers"] == [
        {"table": "communities", "level": "community"},
        {"table": "grids", "level": "grid"},
    ]
