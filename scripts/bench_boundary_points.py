"""What the exact boundary rule costs SQL: single lookups on edge midpoints against random points.

A point within `ROUNDING_MARGIN` of a subdivided piece's edge is decided on the unit's whole
geometry by GEOS (`ST_Relate`), not by the piece: points on edges pay that, others nothing.
Same run, same engine, same date: the figure is the ratio of the two (the machine is shared,
absolute times drift). Also counts memory/SQL disagreements on those edge points (target 0).

Usage: ``python -m scripts.bench_boundary_points [--points 300] [--rounds 3]``. Needs the demo
in DATABASE_URL (`make demo` once).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date
from typing import Any

import numpy as np
import psycopg
import shapely

from jurisdictions.bootstrap import build_services
from jurisdictions.settings import Settings
from projections.lookup import LookupEngine

DAY = date(2017, 6, 1)
SEED = 20151


def edge_midpoints(url: str, count: int, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """`count` midpoints of the edges of units live on `DAY` (synthetic demo data)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT ST_AsBinary(geom) FROM unit_versions WHERE upper_inf(recorded) "
            "AND valid @> %s::date",
            (DAY,),
        ).fetchall()
    rings = shapely.get_rings(shapely.get_parts(shapely.from_wkb([r[0] for r in rows])))
    coords = [shapely.get_coordinates(r) for r in rings.tolist()]
    mids = np.concatenate([(c[:-1] + c[1:]) / 2 for c in coords])
    return mids[rng.choice(len(mids), count, replace=False)]


def per_lookup_ms(engine: LookupEngine, points: np.ndarray[Any, Any]) -> float:
    started = time.perf_counter()
    for x, y in points.tolist():
        engine.units_at(x, y, DAY)
    return (time.perf_counter() - started) / len(points) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    rng = np.random.default_rng(SEED)
    edges = edge_midpoints(url, args.points, rng)
    west, south = edges.min(axis=0)
    east, north = edges.max(axis=0)
    randoms = np.column_stack(
        [rng.uniform(west, east, args.points), rng.uniform(south, north, args.points)]
    )
    services = build_services(Settings(database_url=url, run_projection=False))
    try:
        engine = services.lookup
        per_lookup_ms(engine, randoms[:20])  # warm the connection and the plans
        best_random = best_edge = float("inf")
        for _ in range(args.rounds):  # alternating, best of each
            best_random = min(best_random, per_lookup_ms(engine, randoms))
            best_edge = min(best_edge, per_lookup_ms(engine, edges))
        print(f"SQL single lookup, random points: {best_random:.2f} ms (baseline)")
        print(f"SQL single lookup, edge midpoints: {best_edge:.2f} ms")
        print(f"ratio edge / random: {best_edge / best_random:.2f}x")
        index = services.lookup_index
        assert index is not None
        services.watch.start()
        index.start()
        assert index.wait_current(60, at_least=services.worker.position())
        snapshot = index.current()
        assert snapshot is not None
        resolved = snapshot.epoch(DAY).resolve(edges[:, 0].copy(), edges[:, 1].copy())
        sql = engine.batch([(x, y) for x, y in edges.tolist()], DAY)
        differ = sum(resolved.units(i) != sql[i] for i in range(len(edges)))
        print(f"memory/SQL disagreements on {len(edges)} edge midpoints: {differ} (target 0)")
    finally:
        services.close()


if __name__ == "__main__":
    main()
