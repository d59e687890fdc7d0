"""Read-model benchmark: what history costs a lookup, and what a rebuild costs against COPY.

Prints, measured side by side in one run (ratios, because the machine is noisy):

1. Single lookups per second through the lookup engine on a register of Shenzhen's size
   (15,000 grid-sized units) with 1 version per unit, and with 100 versions per unit.
   Target: the 100-version register at most 1.2x slower.
2. Projection rebuild, in events per second, against a raw COPY of the rows it produces into
   the same table (same indexes, same triggers). Target: rebuild at least 0.3x COPY's speed.

Usage: ``python -m scripts.bench_read_model [--units 15000] [--versions 100] [--lookups 3000]``
(the server in DATABASE_URL is used; the benchmark makes and drops its own databases).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import psycopg
from psycopg import sql

from api.operations import parse_change_set
from jurisdictions.bootstrap import Services, build_services
from jurisdictions.cli import migrate
from jurisdictions.settings import DEFAULT_DATABASE_URL, Settings

WEST, SOUTH, EAST, NORTH = 113.76, 22.45, 114.60, 22.85
START = date(2015, 1, 1)


def _with_dbname(url: str, name: str) -> str:
    return url.rpartition("/")[0] + "/" + name


@contextmanager
def scratch_database(server_url: str, name: str) -> Iterator[str]:
    """A migrated database that is dropped afterwards."""
    admin = _with_dbname(server_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_dbname(server_url, name)
    try:
        migrate(Settings(database_url=url))
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def fill_versions(url: str, units: int, versions: int) -> None:
    """Grid cells over Shenzhen, each with `versions` consecutive 30-day versions whose shared
    boundaries move a little each time (so every version has its own geometry)."""
    columns = int(units**0.5)
    rows = (units + columns - 1) // columns
    step_x, step_y = (EAST - WEST) / columns, (NORTH - SOUTH) / rows
    statement = sql.SQL(
        "INSERT INTO unit_versions (unit_id, code, level, name, parent_code, valid, recorded, "
        "geom, change_set, position) "
        "SELECT md5('u' || n)::uuid, 'G' || n, 'grid', 'grid ' || n, NULL, "
        "  CASE WHEN k = %(last)s THEN daterange(%(start)s::date + k * 30, NULL) "
        "       ELSE daterange(%(start)s::date + k * 30, %(start)s::date + (k + 1) * 30) END, "
        "  tstzrange('2020-01-01', NULL), "
        "  ST_Multi(ST_Segmentize(ST_MakeEnvelope("
        "    %(w)s + i * %(dx)s + (CASE WHEN i > 0 THEN (k %% 7) * 1e-5 ELSE 0 END), "
        "    %(s)s + j * %(dy)s, "
        "    %(w)s + (i + 1) * %(dx)s + (CASE WHEN i + 1 < %(cols)s THEN (k %% 7) * 1e-5 ELSE 0 "
        "END), "
        "    %(s)s + (j + 1) * %(dy)s, 4326), %(seg)s)), "
        "  '00000000-0000-0000-0000-000000000000', 0 "
        "FROM generate_series(0, %(units)s - 1) AS n, "
        "  LATERAL (SELECT n %% %(cols)s AS i, n / %(cols)s AS j) AS cell, "
        "  generate_series(0, %(last)s) AS k"
    )
    params = {
        "units": units,
        "cols": columns,
        "last": versions - 1,
        "start": START,
        "w": WEST,
        "s": SOUTH,
        "dx": step_x,
        "dy": step_y,
        "seg": min(step_x, step_y) / 5,
    }
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)
        # Steady state, as a register that has been running: hint bits set, statistics fresh.
        conn.execute("VACUUM ANALYZE unit_versions")
        conn.execute("VACUUM ANALYZE unit_version_parts")


def lookups_per_second(services: Services, points: list[tuple[float, float, date]]) -> float:
    """Single lookups through the engine, one after another."""
    engine = services.lookup
    for lon, lat, day in points:  # warm the plan cache and the buffers: steady state
        engine.units_at(lon, lat, day)
    started = time.perf_counter()
    found = 0
    for lon, lat, day in points:
        found += len(engine.units_at(lon, lat, day))
    elapsed = time.perf_counter() - started
    assert found >= len(points) * 0.95, f"only {found} hits for {len(points)} points"
    return len(points) / elapsed


def measure_history_cost(server_url: str, units: int, versions: int, lookups: int) -> None:
    rng = random.Random(20151226)
    span = versions * 30
    points = [
        (
            rng.uniform(WEST + 1e-4, EAST - 1e-4),
            rng.uniform(SOUTH + 1e-4, NORTH - 1e-4),
            START + timedelta(days=rng.randrange(span)),
        )
        for _ in range(lookups)
    ]
    results = {}
    for count in (1, versions):
        with scratch_database(server_url, f"jl_bench_history_{count}") as url:
            started = time.perf_counter()
            fill_versions(url, units, count)
            fill = time.perf_counter() - started
            services = build_services(Settings(database_url=url, run_projection=False))
            try:
                # A one-version register answers for its single date range only.
                dated = [
                    (x, y, d if count > 1 else START + timedelta(days=1)) for x, y, d in points
                ]
                results[count] = lookups_per_second(services, dated)
            finally:
                services.close()
            print(
                f"  {units} units x {count:>3} versions ({units * count:,} rows, "
                f"filled in {fill:.1f}s): {results[count]:,.0f} lookups/s"
            )
    slowdown = results[1] / results[versions]
    verdict = "meets" if slowdown <= 1.2 else "misses"
    print(
        f"  => {versions} versions per unit cost {slowdown:.2f}x a single version ({verdict} <= "
        "1.2x)"
    )


def generate_events(services: Services, streets: int, redraws: int) -> None:
    """A city of districts and streets, then boundary moves between neighbouring streets."""
    register = services.register
    width = (EAST - WEST) / streets

    def box(west: float, east: float) -> dict[str, object]:
        ring = [[west, SOUTH], [east, SOUTH], [east, NORTH], [west, NORTH], [west, SOUTH]]
        return {"type": "Polygon", "coordinates": [ring]}

    founding = {
        "effective": "2015-01-01",
        "reason": "bench",
        "operations": [
            {
                "op": "establish",
                "code": "C",
                "level": "city",
                "name": "C",
                "geometry": box(WEST, EAST),
            },
            {
                "op": "establish",
                "code": "D",
                "level": "district",
                "name": "D",
                "parent": "C",
                "geometry": box(WEST, EAST),
            },
            *(
                {
                    "op": "establish",
                    "code": f"S{i}",
                    "level": "street",
                    "name": f"S{i}",
                    "parent": "D",
                    "geometry": box(WEST + i * width, WEST + (i + 1) * width),
                }
                for i in range(streets)
            ),
        ],
    }
    register.apply_change_set(parse_change_set(founding), actor="bench")
    rng = random.Random(7)
    edges = [WEST + i * width for i in range(streets + 1)]
    for n in range(redraws):
        i = rng.randrange(1, streets)
        edges[i] = rng.uniform(edges[i - 1] + width * 0.2, edges[i + 1] - width * 0.2)
        day = START + timedelta(days=1 + n)
        body = {
            "effective": day.isoformat(),
            "reason": "move",
            "operations": [
                {"op": "redraw", "unit": f"S{i - 1}", "geometry": box(edges[i - 1], edges[i])},
                {"op": "redraw", "unit": f"S{i}", "geometry": box(edges[i], edges[i + 1])},
            ],
        }
        register.apply_change_set(parse_change_set(body), actor="bench")


#: Tables the projection writes (the derived ones are filled by triggers on these).
WRITTEN = (
    "unit_versions",
    "office_versions",
    "matter_versions",
    "unit_events",
    "lineage_edges",
    "change_set_log",
)


def rebuild_against_copy(services: Services, url: str) -> tuple[int, float, int, float]:
    """Events, rebuild seconds, rows, and seconds to COPY those rows into the same tables."""
    events = services.worker.head()
    started = time.perf_counter()
    services.worker.rebuild()
    rebuild = time.perf_counter() - started
    dumps: dict[str, bytes] = {}
    rows = 0
    with psycopg.connect(url) as conn:
        for table in WRITTEN:
            buffer = io.BytesIO()
            statement = sql.SQL("COPY {} TO STDOUT (FORMAT binary)").format(sql.Identifier(table))
            with conn.cursor().copy(statement) as copy:
                for block in copy:
                    buffer.write(block)
            dumps[table] = buffer.getvalue()
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()
            rows += count[0] if count else 0
        conn.execute(
            sql.SQL("TRUNCATE {}").format(
                sql.SQL(", ").join(
                    sql.Identifier(t) for t in (*WRITTEN, "unit_version_parts", "coverage_versions")
                )
            )
        )
        conn.commit()
        started = time.perf_counter()
        for table, data in dumps.items():
            statement = sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(sql.Identifier(table))
            with conn.cursor().copy(statement) as copy:
                copy.write(data)
        conn.commit()
        copy_time = time.perf_counter() - started
    return events, rebuild, rows, copy_time


def report_rebuild(events: int, rebuild: float, rows: int, copy_time: float) -> None:
    print(
        f"  rebuild: {events} events -> {rows} rows in {rebuild:.2f}s ({events / rebuild:,.0f} "
        "events/s)"
    )
    print(
        f"  COPY of the same {rows} rows: {copy_time:.2f}s ({events / copy_time:,.0f} events/s "
        "equivalent)"
    )
    ratio = copy_time / rebuild
    verdict = "meets" if ratio >= 0.3 else "misses"
    print(f"  => rebuild runs at {ratio:.2f}x the speed of COPY ({verdict} >= 0.3)")


def measure_rebuild(server_url: str, streets: int, redraws: int) -> None:
    with scratch_database(server_url, "jl_bench_rebuild") as url:
        services = build_services(Settings(database_url=url, run_projection=False))
        try:
            generate_events(services, streets, redraws)
            report_rebuild(*rebuild_against_copy(services, url))
        finally:
            services.close()


def measure_demo_rebuild(server_url: str) -> None:
    from jurisdictions.demo.shenzhen import load_demo

    with scratch_database(server_url, "jl_bench_demo") as url:
        services = build_services(Settings(database_url=url, run_projection=False))
        try:
            started = time.perf_counter()
            load_demo(services.register)
            print(f"  demo events stored in {time.perf_counter() - started:.1f}s")
            report_rebuild(*rebuild_against_copy(services, url))
        finally:
            services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=15_000)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--lookups", type=int, default=3_000)
    parser.add_argument("--streets", type=int, default=60)
    parser.add_argument("--redraws", type=int, default=1_500)
    parser.add_argument("--no-demo", action="store_true", help="skip the demo rebuild")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    print(
        f"read-model benchmark on {os.cpu_count()} cores, PostgreSQL at {server.rpartition('@')[2]}"
    )
    print("1. lookup cost of history")
    measure_history_cost(server, args.units, args.versions, args.lookups)
    print("2. rebuild against COPY: boundary moves between streets")
    measure_rebuild(server, args.streets, args.redraws)
    if not args.no_demo:
        print("3. rebuild against COPY: the Shenzhen demo")
        measure_demo_rebuild(server)


if __name__ == "__main__":
    main()
