"""The in-process caches of vector tiles and OGC item pages never answer with stale data.

Real HTTP against the server: a tile and a page are read twice (the second from memory), a
change set renames the unit they show, and the very next answers carry the new name, then
are cached again under the new read-model position.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from scripts.mvt import layers
from tests.conftest import DatabaseFactory, LiveServer, scenario_database

pytestmark = pytest.mark.db

TILE = "/tiles/community/12/3345/1784.mvt"
ITEMS = "/ogc/collections/community/items"
ON = {"date": "2022-06-01"}
ITEMS_ON = {"datetime": "2022-06-01", "bbox": "114.0,22.5,114.03,22.6", "limit": "5"}
RENAME = {
    "effective": "2022-01-01",
    "reason": "renaming notice",
    "document": "notice 12",
    "operations": [{"op": "rename", "unit": "M1", "name": "M1 renamed"}],
}


@pytest.fixture
def server(databases: DatabaseFactory) -> Iterator[tuple[str, str]]:
    """A server over its own copy of the scenario city, and an editor's token."""
    url, (editor,) = scenario_database(databases, ("editor", "Editor Wang"))
    live = LiveServer(url)
    yield live.url, editor
    live.stop()
    databases.drop(url)


def _names(client: httpx.Client) -> list[str]:
    body = client.get(ITEMS, params=ITEMS_ON).json()
    return [f["properties"]["name"] for f in body["features"]]


def _wait_for_cache(client: httpx.Client) -> None:
    """The server's read-model watch connects just after start; until then nothing is cached."""
    deadline = time.monotonic() + 20
    while client.get(TILE, params=ON).headers["x-cache"] == "off":
        assert time.monotonic() < deadline, "the tile cache never came on"
        time.sleep(0.1)


def test_an_edit_empties_the_tile_and_items_caches(server: tuple[str, str]):
    url, editor = server
    with httpx.Client(base_url=url, timeout=30) as client:
        _wait_for_cache(client)
        first = client.get(TILE, params=ON)
        again = client.get(TILE, params=ON)
        assert again.headers["x-cache"] == "hit" and again.content == first.content
        assert b"M1 name" in first.content
        assert client.get(ITEMS, params=ITEMS_ON).headers["x-cache"] in ("miss", "hit")
        page = client.get(ITEMS, params=ITEMS_ON)
        assert page.headers["x-cache"] == "hit" and "M1 name" in _names(client)

        posted = client.post(
            "/v1/changesets",
            json=RENAME,
            headers={"Authorization": f"Bearer {editor}", "Idempotency-Key": "rename-m1"},
        )
        assert posted.status_code == 201, posted.text

        # Right after the 201: new names, never the cached ones (whether or not the watch has
        # heard of the new position yet).
        after = client.get(TILE, params=ON)
        assert after.headers["x-cache"] in ("miss", "off")
        assert b"M1 renamed" in after.content and b"M1 name" not in after.content
        assert after.headers["etag"] != first.headers["etag"]
        assert "M1 renamed" in _names(client) and "M1 name" not in _names(client)
        # Dates before the rename are unaffected.
        before = client.get(TILE, params={"date": "2021-06-01"})
        assert b"M1 name" in before.content

        # Once the watch has the new position, the new answers are cached in turn.
        deadline = time.monotonic() + 20
        while (cached := client.get(TILE, params=ON)).headers["x-cache"] != "hit":
            assert time.monotonic() < deadline, "the new tile was never cached"
            time.sleep(0.1)
        assert b"M1 renamed" in cached.content
        assert client.get(ITEMS, params=ITEMS_ON).headers["x-cache"] in ("miss", "hit")
        assert "M1 renamed" in _names(client)


def test_a_request_that_must_see_a_newer_position_skips_the_cache(server: tuple[str, str]):
    url, _ = server
    with httpx.Client(base_url=url, timeout=30) as client:
        _wait_for_cache(client)
        ahead = {"X-Min-Position": "999999999"}
        response = client.get(TILE, params=ON, headers=ahead)
        assert response.status_code == 200 and response.headers["x-cache"] == "off"
        page = client.get(ITEMS, params=ITEMS_ON, headers=ahead)
        assert page.status_code == 200 and page.headers["x-cache"] == "off"


def test_tiles_are_the_same_bytes_with_and_without_the_cache(databases: DatabaseFactory):
    """A server with its tile cache off (JL_TILE_CACHE_MIB=0, every tile from PostgreSQL, as
    `make bench-tipg` measures it) and one with it on, asked twice (the second from memory):
    the same bytes for every tile of zooms 10-15 over the city, on dates around each change."""
    url, _ = scenario_database(databases)
    cached, uncached = LiveServer(url), LiveServer(url, JL_TILE_CACHE_MIB="0")
    tiles = [
        f"/tiles/{level}/{z}/{x}/{y}.mvt"
        for level in ("street", "community", "grid")
        for z, x, y in (
            (10, 836, 445),
            (10, 836, 446),
            (11, 1672, 892),
            (11, 1673, 891),
            (12, 3345, 1784),
            (12, 3346, 1783),
            (13, 6690, 3568),
            (13, 6692, 3567),
            (14, 13381, 7137),
            (14, 13384, 7135),
            (15, 26763, 14275),
        )
    ]
    try:
        with (
            httpx.Client(base_url=cached.url, timeout=30) as on,
            httpx.Client(base_url=uncached.url, timeout=30) as off,
        ):
            _wait_for_cache(on)
            non_empty = hits = 0
            for day in ("2015-06-01", "2016-06-01", "2017-06-01"):
                for tile in tiles:
                    first = on.get(tile, params={"date": day})
                    again = on.get(tile, params={"date": day})
                    direct = off.get(tile, params={"date": day})
                    assert first.status_code == again.status_code == direct.status_code == 200
                    assert direct.headers["x-cache"] in ("miss", "off"), tile
                    assert first.content == again.content == direct.content, (tile, day)
                    assert layers(direct.content) == layers(first.content)
                    hits += again.headers["x-cache"] == "hit"
                    non_empty += bool(direct.content)
            assert hits > 0 and non_empty > len(tiles)
    finally:
        cached.stop()
        uncached.stop()
        databases.drop(url)
