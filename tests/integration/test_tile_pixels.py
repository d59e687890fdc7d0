"""Tiles built from the stored pixels (migration 0010) are the tiles built by clipping each unit.

Real PostGIS, the scenario city: every tile of zooms 10-15 over it, every level, on dates
before and after each of its change sets, from `FeatureStore.tile` (stored pixels at zooms
11-14) and from the statement that clips and snaps every unit per tile: the same bytes.
"""

from __future__ import annotations

import math
from datetime import date

import psycopg
import pytest

from jurisdictions.bootstrap import Services
from projections.features import TILE_PIXEL_ZOOMS, _tile_sql
from scripts.mvt import layers
from tests import scenario

pytestmark = pytest.mark.db

DAYS = (date(2015, 6, 1), date(2016, 6, 1), date(2017, 6, 1))
LEVELS = ("city", "district", "street", "community", "grid")
#: The scenario city's box (tests/scenario.py).
WEST, SOUTH, EAST, NORTH = 114.0, 22.5, 114.2, 22.7


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def _tiles(z: int) -> list[tuple[int, int, int]]:
    """The tiles of zoom z over the city, and one ring of tiles around it."""
    (x0, y0), (x1, y1) = _tile(WEST, NORTH, z), _tile(EAST, SOUTH, z)
    return [(z, x, y) for x in range(x0 - 1, x1 + 2) for y in range(y0 - 1, y1 + 2)]


def test_stored_pixels_give_the_tiles_of_clipping_every_unit(services: Services, database_url: str):
    scenario.build(services.register)
    services.worker.catch_up()
    compared = non_empty = 0
    with psycopg.connect(database_url) as conn:
        for z in range(10, 16):
            for _, x, y in _tiles(z):
                for level in LEVELS:
                    for day in DAYS:
                        params = {"z": z, "x": x, "y": y, "level": level, "day": day}
                        clipped = conn.execute(
                            _tile_sql(level, stored_pixels=False), params, binary=True
                        ).fetchone()
                        expected = bytes(clipped[0]) if clipped and clipped[0] else b""
                        served = services.features.tile(level, day, z, x, y)
                        assert served == expected, (level, day, z, x, y)
                        assert layers(served) == layers(expected)
                        compared += 1
                        non_empty += bool(served)
        # The stored pixels were used: some units lie inside a tile at some stored zoom.
        inside = conn.execute(
            "SELECT count(*) FROM unit_versions WHERE "
            "floor(ST_XMin(tile_pixels_11) / 4096) = floor(ST_XMax(tile_pixels_11) / 4096) "
            "AND floor(ST_YMin(tile_pixels_11) / 4096) = floor(ST_YMax(tile_pixels_11) / 4096)"
        ).fetchone()
    assert inside is not None and inside[0] > 0
    assert non_empty > 100 and compared > non_empty
    assert 11 in TILE_PIXEL_ZOOMS


def test_the_projection_keeps_the_pixels_of_every_version(services: Services, database_url: str):
    """Inserted, closed (updated) and split versions all carry the pixels of their geometry,
    except versions too large to lie inside one buffered tile of the zoom (migration 0010):
    those are NULL, and only those."""
    scenario.build(services.register)
    services.worker.catch_up()
    with psycopg.connect(database_url) as conn:
        for zoom in TILE_PIXEL_ZOOMS:
            full = (
                f"ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(0, 0, 0), "
                f"{4096 << zoom}, 0, false)"
            )
            fits = (
                f"ST_XMax({full}) - ST_XMin({full}) <= 4224 "
                f"AND ST_YMax({full}) - ST_YMin({full}) <= 4224"
            )
            row = conn.execute(
                f"SELECT count(*), "
                f"count(*) FILTER (WHERE tile_pixels_{zoom} IS NOT NULL "
                f"AND NOT ST_Equals(tile_pixels_{zoom}, {full})), "
                f"count(*) FILTER (WHERE tile_pixels_{zoom} IS NULL AND {fits}), "
                f"count(*) FILTER (WHERE tile_pixels_{zoom} IS NULL), "
                "count(*) FILTER (WHERE NOT upper_inf(recorded)) "
                "FROM unit_versions"
            ).fetchone()
            assert row is not None
            versions, wrong, fitting_but_null, null, closed = row
            assert versions > 10 and closed > 0 and wrong == 0, zoom
            # A NULL column only where the version could never lie inside a tile (the city).
            assert fitting_but_null == 0 and null > 0, zoom
