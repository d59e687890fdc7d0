"""The boundary rule on the demo's own edges: memory and SQL answer alike on every vertex and
edge midpoint, with no tolerance.

A midpoint of an edge is computed in floating point, so it lies on the edge or a hair to
either side: the hardest points for a boundary rule. The SQL engine searches subdivided pieces
whose cut vertices are rounded, and the in-memory index filters slivers through rounded
overlay zones; both must still give the answer of the units' own geometry
(`domain.boundary_rule`). Every (point, date) pair must agree on every level: code, name,
dates and `on_boundary`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import partial
from typing import Any

import numpy as np
import psycopg
import pytest
import shapely

from jurisdictions.bootstrap import Services, build_services
from jurisdictions.settings import Settings
from projections.lookup_service import LookupService
from tests.integration.test_lookup_engines_agree import from_memory

pytestmark = pytest.mark.db

#: The day before the 2016-12-26 splits, the day of, and dates before, between and after.
DAYS = (
    date(2015, 1, 1),
    date(2016, 12, 25),
    date(2016, 12, 26),
    date(2017, 6, 1),
    date(2019, 3, 1),
)


@pytest.fixture(scope="module")
def demo(demo_database: str) -> Iterator[Services]:
    services = build_services(Settings(database_url=demo_database, run_projection=False))
    index = services.lookup_index
    assert index is not None
    services.watch.start()
    index.start()
    assert index.wait_current(60, at_least=services.worker.position())
    yield services
    services.close()


@pytest.fixture(scope="module")
def edge_points(demo_database: str) -> np.ndarray[Any, Any]:
    """Every distinct vertex and edge midpoint of the unit versions live on `DAYS`."""
    with psycopg.connect(demo_database) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ST_AsBinary(geom) FROM unit_versions WHERE upper_inf(recorded) "
            "AND valid && daterange(%s, %s, '[]')",
            (DAYS[0], DAYS[-1]),
        ).fetchall()
    rings = shapely.get_rings(shapely.get_parts(shapely.from_wkb([r[0] for r in rows])))
    found = []
    for ring in rings.tolist():
        coords = shapely.get_coordinates(ring)
        found += [coords, (coords[:-1] + coords[1:]) / 2]
    return np.unique(np.concatenate(found), axis=0)


def disagreements(demo: Services, points: np.ndarray[Any, Any], day: date) -> list[Any]:
    """The points (with both answers) where memory and SQL differ on `day`."""
    xs, ys = points[:, 0].copy(), points[:, 1].copy()
    levels = demo.settings.level_scheme
    sql = LookupService(demo.lookup, None, levels).batch(xs, ys, day).all_units()
    memory = from_memory(partial(demo.lookup_service.batch, xs, ys, day)).all_units()
    assert len(sql) == len(memory) == len(points)
    return [
        (day, tuple(points[i]), memory[i], sql[i])
        for i in range(len(points))
        if memory[i] != sql[i]
    ]


def test_a_sample_of_edge_points_gets_one_answer(
    demo: Services, edge_points: np.ndarray[Any, Any]
) -> None:
    """A fixed sample (every 25th point) on the day of the splits and the day before."""
    sample = edge_points[::25]
    found = [d for day in DAYS[1:3] for d in disagreements(demo, sample, day)]
    assert found == []
    answers = demo.lookup.batch([(float(x), float(y)) for x, y in sample], DAYS[2])
    assert sum(any(h.on_boundary for h in hits) for hits in answers) > len(sample) // 4


@pytest.mark.slow
def test_every_vertex_and_edge_midpoint_gets_one_answer_on_every_date(
    demo: Services, edge_points: np.ndarray[Any, Any]
) -> None:
    """Exhaustive: all ~90,000 points on all five dates (before the rule was one exact
    test, 241 of the 449,965 pairs differed)."""
    found = [d for day in DAYS for d in disagreements(demo, edge_points, day)]
    assert found == [], found[:5]
