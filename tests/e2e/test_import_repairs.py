"""Opt-in repair through `POST /v1/imports` and `jurisdictions import`, over real HTTP.

Nothing is repaired unless asked: a self-intersecting (bowtie) feature is refused with a hint
naming `make_valid`, and goes in with it, the repair listed with its name, m² and a point; a
grid redrawn a little past its community and into its neighbour is refused, and fits with
`snap_to_neighbours`. Unknown repairs and bad `sliver_m2` are 422s naming the field.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely
from shapely.geometry import shape

from domain.geometry import area_m2
from tests.conftest import ROOT, DatabaseFactory, LiveServer, scenario_database

pytestmark = pytest.mark.db

#: A bowtie: the ring crosses itself at (120.005, 30.005); two triangles of about 0.285 km².
BOWTIE = [[120.0, 30.0], [120.01, 30.01], [120.01, 30.0], [120.0, 30.01], [120.0, 30.0]]


@pytest.fixture(scope="module")
def server(databases: DatabaseFactory) -> Iterator[tuple[LiveServer, str, str]]:
    url, (editor,) = scenario_database(databases, ("editor", "Editor Wang"))
    live = LiveServer(url)
    yield live, editor, url
    live.stop()
    databases.drop(url)


def layer(*features: tuple[str, str, str | None, list[list[list[float]]]]) -> bytes:
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": code, "name": name, "parent": parent},
                "geometry": {"type": "Polygon", "coordinates": rings},
            }
            for code, name, parent, rings in features
        ],
    }
    return json.dumps(collection).encode()


def box(west: float, south: float, east: float, north: float) -> list[list[list[float]]]:
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


def post(
    server: tuple[LiveServer, str, str], content: bytes, form: dict[str, Any], dry_run: bool = True
) -> httpx.Response:
    live, editor, _ = server
    return httpx.post(
        f"{live.url}/v1/imports" + ("?dry_run=true" if dry_run else ""),
        headers={"Authorization": f"Bearer {editor}"},
        files={"file": ("layer.geojson", content)},
        data=form,
        timeout=60,
    )


CITY = {"level": "city", "effective": "2021-01-01", "reason": "a new city"}
GRIDS = {"level": "grid", "effective": "2021-01-01", "reason": "grid survey"}


def test_a_bowtie_is_refused_without_make_valid_and_repaired_with_it(
    server: tuple[LiveServer, str, str],
):
    content = layer(("C2", "二城", None, [BOWTIE]))
    refused = post(server, content, CITY)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    [problem] = body["error"]["details"]
    assert problem["code"] == "geometry_invalid" and "make_valid" in problem["hint"]
    assert body["repairs"] == []

    dry = post(server, content, {**CITY, "repair": "make_valid"})
    assert dry.status_code == 200, dry.text
    [repair] = dry.json()["repairs"]
    assert repair["code"] == "C2" and repair["name"] == "二城" and repair["level"] == "city"
    assert repair["repair"] == "make_valid" and "Self-intersection" in repair["message"]
    assert repair["area_m2"] == 0.0  # the two triangles are what a GIS draws
    point = shapely.Point(repair["location"]["lon"], repair["location"]["lat"])
    triangles = shapely.MultiPolygon(
        [
            shapely.Polygon([(120.0, 30.0), (120.005, 30.005), (120.0, 30.01)]),
            shapely.Polygon([(120.01, 30.0), (120.005, 30.005), (120.01, 30.01)]),
        ]
    )
    assert triangles.covers(point)

    stored = post(server, content, {**CITY, "repair": ["make_valid"]}, dry_run=False)
    assert stored.status_code == 201, stored.text
    live = server[0]
    unit = httpx.get(f"{live.url}/v1/units/C2", params={"date": "2021-01-01"}, timeout=30)
    geometry = shape(unit.json()["geometry"])
    assert geometry.is_valid and len(geometry.geoms) == 2
    assert area_m2(geometry) == pytest.approx(area_m2(triangles), rel=1e-9)


def test_a_grid_past_its_community_fits_only_with_snap_to_neighbours(
    server: tuple[LiveServer, str, str],
):
    # M1 is 114.00-114.04 x 22.50-22.60, G1 its south half (to 22.55) and G2 its north half.
    # The new G1 reaches 1e-4 degrees (about 11 m) into G2 and 5e-5 degrees west past M1.
    content = layer(("G1", "grid 1", "M1", box(113.99995, 22.5, 114.04, 22.5501)))
    refused = post(server, content, GRIDS)
    assert refused.status_code == 422, refused.text
    codes = {p["code"]: p for p in refused.json()["error"]["details"]}
    assert {"child_outside_parent", "siblings_overlap"} <= set(codes)
    assert "clip_to_parent" in codes["child_outside_parent"]["hint"]
    assert "snap_to_neighbours" in codes["siblings_overlap"]["hint"]

    too_small = post(server, content, {**GRIDS, "repair": "snap_to_neighbours", "sliver_m2": "10"})
    assert too_small.status_code == 422, too_small.text

    form = {**GRIDS, "repair": "clip_to_parent,snap_to_neighbours", "sliver_m2": "50000"}
    dry = post(server, content, form)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["repair_options"] == {
        "repair": ["clip_to_parent", "snap_to_neighbours"],
        "sliver_m2": 50000.0,
    }
    done = {(r["code"], r["repair"]): r for r in report["repairs"]}
    assert set(done) == {("G1", "clip_to_parent"), ("G1", "snap_to_neighbours")}
    clipped, snapped = done["G1", "clip_to_parent"], done["G1", "snap_to_neighbours"]
    west = shapely.box(113.99995, 22.5, 114.0, 22.5501)
    north = shapely.box(114.0, 22.55, 114.04, 22.5501)
    assert clipped["area_m2"] == pytest.approx(area_m2(west), abs=0.1)
    assert snapped["area_m2"] == pytest.approx(area_m2(north), abs=0.1)
    assert "G2" in snapped["message"] and clipped["name"] == "grid 1"
    assert north.covers(shapely.Point(snapped["location"]["lon"], snapped["location"]["lat"]))
    assert report["redrawn"] == []  # repaired, the grid is the one on the map: nothing to redraw


def test_repair_options_are_checked_at_the_edge(server: tuple[LiveServer, str, str]):
    content = layer(("G1", "grid 1", "M1", box(114.0, 22.5, 114.04, 22.56)))
    for form, code, field in [
        ({"repair": "make_valid,tidy"}, "repair_unknown", "form.repair"),
        ({"repair": "snap_to_neighbours", "sliver_m2": "-1"}, "sliver_m2_invalid", None),
        ({"sliver_m2": "1e3"}, "sliver_m2_invalid", "form.sliver_m2"),
        ({"sliver_m2": "nan"}, "sliver_m2_invalid", "form.sliver_m2"),
    ]:
        response = post(server, content, {**GRIDS, **form})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == code, error
        if field:
            assert error["details"][0]["location"] == field


def test_the_cli_takes_the_same_repairs(server: tuple[LiveServer, str, str], tmp_path: Path):
    _, _, url = server
    path = tmp_path / "bowtie.geojson"
    path.write_bytes(layer(("C3", "三城", None, [BOWTIE])))
    command = [
        sys.executable,
        "-m",
        "jurisdictions.cli",
        "import",
        str(path),
        "--level",
        "city",
        "--effective",
        "2021-01-01",
        "--reason",
        "a new city",
    ]
    run = {"env": {**os.environ, "DATABASE_URL": url}, "capture_output": True, "text": True}
    refused = subprocess.run(command, cwd=ROOT, timeout=120, check=False, **run)  # type: ignore[call-overload]
    assert refused.returncode == 1, refused.stderr
    assert "make_valid" in refused.stdout
    repaired = subprocess.run(  # type: ignore[call-overload]
        [*command, "--repair", "make_valid"], cwd=ROOT, timeout=120, check=False, **run
    )
    assert repaired.returncode == 0, repaired.stderr
    assert "make_valid" in repaired.stdout and "三城" in repaired.stdout
    bad = subprocess.run(  # type: ignore[call-overload]
        [*command, "--repair", "tidy"], cwd=ROOT, timeout=120, check=False, **run
    )
    assert bad.returncode == 2 and "tidy" in bad.stderr and "Traceback" not in bad.stderr


def change_set(repair: list[str] | None = None, **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "effective": "2021-06-01",
        "reason": "grid survey",
        "operations": [
            {
                "op": "redraw",
                "unit": "G1",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": box(113.99995, 22.5, 114.04, 22.5501),
                },
            }
        ],
    }
    if repair is not None:
        body["repair"] = repair
    return {**body, **more}


def submit(server: tuple[LiveServer, str, str], body: Any, dry_run: bool = True) -> httpx.Response:
    live, editor, _ = server
    return httpx.post(
        f"{live.url}/v1/changesets" + ("?dry_run=true" if dry_run else ""),
        headers={"Authorization": f"Bearer {editor}"},
        json=body,
        timeout=60,
    )


def test_a_change_set_takes_the_same_repairs(server: tuple[LiveServer, str, str]):
    refused = submit(server, change_set())
    assert refused.status_code == 422, refused.text
    details = {p["code"]: p for p in refused.json()["error"]["details"]}
    assert "clip_to_parent" in details["child_outside_parent"]["hint"]
    assert "snap_to_neighbours" in details["siblings_overlap"]["hint"]

    # Clipped but not snapped: still refused (the overlap with G2), and the answer shows the clip.
    clipped_only = submit(server, change_set(["clip_to_parent"]))
    assert clipped_only.status_code == 422, clipped_only.text
    answer = clipped_only.json()
    assert [p["code"] for p in answer["error"]["details"]] == ["siblings_overlap"]
    assert [(r["code"], r["repair"]) for r in answer["repairs"]] == [("G1", "clip_to_parent")]

    body = change_set(["clip_to_parent", "snap_to_neighbours"], sliver_m2=50_000)
    dry = submit(server, body)
    assert dry.status_code == 200, dry.text
    repairs = {(r["code"], r["repair"]): r for r in dry.json()["repairs"]}
    assert set(repairs) == {("G1", "clip_to_parent"), ("G1", "snap_to_neighbours")}
    assert repairs["G1", "clip_to_parent"]["name"] == "grid 1"
    assert repairs["G1", "clip_to_parent"]["level"] == "grid"
    west = shapely.box(113.99995, 22.5, 114.0, 22.5501)
    assert repairs["G1", "clip_to_parent"]["area_m2"] == pytest.approx(area_m2(west), abs=0.1)

    bowtie = {
        "effective": "2021-06-01",
        "reason": "a new city",
        "operations": [
            {
                "op": "establish",
                "code": "C9",
                "level": "city",
                "name": "九城",
                "parent": None,
                "geometry": {"type": "Polygon", "coordinates": [BOWTIE]},
            }
        ],
    }
    invalid = submit(server, bowtie)
    assert invalid.status_code == 422, invalid.text
    [problem] = invalid.json()["error"]["details"]
    assert problem["code"] == "geometry_invalid"
    repaired = submit(server, {**bowtie, "repair": ["make_valid"]})
    assert repaired.status_code == 200, repaired.text
    [entry] = repaired.json()["repairs"]
    assert (entry["code"], entry["name"], entry["repair"]) == ("C9", "九城", "make_valid")


def test_change_set_repair_options_are_checked_at_the_edge(server: tuple[LiveServer, str, str]):
    cases: list[tuple[dict[str, Any], str]] = [
        ({"repair": ["tidy"]}, "repair_unknown"),
        ({"repair": "make_valid"}, "repair_unknown"),
        ({"repair": [1]}, "repair_unknown"),
        ({"sliver_m2": -1}, "sliver_m2_invalid"),
        ({"sliver_m2": "5"}, "sliver_m2_invalid"),
        ({"sliver_m2": True}, "sliver_m2_invalid"),
    ]
    for more, code in cases:
        response = submit(server, {**change_set(), **more})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code


def test_a_regrid_with_a_gap_between_its_grids_is_repaired_over_http(
    server: tuple[LiveServer, str, str],
):
    # M1 is box(114.0, 22.5, 114.04, 22.6): the new grids leave a strip 0.0001° (11 m) high
    # between them, about 45,700 m².
    body: dict[str, Any] = {
        "effective": "2021-06-01",
        "reason": "new grids",
        "operations": [
            {
                "op": "regrid",
                "community": "M1",
                "grids": [
                    {
                        "code": "G3",
                        "name": "grid 3",
                        "geometry": geojson(114.0, 22.5, 114.04, 22.5499),
                    },
                    {
                        "code": "G4",
                        "name": "grid 4",
                        "geometry": geojson(114.0, 22.55, 114.04, 22.6),
                    },
                ],
            }
        ],
    }
    refused = submit(server, body)
    assert refused.status_code == 422, refused.text
    [gap] = refused.json()["error"]["details"]
    assert gap["code"] == "coverage_gap" and "snap_to_neighbours" in gap["hint"]

    fitted = submit(server, {**body, "repair": ["snap_to_neighbours"], "sliver_m2": 100_000})
    assert fitted.status_code == 200, fitted.text
    [entry] = fitted.json()["repairs"]
    assert (entry["repair"], entry["level"]) == ("snap_to_neighbours", "grid")
    assert entry["code"] in {"G3", "G4"} and "gap" in entry["message"]
    strip = shapely.box(114.0, 22.5499, 114.04, 22.55)
    assert entry["area_m2"] == pytest.approx(area_m2(strip), rel=1e-3)


def geojson(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": box(west, south, east, north)}
