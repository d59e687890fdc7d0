"""Dry runs of street-level edits over real HTTP on the Shenzhen demo (issue 18's target).

The editing page checks every edit with ``POST /v1/changesets?dry_run=true`` as it is drawn;
the target is at most 300 ms at p95 on the demo. Measured here, each N times one after the
other on one keep-alive connection, against the real server (`jurisdictions serve`):

1. ``move_area`` between two streets of one district: a community along their shared edge
   (one served by a workstation of its own, so the dry run passes) passes with its grids;
2. a ``split`` (split_off, children by location) of a street: the communities of its first
   workstation become a new street;
3. the editor's page asks (1) again with ``problem_geometry`` and ``preview``;
4. the baseline, in the same run: ``GET /v1/lookup`` of a point in the moved community.

Prints p50 and p95 of each, each p95 as a ratio to the baseline's p50 (the machine is small
and shared: absolute figures drift, ratios less), and the server's CPU milliseconds per request
(what a request costs when it need not wait for a core).

Usage: ``python -m scripts.bench_dry_run [--requests 50] [--database-url URL]``. Without
``--database-url`` the demo is loaded into a scratch database on the server in DATABASE_URL
(about two minutes), dropped afterwards; with it, the database must hold the projected demo
(dry runs store nothing; one editor token is added).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg

from jurisdictions.settings import DEFAULT_DATABASE_URL
from scripts.bench_read_model import scratch_database
from scripts.bench_service import descendants, editor_token, live_server, load_demo_into

DAY = date(2024, 1, 1)
TARGET_MS = 300.0


def move_candidates(url: str) -> list[tuple[dict[str, Any], tuple[float, float]]]:
    """``move_area`` bodies: a community of one street along the edge of a neighbouring street
    of the same district, served by a workstation of its own; and a point inside it."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            WITH live AS (
              SELECT code, level, parent_code, geom FROM unit_versions
              WHERE valid @> %(day)s::date AND upper_inf(recorded)
            ), own AS (
              SELECT serves[1] AS code FROM office_versions
              WHERE kind = 'workstation' AND valid @> %(day)s::date AND upper_inf(recorded)
                AND cardinality(serves) = 1
            )
            SELECT k.code, s.code, t.code, ST_AsGeoJSON(k.geom),
                   ST_X(ST_PointOnSurface(k.geom)), ST_Y(ST_PointOnSurface(k.geom))
            FROM live k JOIN own USING (code)
            JOIN live s ON s.code = k.parent_code
            JOIN live t ON t.level = s.level AND t.parent_code = s.parent_code
                       AND t.code <> s.code AND ST_Intersects(t.geom, k.geom)
            WHERE k.level = 'community'
              AND ST_Length(ST_Intersection(ST_Boundary(k.geom), ST_Boundary(t.geom))) > 0.002
            ORDER BY k.code, t.code LIMIT 20
            """,
            {"day": DAY},
        ).fetchall()
    out = []
    for community, street, neighbour, geometry, lon, lat in rows:
        body = envelope(
            f"benchmark: {community} passes from {street} to {neighbour}",
            {
                "op": "move_area",
                "from_unit": street,
                "to_unit": neighbour,
                "geometry": json.loads(geometry),
            },
        )
        out.append((body, (float(lon), float(lat))))
    return out


def split_candidates(url: str) -> list[dict[str, Any]]:
    """``split`` bodies: a street's first workstation's communities split off as a new street."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            WITH first AS (
              SELECT DISTINCT ON (unit_code) unit_code, serves FROM office_versions
              WHERE kind = 'workstation' AND valid @> %(day)s::date AND upper_inf(recorded)
              ORDER BY unit_code, code
            )
            SELECT f.unit_code, ST_AsGeoJSON(ST_Multi(ST_Union(u.geom)))
            FROM first f JOIN unit_versions u ON u.code = ANY(f.serves)
             AND u.valid @> %(day)s::date AND upper_inf(u.recorded)
            GROUP BY f.unit_code ORDER BY f.unit_code LIMIT 20
            """,
            {"day": DAY},
        ).fetchall()
    return [
        envelope(
            f"benchmark: a part of {street} split off",
            {
                "op": "split",
                "unit": street,
                "mode": "split_off",
                "reassign_children": "by_location",
                "parts": [{"code": f"{street}-B", "name": "bench", "geometry": json.loads(g)}],
            },
        )
        for street, g in rows
    ]


def envelope(reason: str, operation: dict[str, Any]) -> dict[str, Any]:
    return {
        "effective": DAY.isoformat(),
        "reason": reason,
        "document": "bench_dry_run (synthetic)",
        "operations": [operation],
    }


def first_passing(client: httpx.Client, url: str, bodies: list[Any]) -> Any:
    """The first body whose dry run answers 200 (some demo streets' communities reach a few m²
    beyond them, which any change to the street reports)."""
    answer = None
    for body in bodies:
        payload = body[0] if isinstance(body, tuple) else body
        answer = client.post(f"{url}/v1/changesets", params={"dry_run": "true"}, json=payload)
        if answer.status_code == 200:
            return body
    detail = answer.text[:400] if answer is not None else "no candidates"
    raise RuntimeError(f"no candidate dry run passed: {detail}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the server's processes have used so far."""
    total = 0
    for process in descendants(pid):
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def timed(
    call: Callable[[], httpx.Response], count: int, expected: int, pid: int
) -> tuple[list[float], float]:
    """Milliseconds of `count` calls (after two not counted), each checked for `expected`, and
    the server's CPU milliseconds per call: on a shared machine the wall time also counts the
    time the server waited for a core, the CPU time does not."""
    for _ in range(2):
        call()
    out = []
    cpu = cpu_seconds(pid)
    for _ in range(count):
        started = time.perf_counter()
        answer = call()
        out.append((time.perf_counter() - started) * 1000)
        if answer.status_code != expected:
            raise RuntimeError(f"{answer.status_code}: {answer.text[:300]}")
    return out, (cpu_seconds(pid) - cpu) * 1000 / count


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def run(database_url: str, requests: int) -> None:
    token = editor_token(database_url)
    log = Path(tempfile.mkdtemp(prefix="bench-dry-run-")) / "server.log"
    with live_server(database_url, 1, log) as (url, pid):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(headers=headers, timeout=60) as client:
            move, point = first_passing(client, url, move_candidates(database_url))
            split = first_passing(client, url, split_candidates(database_url))

            def dry(body: dict[str, Any], **extra: str) -> Callable[[], httpx.Response]:
                params = {"dry_run": "true", **extra}
                return lambda: client.post(f"{url}/v1/changesets", params=params, json=body)

            lookup_params = {"lon": point[0], "lat": point[1], "date": DAY.isoformat()}
            figures = {
                "move_area between two streets": timed(dry(move), requests, 200, pid),
                "split of a street (by location)": timed(dry(split), requests, 200, pid),
                "move_area, problem_geometry+preview": timed(
                    dry(move, problem_geometry="true", preview="true"), requests, 200, pid
                ),
                "baseline: GET /v1/lookup": timed(
                    lambda: client.get(f"{url}/v1/lookup", params=lookup_params),
                    requests,
                    200,
                    pid,
                ),
            }
    base = statistics.median(figures["baseline: GET /v1/lookup"][0])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"dry runs on the demo, {requests} requests each, one connection, 1 worker")
    print(f"load average {load} on {os.cpu_count()} cores (others' work shares them)")
    print(f"move_area: {move['reason']}; split: {split['reason']}")
    header = f"{'request':38} {'p50 ms':>7} {'p95 ms':>7} {'p95/lookup p50':>15} {'CPU ms':>7}"
    print(f"{header}  target p95 <= {TARGET_MS:.0f} ms")
    for name, (values, cpu) in figures.items():
        verdict = ""
        if not name.startswith("baseline"):
            verdict = "ok" if p95(values) <= TARGET_MS else "ABOVE"
        print(
            f"{name:38} {statistics.median(values):7.1f} {p95(values):7.1f} "
            f"{p95(values) / base:14.1f}x {cpu:7.1f}  {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database-url", help="a database holding the projected demo")
    args = parser.parse_args()
    if args.database_url:
        run(args.database_url, args.requests)
        return
    server = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    with scratch_database(server, "jl_bench_dry_run") as url:
        print(f"loading the demo into a scratch database: {load_demo_into(url):.0f} s")
        run(url, args.requests)


if __name__ == "__main__":
    main()
