"""OGC API - Features paging as GIS clients meet it: a large default page, a documented maximum,
`next` links that walk every feature exactly once, counts on every page, and pages that follow
an edit at once (the page index is kept per read-model position, never past it).

Real HTTP against the server over the scenario city; the slow test reads the Shenzhen demo's
grid layer through GDAL's own OAPIF driver with its default options.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.routes.ogc import DEFAULT_LIMIT, MAX_LIMIT
from tests.conftest import DatabaseFactory, LiveServer, scenario_database

pytestmark = pytest.mark.db

ITEMS = "/ogc/collections/{}/items"


def _serve(databases: DatabaseFactory) -> Iterator[tuple[httpx.Client, str]]:
    url, (editor,) = scenario_database(databases, ("editor", "Editor Wang"))
    live = LiveServer(url)
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client, editor
    live.stop()
    databases.drop(url)


@pytest.fixture(scope="module")
def reader(databases: DatabaseFactory) -> Iterator[tuple[httpx.Client, str]]:
    """A server over the scenario city for the tests that only read, and a client of it."""
    yield from _serve(databases)


@pytest.fixture
def server(databases: DatabaseFactory) -> Iterator[tuple[httpx.Client, str]]:
    """A server over its own copy of the scenario city, a client of it and an editor's token."""
    yield from _serve(databases)


def walk(client: httpx.Client, path: str, **params: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Every feature id met following `next` links from the first page, and each page's body."""
    ids: list[str] = []
    pages: list[dict[str, Any]] = []
    response = client.get(path, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        ids.extend(f["id"] for f in body["features"])
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if not nxt:
            return ids, pages
        assert len(nxt) == 1 and len(pages) < 1000
        response = client.get(nxt[0])


def wait_for_cache(client: httpx.Client, path: str) -> None:
    """Pages are cached (and indexed) once the server's read-model watch has connected."""
    deadline = time.monotonic() + 20
    while client.get(path).headers["x-cache"] == "off":
        assert time.monotonic() < deadline, "the items cache never came on"
        time.sleep(0.1)


def test_the_default_page_is_large_and_the_maximum_is_documented(
    reader: tuple[httpx.Client, str],
):
    client, _ = reader
    body = client.get(ITEMS.format("grid"), params={"datetime": "2020-01-01"}).json()
    everything = body["numberMatched"]
    assert 0 < everything <= DEFAULT_LIMIT
    assert body["numberReturned"] == everything == len(body["features"])
    assert [link["rel"] for link in body["links"]] == ["self", "collection"]

    ogc_api = client.get("/ogc/api").json()
    # Where OGC's OpenAPI fragments put it, and the only place QGIS's provider looks for it.
    named = ogc_api["components"]["parameters"]
    refs = ogc_api["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    parameters = [named[ref["$ref"].removeprefix("#/components/parameters/")] for ref in refs]
    limit = next(p for p in parameters if p["name"] == "limit")["schema"]
    assert limit == named["limit"]["schema"]
    assert (limit["default"], limit["maximum"], limit["minimum"]) == (DEFAULT_LIMIT, MAX_LIMIT, 1)
    openapi = client.get("/openapi.json").json()
    operation = openapi["paths"]["/ogc/collections/{collection_id}/items"]["get"]
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["default"], limit["maximum"]) == (DEFAULT_LIMIT, MAX_LIMIT)

    for bad in (0, MAX_LIMIT + 1):
        refused = client.get(ITEMS.format("grid"), params={"limit": bad})
        assert 400 <= refused.status_code < 500 and refused.json()["error"]["code"], bad


@pytest.mark.parametrize(
    ("collection", "params"),
    [
        ("grid", {"datetime": "2020-01-01"}),
        ("community", {"datetime": "2015-01-01/2030-01-01"}),
        ("community", {"datetime": "2022-06-01", "bbox": "114.0,22.5,114.03,22.6"}),
        ("street", {"datetime": "2015-06-01"}),
    ],
)
def test_next_links_walk_every_feature_exactly_once(
    reader: tuple[httpx.Client, str], collection: str, params: dict[str, str]
):
    client, _ = reader
    path = ITEMS.format(collection)
    whole = client.get(path, params=params).json()
    expected = [f["id"] for f in whole["features"]]
    assert len(expected) == whole["numberMatched"] >= 2, whole
    for cached in (False, True):  # uncached at first, then wherever the watch is on
        if cached:
            wait_for_cache(client, path)
        ids, pages = walk(client, path, **params, limit=1)
        assert ids == expected
        assert {page["numberMatched"] for page in pages} == {len(expected)}
        assert [page["numberReturned"] for page in pages] == [1] * len(expected)
        assert not any(link["rel"] == "prev" for link in pages[0]["links"])
        previous = next(link["href"] for link in pages[1]["links"] if link["rel"] == "prev")
        assert [f["id"] for f in client.get(previous).json()["features"]] == expected[:1]

    beyond = client.get(path, params={**params, "offset": 10_000}).json()
    assert beyond["features"] == [] and beyond["numberReturned"] == 0
    assert beyond["numberMatched"] == len(expected)
    assert not any(link["rel"] == "next" for link in beyond["links"])


def test_pages_follow_an_edit_at_once(server: tuple[httpx.Client, str]):
    client, editor = server
    path, on = ITEMS.format("community"), {"datetime": "2022-06-01", "limit": "2"}
    wait_for_cache(client, path)
    before, _ = walk(client, path, **on)
    assert "M3" in before and "M3X" not in before
    walk(client, path, **on)  # now every page, and the query's index, come from memory

    posted = client.post(
        "/v1/changesets",
        json={
            "effective": "2022-01-01",
            "reason": "recoding",
            "operations": [{"op": "recode", "unit": "M3", "code": "M3X"}],
        },
        headers={"Authorization": f"Bearer {editor}", "Idempotency-Key": "recode-m3"},
    )
    assert posted.status_code == 201, posted.text
    after, pages = walk(client, path, **on)
    assert after == sorted(after) and len(after) == len(before)
    assert "M3X" in after and "M3" not in after
    assert {page["numberMatched"] for page in pages} == {len(before)}


DAY = "2016-06-01"  # 15,000 grids then, 15,048 today: a dropped datetime would show


def _grid_codes_in_read_model(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT code FROM unit_versions WHERE level = 'grid' AND upper_inf(recorded) "
            "AND valid @> %s::date",
            (DAY,),
        ).fetchall()
    return [row[0] for row in rows]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="run scripts/ensure_test_tools.sh")
def test_ogr2ogr_with_default_options_copies_every_grid_of_the_demo(
    demo_server: LiveServer, demo_database: str, tmp_path: Path
):
    """`ogr2ogr` with no paging option (Debian's GDAL asks for 10 features a page and follows
    the `next` links) copies the whole grid layer of a date: every code once, none missing."""
    out = tmp_path / "grid.geojson"
    source = f"OAPIF:{demo_server.url}/ogc?datetime={DAY}"
    copy = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", str(out), source, "grid"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert copy.returncode == 0, copy.stderr
    codes = [f["properties"]["code"] for f in json.loads(out.read_text())["features"]]
    expected = _grid_codes_in_read_model(demo_database)
    assert len(expected) > 10_000
    assert len(codes) == len(set(codes)) == len(expected)
    assert set(codes) == set(expected)


@pytest.mark.slow
def test_pyogrio_gdal_with_default_options_reads_every_grid_of_the_demo(
    demo_server: LiveServer, demo_database: str
):
    """The same through the GDAL bundled with pyogrio (a newer GDAL, which picks its own,
    larger page size from the API description)."""
    raw = pytest.importorskip("pyogrio.raw")
    meta, _, _, fields = raw.read(f"OAPIF:{demo_server.url}/ogc/collections/grid?datetime={DAY}")
    codes = [str(code) for code in fields[list(meta["fields"]).index("code")]]
    expected = _grid_codes_in_read_model(demo_database)
    assert len(codes) == len(set(codes)) == len(expected)
    assert set(codes) == set(expected)
